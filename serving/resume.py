"""Finishing a session whose process died: find its pool, check it is the same, and resume it under the
session's lock (one runner at a time). Completed calls are not made again: the checkpointer journaled
each one as it finished."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from ..agents.errors import ConfigError
from ..agents.pool import load_pool
from .checkpointers import checkpointer_url, open_checkpointer
from .engine import Engine
from .locks import LeaseLocks
from .trace_store import TraceStore


def session_pool(session: dict[str, Any], pool_spec: str | None):
    """The pool a stored session ran on (or `pool_spec`), refused if it is not the same pool any more."""
    meta = session.get("meta") or {}
    spec = pool_spec or meta.get("pool")
    if not spec:
        raise ConfigError(f"session {session['session_id']} does not record a pool file (its pool was built in code, "
                          f"or it began under routeweave 0.1): pass --pool")
    pool = load_pool(spec)
    recorded = meta.get("pool_hash")
    if recorded and recorded != pool.fingerprint():
        raise ConfigError(f"the pool {spec} has changed since session {session['session_id']} began (hash {recorded}, "
                          f"now {pool.fingerprint()}): resuming it would mix two set-ups. Restore that pool, or ask again")
    return pool


async def _from_checkpoint(session_id: str, db_path: Path) -> dict[str, Any] | None:
    """The session as its checkpoints record it (another instance's session, on a shared Postgres)."""
    saver, close = await open_checkpointer(checkpointer_url(), db_path)
    try:
        found = await saver.aget_tuple({"configurable": {"thread_id": session_id}})
    finally:
        await close()
    if found is None:
        return None
    meta = found.metadata or {}
    return {"session_id": session_id, "graph": meta.get("routeweave_graph"),
            "meta": {"pool": meta.get("routeweave_pool"), "pool_hash": meta.get("routeweave_pool_hash"),
                     "policy": meta.get("routeweave_policy")}}


def shared_unfinished(db_path: Path, limit: int) -> list[dict[str, Any]] | None:
    """With a Postgres checkpointer ($ROUTEWEAVE_CHECKPOINTER_URL), the `limit` newest sessions its checkpoints hold
    unfinished, whichever instance ran them, each with its status: `running (HOLDER)` while an instance's lease
    holds it, else `interrupted: resumable`. None with SQLite (each instance's own trace lists its sessions)."""
    url = checkpointer_url()
    return None if url is None else asyncio.run(_shared_unfinished(url, db_path, limit))


async def _shared_unfinished(url: str, db_path: Path, limit: int) -> list[dict[str, Any]]:
    saver, close = await open_checkpointer(url, db_path)
    try:
        leases = LeaseLocks(saver.conn)
        await leases.setup()
        holders = await leases.aholders()
        async with saver.conn.connection() as conn:  # every session, newest checkpoint first
            threads = await (await conn.execute(
                "SELECT thread_id, max(checkpoint_id) AS last, min(checkpoint ->> 'ts') AS started FROM checkpoints "
                "WHERE checkpoint_ns = '' GROUP BY thread_id ORDER BY last DESC")).fetchall()
        rows = []
        for thread in threads:
            found = await saver.aget_tuple({"configurable": {"thread_id": thread["thread_id"]}})
            values = (found.checkpoint.get("channel_values") or {}) if found else {}
            if found is None or values.get("stop_reason") or "question" not in values:
                continue  # finished (or not a routeweave session)
            steps = values.get("steps") or []
            holder = holders.get(thread["thread_id"])
            rows.append({"session_id": thread["thread_id"], "started": _epoch(thread["started"]),
                         "graph": (found.metadata or {}).get("routeweave_graph"), "question": values["question"],
                         "finished": None, "spent_usd": sum(s.get("cost_usd") or 0.0 for s in steps),
                         "rounds": max((s.get("round") or 0 for s in steps), default=0),
                         "status": f"running ({holder})" if holder else "interrupted: resumable"})
            if len(rows) >= limit:
                break
        return rows
    finally:
        await close()


def _epoch(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def find_session(session_id: str, db_path: Path) -> dict[str, Any]:
    """This instance's trace of the session, else what the shared checkpointer knows of it."""
    traces = TraceStore(db_path)
    try:
        session = traces.get(session_id)
    finally:
        traces.close()
    session = session or asyncio.run(_from_checkpoint(session_id, db_path))
    if session is None:
        raise ValueError(f"no session {session_id} in {db_path} or its checkpointer")
    return session


def resume_session(session_id: str, *, db_path: Path, pool_spec: str | None = None,
                   cache_dir: Path | None = None) -> dict[str, Any]:
    """Resume one interrupted session to its end and return its result. ConfigError / SessionBusy /
    ValueError (nothing to resume) say why not."""
    session = find_session(session_id, db_path)
    pool = session_pool(session, pool_spec)
    with Engine(pool, db_path=db_path, cache_dir=cache_dir) as engine:
        graph = engine.graph(session.get("graph") or "router-r1", (session.get("meta") or {}).get("policy"))
        return graph.resume(session_id)
