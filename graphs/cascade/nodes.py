"""Cascade (Hybrid LLM / FrugalGPT): the cascade policy orders the experts; ask the cheapest first and
escalate while the answer's confidence is below the policy's threshold.

Confidence is exp(mean token logprob) of the answering call (llama.cpp, vLLM and OpenAI return logprobs;
for an evidence expert, its reader's answer); an answer without logprobs counts as confident."""

from __future__ import annotations

from ...policies import Decision
from ..answering import answer_with
from ..policy_graph import PolicyNodes, PolicyState
from ..session import NO_ANSWER, session_meter
from ..state import make_step

DEFAULT_ESCALATE_BELOW = 0.5


class Cascade(PolicyNodes):
    def plan(self, decision: Decision, state: PolicyState) -> tuple[dict, str | None, str]:
        order = [*decision.experts[:1], *[e for e in decision.escalation if e not in decision.experts[:1]]]
        threshold = decision.escalate_below if decision.escalate_below is not None else DEFAULT_ESCALATE_BELOW
        update = {"pending": [{"experts": order, "query": state["question"]}], "escalate_below": threshold}
        return update, " → ".join(order) or None, f"{decision.reason} [escalate below confidence {threshold:.2f}]"

    async def answer(self, state: PolicyState) -> dict:
        meter = session_meter(self.pool, state)
        order = state["pending"][0]["experts"]
        threshold = state.get("escalate_below", DEFAULT_ESCALATE_BELOW)
        steps, best = [], None
        for round, name in enumerate(order, start=1):
            got = await answer_with(self.runtime, meter, name, state["question"], round)
            steps += got.steps
            if got.answer is None:
                continue
            confidence = 1.0 if got.confidence is None else got.confidence
            if best is None or confidence > best[1]:
                best = (got.answer, confidence, got.by)
            if confidence >= threshold:
                break
            if round < len(order):
                steps.append(make_step("notice", round, expert=name,
                                       text=f"confidence {confidence:.2f} < {threshold:.2f}: escalating"))
        answer = best[0] if best else NO_ANSWER
        steps.append(make_step("answer" if best else "fallback", len(order), expert=best[2] if best else None, text=answer))
        return {"answer": answer, "stop_reason": "answered" if best else "failed", "pending": [], "round": len(order),
                "steps": steps, **meter.spent()}
