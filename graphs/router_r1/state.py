"""The Router-R1 graph's state: the shared session keys plus the router's conversation, its plan, and the
calls of the current round (each expert call is its own LangGraph task, so a finished, paid call is
journaled by the checkpointer the moment it settles and never made again on resume)."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from ..state import SessionState


class PendingSearch(TypedDict):
    experts: list[str]
    query: str


class PlannedCall(TypedDict):
    search: int  # which search of the router's turn
    expert: str
    query: str
    usd: float  # its reservation: the most it may cost
    tokens: int
    skip: str | None  # why it is not made (asked before, not affordable), or None


class ExpertReply(TypedDict):
    search: int
    expert: str  # who was asked (the record's `who` is who answered: a fallback may have)
    record: dict[str, Any]  # agents.records.CallRecord, settled


def this_round(old: list | None, new: list | None) -> list:
    """Replies accumulate over the parallel calls of one round; `None` clears them for the next."""
    return [] if new is None else [*(old or []), *new]


class R1State(SessionState, total=False):
    messages: list[dict[str, str]]  # the router's chat so far
    failures: int  # router turns in a row that could not be parsed
    pending: list[PendingSearch]  # searches the last router turn asked for
    must_answer: bool  # the budget can't pay for another search: the next turn must answer
    calls: list[PlannedCall]  # this round's expert calls, reserved
    replies: Annotated[list[ExpertReply], this_round]  # this round's finished calls
