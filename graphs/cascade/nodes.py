"""Cascade (Hybrid LLM / FrugalGPT): the cascade policy orders the experts; ask the cheapest first and
escalate while the answer's confidence is below the policy's threshold.

Confidence is exp(mean token logprob) of the answering call (llama.cpp, vLLM and OpenAI return logprobs;
for an evidence expert, its reader's answer); an answer without logprobs is kept, with a notice saying so.
The session's answer is the last expert's that answered: confidences of two models are not comparable."""

from __future__ import annotations

from ...policies import Decision
from ..policy_graph import PolicyNodes, PolicyState

DEFAULT_ESCALATE_BELOW = 0.5


class Cascade(PolicyNodes):
    escalates = True

    def plan(self, decision: Decision, state: PolicyState) -> tuple[dict, str | None, str]:
        order = [*decision.experts[:1], *[e for e in decision.escalation if e not in decision.experts[:1]]]
        threshold = decision.escalate_below if decision.escalate_below is not None else DEFAULT_ESCALATE_BELOW
        update = {"pending": [{"experts": order, "query": state["question"]}], "escalate_below": threshold}
        return update, " → ".join(order) or None, f"{decision.reason} [escalate below confidence {threshold:.2f}]"
