"""Graph kinds by name. Each entry says how to build the compiled graph and whether it takes a policy;
the CLI, HTTP and evaluation runs look graphs up here instead of branching on names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


@dataclass(frozen=True)
class GraphSpec:
    name: str
    build: Callable[..., Any]  # (runtime, checkpointer, policy or None) -> compiled graph
    description: str
    uses_policy: bool = False
    default_policy: str | None = None


_GRAPHS: dict[str, GraphSpec] = {}


def register_graph(spec: GraphSpec) -> GraphSpec:
    _GRAPHS[spec.name] = spec
    return spec


def _ensure_loaded() -> None:
    from . import cascade, direct, router_r1, single_shot  # noqa: F401  (each registers itself)


def graph_spec(name: str) -> GraphSpec:
    _ensure_loaded()
    try:
        return _GRAPHS[name]
    except KeyError:
        raise ValueError(f"unknown graph '{name}'; known graphs: {', '.join(graph_names())}") from None


def graph_names() -> list[str]:
    _ensure_loaded()
    return sorted(_GRAPHS)


def resolve_policy(name_or_dir: str | None):
    """A policy by registered name, or loaded from a directory saved by Policy.save()."""
    if name_or_dir is None:
        return None
    from ..policies import get_policy, load_policy, policy_names

    if Path(name_or_dir).is_dir():
        return load_policy(name_or_dir)
    if name_or_dir not in policy_names():
        raise ValueError(
            f"unknown policy '{name_or_dir}'; known: {', '.join(policy_names())} (or a directory saved by Policy.save)"
        )
    return get_policy(name_or_dir)
