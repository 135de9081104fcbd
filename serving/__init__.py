"""routeweave.serving: what runs the graphs. The Engine (one started pool, one event loop, the
checkpointer, the trace store), sessions (`RouterGraph`: invoke, stream, resume), session caps, the model
names a service answers to, where files live, and which fitted policy a graph routes with.

The UI and the commands talk to this package (and to routeweave.graphs' public API), never to agents or
policies directly. Names are imported on first use (PEP 562), so a command that needs only paths or the
trace store (`--help`, `sessions`, `gc`) does not pay for LiteLLM's import (~2 s)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> (module, attribute)
_EXPORTS = {
    "ConfigError": ("..agents.errors", "ConfigError"),
    "Pool": ("..agents.pool", "Pool"),
    "PoolError": ("..agents.pool", "PoolError"),
    "load_pool": ("..agents.pool", "load_pool"),
    "shipped_pools": ("..agents.pool", "shipped_pools"),
    "SessionCaps": (".caps", "SessionCaps"),
    "Engine": (".engine", "Engine"),
    "new_event_loop": (".loop", "new_event_loop"),
    "count_overload": (".metrics", "count_overload"),
    "count_request": (".metrics", "count_request"),
    "render_metrics": (".metrics", "render"),
    "data_dir": (".paths", "data_dir"),
    "default_cache_dir": (".paths", "default_cache_dir"),
    "default_db_path": (".paths", "default_db_path"),
    "parse_duration": (".retention", "parse_duration"),
    "prune": (".retention", "prune"),
    "prune_every": (".retention", "prune_every"),
    "fitted_dir": (".policies", "fitted_dir"),
    "resolve_policy": (".policies", "resolve_policy"),
    "servable": (".policies", "servable"),
    "DEFAULT_MODEL": (".service", "DEFAULT_MODEL"),
    "ModelSpec": (".service", "ModelSpec"),
    "Service": (".service", "Service"),
    "model_specs": (".service", "model_specs"),
    "RouterGraph": (".sessions", "RouterGraph"),
    "open_graph": (".sessions", "open_graph"),
    "summarize": (".sessions", "summarize"),
    "TraceStore": (".trace_store", "TraceStore"),
    "start_workers": (".workers", "run_workers"),
}
__all__ = [
    "ConfigError", "DEFAULT_MODEL", "Engine", "ModelSpec", "Pool", "PoolError", "RouterGraph", "Service",
    "SessionCaps", "TraceStore", "count_overload", "count_request", "data_dir", "default_cache_dir",
    "default_db_path", "fitted_dir", "load_pool", "model_specs", "new_event_loop", "open_graph",
    "parse_duration", "prune", "prune_every", "render_metrics", "resolve_policy", "servable",
    "shipped_pools", "start_workers", "summarize",
]
assert sorted(__all__) == sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value  # the next lookup is a plain global
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and editors: the same names, eagerly
    from ..agents.errors import ConfigError
    from ..agents.pool import Pool, PoolError, load_pool, shipped_pools
    from .caps import SessionCaps
    from .engine import Engine
    from .loop import new_event_loop
    from .metrics import count_overload, count_request
    from .metrics import render as render_metrics
    from .paths import data_dir, default_cache_dir, default_db_path
    from .policies import fitted_dir, resolve_policy, servable
    from .retention import parse_duration, prune, prune_every
    from .service import DEFAULT_MODEL, ModelSpec, Service, model_specs
    from .sessions import RouterGraph, open_graph, summarize
    from .trace_store import TraceStore
    from .workers import run_workers as start_workers
