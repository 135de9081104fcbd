"""What a running pool needs: its embedded servers started, targets resolved, expert clients built.

Nothing happens in the constructor; `start()` does the work and `close()` undoes it."""

from __future__ import annotations

from pathlib import Path

from .experts import ExpertClient, build_expert
from .llm import Target, resolve
from .local_server import ServerFleet
from .pool import Endpoint, Pool


class Runtime:
    def __init__(self, pool: Pool, *, cache_dir: Path):
        self.pool = pool
        self.cache_dir = cache_dir
        self.fleet = ServerFleet(pool)
        self.router: Target | None = None
        self.experts: dict[str, ExpertClient] = {}

    def target(self, endpoint: Endpoint, who: str | None = None) -> Target:
        api_base = self.fleet.api_base(endpoint.server) if endpoint.server else None
        return resolve(who or getattr(endpoint, "name", "router"), endpoint, api_base)

    def start(self) -> "Runtime":
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.fleet.start()
        try:
            self.router = self.target(self.pool.router, "router")
            self.experts = {e.name: build_expert(e, self) for e in self.pool.enabled}
        except BaseException:
            self.fleet.close()
            raise
        return self

    def close(self) -> None:
        self.fleet.close()
