"""routeweave.serving: what runs the graphs. The Engine (one started pool, one event loop, the
checkpointer, the trace store), sessions (`RouterGraph`: invoke, stream, resume), session caps, the model
names a service answers to, where files live, and which fitted policy a graph routes with.

The UI and the commands talk to this package (and to routeweave.graphs' public API), never to agents or
policies directly."""

from ..agents.errors import ConfigError
from ..agents.pool import Pool, PoolError, load_pool, shipped_pools
from .caps import SessionCaps
from .engine import Engine
from .listing import aligned, json_text, minute
from .loop import new_event_loop
from .metrics import count_overload, count_request
from .metrics import render as render_metrics
from .paths import data_dir, default_cache_dir, default_db_path
from .retention import parse_duration, prune, prune_every
from .policies import fitted_dir, resolve_policy, servable
from .service import DEFAULT_MODEL, ModelSpec, Service, model_specs
from .sessions import NoCheckpoint, RouterGraph, open_graph, summarize
from .trace_store import TraceStore
from .workers import run_workers as start_workers

__all__ = [
    "ConfigError", "DEFAULT_MODEL", "Engine", "ModelSpec", "NoCheckpoint", "Pool", "PoolError", "RouterGraph", "Service",
    "SessionCaps", "TraceStore", "aligned", "count_overload", "count_request", "data_dir", "default_cache_dir",
    "default_db_path", "fitted_dir", "json_text", "load_pool", "minute", "model_specs", "new_event_loop", "open_graph",
    "parse_duration", "prune", "prune_every", "render_metrics", "resolve_policy", "servable",
    "shipped_pools", "start_workers", "summarize",
]
