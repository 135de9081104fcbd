"""The Engine: one running pool shared by every graph kind.

It owns the embedded servers and expert clients (`Runtime`), one asyncio loop in a background thread,
LangGraph's checkpointer (AsyncSqliteSaver by default; AsyncPostgresSaver shared by several instances
with `checkpointer_url` or $ROUTEWEAVE_CHECKPOINTER_URL, see checkpointers.py) and the trace store
(always this instance's SQLite file). Graphs are compiled on demand by name and policy and cached, so
the CLI, the HTTP service and evaluation runs serve `router-r1`, `single-shot` with any policy,
`cascade` and `direct` from one llama.cpp server."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from ..agents.pool import Pool
from ..agents.runtime import Runtime
from .checkpointers import Closer, checkpointer_url, open_checkpointer
from .paths import default_cache_dir, default_db_path
from .registry import graph_spec, resolve_policy
from .trace_store import TraceStore


class LoopThread:
    """An asyncio loop running in a daemon thread; coroutines are submitted to it from anywhere."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="routeweave-loop", daemon=True)
        self._thread.start()

    def run(self, coro):
        assert self.loop is not None, "the engine is not started"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def arun(self, coro):
        assert self.loop is not None, "the engine is not started"
        if asyncio.get_running_loop() is self.loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        if self.loop is not None:
            try:  # cancel what is still scheduled (e.g. LiteLLM's logging worker) so nothing outlives the loop
                self.run(_cancel_pending())
            except RuntimeError:
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self._thread:
                self._thread.join(timeout=5)
            self.loop.close()
            self.loop = None


async def _cancel_pending() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


_checkpointer_url = checkpointer_url  # the parameter of Engine shadows the function


class Engine:
    def __init__(self, pool: Pool, *, db_path: Path | None = None, cache_dir: Path | None = None,
                 checkpointer_url: str | None = None):
        self.pool = pool
        self.db_path = Path(db_path) if db_path else default_db_path()
        # None: SQLite beside the traces; "postgresql://...": LangGraph's Postgres saver, shared by instances.
        self.checkpointer_url = _checkpointer_url(checkpointer_url)
        self.runtime = Runtime(pool, cache_dir=Path(cache_dir) if cache_dir else default_cache_dir())
        self.traces = TraceStore(self.db_path)
        self.loop = LoopThread()
        self._close_saver: Closer | None = None
        self._saver: Any = None
        self._compiled: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def start(self) -> "Engine":
        self.runtime.start()
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
        return saver

    def compiled(self, name: str = "router-r1", policy: str | None = None):
        """The compiled LangGraph graph of this kind (and policy), built once."""
        spec = graph_spec(name)
        policy = policy or spec.default_policy
        key = (name, policy)
        with self._lock:
            if key not in self._compiled:
                if self._saver is None:
                    raise RuntimeError("the engine is not started: call Engine.start() first")
                loaded = resolve_policy(policy) if spec.uses_policy else None
                self._compiled[key] = spec.build(self.runtime, self._saver, loaded)
            return self._compiled[key]

    def graph(self, name: str = "router-r1", policy: str | None = None):
        """A RouterGraph of this kind that shares the engine (closing it leaves the engine running)."""
        from .api import RouterGraph

        return RouterGraph(self, name=name, policy=policy)

    def close(self) -> None:
        if self._close_saver is not None and self.loop.loop is not None:
            self.loop.run(self._close_saver())
            self._close_saver = None
        self.loop.stop()
        self.traces.close()
        self.runtime.close()

    def __enter__(self) -> "Engine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
