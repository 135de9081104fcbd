"""What a running pool needs: its embedded servers started, one LiteLLM Router over every model
deployment (retries, cooldowns, fallbacks, replicas), and a client per enabled expert (any kind).

Nothing happens in the constructor; `start()` does the work and `close()` undoes it."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError
from .experts import ExpertClient, build_expert, check_expert
from .features import LlamaFeatures
from .llm import Target, build_router, close_clients, deployments, make_target
from .local_server import ServerFleet
from .pool import Pool
from .settings import Endpoint


class Runtime:
    def __init__(self, pool: Pool, *, cache_dir: Path):
        self.pool = pool
        self.cache_dir = cache_dir
        self.fleet = ServerFleet(pool)
        self.router: Target | None = None
        self.experts: dict[str, ExpertClient] = {}
        self.disabled: set[str] = set()  # experts taken out of service while running (overspends past the pool's limit)
        self._litellm_router = None
        self._targets: dict[str, Target] = {}
        self._features: dict[tuple, LlamaFeatures] = {}

    def _addresses(self, endpoint: Endpoint) -> list[tuple[str | None, bool]]:
        return [
            (self.fleet.api_base(a.server), True) if a.server else (a.api_base, False) for a in endpoint.addresses
        ]

    def target(self, endpoint: Endpoint, who: str | None = None, *, own_adapter: bool = True) -> Target:
        """The callable target of a model endpoint, built once (it learns how its provider counts prompts);
        ``own_adapter=False``: its requests leave the endpoint's LoRA adapter off (metered all the same)."""
        who = who or getattr(endpoint, "name", "router")
        key = who if own_adapter else f"{who}:no-adapter"
        if key not in self._targets:
            fallbacks = getattr(endpoint, "fallbacks", [])
            prices = {who: endpoint.price} | {f: self.pool.expert(f).price for f in fallbacks}
            first = self._addresses(endpoint)[0][0] if endpoint.addresses else None
            self._targets[key] = make_target(who, endpoint, self._litellm_router, prices, first,
                                             self._lora_body(endpoint, own=own_adapter))
        return self._targets[key]

    def _lora_body(self, endpoint: Endpoint, *, own: bool = True) -> dict:
        """llama.cpp's per-request adapter scales: on a server with adapters, every request names each
        adapter, scale 1 for the endpoint's own (``own=False``: none) and 0 for the others (the pool checks
        they agree)."""
        servers = [a.server for a in endpoint.addresses if a.server]
        names = list(self.pool.servers[servers[0]].adapters) if servers else []
        if not names:
            return {}
        return {"lora": [{"id": i, "scale": 1.0 if own and n == endpoint.adapter else 0.0} for i, n in enumerate(names)]}

    def reader(self, name: str) -> Target:
        """The model that answers a plain answer prompt, from an expert's reply or alone: 'router' or a model
        expert's name. The router model answers it WITHOUT its adapter: a trained router's adapter learned the
        Router-R1 protocol (<think>, <search>, <answer>), and applied to a plain answer prompt it writes protocol
        fragments, not an answer (a trained router reads evidence in its protocol instead, with ``self.router``:
        graphs/router_r1/reader.py). Metered as the router, at its price."""
        assert self.router is not None, "Runtime.start() was not called"
        if name != "router":
            return self.target(self.pool.expert(name))
        return self.target(self.pool.router, "router", own_adapter=False) if self.pool.router.adapter else self.router

    def features(self, spec: dict, name: str) -> LlamaFeatures:
        """The router-model feature server a policy was fitted with (``causal_llm``), started on first use and
        kept for the runtime's life; ``name`` must match the features the policy was fitted on. It gets the
        cores the pool's local servers leave free, at least one: on the embedded pool (2 threads on 2 cores)
        that one thread oversubscribes the cores only while a decide step and a model call of another session
        run at once (a pool that must stay strictly within the budget gives its servers one thread less)."""
        key = (spec.get("gguf"), spec.get("layers"))
        if key not in self._features:
            used = sum(s.threads for s in self.pool.servers.values())
            threads = max(1, (os.cpu_count() or 1) - used)
            try:
                source = LlamaFeatures(str(key[0]), layers=key[1], threads=threads, persistent=True)
            except FileNotFoundError as exc:
                raise ConfigError(f"the router-model features of this policy need {key[0]}: {exc}") from None
            if source.name != name:
                raise ConfigError(f"the policy was fitted on features '{name}' but {key[0]} with layers={key[1]} "
                                  f"gives '{source.name}': refit it with `routeweave fit`")
            self._features[key] = source
        return self._features[key]

    def start(self) -> "Runtime":
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        for expert in self.pool.enabled:  # a missing module or corpus is said before the model servers start
            check_expert(expert)
        self.fleet.start()
        try:
            endpoints = {"router": self.pool.router, **{e.name: e for e in self.pool.callable_endpoints()}}
            model_list = [d for who, ep in endpoints.items() for d in deployments(who, ep, self._addresses(ep))]
            fallbacks = {e.name: list(e.fallbacks) for e in self.pool.enabled if getattr(e, "fallbacks", None)}
            self._litellm_router = build_router(model_list, fallbacks, self.pool.reliability)
            self.router = self.target(self.pool.router, "router")
            self.experts = {e.name: build_expert(e, self) for e in self.pool.enabled}
        except BaseException:
            self.fleet.close()
            raise
        return self

    async def aclose_clients(self) -> int:
        """On the engine's loop, before it stops: the HTTP clients of this loop's model calls."""
        return await close_clients()

    def close(self) -> None:
        for source in self._features.values():
            source.close()
        self._features.clear()
        self.fleet.close()
