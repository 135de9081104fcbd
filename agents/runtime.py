"""What a running pool needs: its embedded servers started, one LiteLLM Router over every model
deployment (retries, cooldowns, fallbacks, replicas), and the expert clients.

Nothing happens in the constructor; `start()` does the work and `close()` undoes it."""

from __future__ import annotations

from pathlib import Path

from .experts import ExpertClient, build_expert
from .llm import Target, build_router, deployments, make_target
from .local_server import ServerFleet
from .pool import Endpoint, Pool


class Runtime:
    def __init__(self, pool: Pool, *, cache_dir: Path):
        self.pool = pool
        self.cache_dir = cache_dir
        self.fleet = ServerFleet(pool)
        self.router: Target | None = None
        self.experts: dict[str, ExpertClient] = {}
        self._litellm_router = None

    def _addresses(self, endpoint: Endpoint) -> list[tuple[str | None, bool]]:
        return [
            (self.fleet.api_base(a.server), True) if a.server else (a.api_base, False) for a in endpoint.addresses
        ]

    def _llm_endpoints(self) -> dict[str, Endpoint]:
        """The router and every llm expert that can be called: enabled ones and their fallbacks."""
        wanted = {e.name for e in self.pool.enabled} | {f for e in self.pool.enabled for f in e.fallbacks}
        endpoints: dict[str, Endpoint] = {"router": self.pool.router}
        endpoints.update({e.name: e for e in self.pool.experts if e.kind == "llm" and e.name in wanted})
        return endpoints

    def target(self, endpoint: Endpoint, who: str | None = None) -> Target:
        who = who or getattr(endpoint, "name", "router")
        fallbacks = getattr(endpoint, "fallbacks", [])
        prices = {who: endpoint.price} | {f: self.pool.expert(f).price for f in fallbacks}
        first = self._addresses(endpoint)[0][0] if endpoint.addresses else None
        return make_target(who, endpoint, self._litellm_router, prices, first, self._lora_body(endpoint))

    def _lora_body(self, endpoint: Endpoint) -> dict:
        """llama.cpp's per-request adapter scales: on a server with adapters, every request names each
        adapter, scale 1 for the endpoint's own and 0 for the others (the pool checks they agree)."""
        servers = [a.server for a in endpoint.addresses if a.server]
        names = list(self.pool.servers[servers[0]].adapters) if servers else []
        if not names:
            return {}
        return {"lora": [{"id": i, "scale": 1.0 if n == endpoint.adapter else 0.0} for i, n in enumerate(names)]}

    def start(self) -> "Runtime":
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.fleet.start()
        try:
            endpoints = self._llm_endpoints()
            model_list = [d for who, ep in endpoints.items() for d in deployments(who, ep, self._addresses(ep))]
            fallbacks = {e.name: list(e.fallbacks) for e in self.pool.enabled if e.fallbacks}
            self._litellm_router = build_router(model_list, fallbacks, self.pool.reliability)
            self.router = self.target(self.pool.router, "router")
            self.experts = {e.name: build_expert(e, self) for e in self.pool.enabled}
        except BaseException:
            self.fleet.close()
            raise
        return self

    def close(self) -> None:
        self.fleet.close()
