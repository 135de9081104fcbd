"""Run QA examples through a graph with bounded concurrency; score and store each one as it finishes.

    with open_eval_graph(pool, "router-r1") as graph, ResultStore(path) as store:
        outcome = asyncio.run(run_examples(graph, examples, store=store, run="r1-hotpot", concurrency=2))

The graph is anything with ``async ainvoke({"question": ...}, session_id=...)`` returning the public
result dict of `routeweave.serving.RouterGraph` (answer, cost_usd, cost_units, tokens, rounds, expert_calls,
latency_s, stop_reason, session_id), so the harness runs exactly the code path that serves traffic.

- K workers pull examples from a queue: at most K sessions in flight.
- Each example has a timeout; a timeout or an exception becomes a row with ``error`` set (scored 0),
  never a crash of the run.
- A row is committed the moment its example finishes; examples that already have a row in the run are
  skipped (``retry_errors`` re-runs the rows that failed), so running again resumes.
- ``deadline`` (monotonic seconds): no new example starts after it; the ones in flight finish. That is
  how a long run is split into bounded chunks (``--stop-after``)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routeweave.agents.pool import Pool, PoolError
from routeweave.graphs.state import expert_calls
from routeweave.serving import NoCheckpoint

from .datasets import Example
from .metrics import answer_seen, exact_match, f1, is_error_row
from .store import ResultStore


@dataclass
class RunOutcome:
    total: int  # examples in the run
    done_before: int  # rows already stored when this invocation started
    ran: int = 0  # examples finished by this invocation
    errors: int = 0  # of which failed (timeout or exception)
    remaining: int = 0  # examples without a row when this invocation ended
    elapsed_s: float = 0.0
    stopped_early: bool = False  # the deadline stopped it before every example had a row
    rows: list[dict[str, Any]] = field(default_factory=list)  # rows written by this invocation


def largest_expert(pool: Pool) -> str:
    """The LLM expert with the highest output price (then input price): the "largest LLM" baseline."""
    llms = pool.endpoints()
    if not llms:
        raise PoolError("the pool has no LLM expert, so there is no 'largest' one")
    return max(llms, key=lambda e: (e.price.output_per_m, e.price.input_per_m)).name


def effective_pool(pool: Pool, *, experts: Sequence[str] | None = None, budget_usd: float | None = None,
                   max_rounds: int | None = None) -> Pool:
    """The pool the run uses: only these experts enabled ('largest' = `largest_expert`), and the
    budget / max rounds set (raised or lowered) for every session."""
    limits: dict[str, Any] = {}
    if budget_usd is not None:
        if budget_usd <= 0:
            raise PoolError("--budget must be more than 0")
        limits["budget_usd"] = budget_usd
    if max_rounds is not None:
        if max_rounds < 1:
            raise PoolError("--max-rounds must be at least 1")
        limits["max_rounds"] = max_rounds
    if limits:
        pool = pool.model_copy(update={"limits": pool.limits.model_copy(update=limits)})
    if experts:
        names = [largest_expert(pool) if n.lower() == "largest" else n for n in experts]
        pool = pool.with_enabled(names)
    return pool


def open_eval_graph(pool: Pool, graph: str = "router-r1", policy: str | None = None, *,
                    db_path: Path | None = None, cache_dir: Path | None = None):
    """Start the pool and return a started graph of this kind (use it with ``with``)."""
    from routeweave.serving import open_graph

    return open_graph(pool, graph=graph, policy=policy, db_path=db_path, cache_dir=cache_dir)


def score_row(run: str, example: Example, result: dict[str, Any] | None, *, wall_s: float,
              error: str | None, trace_db: str | None) -> dict[str, Any]:
    """The stored row of one finished example. A failed example keeps whatever the result says (None
    if there is none) and scores 0."""
    result = result or {}
    answer = result.get("answer") or ""
    return {
        "run": run, "dataset": example.dataset, "example_id": example.id, "question": example.question,
        "answers": list(example.answers), "prediction": answer,
        "em": 0.0 if error else exact_match(answer, example.answers),
        "f1": 0.0 if error else f1(answer, example.answers),
        "seen": answer_seen([s.get("reply") for s in result.get("steps") or [] if s.get("kind") == "route"], example.answers),
        "cost_usd": float(result.get("cost_usd") or 0.0), "cost_units": float(result.get("cost_units") or 0.0),
        "prompt_tokens": int(result.get("prompt_tokens") or 0),
        "completion_tokens": int(result.get("completion_tokens") or 0),
        "rounds": int(result.get("rounds") or 0), "expert_calls": int(result.get("expert_calls") or 0),
        "latency_s": _latency(result), "wall_s": round(wall_s, 4),
        "stop_reason": result.get("stop_reason") or ("error" if error else None),
        "truncated": int(not error and bool(result.get("truncated"))),
        "session_id": result.get("session_id"), "trace_db": trace_db, "error": error, "finished": time.time(),
    }


def _spent_before_failing(graph, session_id: str) -> dict[str, Any] | None:
    """What a timed-out or failed session had already spent, from its stored steps (so a timeout is not
    free in the cost columns). None if the graph keeps no traces or the session has no steps."""
    traces = getattr(graph, "traces", None)
    try:
        session = traces.get(session_id) if traces is not None else None
    except Exception:  # noqa: BLE001 - best effort; the row is written either way
        return None
    steps = (session or {}).get("steps") or []
    if not steps:
        return None
    return {
        "session_id": session_id, "answer": "", "steps": steps,
        "cost_usd": sum(s.get("cost_usd") or 0.0 for s in steps),
        "cost_units": sum(s.get("cost_units") or 0.0 for s in steps),
        "prompt_tokens": sum(s.get("prompt_tokens") or 0 for s in steps),
        "completion_tokens": sum(s.get("completion_tokens") or 0 for s in steps),
        "rounds": max((s.get("round") or 0) for s in steps),
        "expert_calls": expert_calls(steps),
    }


def _latency(result: dict[str, Any]) -> float:
    """The graph's latency; if it reports none (graphs whose only call is an `answer` step), the sum of
    its steps' latencies."""
    if result.get("latency_s"):
        return float(result["latency_s"])
    return float(sum(s.get("latency_s") or 0.0 for s in result.get("steps") or []))


