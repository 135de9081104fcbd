"""Importing this module registers every built-in policy (one import per module, no name switch)."""

from . import baselines, cluster, guard, knn, ladder, mf, sw_ranking, threshold  # noqa: F401
