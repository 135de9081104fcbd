"""The Python API: `open_graph(pool)` starts what the pool needs and returns a `RouterGraph`.

    with open_graph() as graph:                      # the embedded default pool
        result = graph.invoke({"question": "..."})   # answer, steps, cost, session_id

The nodes are async (LiteLLM's async client) and the checkpointer is LangGraph's AsyncSqliteSaver. Both
live on one event loop that the RouterGraph owns in a background thread, so the same object serves sync
callers (`invoke`, `stream`) and async ones (`ainvoke`, `astream`) without "event loop closed" surprises.
`graph.compiled` is the LangGraph graph itself."""

from __future__ import annotations

import asyncio
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from ..agents.pool import Pool, load_pool
from ..agents.runtime import Runtime
from .paths import checkpoint_path, default_cache_dir, default_db_path
from .router_r1 import build_router_r1, recursion_limit
from .state import Step
from .trace_store import TraceStore

GraphFactory = Callable[[Runtime, Any], Any]


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
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def arun(self, coro):
        assert self.loop is not None
        if asyncio.get_running_loop() is self.loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self._thread:
                self._thread.join(timeout=5)
            self.loop.close()
            self.loop = None


def summarize(session_id: str, question: str, state: dict[str, Any]) -> dict[str, Any]:
    """The public result of a session, computed from its steps (so every dollar is attributed to a step)."""
    steps: list[Step] = list(state.get("steps", []))
    return {
        "session_id": session_id,
        "question": question,
        "answer": state.get("answer") or "",
        "stop_reason": state.get("stop_reason"),
        "cost_usd": sum(s["cost_usd"] for s in steps),
        "cost_units": sum(s["cost_units"] for s in steps),
        "prompt_tokens": sum(s["prompt_tokens"] for s in steps),
        "completion_tokens": sum(s["completion_tokens"] for s in steps),
        "rounds": state.get("round", 0),
        "expert_calls": sum(1 for s in steps if s["kind"] == "route"),
        "latency_s": sum(s["latency_s"] for s in steps if s["kind"] in ("think",)) + _route_latency(steps),
        "steps": steps,
    }


def _route_latency(steps: list[Step]) -> float:
    """Expert calls of one round run in parallel: a round takes as long as its slowest call."""
    by_round: dict[int, float] = {}
    for s in steps:
        if s["kind"] == "route":
            by_round[s["round"]] = max(by_round.get(s["round"], 0.0), s["latency_s"])
    return sum(by_round.values())


