"""How replies of several experts to one sub-question become one <information> block.
Methods register by name; the pool's `aggregate` field picks one."""

from __future__ import annotations

import re
from collections import Counter
from typing import Callable

Reply = tuple[str, str, str | None]  # (expert, text, error)
Aggregator = Callable[[list[Reply]], str]

_AGGREGATORS: dict[str, Aggregator] = {}


def aggregator(name: str):
    def register(fn: Aggregator) -> Aggregator:
        _AGGREGATORS[name] = fn
        return fn

    return register


def get_aggregator(name: str) -> Aggregator:
    try:
        return _AGGREGATORS[name]
    except KeyError:
        raise ValueError(f"unknown aggregate method '{name}'; known: {', '.join(sorted(_AGGREGATORS))}") from None


def aggregator_names() -> list[str]:
    return sorted(_AGGREGATORS)


def _line(expert: str, text: str, error: str | None) -> str:
    return f"{expert} failed: {error}" if error else f"{expert}: {text.strip()}"


@aggregator("concat")
def concat(replies: list[Reply]) -> str:
    """Every reply, labelled by expert (failures included, so the router knows)."""
    if len(replies) == 1:
        expert, text, error = replies[0]
        return f"failed: {error}" if error else text.strip()
    return "\n".join(_line(*r) for r in replies)


@aggregator("first_ok")
def first_ok(replies: list[Reply]) -> str:
    """The first reply that did not fail."""
    for expert, text, error in replies:
        if not error:
            return f"{expert}: {text.strip()}"
    return "\n".join(_line(*r) for r in replies)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


@aggregator("vote")
def vote(replies: list[Reply]) -> str:
    """The reply most experts agree on (after normalisation); ties go to the earliest."""
    ok = [(e, t) for e, t, err in replies if not err and t.strip()]
    if not ok:
        return concat(replies)
    counts = Counter(_norm(t) for _, t in ok)
    best = max(ok, key=lambda et: counts[_norm(et[1])])
    return f"{best[0]} ({counts[_norm(best[1])]} of {len(ok)} agree): {best[1].strip()}"
