"""Sessions: `open_graph(pool)` starts what the pool needs and returns a `RouterGraph`.

    with open_graph() as graph:                      # the embedded default pool, the Router-R1 graph
        result = graph.invoke({"question": "..."})   # answer, steps, cost, session_id

The nodes are async (LiteLLM's async client) and the checkpointer is LangGraph's async saver. Both live
on one event loop that the Engine owns in a background thread, so the same object serves sync callers
(`invoke`, `stream`) and async ones (`ainvoke`, `astream`). `graph.compiled` is the LangGraph graph."""

from __future__ import annotations

import asyncio
import queue
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from ..agents.errors import ConfigError
from ..agents.pool import Pool, load_pool
from ..graphs import STATE_FORMAT, Step
from ..graphs.state import expert_calls
from . import metrics
from .caps import SessionCaps
from .checkpointers import describe
from .engine import Engine, check_policy_fits

FORMAT_KEY = "routeweave_format"  # in each checkpoint's metadata: the state format that wrote it
READABLE_FORMATS = {1, STATE_FORMAT}  # 1: routeweave 0.1 wrote no key; its state keys and node names are unchanged


def summarize(session_id: str, question: str, state: dict[str, Any]) -> dict[str, Any]:
    """The public result of a session, computed from its steps (so every dollar is attributed to a step)."""
    steps: list[Step] = list(state.get("steps", []))
    return {
        "session_id": session_id,
        "question": question,
        "answer": state.get("answer") or "",
        "stop_reason": state.get("stop_reason"),
        "truncated": bool(state.get("answer_truncated")),  # the answer was cut at its call's token limit
        "cost_usd": sum(s["cost_usd"] for s in steps),
        "overspent_usd": sum(s.get("overspent_usd") or 0.0 for s in steps),
        "cost_units": sum(s["cost_units"] for s in steps),
        "prompt_tokens": sum(s["prompt_tokens"] for s in steps),
        "completion_tokens": sum(s["completion_tokens"] for s in steps),
        "rounds": state.get("round", 0),
        "expert_calls": expert_calls(steps),
        "latency_s": sum(s["latency_s"] for s in steps if s["kind"] != "route") + _route_latency(steps),
        "capped": {},  # options asked above the pool's caps -> the value applied (set by the run that asked)
        "steps": steps,
    }


def _replayed(step: Step, journaled: list[Step]) -> bool:
    """True (and consumed) if `step` is one already stored before a crash, replayed from the checkpointer."""
    if step in journaled:
        journaled.remove(step)
        return True
    return False


def _route_latency(steps: list[Step]) -> float:
    """Expert calls of one round run in parallel: a round takes as long as its slowest call."""
    by_round: dict[int, float] = {}
    for s in steps:
        if s["kind"] == "route":
            by_round[s["round"]] = max(by_round.get(s["round"], 0.0), s["latency_s"])
    return sum(by_round.values())



class NoCheckpoint(ValueError):
    """The session has no checkpoint (it died before its first one): nothing to resume, start it afresh."""

