"""What every node reads from a session's state: its limits, its budget meter, the experts it may use."""

from __future__ import annotations

from ..agents.pool import Pool
from ..agents.settings import Limits
from ..policies import Candidate, Constraints, Request, apply_constraints
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


def session_experts(pool: Pool, state: SessionState, disabled: set[str] = frozenset()) -> tuple[list, str]:
    """The pool's enabled experts that this session's constraints allow, less those taken out of service while
    running (`Runtime.disabled`), and why none is left if so. The rule is the policies' (`apply_constraints`:
    allowed, blocked, max_cost_usd on one call's price, max_latency_s on the pool's latency_s estimates);
    min_quality needs a policy's quality predictions, which an LLM router has not: refused, never ignored."""
    rule = constraints(state)
    if rule.min_quality is not None:
        return [], ("min_quality needs predicted qualities, which the router-r1 graph has not: use a graph that "
                    "routes with a fitted policy (single-shot), or drop min_quality")
    experts = [e for e in pool.enabled if e.name not in disabled]
    offered = [Candidate(name=e.name, cost_usd=e.typical_cost_usd(), latency_s=e.latency_s) for e in experts]
    kept, why = apply_constraints(rule, offered)
    names = {c.name for c in kept}
    return [e for e in experts if e.name in names], why


def policy_request(state: SessionState, disabled: set[str] = frozenset()) -> Request:
    rule = constraints(state)
    if disabled:
        rule = rule.model_copy(update={"blocked": sorted({*rule.blocked, *disabled})})
    return Request(query=state["question"], constraints=rule)
