"""The Engine: one running pool shared by every graph kind.

It owns the embedded servers and expert clients (`Runtime`), one asyncio loop in a background thread
(loop.py; a server hands in the loop it serves on), LangGraph's checkpointer (SQLite by default;
AsyncPostgresSaver shared by several instances with `checkpointer_url` or $ROUTEWEAVE_CHECKPOINTER_URL, see checkpointers.py) and the trace
store (always this instance's SQLite file). Graphs are compiled on demand by name and policy and cached,
so the CLI, the HTTP service and evaluation runs serve every graph kind from one llama.cpp server."""

from __future__ import annotations

import asyncio
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from ..agents.errors import ConfigError
from ..agents.pool import Pool, load_pool
from ..agents.runtime import Runtime
from ..graphs import GraphContext, graph_names, graph_spec
from ..policies import Policy
from .checkpointers import Closer, checkpointer_url, open_checkpointer
from .locks import FileLocks, LeaseLocks
from .loop import LoopThread
from .paths import default_cache_dir, default_db_path, lock_dir
from .policies import default_policy, resolve_policy
from .trace_store import TraceStore

_checkpointer_url = checkpointer_url  # the parameter of Engine shadows the function
# LangGraph's durability modes. "sync" (the default): each step's checkpoint is written before the next step
# starts, so a session killed at any point resumes from its last completed step. "async": written while the
# next step runs (a kill in that window repeats one step). "exit": only when the session ends (a killed
# session starts over; traces are still written per step) - opt-in, for throughput over resumability.
DURABILITY = ("sync", "async", "exit")


def check_policy_fits(graph: str, policy: "str | Path | Policy | None", pool: Pool | None = None):
    """The graph's spec; a policy given to a graph that does not route with one is an error, never dropped
    unread (`ask --policy knn` on the default router-r1 graph would otherwise run the router silently).
    With `pool`, the policy the graph would route with is checked too (an unknown or unfitted name, a
    directory without a saved policy), without loading it: before a command starts any model server."""
    spec = graph_spec(graph)
    if policy is not None and not spec.uses_policy:
        takers = " or ".join(n for n in graph_names() if graph_spec(n).uses_policy)
        raise ConfigError(f"the {graph} graph does not route with a policy (its router model decides), so policy "
                          f"'{getattr(policy, 'name', policy)}' would be ignored: pick a graph that uses one "
                          f"(--graph {takers}), or drop --policy")
    if pool is not None and spec.uses_policy:
        resolve_policy(pool, policy if policy is not None else default_policy(pool, spec), load=False)
    return spec


