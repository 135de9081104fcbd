"""The recorded sessions a replay reads: each id names an `eval qa` run (all its rows, each linking its
stored trace) or one stored session. Nothing here writes: a database that does not exist is not created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from routeweave.serving import ConfigError, TraceStore, default_db_path

from ..qa.store import RESULTS, ResultStore, default_results_path


class ReplayError(ConfigError):
    """Input a replay cannot use (an unknown id, a missing database, a policy for other experts); the
    message says what to pass instead."""


class Recorded(BaseModel):
    """One recorded session, and its eval qa row when it came from a run (`quality` is then its score)."""

    model_config = ConfigDict(extra="forbid")

    session_id: str
    question: str
    graph: str | None = None
    stop_reason: str | None = None
    steps: list[dict[str, Any]] | None = None  # None: the trace is missing (its cost cannot be re-priced)
    run: str | None = None
    dataset: str | None = None
    example_id: str | None = None
    quality: float | None = None
    row_error: str | None = None  # the run's row failed (timeout, exception): scored 0, no outcome

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the question: (dataset, example id) for a run's row, else its text."""
        if self.dataset is not None and self.example_id is not None:
            return self.dataset, self.example_id
        return "", self.question

    @property
    def cost_usd(self) -> float:
        return sum(float(s.get("cost_usd") or 0.0) for s in self.steps or [])


def results_path(results_db: Path | None, trace_db: Path | None) -> Path:
    """The eval results database: given, else beside the given trace database, else the default."""
    if results_db:
        return Path(results_db)
    if trace_db:
        return Path(trace_db).with_name("evals.db")
    return default_results_path()


class Traces:
    """Trace stores opened on demand, read only (never created)."""

    def __init__(self) -> None:
        self._open: dict[Path, TraceStore | None] = {}

    def get(self, path: Path, session_id: str | None) -> dict[str, Any] | None:
        path = Path(path)
        if path not in self._open:
            self._open[path] = TraceStore(path) if path.is_file() else None
        store = self._open[path]
        return store.get(session_id) if store is not None and session_id else None

    def close(self) -> None:
        for store in self._open.values():
            if store is not None:
                store.close()


def _from_row(row: dict[str, Any], session: dict[str, Any] | None, metric: str) -> Recorded:
    return Recorded(
        session_id=row.get("session_id") or f"{row['run']}:{row['dataset']}/{row['example_id']}",
        question=row["question"], graph=(session or {}).get("graph"),
        stop_reason=(session or {}).get("stop_reason") or row.get("stop_reason"),
        steps=session["steps"] if session else None, run=row["run"], dataset=row["dataset"],
        example_id=row["example_id"], quality=float(row[metric] or 0.0), row_error=row.get("error") or None,
    )


def _from_session(session: dict[str, Any]) -> Recorded:
    return Recorded(session_id=session["session_id"], question=session.get("question") or "",
                    graph=session.get("graph"), stop_reason=session.get("stop_reason"), steps=session["steps"])


def _row_of_session(store: ResultStore | None, session_id: str) -> dict[str, Any] | None:
    if store is None:
        return None
    rows = list(store.db[RESULTS].rows_where("session_id = ?", [session_id], limit=1))
    return rows[0] if rows else None


def load_recorded(ids: list[str], *, trace_db: Path | None = None, results_db: Path | None = None,
                  metric: str = "f1") -> list[Recorded]:
    """Every session the ids name, in order (a run's rows in the order they finished). An id is first
    looked up as a run name, then as a session id; a session that belongs to a run keeps its score."""
    trace_path = Path(trace_db) if trace_db else default_db_path()
    results = results_path(results_db, trace_db)
    store = ResultStore(results) if results.is_file() else None
    traces = Traces()
    out: list[Recorded] = []
    try:
        for name in ids:
            if store is not None and store.run_config(name) is not None:
                rows = store.rows(name)
                if not rows:
                    raise ReplayError(f"eval qa run '{name}' in {results} has no finished rows yet: nothing to replay")
                out += [_from_row(r, traces.get(Path(r.get("trace_db") or trace_path), r.get("session_id")), metric)
                        for r in rows]
                continue
            session = traces.get(trace_path, name)
            if session is None:
                runs = ", ".join(r["run"] for r in store.runs()) if store is not None else ""
                raise ReplayError(
                    f"'{name}' is neither an eval qa run in {results}"
                    + (f" (runs: {runs})" if runs else " (no such database)" if store is None else " (it has no runs)")
                    + f" nor a session in {trace_path}" + ("" if trace_path.is_file() else " (no such database)")
                    + ": pass a run name (`routeweave eval report` lists them) or a session id, with --db / --results-db "
                    "if they live elsewhere")
            row = _row_of_session(store, name)
            out.append(_from_row(row, session, metric) if row else _from_session(session))
    finally:
        traces.close()
        if store is not None:
            store.close()
    return out
