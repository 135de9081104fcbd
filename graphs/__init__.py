"""routeweave.graphs: the LangGraph state machines, one package per graph kind.

The public API (what the serving layer and the UI may use): the registry of graph kinds and the step
events every graph emits. Running a graph (engine, sessions, checkpoints, traces) is routeweave.serving's."""

from .registry import GraphContext, GraphSpec, graph_for_policy, graph_names, graph_spec, register_graph
from .state import STATE_FORMAT, SessionState, Step, StepKind, make_step, outcome, status_word

__all__ = ["GraphContext", "GraphSpec", "STATE_FORMAT", "SessionState", "Step", "StepKind", "graph_for_policy", "graph_names", "graph_spec",
           "make_step", "outcome", "register_graph", "status_word"]
