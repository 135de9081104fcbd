"""Bounded storage: prune the checkpoints of finished sessions.

LangGraph keeps every checkpoint of every session (~23 KB per Router-R1 session), and nothing else ever
deletes them. A session is finished when the trace store recorded its result (`rw_sessions.finished`);
its checkpoints are then only needed to inspect it step by step, which its trace rows also allow.
Unfinished sessions (interrupted, still running) are never touched: they stay resumable.

    routeweave gc --older-than 7d            # checkpoints of sessions finished more than 7 days ago
    routeweave serve --gc-older-than 1d      # the same, every --gc-every seconds, while serving

Traces are kept unless `traces=True` (`--traces`); QA evaluation results (evals.db) are never opened here.
Deleted rows leave free pages that SQLite reuses, so the files stop growing; `vacuum=True` also shrinks
them (it rewrites the file: run it when the service is quiet)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from ..agents.errors import ConfigError
from .checkpointers import open_checkpointer
from .paths import checkpoint_path
from .trace_store import SESSIONS, STEPS

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90s', '15m', '12h', '7d', '2w' or plain seconds -> seconds. A ConfigError says what is accepted."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(text))
    if not match:
        raise ConfigError(f"cannot read the duration {text!r}: give a number with an optional unit s, m, h, d or w "
                          f"(e.g. 30m, 12h, 7d)")
    return float(match.group(1)) * UNITS[match.group(2) or "s"]


def finished_sessions(db_path: Path, older_than_s: float, *, now: float | None = None,
                      since: float | None = None) -> list[str]:
    """Ids of the sessions the trace store saw finish more than `older_than_s` seconds ago (and, with
    `since`, after that time: what a previous pass has not pruned yet)."""
    if not Path(db_path).exists():
        return []
    cutoff = (now if now is not None else time.time()) - older_than_s
    conn = sqlite3.connect(str(db_path), timeout=30)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (SESSIONS,)).fetchone():
            return []
        rows = conn.execute(f"SELECT session_id FROM {SESSIONS} WHERE finished IS NOT NULL AND finished <= ? AND finished > ?",
                            (cutoff, since if since is not None else float("-inf")))
        return [r[0] for r in rows]
    finally:
        conn.close()


async def prune(db_path: Path, older_than_s: float, *, checkpointer_url: str | None = None, traces: bool = False,
                vacuum: bool = False, saver: Any = None, since: float | None = None) -> dict[str, Any]:
    """Delete the checkpoints (and with `traces`, the trace rows) of sessions finished over `older_than_s`
    ago (after `since`, if given). `saver`: an open checkpointer to use (the serving engine's); else one is
    opened and closed here."""
    ids = finished_sessions(db_path, older_than_s, since=since)
    close = None
    if saver is None:
        saver, close = await open_checkpointer(checkpointer_url, Path(db_path))
    pruned = 0
    try:
        for i, session_id in enumerate(ids):
            config = {"configurable": {"thread_id": session_id}}
            if await saver.aget_tuple(config) is not None:  # count what is deleted, not what was asked for
                await saver.adelete_thread(session_id)
                pruned += 1
            if i % 100 == 99:
                await asyncio.sleep(0)  # let a serving loop answer requests between batches
    finally:
        if close is not None:
            await close()
    deleted = _delete_traces(db_path, ids) if traces and ids else 0
    if vacuum and checkpointer_url is None:
        _vacuum(checkpoint_path(Path(db_path)))
        if traces:
            _vacuum(Path(db_path))
    return {"sessions": len(ids), "checkpoints_pruned": pruned, "traces_deleted": deleted}


def _delete_traces(db_path: Path, ids: list[str]) -> int:
    """Delete those sessions' steps and session rows; the number of sessions deleted."""
    conn = sqlite3.connect(str(db_path), timeout=30)
    try:
        with conn:
            conn.executemany(f"DELETE FROM {STEPS} WHERE session_id = ?", [(i,) for i in ids])
            return sum(conn.execute(f"DELETE FROM {SESSIONS} WHERE session_id = ?", (i,)).rowcount for i in ids)
    finally:
        conn.close()


def _vacuum(path: Path) -> None:
    if path.exists():
        conn = sqlite3.connect(str(path), timeout=30)
        try:
            conn.execute("VACUUM")
        finally:
            conn.close()


async def prune_every(db_path: Path, older_than_s: float, every_s: float, saver: Any, *, log=print) -> None:
    """The serve option: prune now and then every `every_s` seconds, on the serving loop, until cancelled."""
    since = None
    while True:
        try:
            cutoff = time.time() - older_than_s
            done = await prune(db_path, older_than_s, saver=saver, since=since)
            since = cutoff - 60  # the next pass looks at what finished since (a minute's overlap for clock steps)
            if done["checkpoints_pruned"]:
                log(f"gc: pruned the checkpoints of {done['checkpoints_pruned']} finished session(s)")
        except Exception as exc:  # noqa: BLE001 - retention must never take the service down
            log(f"gc: failed ({type(exc).__name__}: {exc}); retrying in {every_s:.0f} s")
        await asyncio.sleep(every_s)
