"""Conditional edges run in place on the event loop.

LangGraph runs a sync edge function in a thread pool (a thread hop, and the GIL handed back and forth, on
every step that takes the edge). The graphs' edges are pure lookups in the state, so `inline(route)` gives
LangGraph an async function that calls them directly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


def inline(route: Callable[[Any], str]) -> Callable[[Any], Awaitable[str]]:
    async def edge(state: Any) -> str:
        return route(state)

    edge.__name__ = getattr(route, "__name__", "edge")
    return edge
