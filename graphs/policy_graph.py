"""The wiring of the graphs where a query-level policy decides (single-shot, cascade):

    START → guard → decide → answer → END        (a refusal by the guard or the policy ends early)

Each of those graphs supplies a `PolicyNodes` subclass: what to plan from the policy's decision, and how
to answer. This module owns the edges, the state they share, the decision step and the refusal."""

from __future__ import annotations

from typing import TypedDict

from langgraph.graph import END

from ..policies import Decision
from .answering import candidates
from .edges import inline
from .guard import guarded_graph
from .registry import GraphContext
from .session import policy_request
from .state import SessionState, make_step


class Planned(TypedDict):
    experts: list[str]
    query: str


class PolicyState(SessionState, total=False):
    pending: list[Planned]  # the policy's choice: experts to ask, in order
    escalate_below: float  # cascade: escalate while the answer's confidence is below this


class PolicyNodes:
    """`decide` asks the policy and records its decision; subclasses say what it plans and how to answer."""

    def __init__(self, ctx: GraphContext):
        self.runtime, self.pool, self.policy = ctx.runtime, ctx.pool, ctx.policy
        self.candidates = candidates(self.pool)

    def plan(self, decision: Decision, state: PolicyState) -> tuple[dict, str | None, str]:
        """(state update, the expert(s) shown on the decide step, the step's text)."""
        scores = ", ".join(f"{k} {v:.3g}" for k, v in decision.scores.items())
        update = {"pending": [{"experts": decision.experts[:1], "query": state["question"]}]}
        return update, ", ".join(decision.experts) or None, decision.reason + (f" [scores: {scores}]" if scores else "")

    async def decide(self, state: PolicyState) -> dict:
        decision = self.policy.decide(policy_request(state), self.candidates)
        update, shown, text = self.plan(decision, state)
        step = make_step("decide", 0, expert=shown, text=text, error="refused" if decision.refused else None)
        if decision.refused:
            reply = decision.safe_reply or "I can't route this request."
            return {"answer": reply, "stop_reason": "refused", "steps": [step, make_step("answer", 0, text=reply)]}
        return {**update, "steps": [step]}

    async def answer(self, state: PolicyState) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError


def after_decide(state: PolicyState) -> str:
    return "end" if state.get("answer") is not None else "answer"


def policy_graph(nodes_class: type[PolicyNodes], name: str):
    """The builder of a policy graph with these nodes."""

    def build(ctx: GraphContext, checkpointer=None):
        nodes = nodes_class(ctx)
        graph = guarded_graph(PolicyState, ctx.guard, nodes.candidates, "decide")
        graph.add_node("decide", nodes.decide)
        graph.add_node("answer", nodes.answer)
        graph.add_conditional_edges("decide", inline(after_decide), {"answer": "answer", "end": END})
        graph.add_edge("answer", END)
        return graph.compile(checkpointer=checkpointer, name=name)

    return build
