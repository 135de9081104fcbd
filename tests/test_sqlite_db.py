"""Files written by an older routeweave: opening them adds the columns added since, and keeps every row."""

import sqlite3

from routeweave.evals.qa.store import RESULT_COLUMNS, RESULTS, ResultStore
from routeweave.serving.trace_store import SESSION_COLUMNS, SESSIONS, STEP_COLUMNS, STEPS, TraceStore


def _old_table(path, table, columns, pk, row):
    cols = list(columns)
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE {table} ({', '.join(cols)}, PRIMARY KEY ({', '.join(pk)}))")
        conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))


def _columns(path, table):
    with sqlite3.connect(path) as conn:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def test_an_older_results_file_gains_the_new_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "evals.db"
    old = [c for c in RESULT_COLUMNS if c not in ("seen", "wall_s")]
    _old_table(path, RESULTS, old, ("run", "dataset", "example_id"),
               {"run": "r", "dataset": "hotpotqa", "example_id": "1", "prediction": "Paris", "f1": 1.0})
    store = ResultStore(path)
    assert set(_columns(path, RESULTS)) == set(RESULT_COLUMNS)
    rows = list(store.db[RESULTS].rows)
    assert [(r["example_id"], r["prediction"], r["f1"], r["seen"]) for r in rows] == [("1", "Paris", 1.0, None)]


def test_an_older_trace_file_gains_the_new_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "traces.db"
    _old_table(path, SESSIONS, [c for c in SESSION_COLUMNS if c != "overspent_usd"], ("session_id",),
               {"session_id": "s1", "question": "q?", "answer": "a"})
    _old_table(path, STEPS, [c for c in STEP_COLUMNS if c not in ("overspent_usd", "answered_by")], ("session_id", "idx"),
               {"session_id": "s1", "idx": 0, "kind": "answer", "text": "a"})
    store = TraceStore(path)
    store.db  # opened on first use
    assert set(_columns(path, SESSIONS)) == set(SESSION_COLUMNS)
    assert set(_columns(path, STEPS)) == set(STEP_COLUMNS)
    assert [(r["session_id"], r["answer"]) for r in store.db[SESSIONS].rows] == [("s1", "a")]
    assert [(r["idx"], r["text"], r["answered_by"]) for r in store.db[STEPS].rows] == [(0, "a", None)]


OPEN_TOGETHER = """
import sys, time
from pathlib import Path
from routeweave.serving.paths import checkpoint_path
from routeweave.serving.sqlite_saver import LoopSqliteSaver
from routeweave.serving.trace_store import TraceStore
folder, start, n = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    while time.time() < start + 0.4 * i:  # both processes open file i at the same instant
        pass
    path = folder / f"rw{i}.db"
    try:
        TraceStore(path).check()
        LoopSqliteSaver.open(checkpoint_path(path)).conn.close()
        print("ok", flush=True)
    except Exception as exc:
        print("FAIL", i, type(exc).__name__, exc, flush=True)
"""


def test_processes_creating_the_same_files_at_once_all_start(tmp_path):
    """`serve --workers 2` (or two instances sharing --db) create the trace and checkpoint files together: SQLite
    answers one of them "database is locked" at once, without its busy wait; the set-up is retried. (Without the
    retry, 6 of 15 such pairs failed here; the CI failure that showed it was a worker exiting 1 at start.)"""
    import subprocess
    import sys
    import time

    start, n = time.time() + 4, 12
    cmd = [sys.executable, "-c", OPEN_TOGETHER, str(tmp_path), str(start), str(n)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(out.split() == ["ok"] * n for out in outputs), outputs