def _resumed(graph, session_id: str | None, question: str):
    """The call that finishes an example's session left in flight by a killed run (its finished model calls
    are not paid again), or (None, None) to start a fresh one."""
    resume = getattr(graph, "aresume", None)
    if session_id is None or resume is None:
        return None, None

    async def finish():
        try:
            return await resume(session_id)
        except NoCheckpoint:  # killed before its first checkpoint: nothing was journaled, start it afresh
            return await graph.ainvoke({"question": question}, session_id=session_id)

    return finish(), session_id


class Progress:
    """done/total, EM so far, dollars so far and ETA: a tqdm bar on a terminal, else a line every few
    seconds (logs stay readable). Counts include the rows stored before a resume."""

    def __init__(self, total: int, done: int, em_sum: float, usd: float, *, enabled: bool = True,
                 label: str = "", stream=None):
        self.total, self.done, self.em_sum, self.usd = total, done, em_sum, usd
        self.errors = 0
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._started, self._first_done, self._last_line = time.monotonic(), done, 0.0
        self._bar = None
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total, initial=done, desc=label or "eval", unit="q", file=self.stream,
                                 dynamic_ncols=True, smoothing=0.1)
                self._bar.set_postfix_str(self._postfix())
            except ImportError:  # pragma: no cover - tqdm is a dependency
                self._bar = None

    def _postfix(self) -> str:
        em = self.em_sum / self.done if self.done else 0.0
        return f"EM {em:.3f} · ${self.usd:.5f}" + (f" · {self.errors} err" if self.errors else "")

    def update(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.em_sum += row["em"]
        self.usd += row["cost_usd"]
        self.errors += bool(row["error"])
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(self._postfix(), refresh=False)
            self._bar.update(1)
            return
        now = time.monotonic()
        if now - self._last_line >= 5 or self.done == self.total:
            self._last_line = now
            rate = (self.done - self._first_done) / max(now - self._started, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            print(f"[{self.done}/{self.total}] {self._postfix()} · {rate * 60:.1f} q/min · ETA {eta:.0f}s",
                  file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


async def run_examples(
    graph, examples: Sequence[Example], *, store: ResultStore, run: str, concurrency: int = 1,
    timeout_s: float | None = 300.0, deadline: float | None = None, retry_errors: bool = False,
    trace_db: str | None = None, progress: bool = True, label: str = "",
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> RunOutcome:
    """Run the examples that have no row in `run` yet (see module docstring)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    done = store.done_keys(run, include_errors=not retry_errors)
    todo = [ex for ex in examples if (ex.dataset, ex.id) not in done]
    stored = {(r["dataset"], r["example_id"]): r for r in store.rows(run)}
    keys = {(ex.dataset, ex.id) for ex in examples}
    prior = [r for k, r in stored.items() if k in keys and k in done]
    outcome = RunOutcome(total=len(examples), done_before=len(prior))
    bar = Progress(len(examples), len(prior), sum(r["em"] for r in prior), sum(r["cost_usd"] for r in prior),
                   enabled=progress, label=label)
    queue: asyncio.Queue[Example] = asyncio.Queue()
    for ex in todo:
        queue.put_nowait(ex)
    started = time.monotonic()

    in_flight = store.in_flight(run)

    async def one(ex: Example) -> dict[str, Any]:
        t0 = time.perf_counter()
        result, error = None, None
        call, session_id = _resumed(graph, in_flight.get((ex.dataset, ex.id)), ex.question)
        if call is None:  # a fresh session, recorded before it spends anything
            session_id = uuid.uuid4().hex
            store.start(run, ex.dataset, ex.id, session_id)
            call = graph.ainvoke({"question": ex.question}, session_id=session_id)
        try:
            result = await (asyncio.wait_for(call, timeout_s) if timeout_s else call)
        except asyncio.TimeoutError:
            error = f"timeout after {timeout_s:g}s"
            result = {"session_id": session_id}
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - an error is a row, never the end of the run
            error = f"{type(exc).__name__}: {exc}"[:2000]
            result = {"session_id": session_id}
        if error is not None:
            result = _spent_before_failing(graph, session_id) or result
        row = score_row(run, ex, result, wall_s=time.perf_counter() - t0, error=error, trace_db=trace_db)
        failed = stored.get((ex.dataset, ex.id))  # a failed row being retried: what it spent stays on record
        if failed is not None and is_error_row(failed):
            row["retried_usd"] = (failed.get("retried_usd") or 0.0) + (failed.get("cost_usd") or 0.0)
        return row

    async def worker() -> None:
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                return
            try:
                ex = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            row = await one(ex)
            store.write(row)  # committed before anything else happens: kill -9 loses only in-flight ones
            outcome.rows.append(row)
            outcome.ran += 1
            outcome.errors += bool(row["error"])
            bar.update(row)
            if on_row:
                on_row(row)

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, max(len(todo), 1)))))
    finally:
        bar.close()
        outcome.elapsed_s = time.monotonic() - started
        outcome.remaining = queue.qsize()
        outcome.stopped_early = outcome.remaining > 0
    return outcome
