"""Results of QA evaluation runs in SQLite (sqlite-utils): one row per run, one row per (run, example).

- ``qa_runs``: the run's name and the config it was started with (dataset(s), graph, policy, the pool's
  hash, budget, max rounds, seed, limit, the dataset files' content hashes, the graph's prompt version).
  Resuming a run with another config is refused
  (`RunConfigError` names the keys that differ), so one run never mixes two set-ups. Keys in
  ``METADATA_KEYS`` (``skipped_rows``: malformed rows per dataset file, skipped while loading) describe the
  run rather than set it up: never compared, rewritten on each resume.
- ``qa_results``: keyed (run, dataset, example_id) and upserted, so re-running an example replaces its
  row and never duplicates it. Each row is written (and committed) the moment its example finishes:
  a ``kill -9`` loses at most the examples in flight. Rows link the stored trace (``session_id`` in the
  trace database ``trace_db``; ``routeweave trace SESSION_ID --db TRACE_DB``).

WAL mode with synchronous=NORMAL: a committed row survives the process being killed (not a power cut
in the last instant, which is fine for a benchmark)."""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any


from routeweave.serving import default_db_path
from routeweave.serving.sqlite_db import ensure_table, open_db

from .metrics import FAILED_STOP

RUNS = "qa_runs"
RESULTS = "qa_results"
INFLIGHT = "qa_inflight"  # sessions started and not yet scored: a resumed run finishes them instead of paying twice
# config keys runs record since a later version: a run stored without them resumes unchecked on them
LATER_KEYS = frozenset({"dataset_sha256", "graph_version"})
METADATA_KEYS = frozenset({"skipped_rows"})

RESULT_COLUMNS: dict[str, type] = {
    "run": str, "dataset": str, "example_id": str, "question": str, "answers": str, "prediction": str,
    "em": float, "f1": float, "cost_usd": float, "cost_units": float, "prompt_tokens": int,
    "completion_tokens": int, "rounds": int, "expert_calls": int, "latency_s": float, "wall_s": float,
    "stop_reason": str, "session_id": str, "trace_db": str, "error": str, "finished": float,
    "seen": float,  # a gold answer was in an expert's reply (1/0; null: a yes/no answer or no reply)
    "truncated": int,  # 1: the answer was cut at its call's token limit (the provider's finish_reason 'length')
    "retried_usd": float,  # spent by earlier attempts of this example that failed and were re-run (--retry-errors)
}


QUESTION_FIELDS = ("run", "dataset", "id", "question", "gold", "prediction", "em", "f1", "cost_usd", "stop_reason",
                   "error", "session_id", "trace_db")  # `export_questions`' columns
QUESTION_SUFFIXES = (".jsonl", ".csv")


class RunConfigError(ValueError):
    """A run exists with a different config; the message says which keys differ and what to do."""


def default_results_path() -> Path:
    """``evals.db`` beside the trace database (``ROUTEWEAVE_DB`` / XDG data dir)."""
    return default_db_path().with_name("evals.db")


