"""Pieces every graph uses: the budget ledger of a session, a metered expert call, and the guard."""

from __future__ import annotations

from ..agents.llm import CallRecord
from ..agents.pool import Limits, Pool
from ..agents.runtime import Runtime
from .budget import Ledger
from .state import R1State, make_step

NO_ANSWER = "I could not find an answer within the limits of this session."


def session_limits(pool: Pool, state: R1State) -> Limits:
    return pool.limits.model_copy(update=state.get("limits") or {})


def session_ledger(pool: Pool, state: R1State) -> Ledger:
    limits = session_limits(pool, state)
    return Ledger(limits.budget_usd, limits.max_tokens, state.get("spent_usd", 0.0), state.get("spent_tokens", 0))


def session_experts(pool: Pool, state: R1State) -> list:
    """The pool's enabled experts that this session's constraints allow (Tryage: allowed / blocked)."""
    constraints = state.get("constraints") or {}
    allowed = {n.lower() for n in constraints.get("allowed") or []} or None
    blocked = {n.lower() for n in constraints.get("blocked") or []}
    return [e for e in pool.enabled if (allowed is None or e.name.lower() in allowed) and e.name.lower() not in blocked]


async def ask_metered(runtime: Runtime, ledger: Ledger, name: str, query: str) -> CallRecord:
    """Reserve the most the call can cost, call, settle. A call the budget can't cover is not made."""
    client = runtime.experts[name]
    usd, tokens = client.reserve_usd(query), client.reserve_tokens(query)
    if not ledger.can_afford(usd, tokens):
        return CallRecord(who=name, error="not called: it could cost more than the budget has left")
    reservation = ledger.reserve(usd, tokens)
    try:
        record = await client.ask(query)
    except Exception as exc:  # an expert client bug must not end the session
        record = CallRecord(who=name, error=f"{type(exc).__name__}: {exc}")
    ledger.settle(reservation, record.cost_usd, record.prompt_tokens + record.completion_tokens)
    return record


def candidates(pool: Pool):
    from ..policies import candidates_from_experts

    return candidates_from_experts(pool.enabled)


def policy_request(state: R1State):
    from ..policies import Constraints, Request

    return Request(query=state["question"], constraints=Constraints(**(state.get("constraints") or {})))


class GuardNode:
    """GQR-style guard in front of a graph: a refused question is answered with the guard's safe reply
    and never reaches a model. With no guard in the pool, it passes everything (and emits no step)."""

    def __init__(self, runtime: Runtime):
        from .registry import resolve_policy

        self.pool = runtime.pool
        self.policy = resolve_policy(runtime.pool.guard) if runtime.pool.guard else None

    async def __call__(self, state: R1State) -> dict:
        if self.policy is None:
            return {}
        decision = self.policy.decide(policy_request(state), candidates(self.pool))
        if not decision.refused:
            return {"steps": [make_step("guard", 0, text=decision.reason)]}
        reply = decision.safe_reply or "I can't help with that request."
        return {
            "answer": reply,
            "stop_reason": "refused",
            "steps": [make_step("guard", 0, text=decision.reason, error="refused"), make_step("answer", 0, text=reply)],
        }

    @staticmethod
    def after(state: R1State) -> str:
        return "end" if state.get("answer") is not None else "next"
