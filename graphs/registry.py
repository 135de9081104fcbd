"""Graph kinds by name. Each graph is a package under graphs/ that registers a `GraphSpec`: how to build the
compiled LangGraph graph from a `GraphContext`, and whether it takes a policy. The serving layer, the CLI
and evaluation runs look graphs up here instead of branching on names.

Add a graph: a package `graphs/<name>/` whose __init__ calls `register_graph(GraphSpec(...))`, and its
module name in `GRAPH_PACKAGES`."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from ..agents.errors import ConfigError
from ..agents.runtime import Runtime

GRAPH_PACKAGES = ("router_r1", "single_shot", "cascade", "direct")


@dataclass(frozen=True)
class GraphContext:
    """What a graph is built from: the started pool, the policy it routes with (if it takes one) and the
    guard in front of it (or None). Policies arrive resolved and fitted: graphs never look them up."""

    runtime: Runtime
    policy: Any = None
    guard: Any = None

    @property
    def pool(self):
        return self.runtime.pool


@dataclass(frozen=True)
class GraphSpec:
    name: str
    build: Callable[[GraphContext, Any], Any]  # (context, checkpointer) -> compiled graph
    description: str
    model: str  # the served model id is f"routeweave-{model}"
    uses_policy: bool = False
    default_policy: str | None = None
    unfitted_policy: str | None = None  # used instead while default_policy learns and is not fitted for the pool
    # What the graph's own model reads and writes, as a short hash (router-r1: its prompt's version), or None.
    # Recorded with `eval qa` runs: a run is not resumed across versions, and training takes its sessions only
    # when they were recorded under the prompt it trains for.
    version: Callable[[], str] | None = None

    @property
    def judges_answers(self) -> bool:
        """The graph asks its policy to judge each answer and escalates a doubtful one (its nodes say so)."""
        return bool(getattr(self.build, "judges_answers", False))


_GRAPHS: dict[str, GraphSpec] = {}


def register_graph(spec: GraphSpec) -> GraphSpec:
    if spec.name in _GRAPHS and _GRAPHS[spec.name] is not spec:
        raise ValueError(f"graph '{spec.name}' is registered twice")
    clash = [g.name for g in _GRAPHS.values() if g.model == spec.model and g.name != spec.name]
    if clash:  # the served model id routeweave-<model> would silently stand for only one of them
        raise ValueError(f"graph '{spec.name}' serves as routeweave-{spec.model}, as graph '{clash[0]}' already does: "
                         "give GraphSpec(model=...) a name of its own")
    _GRAPHS[spec.name] = spec
    return spec


def _ensure_loaded() -> None:
    for package in GRAPH_PACKAGES:
        importlib.import_module(f"{__package__}.{package}")  # each registers itself


def graph_spec(name: str) -> GraphSpec:
    _ensure_loaded()
    try:
        return _GRAPHS[name]
    except KeyError:
        raise ConfigError(f"unknown graph '{name}'; known graphs: {', '.join(graph_names())}") from None


def graph_names() -> list[str]:
    _ensure_loaded()
    return sorted(_GRAPHS)


def graph_for_policy(reads_answers: bool) -> GraphSpec:
    """The graph a policy is served on: one that judges answers for a policy that reads them (the cascade),
    else one that does not (single-shot)."""
    _ensure_loaded()
    fits = [s for n, s in sorted(_GRAPHS.items()) if s.uses_policy and s.judges_answers == reads_answers]
    if not fits:
        raise ConfigError("no registered graph " + ("judges answers" if reads_answers else "routes without judging answers"))
    return fits[0]