class ResultStore:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_results_path()
        self._lock = threading.Lock()
        self.db = open_db(self.path)
        ensure_table(self.db, RUNS, {"run": str, "config": str, "created": float, "updated": float, "total": int}, "run")
        ensure_table(self.db, RESULTS, RESULT_COLUMNS, ("run", "dataset", "example_id"))
        ensure_table(self.db, INFLIGHT, {"run": str, "dataset": str, "example_id": str, "session_id": str, "started": float},
                     ("run", "dataset", "example_id"))

    # -- runs -----------------------------------------------------------------------------------

    def run_config(self, run: str) -> dict[str, Any] | None:
        with self._lock:
            rows = list(self.db[RUNS].rows_where("run = ?", [run]))
        return json.loads(rows[0]["config"]) if rows else None

    def runs(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = list(self.db[RUNS].rows_where(order_by="created"))
        for r in rows:
            r["config"] = json.loads(r["config"])
        return rows

    def open_run(self, run: str, config: dict[str, Any], total: int) -> bool:
        """Create the run, or check that an existing one has the same config. True if it already existed."""
        existing = self.run_config(run)
        now = time.time()
        if existing is None:
            with self._lock, self.db.conn:
                self.db[RUNS].insert({"run": run, "config": json.dumps(config, sort_keys=True), "created": now,
                                      "updated": now, "total": total})
            return False
        # keys recorded since a later version are checked only when the stored run has them
        differ = sorted(k for k in set(existing) | set(config) if existing.get(k) != config.get(k)
                        and not (k in LATER_KEYS and k not in existing) and k not in METADATA_KEYS)
        if differ:
            lines = [f"run '{run}' already exists with another config; refusing to mix them in one run:"]
            lines += [f"  {k}: stored {existing.get(k)!r}, now {config.get(k)!r}" for k in differ]
            lines.append("Resume it with the same options, or pick a new --run name.")
            raise RunConfigError("\n".join(lines))
        stored = {**existing, **{k: config[k] for k in METADATA_KEYS if k in config}}
        with self._lock, self.db.conn:
            self.db[RUNS].update(run, {"updated": now, "total": total, "config": json.dumps(stored, sort_keys=True)})
        return True

    def delete_run(self, run: str) -> int:
        with self._lock, self.db.conn:
            n = self.db.execute(f"select count(*) from {RESULTS} where run = ?", [run]).fetchone()[0]
            self.db.execute(f"delete from {RESULTS} where run = ?", [run])
            self.db.execute(f"delete from {INFLIGHT} where run = ?", [run])
            self.db.execute(f"delete from {RUNS} where run = ?", [run])
        return n

    # -- results --------------------------------------------------------------------------------

    def done_keys(self, run: str, *, include_errors: bool = True) -> set[tuple[str, str]]:
        """(dataset, example_id) of the examples of this run that already have a row."""
        where = "run = ?" + ("" if include_errors else  # not is_error_row
                             f" and (error is null or error = '') and coalesce(stop_reason, '') != '{FAILED_STOP}'")
        with self._lock:
            return {(r["dataset"], r["example_id"]) for r in self.db[RESULTS].rows_where(where, [run],
                                                                                       select="dataset, example_id")}

    def write(self, row: dict[str, Any]) -> None:
        """Upsert one example's row and commit it at once (its session is no longer in flight)."""
        row = {k: row.get(k) for k in RESULT_COLUMNS}
        if isinstance(row["answers"], (list, tuple)):
            row["answers"] = json.dumps(list(row["answers"]), ensure_ascii=False)
        row["finished"] = row["finished"] or time.time()
        with self._lock, self.db.conn:
            self.db[RESULTS].upsert(row, pk=("run", "dataset", "example_id"))
            self.db.execute(f"delete from {INFLIGHT} where run = ? and dataset = ? and example_id = ?",
                            [row["run"], row["dataset"], row["example_id"]])

    def start(self, run: str, dataset: str, example_id: str, session_id: str) -> None:
        """Record (and commit) the session an example is running in, before it starts spending."""
        with self._lock, self.db.conn:
            self.db[INFLIGHT].upsert({"run": run, "dataset": dataset, "example_id": example_id, "session_id": session_id,
                                      "started": time.time()}, pk=("run", "dataset", "example_id"))

    def in_flight(self, run: str) -> dict[tuple[str, str], str]:
        """(dataset, example_id) -> session id of the examples whose session began and was never scored."""
        with self._lock:
            return {(r["dataset"], r["example_id"]): r["session_id"] for r in self.db[INFLIGHT].rows_where("run = ?", [run])}

    def rows(self, run: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = list(self.db[RESULTS].rows_where("run = ?", [run], order_by="finished"))
        for r in rows:
            try:
                r["answers"] = json.loads(r["answers"] or "[]")
            except json.JSONDecodeError:
                r["answers"] = [r["answers"]]
        return rows

    def count(self, run: str) -> int:
        with self._lock:
            return self.db.execute(f"select count(*) from {RESULTS} where run = ?", [run]).fetchone()[0]

    def export_questions(self, runs: list[str], path: str | Path) -> int:
        """Write one row per stored question of these runs (QUESTION_FIELDS; ``gold`` the list of gold answers, JSON
        text in a CSV cell) as JSON Lines or CSV, by the file's suffix. Returns the number of rows written."""
        path = Path(path)
        if path.suffix.lower() not in QUESTION_SUFFIXES:
            raise ValueError(f"--questions {path}: name the file *.jsonl or *.csv (the suffix picks the format)")
        rows = [{"run": run, "dataset": r["dataset"], "id": r["example_id"], "question": r["question"], "gold": r["answers"],
                 **{k: r.get(k) for k in QUESTION_FIELDS[5:]}} for run in runs for r in self.rows(run)]
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as f:
            if path.suffix.lower() == ".csv":
                writer = csv.DictWriter(f, QUESTION_FIELDS)
                writer.writeheader()
                writer.writerows({**r, "gold": json.dumps(r["gold"], ensure_ascii=False)} for r in rows)
            else:
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        return len(rows)

    def write_many(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.write(row)

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
