"""Importing this module registers every built-in policy (one import per module, no name switch)."""

from . import baselines, bert, causal_llm, cluster, guard, knn, ladder, mf, stack, sw_ranking, threshold, verifier  # noqa: F401
