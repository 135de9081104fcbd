"""Finishing a session whose process died: find its pool, check it is the same, and resume it under the
session's lock (one runner at a time). Completed calls are not made again: the checkpointer journaled
each one as it finished."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..agents.errors import ConfigError
from ..agents.pool import load_pool
from .checkpointers import checkpointer_url, open_checkpointer
from .engine import Engine
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
