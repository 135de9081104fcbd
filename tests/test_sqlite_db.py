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
