"""Who is running a session right now. A session is run by one process at a time: the one that started it,
or one that resumes it after a crash. Every run holds the session's lock; a second runner is refused.

- SQLite (one machine): a POSIX record lock on one byte of `<db stem>.locks/sessions.lock` per session,
  released by the kernel the moment its process dies (kill -9 included), so a crashed session is free to
  resume at once.
- PostgreSQL (several instances): a lease row in `routeweave_session_leases`, renewed while the session
  runs and taken over once it has not been renewed for $ROUTEWEAVE_LEASE_S seconds (default 30): the instance died."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import os
import socket
import struct
import sys
import threading
from pathlib import Path

from ..agents.errors import env_number

LEASE_ENV = "ROUTEWEAVE_LEASE_S"  # how long a dead instance's lease blocks a resume (seconds, default 30)


class SessionBusy(RuntimeError):
    """The session is being run by another process; the message says which."""


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
    """Session locks as POSIX record locks on one file, `<folder>/sessions.lock`: a session holds one byte of
    it, at an offset hashed from its id (64-bit hash: a collision between two live sessions is not a
    practical concern). Taking and giving one is a single fcntl call, with no file made or removed per
    session (a lock file per session cost ~0.45 ms of every session). The kernel drops a process's record
    locks when it dies, kill -9 included, and F_GETLK names the holder's pid.

    Record locks belong to the process, not to a descriptor, and closing any descriptor of the file drops
    them all: so every FileLocks of a process on the same file shares one descriptor (open while any of them
    is, and never closed while a session is held) and one table of the sessions it runs, which also refuses
    a second runner in the same process. (Lock files of routeweave before this change are ignored: stop old processes before an
    upgrade.)"""

    _shared: dict[str, "_LockFile"] = {}
    _shared_mutex = threading.Lock()

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._file: _LockFile | None = None
        self._mine: set[str] = set()  # what this instance took, given back by close()

    @property
    def _lf(self) -> "_LockFile":
        if self._file is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = str((self.folder / "sessions.lock").resolve())
            with FileLocks._shared_mutex:
                shared = FileLocks._shared.get(path)
                if shared is None or shared.pid != os.getpid():  # a forked child inherits no record locks
                    shared = FileLocks._shared[path] = _LockFile(path)
                shared.users += 1
            self._file = shared
        return self._file

    def acquire(self, session_id: str) -> None:
        lf = self._lf
        with lf.mutex:
            if session_id in lf.held:
                raise SessionBusy(f"session {session_id} is already running in this process")
            offset = _offset(session_id)
            try:
                fcntl.lockf(lf.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EAGAIN):
                    raise
                owner = lf.owner(offset) or "another process"
                raise SessionBusy(f"session {session_id} is being run by {owner}; wait for it to finish") from None
            lf.held[session_id] = offset
            self._mine.add(session_id)

    def holder(self, session_id: str) -> str | None:
        """Who holds the session's lock now (None: nobody; a crashed runner holds nothing)."""
        if self._file is None and not (self.folder / "sessions.lock").exists():
            return None  # nothing ever ran here: a read leaves no file behind
        lf = self._lf
        if session_id in lf.held:
            return f"pid {os.getpid()} (this process)"
        return lf.owner(_offset(session_id))

    def release(self, session_id: str) -> None:
        lf = self._lf
        self._mine.discard(session_id)
        with lf.mutex:
            offset = lf.held.pop(session_id, None)
            if offset is not None:
                fcntl.lockf(lf.fd, fcntl.LOCK_UN, 1, offset)

    async def _take(self, session_id: str) -> None:
        self.acquire(session_id)

    async def _give(self, session_id: str) -> None:
        self.release(session_id)

    async def aholder(self, session_id: str) -> str | None:
        return self.holder(session_id)

    async def close(self) -> None:
        """Gives back what this instance holds (never what another FileLocks of the process took); the last
        FileLocks of the process on the file closes its descriptor, so engines opened and closed over many
        data dirs leave no descriptor behind."""
        for session_id in list(self._mine):
            self.release(session_id)
        lf, self._file = self._file, None
        if lf is None:
            return
        with FileLocks._shared_mutex:
            lf.users -= 1
            if lf.users <= 0 and not lf.held:  # closing the file drops the process's record locks: none are left
                os.close(lf.fd)
                if FileLocks._shared.get(lf.path) is lf:
                    del FileLocks._shared[lf.path]


