"""The single-shot graph: guard → a query-level policy picks one expert → it answers (nodes.py)."""

from ..policy_graph import policy_graph
from ..registry import GraphSpec, register_graph
from .nodes import SingleShot

register_graph(GraphSpec("single-shot", policy_graph(SingleShot, "single-shot"),
                         "a query-level policy picks one expert, which answers",
                         model="single-shot", uses_policy=True, default_policy="cheapest"))
