"""The Router-R1 graph's state: the shared session keys plus the router's conversation and its plan."""

from __future__ import annotations

from typing import TypedDict

from ..state import SessionState


class PendingSearch(TypedDict):
    experts: list[str]
    query: str


class R1State(SessionState, total=False):
    messages: list[dict[str, str]]  # the router's chat so far
    failures: int  # router turns in a row that could not be parsed
    pending: list[PendingSearch]  # searches the last router turn asked for
    must_answer: bool  # the budget can't pay for another search: the next turn must answer