def _offset(session_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(session_id.encode(), digest_size=8).digest(), "big") >> 2


# struct flock: Linux orders it type, whence, start, len, pid; the BSDs and macOS start, len, pid, type, whence.
_BSD = sys.platform == "darwin" or "bsd" in sys.platform


class _LockFile:
    """One process's descriptor of a lock file and the sessions it holds there."""

    def __init__(self, path: str):
        self.pid, self.path, self.users = os.getpid(), path, 0
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.held: dict[str, int] = {}
        self.mutex = threading.Lock()

    def owner(self, offset: int) -> str | None:
        """'pid N' of the process holding the byte at `offset` (F_GETLK), or None if nobody does."""
        if _BSD:
            query = struct.pack("qqihh", offset, 1, 0, fcntl.F_WRLCK, os.SEEK_SET)
        else:
            query = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0)
        answer = fcntl.fcntl(self.fd, fcntl.F_GETLK, query)
        if _BSD:
            *_, pid, kind, _whence = struct.unpack("qqihh", answer)
        else:
            kind, _whence, _start, _len, pid = struct.unpack("hhqqi", answer)
        return None if kind == fcntl.F_UNLCK else f"pid {pid}"


class LeaseLocks(_Locks):
    """Lease rows in PostgreSQL, shared by every instance on the same database."""

    def __init__(self, pool):
        self.pool = pool  # psycopg_pool.AsyncConnectionPool (the checkpointer's)
        self.owner = f"pid {os.getpid()} on {socket.gethostname()}"
        self.lease_s = env_number(LEASE_ENV, 30.0, minimum=1.0)
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
                "WHERE l.expires < now() RETURNING owner", (session_id, self.owner, self.lease_s))).fetchone()
            if row is None:
                held = await (await conn.execute("SELECT owner FROM routeweave_session_leases WHERE session_id = %s",
                                                 (session_id,))).fetchone()
                raise SessionBusy(f"session {session_id} is being run by {held['owner'] if held else 'another instance'}; "
                                  f"its lease lapses {self.lease_s:g}s after that instance stops renewing it")
        self._held.add(session_id)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.ensure_future(self._renew())

    async def aholder(self, session_id: str) -> str | None:
        async with self.pool.connection() as conn:
            row = await (await conn.execute("SELECT owner FROM routeweave_session_leases WHERE session_id = %s AND "
                                            "expires >= now()", (session_id,))).fetchone()
        return row["owner"] if row else None

    async def aholders(self) -> dict[str, str]:
        """Every session whose lease is live, with its holder."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute("SELECT session_id, owner FROM routeweave_session_leases WHERE "
                                             "expires >= now()")).fetchall()
        return {row["session_id"]: row["owner"] for row in rows}

    async def release(self, session_id: str) -> None:
        self._held.discard(session_id)
        async with self.pool.connection() as conn:
            await conn.execute("DELETE FROM routeweave_session_leases WHERE session_id = %s AND owner = %s",
                               (session_id, self.owner))

    async def _renew(self) -> None:
        while self._held:
            await asyncio.sleep(self.lease_s / 3)
            with contextlib.suppress(Exception):  # a missed renewal only shortens the lease
                async with self.pool.connection() as conn:
                    await conn.execute("UPDATE routeweave_session_leases SET expires = now() + make_interval(secs => %s) "
                                       "WHERE session_id = ANY(%s) AND owner = %s", (self.lease_s, list(self._held), self.owner))

    _take, _give = acquire, release

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        for session_id in list(self._held):
            with contextlib.suppress(Exception):
                await self.release(session_id)
