"""SQLite files the service and the evals write: one way to open them and to bring an older file's tables up to date.

WAL mode with synchronous=NORMAL: a committed row survives the process being killed, without an fsync per
write (a power cut in the last instant may lose the last commits)."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlite_utils


T = TypeVar("T")


def retry_locked(setup: Callable[[], T], *, timeout_s: float = 30.0) -> T:
    """Run a file's set-up (WAL mode, CREATE TABLE IF NOT EXISTS) again while another process's set-up holds the
    file: processes opening one new file together (`serve --workers`, instances sharing --db) can get "database
    is locked" at once, without SQLite's busy wait (two connections that both read, then both want to write)."""
    deadline, delay = time.monotonic() + timeout_s, 0.02
    while True:
        try:
            return setup()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 0.5)


def open_db(path: Path) -> sqlite_utils.Database:
    """A thread-shareable connection (the caller serialises writes) in WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
    try:
        db = sqlite_utils.Database(conn)
        db.enable_wal()
        db.execute("PRAGMA synchronous=NORMAL")
    except BaseException:  # (a locked or damaged file: no connection left open behind the error)
        conn.close()
        raise
    return db


def ensure_table(db: sqlite_utils.Database, table: str, columns: dict[str, type], pk: str | tuple[str, ...]) -> None:
    """Create ``table`` if it is missing; a file written by an older routeweave gains the columns added since."""
    db[table].create(columns, pk=pk, if_not_exists=True)
    have = db[table].columns_dict
    for name, kind in columns.items():
        if name not in have:
            db[table].add_column(name, kind)
