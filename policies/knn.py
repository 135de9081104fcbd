"""kNN router: predicted quality of each model = (shrunk) mean over the k most similar training queries."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import TablePolicy, top_k_sims
from .outcomes import OutcomeTable
from .registry import register


@register("knn")
class KnnPolicy(TablePolicy):
    def __init__(self, *, k: int = 40, shrink: float = 2.0, **base: Any) -> None:
        super().__init__(**base)
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k, self.shrink = k, shrink
        self.params = {"k": k, "shrink": shrink}
        self._X = np.zeros((0, 0), np.float32)
        self._Q = np.zeros((0, 0))

    def _fit_xy(self, X: np.ndarray, table: OutcomeTable) -> None:
        self._X, self._Q = X.astype(np.float32), table.quality.copy()

    def _predict(self, X: np.ndarray) -> np.ndarray:
        idx, _ = top_k_sims(X.astype(np.float32), self._X, self.k)
        prior = self._Q.mean(axis=0)
        return (self._Q[idx].sum(axis=1) + self.shrink * prior) / (idx.shape[1] + self.shrink)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"X": self._X, "Q": self._Q}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._restore(state, arrays)
        self._X, self._Q = arrays.get("X", self._X), arrays.get("Q", self._Q)
