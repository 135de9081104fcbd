"""What the HTTP service and the chat UI share: one started Engine (one pool, one embedded server, one
trace store) and the model names that pick a graph kind and policy on it.

    routeweave-r1            the Router-R1 loop (router-r1)
    routeweave-single-shot   single-shot with its default policy (cheapest)
    routeweave-cascade       the cascade graph (a fitted `cascade` policy, else the price ladder)
    routeweave-direct        the router model alone
    routeweave-<policy>      single-shot with that policy: those that learn nothing (random, cheapest), and
                             the learned ones fitted for this pool (`routeweave fit`); an unfitted learned
                             policy is not served under its name. A policy that judges answers (verifier)
                             runs in the cascade graph instead

Per-session options (budget, rounds, token cap, enabled experts) are `SessionCaps`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..agents.errors import ConfigError
from ..agents.pool import Pool, load_pool
from ..graphs import graph_for_policy, graph_names, graph_spec
from ..policies import policy_class
from .caps import SessionCaps
from .engine import Engine
from .policies import servable

PREFIX = "routeweave-"
DEFAULT_MODEL = PREFIX + "r1"


@dataclass(frozen=True)
class ModelSpec:
    id: str
    graph: str
    policy: str | None
    description: str


def model_specs(pool: Pool) -> dict[str, ModelSpec]:
    """Every model id served for this pool: one per graph kind, then one per servable policy on single-shot."""
    specs: dict[str, ModelSpec] = {}
    for name in graph_names():
        spec = graph_spec(name)
        specs[PREFIX + spec.model] = ModelSpec(PREFIX + spec.model, name, None, spec.description)
    for policy in servable(pool):
        model = PREFIX + policy
        if model not in specs:  # a graph of the same name (cascade) keeps the name
            learned = "fitted for this pool" if policy_class(policy).trainable else "learns nothing"
            reads = policy_class(policy).reads_answers  # it judges answers: served on a graph that asks it after each one
            graph = graph_for_policy(reads).name
            does = "reads each answer and escalates the doubtful ones" if reads else "picks one expert"
            specs[model] = ModelSpec(model, graph, policy, f"{graph}: the '{policy}' policy ({learned}) {does}")
    return specs


class Service:
    """One Engine shared by every request, every model name and the UI. Graph wrappers are cached."""

    def __init__(self, pool: str | Path | Pool | None = None, *, db_path: Path | None = None, cache_dir: Path | None = None,
                 loop: asyncio.AbstractEventLoop | None = None, durability: str = "sync"):
        self.pool = pool if isinstance(pool, Pool) else load_pool(pool)
        self.engine = Engine(self.pool, db_path=db_path, cache_dir=cache_dir, loop=loop, durability=durability)
        self.models = model_specs(self.pool)
        self._graphs: dict[str, Any] = {}
        self._ready: asyncio.Task | None = None  # the readiness probe running or last done (readiness())
        self._ready_at = 0.0

    def start(self) -> "Service":
        self.engine.start()
        return self

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> "Service":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def traces(self):
        return self.engine.traces

    def graph(self, model: str):
        """The RouterGraph behind a model id (KeyError for an unknown one)."""
        spec = self.models[model]
        if model not in self._graphs:
            self._graphs[model] = self.engine.graph(spec.graph, spec.policy)
        return self._graphs[model]

    def model_servers(self) -> dict[str, str]:
        """name -> base URL of the embedded model servers this process uses (started here or by a parent)."""
        return self.engine.runtime.fleet.base_urls()

    async def readiness(self, timeout_s: float = 2.0, *, max_age_s: float = 1.0) -> dict[str, Any]:
        """Whether this instance can run sessions now (GET /readyz): each embedded model server it uses answers
        llama.cpp's /health, the checkpointer answers a query and the trace database can be read. Remote experts
        are not probed (a probe would be a paid call); their failures show as 502s and in
        routeweave_call_errors_total. Concurrent callers share one probe, and a result is reused for `max_age_s`:
        a balancer's checks never pile probes up on a slow model server."""
        loop = asyncio.get_running_loop()
        task = self._ready
        if task is None or (task.done() and loop.time() - self._ready_at >= max_age_s):
            task = self._ready = loop.create_task(self._probe(timeout_s))
        return await asyncio.shield(task)  # a caller that leaves does not cancel the others' probe

    async def _probe(self, timeout_s: float) -> dict[str, Any]:
        from .checkpointers import ping

        engine = self.engine
        servers = await asyncio.to_thread(engine.runtime.fleet.health, timeout_s)
        saver = engine.saver
        store = await engine.loop.arun(ping(saver, timeout_s)) if saver is not None and engine.loop.loop else "not open"
        try:
            engine.traces.check()
            traces = "ok"
        except ConfigError as exc:
            traces = str(exc)
        ok = store == "ok" and traces == "ok" and all(v == "ok" for v in servers.values())
        self._ready_at = asyncio.get_running_loop().time()
        return {"ready": ok, "model_servers": servers, "checkpointer": store, "traces": traces}

    def expert_names(self) -> list[str]:
        return [e.name for e in self.pool.enabled]

    def session_inputs(self, question: str, caps: SessionCaps) -> dict[str, Any]:
        """The graph's inputs for a question under these caps (validated again by the graph)."""
        return {"question": question, **caps.model_dump(exclude_none=True)}
