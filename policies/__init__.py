"""routeweave.policies: fast query-level routing policies behind one protocol.

    from routeweave.policies import Candidate, Request, get_policy
    policy = get_policy("knn").fit(table)          # or load_policy(dir)
    decision = policy.decide(Request(query="..."), [Candidate(name="Cheap", cost_usd=1e-5), ...])
"""

from .base import Policy, Routed, apply_constraints
from .embed import Embedder, WordLlamaEmbedder, default_embedder
from .outcomes import OutcomeTable
from .registry import get_policy, load_policy, policy_class, policy_names, register
from .types import Candidate, Constraints, Decision, Message, Request

__all__ = [
    "Candidate", "Constraints", "Decision", "Embedder", "Message", "OutcomeTable", "Policy", "Request", "Routed",
    "WordLlamaEmbedder", "apply_constraints", "default_embedder", "get_policy",
    "load_policy", "policy_class", "policy_names", "register",
]
