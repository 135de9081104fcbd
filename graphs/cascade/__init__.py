"""The cascade graph: guard → the cascade policy orders the experts → cheapest first, escalate while the
answer's confidence is low (nodes.py)."""

from ..policy_graph import policy_graph
from ..registry import GraphSpec, register_graph
from .nodes import Cascade

register_graph(GraphSpec("cascade", policy_graph(Cascade, "cascade"), "cheapest expert first; escalate while confidence is low",
                         model="cascade", uses_policy=True, default_policy="cascade",
                         unfitted_policy="ladder"))
