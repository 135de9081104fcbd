"""The Router-R1 graph: the router LLM thinks, asks experts sub-questions over several rounds, reads their
replies and answers, within the session's budget.

    START → guard → route ──search──→ call_experts ──→ route … ──answer──→ END
                      └─unusable output: told why, asked again (twice at most, then a fallback answer)

Its pieces: `prompt.py` (what the router reads), `grammar.py` (GBNF that makes its output parse),
`protocol.py` (parse its output, escape foreign text), `aggregate.py` (merge several experts' replies),
`nodes.py` (route, call_experts), `state.py`."""

from __future__ import annotations

from langgraph.graph import END

from ..answering import candidates
from ..edges import inline
from ..guard import guarded_graph
from ..registry import GraphContext, GraphSpec, register_graph
from .nodes import R1Nodes
from .state import R1State


def build_router_r1(ctx: GraphContext, checkpointer=None):
    """The compiled LangGraph graph. Its nodes are async: run it with ainvoke/astream."""
    nodes = R1Nodes(ctx.runtime)
    graph = guarded_graph(R1State, ctx.guard, candidates(ctx.pool), "route")
    graph.add_node("route", nodes.route)
    graph.add_node("call_experts", nodes.call_experts)
    graph.add_conditional_edges("route", inline(nodes.after_route), {"call_experts": "call_experts", "route": "route", "end": END})
    graph.add_edge("call_experts", "route")
    return graph.compile(checkpointer=checkpointer, name="router-r1")


register_graph(GraphSpec("router-r1", build_router_r1, "the router LLM asks experts over several rounds, then answers",
                         model="r1"))
