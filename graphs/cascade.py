"""The cascade graph (Hybrid LLM / FrugalGPT): guard -> the cascade policy orders the experts -> ask the
cheapest first, escalate while the answer's confidence is below the policy's threshold.

Confidence is exp(mean token logprob) of the expert's reply (llama.cpp, vLLM and OpenAI return logprobs);
a reply without logprobs counts as confident unless it failed or was empty."""

from __future__ import annotations

from ..agents.runtime import Runtime
from .registry import GraphSpec, register_graph
from .shared_nodes import NO_ANSWER, ask_metered, candidates, policy_request, session_ledger
from .single_shot import SingleShot, policy_graph
from .state import R1State, make_step, step_from_call

DEFAULT_ESCALATE_BELOW = 0.5


class Cascade(SingleShot):
    async def decide(self, state: R1State) -> dict:
        decision = self.policy.decide(policy_request(state), candidates(self.pool))
        order = [*decision.experts[:1], *[e for e in decision.escalation if e not in decision.experts[:1]]]
        threshold = decision.escalate_below if decision.escalate_below is not None else DEFAULT_ESCALATE_BELOW
        step = make_step("decide", 0, expert=" → ".join(order) or None,
                         text=f"{decision.reason} [escalate below confidence {threshold:.2f}]",
                         error="refused" if decision.refused else None)
        if decision.refused:
            reply = decision.safe_reply or "I can't route this request."
            return {"answer": reply, "stop_reason": "refused", "steps": [step, make_step("answer", 0, text=reply)]}
        return {"pending": [{"experts": order, "query": state["question"]}], "steps": [step], "escalate_below": threshold}

    async def answer(self, state: R1State) -> dict:
        ledger = session_ledger(self.pool, state)
        order = state["pending"][0]["experts"]
        threshold = state.get("escalate_below", DEFAULT_ESCALATE_BELOW)
        steps, best = [], None
        for round, name in enumerate(order, start=1):
            record = await ask_metered(self.runtime, ledger, name, state["question"])
            steps.append(step_from_call("route", round, record, expert=name, query=state["question"], reply=record.text))
            if record.error:
                continue
            confidence = 1.0 if record.confidence is None else record.confidence
            if best is None or confidence > best[1]:
                best = (record.text.strip(), confidence, name)
            if confidence >= threshold:
                break
            if round < len(order):
                steps.append(make_step("notice", round, expert=name,
                                       text=f"confidence {confidence:.2f} < {threshold:.2f}: escalating"))
        answer = best[0] if best else NO_ANSWER
        steps.append(make_step("answer" if best else "fallback", len(order), expert=best[2] if best else None, text=answer))
        return {"answer": answer, "stop_reason": "answered" if best else "failed", "pending": [], "round": len(order),
                "steps": steps, "spent_usd": ledger.spent_usd, "spent_tokens": ledger.spent_tokens}


def build_cascade(runtime: Runtime, checkpointer=None, policy=None):
    return policy_graph(Cascade(runtime, policy), runtime, checkpointer, "cascade")


register_graph(GraphSpec("cascade", build_cascade, "cheapest expert first; escalate while confidence is low",
                         uses_policy=True, default_policy="cascade"))