class RouterGraph:
    def __init__(
        self,
        pool: Pool,
        *,
        db_path: Path | None = None,
        cache_dir: Path | None = None,
        factory: GraphFactory = build_router_r1,
        name: str = "router-r1",
    ):
        self.pool = pool
        self.name = name
        self.db_path = Path(db_path) if db_path else default_db_path()
        self.runtime = Runtime(pool, cache_dir=Path(cache_dir) if cache_dir else default_cache_dir())
        self.traces = TraceStore(self.db_path)
        self._factory = factory
        self._loop = LoopThread()
        self._conn: aiosqlite.Connection | None = None
        self.compiled = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> "RouterGraph":
        self.runtime.start()
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._loop.start()
            self.compiled = self._loop.run(self._compile())
        except BaseException:
            self.close()
            raise
        return self

    async def _compile(self):
        # Checkpoints go to their own file beside the traces: one writer per SQLite file, so a trace write
        # on this loop can never wait on a checkpoint transaction that needs this loop to commit.
        self._conn = await aiosqlite.connect(str(checkpoint_path(self.db_path)))
        saver = AsyncSqliteSaver(self._conn)
        await saver.setup()  # WAL mode
        await self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: no fsync per step, still crash-safe
        return self._factory(self.runtime, saver)

    def close(self) -> None:
        if self._conn is not None and self._loop.loop is not None:
            self._loop.run(self._conn.close())
            self._conn = None
        self._loop.stop()
        self.traces.close()
        self.runtime.close()

    def __enter__(self) -> "RouterGraph":
        return self if self.compiled is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- running --------------------------------------------------------------------------------

    def _config(self, session_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": session_id}, "recursion_limit": recursion_limit(self.runtime)}

    async def _run(self, inputs: dict[str, Any] | None, session_id: str, emit: Callable[[Step], None] | None) -> dict[str, Any]:
        """Runs on the owned loop. Steps are stored as they happen, so a crash loses at most one node."""
        config = self._config(session_id)
        snapshot = await self.compiled.aget_state(config)
        stored = len(snapshot.values.get("steps", [])) if snapshot and snapshot.values else 0
        question = (inputs or {}).get("question") or (snapshot.values.get("question") if snapshot and snapshot.values else "")
        if inputs is not None:
            self.traces.begin(session_id, question, graph=self.name, meta={"experts": [e.name for e in self.pool.enabled]})
        async for update in self.compiled.astream(inputs, config, stream_mode="updates"):
            for node_update in update.values():
                new_steps = (node_update or {}).get("steps") or []
                if new_steps:
                    self.traces.add_steps(session_id, stored, new_steps)
                    stored += len(new_steps)
                    for step in new_steps:
                        if emit:
                            emit(step)
        final = (await self.compiled.aget_state(config)).values
        result = summarize(session_id, question, final)
        self.traces.finish(session_id, result)
        return result

    def _inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """{"question": str} plus optional caps budget_usd / max_rounds / max_tokens, which may lower the
        pool's limits for this session but never raise them."""
        inputs = dict(inputs or {})
        question = inputs.pop("question", None)
        if not isinstance(question, str) or not question.strip():
            raise ValueError("inputs need a non-empty 'question' string, e.g. graph.invoke({'question': 'Who ...?'})")
        pool_limits = self.pool.limits
        limits: dict[str, Any] = {}
        for key, kind in (("budget_usd", float), ("max_rounds", int), ("max_tokens", int)):
            if inputs.get(key) is None:
                inputs.pop(key, None)
                continue
            value = inputs.pop(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"'{key}' must be a positive number, got {value!r}")
            limits[key] = min(kind(value), getattr(pool_limits, key))
        if inputs:
            raise ValueError(f"unknown input(s): {', '.join(sorted(inputs))}; known: question, budget_usd, max_rounds, max_tokens")
        return {"question": question.strip(), "limits": limits}

    def invoke(self, inputs: dict[str, Any], *, session_id: str | None = None) -> dict[str, Any]:
        """Answer one question; returns answer, steps, cost, tokens and the session id."""
        return self._loop.run(self._run(self._inputs(inputs), session_id or uuid.uuid4().hex, None))

    async def ainvoke(self, inputs: dict[str, Any], *, session_id: str | None = None) -> dict[str, Any]:
        return await self._loop.arun(self._run(self._inputs(inputs), session_id or uuid.uuid4().hex, None))

    def resume(self, session_id: str) -> dict[str, Any]:
        """Finish a session that was interrupted (its checkpoint says where it stopped)."""
        return self._loop.run(self._run(None, session_id, None))

    def stream(self, inputs: dict[str, Any], *, session_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Yields {"type": "step", "step": ...} as each step happens, then {"type": "result", ...}."""
        events: queue.Queue = queue.Queue()
        inputs = self._inputs(inputs)
        future = asyncio.run_coroutine_threadsafe(
            self._run(inputs, session_id or uuid.uuid4().hex, lambda s: events.put({"type": "step", "step": s})),
            self._loop.loop,
        )
        future.add_done_callback(lambda _: events.put(None))
        while (event := events.get()) is not None:
            yield event
        yield {"type": "result", **future.result()}

    async def astream(self, inputs: dict[str, Any], *, session_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        caller = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        inputs = self._inputs(inputs)
        emit = lambda s: caller.call_soon_threadsafe(events.put_nowait, {"type": "step", "step": s})  # noqa: E731
        task = asyncio.ensure_future(self._loop.arun(self._run(inputs, session_id or uuid.uuid4().hex, emit)))
        task.add_done_callback(lambda _: events.put_nowait(None))
        while (event := await events.get()) is not None:
            yield event
        yield {"type": "result", **task.result()}


def open_graph(
    pool: str | Path | Pool | None = None,
    *,
    db_path: Path | None = None,
    cache_dir: Path | None = None,
) -> RouterGraph:
    """Load the pool (default: the embedded one), start its servers and return a ready RouterGraph.
    Close it (or use `with`) to stop the servers."""
    pool = pool if isinstance(pool, Pool) else load_pool(pool)
    return RouterGraph(pool, db_path=db_path, cache_dir=cache_dir).start()
