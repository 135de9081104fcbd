"""What every node reads from a session's state: its limits, its budget meter, the experts it may use."""

from __future__ import annotations

from ..agents.pool import Pool
from ..agents.settings import Limits
from ..policies import Constraints, Request
from .budget import Ledger
from .metering import Meter
from .state import SessionState, make_step

NO_ANSWER = "I could not find an answer within the limits of this session."


def session_limits(pool: Pool, state: SessionState) -> Limits:
    return pool.limits.model_copy(update=state.get("limits") or {})


def session_meter(pool: Pool, state: SessionState) -> Meter:
    """A meter over what the session has left (rebuilt in each node: no reservation outlives a node).
    After an overspend it lets no call start."""
    limits = session_limits(pool, state)
    ledger = Ledger(limits.budget_usd, limits.max_tokens, state.get("spent_usd", 0.0), state.get("spent_tokens", 0),
                    blocked=bool(state.get("overspent")))
    return Meter(ledger, state.get("overspent_usd", 0.0))


def overspend_notice(record, round: int):
    """The notice that tells the trace (and the router, where it reads notices) what a provider billed."""
    if record.usage_missing and record.error is None:
        return make_step("notice", round, expert=record.who, error="usage missing",
                         text=f"{record.who} reported no token usage: charged its whole reservation, ${record.cost_usd:.6f}")
    if record.overspent:
        return make_step("notice", round, expert=record.who, error="overspent",
                         text=f"{record.who} billed ${record.overspent_usd:.6f} and {record.overspent_tokens} tokens beyond "
                              f"its reservation: no new call starts")
    return None


def constraints(state: SessionState) -> Constraints:
    return Constraints(**(state.get("constraints") or {}))


def session_experts(pool: Pool, state: SessionState, disabled: set[str] = frozenset()) -> list:
    """The pool's enabled experts that this session's constraints allow (Tryage: allowed / blocked), less
    those taken out of service while running (`Runtime.disabled`)."""
    rule = constraints(state)
    return [e for e in pool.enabled if rule.allows(e.name) and e.name not in disabled]


def policy_request(state: SessionState, disabled: set[str] = frozenset()) -> Request:
    rule = constraints(state)
    if disabled:
        rule = rule.model_copy(update={"blocked": sorted({*rule.blocked, *disabled})})
    return Request(query=state["question"], constraints=rule)
