"""Single-shot: a query-level policy (knn, mf, threshold, ...) picks one expert in about a millisecond,
and that expert answers (an evidence expert such as a retriever feeds its reader: retrieve-then-read).
The decision, its per-expert scores and its reason are a `decide` step in the trace. The nodes are the
policy graph's (policy_graph.py); the plan is one expert, whose first answer is kept."""

from __future__ import annotations

from ..policy_graph import PolicyNodes


class SingleShot(PolicyNodes):
    pass
