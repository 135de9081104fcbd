"""What every node reads from a session's state: its limits, its budget meter, the experts it may use."""

from __future__ import annotations

from ..agents.pool import Pool
from ..agents.settings import Limits
from ..policies import Constraints, Request
from .budget import Ledger
from .metering import Meter
from .state import SessionState

NO_ANSWER = "I could not find an answer within the limits of this session."


def session_limits(pool: Pool, state: SessionState) -> Limits:
    return pool.limits.model_copy(update=state.get("limits") or {})


def session_meter(pool: Pool, state: SessionState) -> Meter:
    """A meter over what the session has left (rebuilt in each node: no reservation outlives a node)."""
    limits = session_limits(pool, state)
    return Meter(Ledger(limits.budget_usd, limits.max_tokens, state.get("spent_usd", 0.0), state.get("spent_tokens", 0)))


def constraints(state: SessionState) -> Constraints:
    return Constraints(**(state.get("constraints") or {}))


def session_experts(pool: Pool, state: SessionState) -> list:
    """The pool's enabled experts that this session's constraints allow (Tryage: allowed / blocked)."""
    rule = constraints(state)
    return [e for e in pool.enabled if rule.allows(e.name)]


def policy_request(state: SessionState) -> Request:
    return Request(query=state["question"], constraints=constraints(state))
