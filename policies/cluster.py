"""Expert Router-style clustering: k-means on query embeddings, then the per-cluster mean quality of
each model (shrunk towards the global mean) is the score. When the chosen model has several replicas
among the candidates (same ``model_key``), the request is spread over them by a hash of the query, so
load is balanced while a given query always lands on the same replica."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ._common import TablePolicy, assign, kmeans
from .outcomes import OutcomeTable
from .registry import register
from .types import Candidate, Decision, Request


@register("cluster")
class ClusterPolicy(TablePolicy):
    def __init__(self, *, clusters: int = 0, shrink: float = 5.0, **base: Any) -> None:
        super().__init__(**base)
        self.clusters, self.shrink = clusters, shrink
        self.params = {"clusters": clusters, "shrink": shrink}
        self._C = np.zeros((0, 0))
        self._M = np.zeros((0, 0))

    def _fit_xy(self, X: np.ndarray, table: OutcomeTable) -> None:
        k = self.clusters or int(np.clip(len(X) // 60, 2, 32))
        self._C = kmeans(X.astype(np.float64), k, seed=self.seed)
        lab = assign(X.astype(np.float64), self._C)
        glob = table.quality.mean(0)
        self._M = np.array([
            (table.quality[lab == j].sum(0) + self.shrink * glob) / ((lab == j).sum() + self.shrink)
            for j in range(len(self._C))
        ])

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self._M[assign(X.astype(np.float64), self._C)]

    def _decision(self, i: int, cands: list[Candidate], s: np.ndarray, scores: dict[str, float],
                  knob: float | None, request: Request) -> Decision:
        d = super()._decision(i, cands, s, scores, knob, request)
        replicas = [c for c in cands if c.key == cands[i].key]
        if len(replicas) < 2:
            return d
        h = int.from_bytes(hashlib.blake2b(request.query.encode(), digest_size=8).digest(), "little")
        pick = replicas[h % len(replicas)]
        return d.model_copy(update={"experts": [pick.name],
                                    "reason": f"{d.reason}; replica {h % len(replicas) + 1}/{len(replicas)} of {pick.key}"})

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"C": self._C, "M": self._M}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._restore(state, arrays)
        self._C, self._M = arrays.get("C", self._C), arrays.get("M", self._M)
