"""The Router-R1 graph: route -> call_experts -> route ... until an answer or a limit."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from ..agents.runtime import Runtime
from .r1_nodes import R1Nodes
from .state import R1State


def build_router_r1(runtime: Runtime, checkpointer=None):
    """The compiled LangGraph graph for a started Runtime. Its nodes are async: run it with
    ainvoke/astream (the `RouterGraph` wrapper in graphs.api does, from sync code too)."""
    nodes = R1Nodes(runtime)
    graph = StateGraph(R1State)
    graph.add_node("route", nodes.route)
    graph.add_node("call_experts", nodes.call_experts)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", nodes.after_route, {"call_experts": "call_experts", "route": "route", "end": END})
    graph.add_edge("call_experts", "route")
    return graph.compile(checkpointer=checkpointer, name="router-r1")


def recursion_limit(runtime: Runtime) -> int:
    """Enough graph steps for every round, a retry per turn, and the final answer."""
    return 4 * (runtime.pool.limits.max_rounds + 2) + 8