class Engine:
    """One pool's running parts, shared by every graph over it: its model servers and LiteLLM router, the trace
    store (`db_path`, default routeweave.db in the data folder), the checkpointer (SQLite beside the traces, or
    Postgres at `checkpointer_url`) and the event loop sessions run on. Nothing starts in the constructor:
    `start()` (or `with Engine(pool) as engine:`), then `engine.graph(name, policy)` for each kind of graph;
    `close()` stops it all. `open_graph()` is the shortcut for one graph."""

    def __init__(self, pool: "Pool | str | Path | dict | None" = None, *, db_path: Path | None = None, cache_dir: Path | None = None,
                 checkpointer_url: str | None = None, loop: asyncio.AbstractEventLoop | None = None,
                 durability: str = "sync"):
        if durability not in DURABILITY:
            raise ConfigError(f"unknown durability {durability!r}: use one of {', '.join(DURABILITY)}")
        self.durability = durability
        self.pool = pool if isinstance(pool, Pool) else load_pool(pool)  # a shipped pool's name, a file, None: default
        self.db_path = Path(db_path) if db_path else default_db_path()
        # None: SQLite beside the traces; "postgresql://...": LangGraph's Postgres saver, shared by instances.
        self.checkpointer_url = _checkpointer_url(checkpointer_url)
        self.runtime = Runtime(self.pool, cache_dir=Path(cache_dir) if cache_dir else default_cache_dir())
        self.traces = TraceStore(self.db_path)
        self.loop = LoopThread(loop)  # a loop the caller serves on, or (None) one in a thread of its own
        self.guard = None
        self.locks: FileLocks | LeaseLocks = FileLocks(lock_dir(self.db_path))
        self._close_saver: Closer | None = None
        self._saver: Any = None
        self._compiled: dict[tuple[str, Any], Any] = {}
        self._lock = threading.Lock()
        self.running: set[str] = set()  # the sessions running now (a stream left early runs on)

    def start(self) -> "Engine":
        if self._saver is not None:  # started already: a second start would run a second loop and servers
            return self
        self.guard = resolve_policy(self.pool, self.pool.guard, check=False)  # a bad guard fails before anything starts
        self.traces.check()  # a trace file that is not a database, likewise
        self.runtime.start()
        self.note_overspend()
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self.loop.start()
            self._saver = self.loop.run(self._open_saver())
        except BaseException:
            self.close()
            raise
        return self

    async def _open_saver(self):
        # Opened on this loop (aiosqlite's connection and psycopg's pool belong to the loop they open on).
        saver, self._close_saver = await open_checkpointer(self.checkpointer_url, self.db_path)
        if self.checkpointer_url:
            self.locks = LeaseLocks(saver.conn)  # leases beside the shared checkpoints
            await self.locks.setup()
        return saver

    @property
    def saver(self) -> Any:
        """The open LangGraph checkpointer (None before start)."""
        return self._saver

    def policy(self, name: str, policy: "str | Path | Policy | None" = None) -> Policy | None:
        """The policy graph `name` routes with: the one given, or the graph's default for this pool."""
        spec = check_policy_fits(name, policy)
        if not spec.uses_policy:
            return None
        return resolve_policy(self.pool, policy if policy is not None else default_policy(self.pool, spec))

    def compiled(self, name: str = "router-r1", policy: "str | Path | Policy | None" = None) -> tuple[Any, Policy | None]:
        """The compiled LangGraph graph of this kind (and policy), built once, and the policy it routes with."""
        key = (name, id(policy) if isinstance(policy, Policy) else policy)
        with self._lock:
            if key not in self._compiled:
                if self._saver is None:
                    raise RuntimeError("the engine is not started: call Engine.start() first")
                context = GraphContext(self.runtime, policy=self.policy(name, policy), guard=self.guard)
                self._compiled[key] = (graph_spec(name).build(context, self._saver), context.policy)
            return self._compiled[key]

    def note_overspend(self) -> None:
        """Take out of service the experts whose recorded overspends reached the pool's limit."""
        limit = self.pool.reliability.disable_after_overspends
        if limit:
            counts = self.traces.overspends_by_expert()
            self.runtime.disabled = {name for name, n in counts.items() if n >= limit and name != "router"}

    def graph(self, name: str = "router-r1", policy: "str | Path | Policy | None" = None):
        """A RouterGraph of this kind that shares the engine (closing it leaves the engine running)."""
        from .sessions import RouterGraph

        return RouterGraph(self, name=name, policy=policy)

    def close(self, wait_s: float = 30.0) -> None:
        """Stop the model servers and close the stores. Sessions still running (a stream left early runs on to
        its end) get up to `wait_s` seconds to finish; any still running then is cancelled, stays stored and
        resumable (`graph.resume(session_id)`), and a RuntimeWarning names it."""
        self._drain(wait_s)
        if self._close_saver is not None and self.loop.loop is not None:
            self.loop.run(self.locks.close())
            self.loop.run(self._close_saver())
            self._close_saver = None
        if self.loop.loop is not None:
            self.loop.run(self.runtime.aclose_clients())
        self.loop.stop()
        self.traces.close()
        self.runtime.close()

    def _drain(self, wait_s: float) -> None:
        if not self.running or not self.loop.can_wait():  # a served loop: its server drains its requests itself
            return
        deadline = time.monotonic() + wait_s
        while self.running and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.running:
            warnings.warn(f"closing the engine cancelled {len(self.running)} session(s) still running after {wait_s:g} s: "
                          f"{', '.join(sorted(self.running))}; each is stored: graph.resume(session_id) finishes it",
                          RuntimeWarning, stacklevel=3)

    def __enter__(self) -> "Engine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