class RouterGraph:
    """One graph kind (and policy) of an Engine, with sync and async entry points."""

    def __init__(self, engine: Engine, *, name: str = "router-r1", policy: str | None = None, owns_engine: bool = False):
        self.engine = engine
        self.name = name
        self.policy = policy
        self._owns_engine = owns_engine
        self.compiled, resolved = engine.compiled(name, policy)
        self.policy_name = resolved.name if resolved is not None else None
        self.pool_hash = engine.pool.fingerprint()
        self._fresh: set[str] = set()  # ids made by new_session_id() and not used yet: nothing stored to read

    @property
    def pool(self) -> Pool:
        return self.engine.pool

    @property
    def runtime(self):
        return self.engine.runtime

    @property
    def traces(self):
        return self.engine.traces

    @property
    def _loop(self):
        return self.engine.loop

    def close(self, wait_s: float = 30.0) -> None:
        """Close the engine this graph opened (open_graph), after up to `wait_s` seconds for sessions still
        running (Engine.close); a graph from Engine.graph() leaves its engine alone."""
        if self._owns_engine:
            self.engine.close(wait_s)

    def __enter__(self) -> "RouterGraph":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- running --------------------------------------------------------------------------------

    def _config(self, session_id: str) -> dict[str, Any]:
        recursion = 6 * (self.pool.limits.max_rounds + 2) + 8  # every round's nodes, a retry per turn, the answer
        # Written into every checkpoint, so any instance sharing the checkpointer can rebuild the session.
        metadata = {FORMAT_KEY: STATE_FORMAT, "routeweave_graph": self.name, "routeweave_policy": self.policy_name,
                    "routeweave_pool": str(self.pool.source or ""), "routeweave_pool_hash": self.pool_hash}
        return {"configurable": {"thread_id": session_id}, "recursion_limit": recursion, "metadata": metadata}

    async def _run(self, inputs: dict[str, Any] | None, session_id: str, emit: Callable[[Step], None] | None,
                   *, new: bool = False) -> dict[str, Any]:
        """Runs on the owned loop. Steps are stored as they happen, so a crash loses at most the calls in flight.
        `new`: the id was just made, so there is no stored state to read first."""
        config = self._config(session_id)
        capped = inputs.pop("capped", {}) if inputs is not None else {}  # said in the result, not given to the graph
        snapshot = None if new and inputs is not None else await self.compiled.aget_state(config)
        values = snapshot.values if snapshot and snapshot.values else {}
        if inputs is None:
            self._check_resumable(session_id, snapshot)
        elif values:  # a new question under a stored session's id would write over its trace
            raise ValueError(f"session {session_id} already exists ({'finished' if values.get('stop_reason') else 'unfinished'}): "
                             "ask with a new session_id (or none); finish an interrupted one with graph.resume(session_id)")
        stored, journaled = len(values.get("steps", [])), []
        if inputs is None:
            # Calls that finished before a crash are in the trace already and in the checkpointer's pending
            # writes, past its last committed checkpoint; resuming replays those writes: not stored twice.
            committed = await self.compiled.checkpointer.aget_tuple(config)
            done_steps = ((committed.checkpoint if committed else {}).get("channel_values") or {}).get("steps") or []
            trace = self.traces.get_steps(session_id)
            if self.traces.get(session_id) is None:  # begun on another instance sharing the checkpointer: this
                # trace store gets the session's header and the steps committed there, then what runs here
                self._begin(session_id, values.get("question", ""), values.get("limits"), resumed=True)
                self.traces.add_steps(session_id, 0, list(done_steps))
                trace = list(done_steps)
            stored, journaled = len(trace), trace[len(done_steps):]
        question = (inputs or {}).get("question") or values.get("question", "")
        if inputs is not None:
            self._begin(session_id, question, inputs.get("limits"))
        started = time.perf_counter()
        with metrics.IN_FLIGHT.track_inprogress():
            final = await self._steps(inputs, config, session_id, stored, journaled, emit)
        if final is None:
            final = (await self.compiled.aget_state(config)).values
        result = {**summarize(session_id, question, final), "capped": capped}
        self.traces.finish(session_id, result)
        if result["overspent_usd"] or result["stop_reason"] == "overspent":
            self.engine.note_overspend()
        metrics.observe_session(self.name, result, time.perf_counter() - started)
        return result

    async def _steps(self, inputs, config, session_id: str, stored: int, journaled: list, emit) -> dict[str, Any] | None:
        """Run the graph, storing and emitting each new step; the final state as the "values" stream gives
        it (no read back), or None if nothing ran."""
        final = None
        updates = self.compiled.astream(inputs, config, stream_mode=["updates", "values"], durability=self.engine.durability)
        async for mode, chunk in updates:
            if mode == "values":
                final = chunk
                continue
            for node_update in chunk.values():
                new_steps = [s for s in (node_update or {}).get("steps") or [] if not _replayed(s, journaled)]
                if new_steps:
                    self.traces.add_steps(session_id, stored, new_steps)
                    stored += len(new_steps)
                    for step in new_steps:
                        if emit:
                            emit(step)
        return final

    def _begin(self, session_id: str, question: str, limits: dict | None, resumed: bool = False) -> None:
        meta = {"experts": [e.name for e in self.pool.enabled], "policy": self.policy_name, "limits": limits,
                "pool": str(self.pool.source or ""), "pool_hash": self.pool_hash,
                "budget_usd": (limits or {}).get("budget_usd", self.pool.limits.budget_usd)}
        self.traces.begin(session_id, question, graph=self.name, meta={**meta, "resumed_here": True} if resumed else meta)

    def _check_resumable(self, session_id: str, snapshot) -> None:
        if not (snapshot and snapshot.values):
            where = describe(self.engine.checkpointer_url, self.engine.db_path)
            raise NoCheckpoint(f"session {session_id} has no checkpoint in {where}: nothing to resume (ask the question again)")
        written = (snapshot.metadata or {}).get(FORMAT_KEY, 1)
        if written not in READABLE_FORMATS:
            raise ConfigError(f"session {session_id} was checkpointed in state format {written}; this routeweave "
                              f"reads {sorted(READABLE_FORMATS)}: finish it with the version that started it, or ask again")

    def _inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """{"question": str} plus optional session caps (SessionCaps: budget_usd, max_rounds, max_tokens,
        experts), which may lower the pool's limits but never raise them, and `constraints`."""
        if not isinstance(inputs, dict):
            raise ValueError(f"inputs must be a dict, got {type(inputs).__name__}: graph.invoke({{'question': 'Who ...?'}})")
        inputs = dict(inputs)
        question = inputs.pop("question", None)
        if not isinstance(question, str) or not question.strip():
            raise ValueError("inputs need a non-empty 'question' string, e.g. graph.invoke({'question': 'Who ...?'})")
        constraints = inputs.pop("constraints", None)
        caps = SessionCaps.parse(inputs)
        return {"question": question.strip(), "limits": caps.limits(self.pool),
                "constraints": caps.constraints(self.pool, constraints), "capped": caps.capped(self.pool)}

    def new_session_id(self) -> str:
        """A fresh session id, for a caller that must know it before the session starts (to name it in an error,
        say). No stored session has it, so its first run does not read the store first."""
        session_id = uuid.uuid4().hex
        self._fresh.add(session_id)
        return session_id

    def _locked(self, inputs: dict[str, Any] | None, session_id: str | None, emit: Callable[[Step], None] | None):
        """The session's run, holding its lock: one runner per session (locks.py); SessionBusy otherwise."""
        self.engine.loop.check()  # before any coroutine is made: a closed engine says so, and nothing is left unawaited
        if session_id is None:
            session_id = self.new_session_id()
        elif not isinstance(session_id, str) or not session_id.strip():
            raise ValueError(f"session_id must be a non-empty string (or None for a new one), got {session_id!r}")
        new = inputs is not None and session_id in self._fresh
        self._fresh.discard(session_id)
        return self.engine.locks.arun(self._counted(self._run(inputs, session_id, emit, new=new), session_id), session_id)

    async def _counted(self, run, session_id: str) -> dict[str, Any]:  # closing the engine waits for these
        self.engine.running.add(session_id)
        try:
            return await run
        finally:
            self.engine.running.discard(session_id)

    def invoke(self, inputs: dict[str, Any], *, session_id: str | None = None) -> dict[str, Any]:
        """Answer one question. `inputs`: {"question": str} plus optional caps, which may lower the pool's limits
        but never raise them: `budget_usd`, `max_rounds`, `max_tokens`, `experts` (names to allow), and
        `constraints` (for the policies). Returns the answer, stop_reason, steps, cost_usd, tokens, rounds,
        session_id and `capped` (the caps that were lowered to the pool's). `session_id`: None for a new one; an
        id already stored is refused (ValueError): finish an interrupted session with resume()."""
        return self._loop.run(self._locked(self._inputs(inputs), session_id, None))

    async def ainvoke(self, inputs: dict[str, Any], *, session_id: str | None = None) -> dict[str, Any]:
        """invoke(), awaitable from any event loop."""
        return await self._loop.arun(self._locked(self._inputs(inputs), session_id, None))

    def resume(self, session_id: str) -> dict[str, Any]:
        """Finish a session that was interrupted (its checkpoint says where it stopped): completed calls are
        not made again. Raises SessionBusy if another process is running it."""
        return self._loop.run(self._locked(None, session_id, None))

    async def aresume(self, session_id: str) -> dict[str, Any]:
        return await self._loop.arun(self._locked(None, session_id, None))

    def stream(self, inputs: dict[str, Any], *, session_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Yields {"type": "step", "session_id": ..., "step": ...} as each step happens, then {"type": "result",
        ...}. Leaving early does not stop the session: it runs to its end (close() waits for it)."""
        events: queue.Queue = queue.Queue()
        inputs = self._inputs(inputs)
        sid = self.new_session_id() if session_id is None else session_id
        future = asyncio.run_coroutine_threadsafe(
            self._locked(inputs, sid, lambda s: events.put({"type": "step", "session_id": sid, "step": s})), self._loop.loop)
        future.add_done_callback(lambda _: events.put(None))
        while (event := events.get()) is not None:
            yield event
        yield {"type": "result", **future.result()}

    async def astream(self, inputs: dict[str, Any], *, session_id: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """stream(), from any event loop."""
        caller = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        inputs = self._inputs(inputs)
        sid = self.new_session_id() if session_id is None else session_id
        emit = lambda s: caller.call_soon_threadsafe(events.put_nowait, {"type": "step", "session_id": sid, "step": s})  # noqa: E731
        run = self._locked(inputs, sid, emit)
        task = asyncio.ensure_future(self._loop.arun(run))
        task.add_done_callback(lambda _: events.put_nowait(None))
        while (event := await events.get()) is not None:
            yield event
        yield {"type": "result", **task.result()}


def open_graph(
    pool: str | Path | Pool | dict | None = None,
    *,
    graph: str = "router-r1",
    policy: str | Path | None = None,
    db_path: Path | None = None,
    cache_dir: Path | None = None,
) -> RouterGraph:
    """Load the pool (default: the embedded one), start what it needs and return a ready graph of this
    kind (`routeweave.graphs.graph_names()`; `policy` by name or saved directory for single-shot and cascade). Close it (or
    use `with`) to stop the servers. For several kinds over one pool, use `Engine(pool).start().graph(...)`."""
    pool = pool if isinstance(pool, Pool) else load_pool(pool)
    check_policy_fits(graph, policy, pool)  # an unknown, unfitted or unusable policy fails before anything starts
    engine = Engine(pool, db_path=db_path, cache_dir=cache_dir).start()
    try:
        return RouterGraph(engine, name=graph, policy=policy, owns_engine=True)
    except BaseException:
        engine.close()
        raise
