"""The trace store: one row per session and one row per step, in SQLite through sqlite-utils.

Rows are keyed (session, step index) and upserted, so writing a step twice (a resumed session) never
duplicates it. Thread-safe: one connection guarded by a lock."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import sqlite_utils

from ..graphs import Step
from ..graphs.state import expert_calls
from .sqlite_db import ensure_table, open_db, retry_locked

SESSIONS = "rw_sessions"
STEPS = "rw_steps"
SESSION_COLUMNS = {"session_id": str, "graph": str, "question": str, "answer": str, "stop_reason": str, "cost_usd": float,
                   "cost_units": float, "prompt_tokens": int, "completion_tokens": int, "rounds": int, "started": float,
                   "finished": float, "meta": str, "overspent_usd": float}
STEP_COLUMNS = {"session_id": str, "idx": int, "kind": str, "round": int, "expert": str, "query": str, "reply": str,
                "text": str, "prompt_tokens": int, "completion_tokens": int, "cost_usd": float, "cost_units": float,
                "latency_s": float, "error": str, "overspent_usd": float, "answered_by": str}
STEP_KEYS = tuple(k for k in STEP_COLUMNS if k not in ("session_id", "idx"))
FINISH_KEYS = ("answer", "stop_reason", "cost_usd", "cost_units", "prompt_tokens", "completion_tokens", "rounds",
               "overspent_usd")
# Plain prepared statements on the hot path (sqlite-utils' upsert looks the table up on every call).
INSERT_STEP = f"INSERT OR REPLACE INTO {STEPS} (session_id, idx, {', '.join(STEP_KEYS)}) VALUES ({', '.join('?' * (2 + len(STEP_KEYS)))})"
BEGIN = (f"INSERT INTO {SESSIONS} (session_id, graph, question, started, meta) VALUES (?, ?, ?, ?, ?) ON CONFLICT(session_id) "
         "DO UPDATE SET graph = excluded.graph, question = excluded.question, started = excluded.started, meta = excluded.meta")
FINISH = (f"INSERT INTO {SESSIONS} (session_id, finished, {', '.join(FINISH_KEYS)}) VALUES ({', '.join('?' * (2 + len(FINISH_KEYS)))}) "
          f"ON CONFLICT(session_id) DO UPDATE SET finished = excluded.finished, "
          + ", ".join(f"{k} = excluded.{k}" for k in FINISH_KEYS))


class TraceStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._db: sqlite_utils.Database | None = None
        self._lock = threading.Lock()

    @property
    def db(self) -> sqlite_utils.Database:
        if self._db is None:
            self._db = retry_locked(self._open)
        return self._db

    def _open(self) -> sqlite_utils.Database:
        db = open_db(self.path)
        try:
            ensure_table(db, SESSIONS, SESSION_COLUMNS, "session_id")
            ensure_table(db, STEPS, STEP_COLUMNS, ("session_id", "idx"))
        except BaseException:
            db.conn.close()
            raise
        return db

    def check(self) -> None:
        """Open the file and read it (ConfigError naming it if it is not a routeweave trace database): at start,
        and by GET /readyz."""
        from ..agents.errors import ConfigError

        try:
            with self._lock:
                self.db.execute(f"SELECT 1 FROM {SESSIONS} LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise ConfigError(f"the trace database {self.path} cannot be used ({type(exc).__name__}: {exc}): give "
                              "--db another file, or move this one away") from None

    def _write(self, sql: str, rows: list[tuple]) -> None:
        with self._lock:
            conn = self.db.conn
            with conn:  # one transaction, committed on leaving
                conn.executemany(sql, rows)

    def begin(self, session_id: str, question: str, *, graph: str, meta: dict[str, Any] | None = None) -> None:
        self._write(BEGIN, [(session_id, graph, question, time.time(), json.dumps(meta or {}))])

    def add_steps(self, session_id: str, first_idx: int, steps: list[Step]) -> None:
        self._write(INSERT_STEP, [(session_id, first_idx + i, *(step.get(k) for k in STEP_KEYS)) for i, step in enumerate(steps)])

    def finish(self, session_id: str, result: dict[str, Any]) -> None:
        self._write(FINISH, [(session_id, time.time(), *(result.get(k) for k in FINISH_KEYS))])

    def get(self, session_id: str) -> dict[str, Any] | None:
        with self._lock:
            rows = list(self.db[SESSIONS].rows_where("session_id = ?", [session_id]))
            if not rows:
                return None
            steps = list(self.db[STEPS].rows_where("session_id = ?", [session_id], order_by="idx"))
        session = rows[0]
        session["meta"] = json.loads(session.get("meta") or "{}")
        session["steps"] = [{k: v for k, v in s.items() if k not in ("session_id", "idx")} for s in steps]  # type: ignore[misc]
        session["expert_calls"] = expert_calls(session["steps"])
        return session

    def get_steps(self, session_id: str) -> list[Step]:
        with self._lock:
            rows = list(self.db[STEPS].rows_where("session_id = ?", [session_id], order_by="idx"))
        return [{k: v for k, v in r.items() if k not in ("session_id", "idx")} for r in rows]  # type: ignore[misc]

    def overspends_by_expert(self) -> dict[str, int]:
        """How many calls of each expert billed beyond their reservation, over every stored session."""
        with self._lock:
            rows = self.db.execute(f"select expert, count(*) from {STEPS} where kind = 'notice' and error = 'overspent' "
                                   f"group by expert").fetchall()
        return {expert: n for expert, n in rows if expert}

    def unfinished(self, limit: int = 100) -> list[dict[str, Any]]:
        """Sessions that began and never finished: running now, or interrupted (crashed)."""
        return self._sessions("finished is null", limit)

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest sessions, finished or not (``meta``, the settings a session began with, as an object)."""
        return self._sessions(None, limit)

    def _sessions(self, where: str | None, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = list(self.db[SESSIONS].rows_where(where, order_by="started desc", limit=limit))
            for row in rows:  # not finished: its cost is not set yet, but its stored steps say what it has spent
                if row.get("finished") is None:
                    spent, rounds = self.db.execute(f"SELECT coalesce(sum(cost_usd), 0), coalesce(max(round), 0) FROM {STEPS} "
                                                    "WHERE session_id = ?", [row["session_id"]]).fetchone()
                    row["spent_usd"], row["rounds"] = spent, rounds
        for row in rows:
            row["meta"] = json.loads(row.get("meta") or "{}")
        return rows

    def close(self) -> None:
        if self._db is not None:
            self._db.conn.close()
            self._db = None
