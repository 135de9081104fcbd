"""LangGraph's SQLite checkpointer, run on the event loop's own thread.

LangGraph's `AsyncSqliteSaver` sends every statement to aiosqlite's worker thread and waits for the
answer through the loop: two thread hops and a future per statement, several per graph step. Each of
those statements is a short local transaction (WAL, synchronous=NORMAL: no fsync, still crash-safe), so
running it where the loop is, as `SqliteSaver` does, costs a fraction of the hops. `LoopSqliteSaver` is
LangGraph's `SqliteSaver` (same tables, same serialiser, the same files as before) with its async methods
made of the sync ones. Processes sharing the file (`serve --workers N`) wait on SQLite's lock (busy
timeout) for at most one short transaction of another process."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from .sqlite_db import retry_locked

BUSY_TIMEOUT_S = 30


class LoopSqliteSaver(SqliteSaver):
    @classmethod
    def open(cls, path: Path) -> "LoopSqliteSaver":
        return retry_locked(lambda: cls._open(path))  # (processes creating one file together)

    @classmethod
    def _open(cls, path: Path) -> "LoopSqliteSaver":
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        try:
            saver = cls(conn)
            saver.setup()  # WAL mode, the tables
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: no fsync per step, still crash-safe
        except BaseException:
            conn.close()
            raise
        return saver

    async def aget_tuple(self, config):
        return self.get_tuple(config)

    async def alist(self, config, *, filter: dict[str, Any] | None = None, before=None,
                    limit: int | None = None) -> AsyncIterator:
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(self, config, checkpoint, metadata, new_versions):
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = "") -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def aget_delta_channel_history(self, *, config, channels):
        return self.get_delta_channel_history(config=config, channels=channels)
