"""What the HTTP service and the chat UI share: one started Engine (one pool, one embedded server, one
trace store) and the model names that pick a graph kind and policy on it.

    routeweave-r1            the Router-R1 loop (router-r1)
    routeweave-single-shot   single-shot with its default policy
    routeweave-cascade       the cascade graph
    routeweave-direct        the router model alone
    routeweave-<policy>      single-shot with that registered policy (routeweave-knn, routeweave-mf, ...)

Per-session options (budget, rounds, token cap, enabled experts) become the graph's inputs; the experts
are passed as `constraints.allowed`, which never starts anything new (see `session_inputs`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..agents.pool import Pool, load_pool

PREFIX = "routeweave-"
GRAPH_ALIASES = {"router-r1": "r1"}  # graph name -> model suffix when it differs from the graph name
DEFAULT_MODEL = PREFIX + "r1"


@dataclass(frozen=True)
class ModelSpec:
    id: str
    graph: str
    policy: str | None
    description: str


def model_specs() -> dict[str, ModelSpec]:
    """Every model id the service answers to: one per graph kind, then one per policy on single-shot."""
    from ..graphs.registry import graph_names, graph_spec
    from ..policies import policy_names

    specs: dict[str, ModelSpec] = {}
    for name in graph_names():
        spec = graph_spec(name)
        model = PREFIX + GRAPH_ALIASES.get(name, name)
        specs[model] = ModelSpec(model, name, None, spec.description)
    for policy in policy_names(include_eval_only=False):
        model = PREFIX + policy
        if model not in specs:  # a graph of the same name (cascade) keeps the name
            specs[model] = ModelSpec(model, "single-shot", policy, f"single-shot: the '{policy}' policy picks one expert")
    return specs


class Service:
    """One Engine shared by every request, every model name and the UI. Graph wrappers are cached."""

    def __init__(self, pool: str | Path | Pool | None = None, *, db_path: Path | None = None, cache_dir: Path | None = None):
        from ..graphs.engine import Engine

        self.pool = pool if isinstance(pool, Pool) else load_pool(pool)
        self.engine = Engine(self.pool, db_path=db_path, cache_dir=cache_dir)
        self.models = model_specs()
        self._graphs: dict[str, Any] = {}

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

    def expert_names(self) -> list[str]:
        return [e.name for e in self.pool.enabled]

    def session_inputs(
        self,
        question: str,
        *,
        budget_usd: float | None = None,
        max_rounds: int | None = None,
        max_tokens: int | None = None,
        experts: list[str] | None = None,
    ) -> dict[str, Any]:
        """The graph's inputs. Caps only lower the pool's (the graph enforces that). `experts` must be
        enabled in the pool; a subset becomes `constraints.allowed` (raises ValueError otherwise)."""
        inputs: dict[str, Any] = {"question": question, "budget_usd": budget_usd, "max_rounds": max_rounds,
                                  "max_tokens": max_tokens}
        if experts is not None:
            if not isinstance(experts, list) or not all(isinstance(n, str) for n in experts):
                raise ValueError("'experts' must be a list of expert names")
            known = {n.lower(): n for n in self.expert_names()}
            unknown = [n for n in experts if n.lower() not in known]
            if unknown:
                raise ValueError(f"unknown or disabled expert(s): {', '.join(unknown)}; enabled: {', '.join(known.values())}")
            if not experts:
                raise ValueError("enable at least one expert")
            chosen = [known[n.lower()] for n in experts]
            if set(chosen) != set(known.values()):
                inputs["constraints"] = {"allowed": chosen}
        return inputs
