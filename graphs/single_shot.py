"""The single-shot graph: guard -> a query-level policy picks an expert -> that expert answers.

The policy (knn, mf, threshold, ...) decides in about a millisecond what the Router-R1 loop decides in
seconds; the decision, its per-expert scores and its reason are a `decide` step in the trace."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from ..agents.runtime import Runtime
from .registry import GraphSpec, register_graph
from .shared_nodes import NO_ANSWER, GuardNode, ask_metered, candidates, policy_request, session_ledger
from .state import R1State, make_step, step_from_call


class SingleShot:
    def __init__(self, runtime: Runtime, policy):
        self.runtime, self.pool, self.policy = runtime, runtime.pool, policy

    async def decide(self, state: R1State) -> dict:
        decision = self.policy.decide(policy_request(state), candidates(self.pool))
        scores = ", ".join(f"{k} {v:.3g}" for k, v in decision.scores.items())
        step = make_step("decide", 0, expert=", ".join(decision.experts) or None,
                         text=decision.reason + (f" [scores: {scores}]" if scores else ""),
                         error="refused" if decision.refused else None)
        if decision.refused:
            reply = decision.safe_reply or "I can't route this request."
            return {"answer": reply, "stop_reason": "refused", "steps": [step, make_step("answer", 0, text=reply)]}
        return {"pending": [{"experts": decision.experts[:1], "query": state["question"]}], "steps": [step]}

    async def answer(self, state: R1State) -> dict:
        ledger = session_ledger(self.pool, state)
        name = state["pending"][0]["experts"][0]
        record = await ask_metered(self.runtime, ledger, name, state["question"])
        route = step_from_call("route", 1, record, expert=name, query=state["question"], reply=record.text)
        answer = record.text.strip() if not record.error else NO_ANSWER
        final = make_step("answer" if not record.error else "fallback", 1, expert=name, text=answer)
        return {"answer": answer, "stop_reason": "answered" if not record.error else "failed", "pending": [],
                "round": 1, "steps": [route, final], "spent_usd": ledger.spent_usd, "spent_tokens": ledger.spent_tokens}

    @staticmethod
    def after_decide(state: R1State) -> str:
        return "end" if state.get("answer") is not None else "answer"


def policy_graph(nodes: SingleShot, runtime: Runtime, checkpointer, name: str):
    """guard -> decide -> answer: the wiring shared by the single-shot and cascade graphs."""
    graph = StateGraph(R1State)
    graph.add_node("guard", GuardNode(runtime))
    graph.add_node("decide", nodes.decide)
    graph.add_node("answer", nodes.answer)
    graph.add_edge(START, "guard")
    graph.add_conditional_edges("guard", GuardNode.after, {"next": "decide", "end": END})
    graph.add_conditional_edges("decide", SingleShot.after_decide, {"answer": "answer", "end": END})
    graph.add_edge("answer", END)
    return graph.compile(checkpointer=checkpointer, name=name)


def build_single_shot(runtime: Runtime, checkpointer=None, policy=None):
    return policy_graph(SingleShot(runtime, policy), runtime, checkpointer, "single-shot")


register_graph(GraphSpec("single-shot", build_single_shot, "a query-level policy picks one expert, which answers",
                         uses_policy=True, default_policy="cheapest"))
