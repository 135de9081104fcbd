"""The direct graph: the router model answers alone, no experts (Router-R1's "Direct" baseline).

    START → guard → answer → END"""

from __future__ import annotations

from langgraph.graph import END

from ..answering import ask_model, candidates
from ..guard import guarded_graph
from ..metering import NOT_AFFORDABLE
from ..registry import GraphContext, GraphSpec, register_graph
from ..session import NO_ANSWER, session_meter
from ..state import SessionState


class Direct:
    def __init__(self, ctx: GraphContext):
        self.runtime, self.pool = ctx.runtime, ctx.pool

    async def answer(self, state: SessionState) -> dict:
        meter = session_meter(self.pool, state)
        got = await ask_model(self.runtime, meter, "router", state["question"], None, 0)
        call = got.steps[0]
        if got.answer is None:
            budget = call["error"] == NOT_AFFORDABLE
            why = "budget: the answer could cost more than the budget" if budget else f"the router failed: {call['error']}"
            step = {**call, "kind": "fallback", "text": why, "reply": NO_ANSWER}
            return {"answer": NO_ANSWER, "stop_reason": "budget" if budget else "failed", "steps": [step], **meter.spent()}
        step = {**call, "kind": "answer", "text": got.answer, "query": None, "reply": None}
        return {"answer": got.answer, "stop_reason": "answered", "steps": [step], **meter.spent()}


def build_direct(ctx: GraphContext, checkpointer=None):
    nodes = Direct(ctx)
    graph = guarded_graph(SessionState, ctx.guard, candidates(ctx.pool), "answer")
    graph.add_node("answer", nodes.answer)
    graph.add_edge("answer", END)
    return graph.compile(checkpointer=checkpointer, name="direct")


register_graph(GraphSpec("direct", build_direct, "the router model answers alone (baseline)", model="direct"))
