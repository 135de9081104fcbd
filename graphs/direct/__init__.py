"""The direct graph: the router model answers alone, no experts (Router-R1's "Direct" baseline).

    START → guard → answer → END"""

from __future__ import annotations

from langgraph.graph import END

from ..answering import ask_reader, candidates
from ..guard import guarded_graph
from ..metering import NOT_AFFORDABLE
from ..registry import GraphContext, GraphSpec, register_graph
from ..session import NO_ANSWER, overspend_notice, session_meter
from ..state import SessionState, step_from_call


class Direct:
    def __init__(self, ctx: GraphContext):
        self.runtime, self.pool = ctx.runtime, ctx.pool

    async def answer(self, state: SessionState) -> dict:
        meter = session_meter(self.pool, state)
        record = await ask_reader(self.runtime, meter, "router", state["question"], None)
        notice = overspend_notice(record, 0)
        extra = [notice] if notice else []
        if record.error:
            budget = record.error == NOT_AFFORDABLE
            why = "budget: the answer could cost more than the budget" if budget else f"the router failed: {record.error}"
            step = step_from_call("fallback", 0, record, expert="router", text=why, reply=NO_ANSWER)
            return {"answer": NO_ANSWER, "stop_reason": "budget" if budget else "failed", "steps": [step], **meter.spent()}
        answer = " ".join(record.text.split())
        stop = "overspent" if record.overspent else "answered"
        step = step_from_call("answer", 0, record, expert="router", text=answer)
        return {"answer": answer, "stop_reason": stop, "steps": [*extra, step], "answer_truncated": record.truncated,
                **meter.spent()}


def build_direct(ctx: GraphContext, checkpointer=None):
    nodes = Direct(ctx)
    graph = guarded_graph(SessionState, ctx.guard, candidates(ctx.pool), "answer")
    graph.add_node("answer", nodes.answer)
    graph.add_edge("answer", END)
    return graph.compile(checkpointer=checkpointer, name="direct")


register_graph(GraphSpec("direct", build_direct, "the router model answers alone (baseline)", model="direct"))
