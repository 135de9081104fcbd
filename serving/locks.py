"""Who is running a session right now. A session is run by one process at a time: the one that started it,
or one that resumes it after a crash. Every run holds the session's lock; a second runner is refused.

- SQLite (one machine): an flock on `<data dir>/locks/<session>.lock`, released by the kernel the moment
  its process dies (kill -9 included), so a crashed session is free to resume at once.
- PostgreSQL (several instances): a lease row in `routeweave_session_leases`, renewed while the session
  runs and taken over once it has not been renewed for `LEASE_S` seconds (the instance died)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import socket
import threading
from pathlib import Path

LEASE_S = float(os.environ.get("ROUTEWEAVE_LEASE_S") or 30.0)  # how long a dead instance's lease blocks a resume


class SessionBusy(RuntimeError):
    """The session is being run by another process; the message says which."""


def _safe(session_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", session_id)[:120]


class _Locks:
    async def _take(self, session_id: str) -> None: ...  # pragma: no cover - each kind defines it
    async def _give(self, session_id: str) -> None: ...  # pragma: no cover

    async def arun(self, coro, session_id: str):
        """Run `coro` holding the session's lock (refused with SessionBusy if another runner has it)."""
        try:
            await self._take(session_id)
        except BaseException:
            coro.close()
            raise
        try:
            return await coro
        finally:
            await self._give(session_id)


class FileLocks(_Locks):
    """flock-based session locks in a folder (one machine, any number of processes)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._held: dict[str, int] = {}
        self._mutex = threading.Lock()

    def acquire(self, session_id: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{_safe(session_id)}.lock"
        with self._mutex:
            if session_id in self._held:
                raise SessionBusy(f"session {session_id} is already running in this process")
            while True:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    owner = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                    os.close(fd)
                    raise SessionBusy(f"session {session_id} is being run by {owner}; wait for it to finish") from None
                if os.path.exists(path) and os.stat(path).st_ino == os.fstat(fd).st_ino:
                    break  # we hold the lock of the file that is really there
                os.close(fd)  # the file was removed under us by a releasing holder: try again
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
            self._held[session_id] = fd

    def holder(self, session_id: str) -> str | None:
        """Who holds the session's lock now (None: nobody; a crashed runner holds nothing)."""
        path = self.folder / f"{_safe(session_id)}.lock"
        if session_id in self._held:
            return f"pid {os.getpid()} (this process)"
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            return os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        finally:
            os.close(fd)

    def release(self, session_id: str) -> None:
        with self._mutex:
            fd = self._held.pop(session_id, None)
            if fd is None:
                return
            with contextlib.suppress(OSError):
                os.unlink(self.folder / f"{_safe(session_id)}.lock")
            os.close(fd)

    async def _take(self, session_id: str) -> None:
        self.acquire(session_id)

    async def _give(self, session_id: str) -> None:
        self.release(session_id)

    async def aholder(self, session_id: str) -> str | None:
        return self.holder(session_id)

    async def close(self) -> None:
        for session_id in list(self._held):
            self.release(session_id)


class LeaseLocks(_Locks):
    """Lease rows in PostgreSQL, shared by every instance on the same database."""

    def __init__(self, pool):
        self.pool = pool  # psycopg_pool.AsyncConnectionPool (the checkpointer's)
        self.owner = f"pid {os.getpid()} on {socket.gethostname()}"
        self._held: set[str] = set()
        self._renewer: asyncio.Task | None = None

    async def setup(self) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS routeweave_session_leases (session_id text PRIMARY KEY, "
                               "owner text NOT NULL, expires timestamptz NOT NULL)")

    async def acquire(self, session_id: str) -> None:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                "INSERT INTO routeweave_session_leases AS l VALUES (%s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (session_id) DO UPDATE SET owner = excluded.owner, expires = excluded.expires "
                "WHERE l.expires < now() RETURNING owner", (session_id, self.owner, LEASE_S))).fetchone()
            if row is None:
                held = await (await conn.execute("SELECT owner FROM routeweave_session_leases WHERE session_id = %s",
                                                 (session_id,))).fetchone()
                raise SessionBusy(f"session {session_id} is being run by {held['owner'] if held else 'another instance'}; "
                                  f"its lease lapses {LEASE_S:g}s after that instance stops renewing it")
        self._held.add(session_id)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.ensure_future(self._renew())

    async def aholder(self, session_id: str) -> str | None:
        async with self.pool.connection() as conn:
            row = await (await conn.execute("SELECT owner FROM routeweave_session_leases WHERE session_id = %s AND "
                                            "expires >= now()", (session_id,))).fetchone()
        return row["owner"] if row else None

    async def release(self, session_id: str) -> None:
        self._held.discard(session_id)
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM routeweave_session_leases WHERE session_id = %s AND owner = %s",
                               (session_id, self.owner))

    async def _renew(self) -> None:
        while self._held:
            await asyncio.sleep(LEASE_S / 3)
            with contextlib.suppress(Exception):  # a missed renewal only shortens the lease
                async with self.pool.connection() as conn:
                    await conn.execute("UPDATE routeweave_session_leases SET expires = now() + make_interval(secs => %s) "
                                       "WHERE session_id = ANY(%s) AND owner = %s", (LEASE_S, list(self._held), self.owner))

    _take, _give = acquire, release

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        for session_id in list(self._held):
            with contextlib.suppress(Exception):
                await self.release(session_id)
