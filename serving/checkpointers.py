"""LangGraph checkpointers the Engine can use: SQLite beside the trace store (the default, one instance)
or PostgreSQL shared by several service instances.

    Engine(pool)                                             # SQLite: routeweave.checkpoints.db beside the traces
    Engine(pool, checkpointer_url="postgresql://u:p@db/rw")  # or ROUTEWEAVE_CHECKPOINTER_URL=postgresql://...

With Postgres, a session started on one instance can be read (`aget_state`) and resumed on any other,
so requests need no sticky sessions. Postgres needs the optional extra: `pip install -e ".[postgres]"`
(langgraph-checkpoint-postgres, psycopg with its binary build and psycopg-pool).

`open_checkpointer` must run on the loop that will use the saver (the Engine's loop): psycopg's async pool
is bound to the loop it was opened on, and the SQLite saver runs its statements on that loop's thread."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..agents.errors import ConfigError, env_number
from .paths import checkpoint_path

CHECKPOINTER_URL_ENV = "ROUTEWEAVE_CHECKPOINTER_URL"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
POOL_MAX_ENV = "ROUTEWEAVE_CHECKPOINTER_POOL_MAX"  # connections per instance (default 20)
_SETUP_LOCK_KEY = 0x72776368  # pg_advisory_lock key: instances starting together run LangGraph's migrations one at a time

Closer = Callable[[], Awaitable[None]]


def checkpointer_url(explicit: str | None = None) -> str | None:
    """The checkpointer URL in force: the argument, else $ROUTEWEAVE_CHECKPOINTER_URL, else None (SQLite)."""
    url = explicit if explicit is not None else os.environ.get(CHECKPOINTER_URL_ENV)
    url = (url or "").strip()
    if not url or url.startswith("sqlite"):  # "sqlite" (or "sqlite://") names the default explicitly
        return None
    if not url.startswith(POSTGRES_SCHEMES):
        raise ConfigError(f"unsupported checkpointer URL {redact(url)!r}: use postgresql://user:password@host:port/db "
                         f"(or leave {CHECKPOINTER_URL_ENV} unset for SQLite beside the traces)")
    return url


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def describe(url: str | None, db_path: Path) -> str:
    return f"postgres {redact(url)}" if url else f"sqlite {checkpoint_path(db_path)}"


async def open_checkpointer(url: str | None, db_path: Path) -> tuple[Any, Closer]:
    """A set-up LangGraph async saver and the coroutine function that closes it. Call on the Engine's loop."""
    if url is None:
        return await _open_sqlite(db_path)
    return await _open_postgres(url)


async def _open_sqlite(db_path: Path) -> tuple[Any, Closer]:
    from .sqlite_saver import LoopSqliteSaver

    # Checkpoints go to their own file beside the traces: one writer per SQLite file.
    saver = LoopSqliteSaver.open(checkpoint_path(db_path))

    async def close() -> None:
        saver.conn.close()

    return saver, close


async def _open_postgres(url: str) -> tuple[Any, Closer]:
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg import AsyncConnection
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool
    except ImportError as exc:
        raise ConfigError(f"the Postgres checkpointer needs the 'postgres' extra (pip install -e \".[postgres]\"): {exc}") from None

    # LangGraph's saver wants autocommit, no server-side prepared statements (poolers) and dict rows.
    kwargs = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    max_size = int(env_number(POOL_MAX_ENV, 20, minimum=1, integer=True))
    pool = AsyncConnectionPool(url, min_size=1, max_size=max_size, kwargs=kwargs, open=False, name="routeweave-checkpoints")
    try:
        # One plain connection first: an unreachable server or a bad password fails at once with
        # psycopg's reason (the pool would retry quietly until its timeout). It also holds the set-up lock.
        async with await AsyncConnection.connect(url, autocommit=True) as lock_conn:
            await pool.open(wait=True, timeout=30)
            saver = AsyncPostgresSaver(pool)
            # Two instances starting at once would both run the CREATE TABLE/INDEX migrations and one could
            # fail on a duplicate; a session-level advisory lock runs them one at a time. Polled with
            # pg_try_advisory_lock: a waiting pg_advisory_lock is an open transaction, which the holder's
            # CREATE INDEX CONCURRENTLY would wait for (a deadlock Postgres does not detect).
            deadline = asyncio.get_running_loop().time() + 120
            while not (await (await lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (_SETUP_LOCK_KEY,))).fetchone())[0]:
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError("another instance held the checkpointer set-up lock for 120 s")
                await asyncio.sleep(0.1)
            try:
                await saver.setup()
            finally:
                await lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK_KEY,))
    except BaseException as exc:
        await pool.close()
        if isinstance(exc, Exception) and not isinstance(exc, ConfigError):
            raise ConfigError(f"cannot open the Postgres checkpointer at {redact(url)}: {exc}") from exc
        raise
    return saver, pool.close


async def ping(saver: Any, timeout_s: float = 2.0) -> str:
    """"ok" if the open checkpointer answers a query within timeout_s, else why not (readiness: GET /readyz).
    Call on the Engine's loop. Postgres: one pooled connection runs SELECT 1; SQLite: the checkpoints table is read."""
    async def query() -> None:
        if hasattr(saver.conn, "connection"):  # psycopg's AsyncConnectionPool
            async with saver.conn.connection(timeout=timeout_s) as conn:
                await conn.execute("SELECT 1")
        else:
            saver.conn.execute("SELECT 1 FROM checkpoints LIMIT 1").fetchall()

    try:
        await asyncio.wait_for(query(), timeout_s)
    except asyncio.TimeoutError:
        return f"no answer in {timeout_s:g}s"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason is reported, not raised
        return f"{type(exc).__name__}: {str(exc).strip()[:200]}"
    return "ok"
