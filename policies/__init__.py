"""routeweave.policies: fast query-level routing policies behind one protocol.

    from routeweave.policies import get_policy, Request, candidates_from_experts
    policy = get_policy("knn").fit(table)          # or load_policy(dir)
    decision = policy.decide(Request(query="..."), candidates_from_experts(pool.enabled))
"""

from .base import Policy, Routed, apply_constraints
from .embed import Embedder, WordLlamaEmbedder, default_embedder
from .outcomes import OutcomeTable
from .registry import get_policy, load_policy, policy_class, policy_names, register
from .types import Candidate, Constraints, Decision, Message, Request, candidates_from_experts

__all__ = [
    "Candidate", "Constraints", "Decision", "Embedder", "Message", "OutcomeTable", "Policy", "Request", "Routed",
    "WordLlamaEmbedder", "apply_constraints", "candidates_from_experts", "default_embedder", "get_policy",
    "load_policy", "policy_class", "policy_names", "register",
]
