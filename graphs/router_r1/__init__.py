"""The Router-R1 graph: the router LLM thinks, asks experts sub-questions over several rounds, reads their
replies and answers, within the session's budget.

    START → guard → route ══search: Send══→ ask_expert ×N ──→ route … ──answer──→ END
                      ├─nothing to call (asked before, not affordable) ──→ route
                      └─unusable output: told why, asked again (twice at most, then a fallback answer)

Two LangGraph steps per round: `route` folds the last round's replies in, asks the router and plans (and
reserves) the calls it asked for; each `ask_expert` is one call, checkpointed as soon as it settles.

Its pieces: `prompt.py` (what the router reads), `grammar.py` (GBNF that makes its output parse),
`protocol.py` (parse its output, escape foreign text), `aggregate.py` (merge several experts' replies),
`nodes.py` (the router's turn), `experts.py` (the experts' half of a round: plan, one task per call, fold),
`state.py`."""

from __future__ import annotations

from langgraph.graph import END

from ...agents.adapters import check_adapter
from ...agents.local_server import resolve_gguf
from ..answering import candidates
from ..edges import reduced_keys, routed
from ..guard import guarded_graph
from ..registry import GraphContext, GraphSpec, register_graph
from .experts import ExpertRound
from .nodes import R1Nodes
from .prompt import prompt_version
from .state import R1State


def check_router_adapter(pool) -> None:
    """A router adapter trained on another version of this graph's prompt is refused, naming the file."""
    router = pool.router
    if not router.adapter or not router.server:
        return
    path = resolve_gguf(pool.servers[router.server].adapters[router.adapter])
    check_adapter(path, resolve_gguf(pool.servers[router.server].gguf), name=router.adapter, prompt_version=prompt_version())


def build_router_r1(ctx: GraphContext, checkpointer=None):
    """The compiled LangGraph graph. Its nodes are async: run it with ainvoke/astream."""
    check_router_adapter(ctx.pool)
    experts = ExpertRound(ctx.runtime)
    nodes = R1Nodes(ctx.runtime, experts)
    graph = guarded_graph(R1State, ctx.guard, candidates(ctx.pool), "route")
    reduced = reduced_keys(R1State)
    graph.add_node("route", routed(nodes.route, nodes.after_route, {"route": "route", "end": END}, reduced=reduced),
                   destinations=("ask_expert", "route", END))
    graph.add_node("ask_expert", experts.ask_expert)
    graph.add_edge("ask_expert", "route")
    # Resume only: checkpoints written before `route` planned and folded rounds may stop before these.
    graph.add_node("call_experts", routed(experts.call_experts, experts.after_call_experts, reduced=reduced),
                   destinations=("ask_expert", "route"))
    graph.add_node("gather", experts.gather)
    graph.add_edge("gather", "route")
    return graph.compile(checkpointer=checkpointer, name="router-r1")


register_graph(GraphSpec("router-r1", build_router_r1, "the router LLM asks experts over several rounds, then answers",
                         model="r1", version=prompt_version))
