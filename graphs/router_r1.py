"""The Router-R1 graph: guard -> route -> call_experts -> route ... until an answer or a limit."""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from ..agents.runtime import Runtime
from .r1_nodes import R1Nodes
from .registry import GraphSpec, register_graph
from .shared_nodes import GuardNode
from .state import R1State


def build_router_r1(runtime: Runtime, checkpointer=None, policy=None):
    """The compiled LangGraph graph for a started Runtime. Its nodes are async: run it with
    ainvoke/astream (graphs.api.RouterGraph does, from sync code too)."""
    nodes = R1Nodes(runtime)
    graph = StateGraph(R1State)
    graph.add_node("guard", GuardNode(runtime))
    graph.add_node("route", nodes.route)
    graph.add_node("call_experts", nodes.call_experts)
    graph.add_edge(START, "guard")
    graph.add_conditional_edges("guard", GuardNode.after, {"next": "route", "end": END})
    graph.add_conditional_edges("route", nodes.after_route, {"call_experts": "call_experts", "route": "route", "end": END})
    graph.add_edge("call_experts", "route")
    return graph.compile(checkpointer=checkpointer, name="router-r1")


register_graph(GraphSpec("router-r1", build_router_r1, "the router LLM asks experts over several rounds, then answers"))
