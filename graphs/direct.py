"""The direct graph: the router model answers alone, no experts (Router-R1's "Direct" baseline)."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from ..agents.llm import complete, count_tokens
from ..agents.protocol import escape
from ..agents.runtime import Runtime
from .registry import GraphSpec, register_graph
from .shared_nodes import NO_ANSWER, GuardNode, session_ledger
from .state import R1State, make_step, step_from_call

DIRECT_PROMPT = "Answer the question with a few words only: a name, a date, a number, or yes/no."
ANSWER_TOKENS = 32


class Direct:
    def __init__(self, runtime: Runtime):
        self.runtime, self.pool = runtime, runtime.pool

    async def answer(self, state: R1State) -> dict:
        ledger = session_ledger(self.pool, state)
        router = self.runtime.router
        messages = [{"role": "system", "content": DIRECT_PROMPT}, {"role": "user", "content": escape(state["question"])}]
        prompt = int(count_tokens(router, messages) * 1.25) + 16
        usd, tokens = router.reserve_usd(prompt, ANSWER_TOKENS), prompt + ANSWER_TOKENS
        if not ledger.can_afford(usd, tokens):
            step = make_step("fallback", 0, text="budget: the answer could cost more than the budget", reply=NO_ANSWER)
            return {"answer": NO_ANSWER, "stop_reason": "budget", "steps": [step]}
        reservation = ledger.reserve(usd, tokens)
        record = await complete(router, messages, max_tokens=ANSWER_TOKENS)
        ledger.settle(reservation, record.cost_usd, record.prompt_tokens + record.completion_tokens)
        answer = " ".join(record.text.split()) if not record.error else NO_ANSWER
        step = step_from_call("answer" if not record.error else "fallback", 0, record, expert="router", text=answer)
        return {"answer": answer, "stop_reason": "answered" if not record.error else "failed", "steps": [step],
                "spent_usd": ledger.spent_usd, "spent_tokens": ledger.spent_tokens}


def build_direct(runtime: Runtime, checkpointer=None, policy=None):
    nodes = Direct(runtime)
    graph = StateGraph(R1State)
    graph.add_node("guard", GuardNode(runtime))
    graph.add_node("answer", nodes.answer)
    graph.add_edge(START, "guard")
    graph.add_conditional_edges("guard", GuardNode.after, {"next": "answer", "end": END})
    graph.add_edge("answer", END)
    return graph.compile(checkpointer=checkpointer, name="direct")


register_graph(GraphSpec("direct", build_direct, "the router model answers alone (baseline)"))
