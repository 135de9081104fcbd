"""GQR-style guard in front of every graph: a refused question is answered with the guard's safe reply and
never reaches a model. With no guard in the pool it passes everything and emits no step."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from .edges import reduced_keys, routed
from .session import policy_request
from .state import SessionState, make_step


class GuardNode:
    def __init__(self, guard, candidates):
        self.guard = guard  # a fitted guard policy, or None
        self.candidates = candidates

    async def __call__(self, state: SessionState) -> dict:
        if self.guard is None:
            return {}
        decision = self.guard.decide(policy_request(state), self.candidates)
        if not decision.refused:
            return {"steps": [make_step("guard", 0, text=decision.reason)]}
        reply = decision.safe_reply or "I can't help with that request."
        return {
            "answer": reply,
            "stop_reason": "refused",
            "steps": [make_step("guard", 0, text=decision.reason, error="refused"), make_step("answer", 0, text=reply)],
        }

    @staticmethod
    def after(state: SessionState) -> str:
        return "end" if state.get("answer") is not None else "next"


def guarded_graph(state_type: type, guard, candidates, first: str) -> StateGraph:
    """A graph that starts with the guard: START -> guard -> `first` (or END when the guard refused); with
    no guard, START -> `first`.
    The caller adds `first` and the rest of its nodes."""
    graph = StateGraph(state_type)
    graph.add_node("guard", routed(GuardNode(guard, candidates), GuardNode.after, {"next": first, "end": END},
                                   reduced=reduced_keys(state_type)),
                   destinations=(first, END))
    # Without a guard a session starts at `first`: one LangGraph step and one checkpoint fewer per session.
    # The node stays in the graph, so a checkpoint written before it ran still resumes.
    graph.add_edge(START, "guard" if guard is not None else first)
    return graph
