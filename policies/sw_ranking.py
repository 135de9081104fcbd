"""Similarity-weighted Bradley-Terry ranking (after RouteLLM's SW router).

Every training query is a set of 'battles' between models (the better outcome wins, equal outcomes are
half a win each). For a new query the battles are weighted by 10**(gamma * sim / max_sim) over its
``neighbours`` most similar training queries, plus a small uniform prior weight, and a Bradley-Terry
model is fitted (minorise-maximise iterations). Score of a model = its mean win probability against the
others. RouteLLM weights by similarity to Chatbot Arena battles; we use the outcome table."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import TablePolicy, top_k_sims
from .outcomes import OutcomeTable
from .registry import register


def bt_strengths(W: np.ndarray, iters: int = 30, tol: float = 1e-10) -> np.ndarray:
    """W: (n, m, m) weighted wins of row-model over column-model. Returns (n, m) strengths (sum 1).
    Stops early once no strength moves by more than ``tol`` (two models converge in one step)."""
    n, m, _ = W.shape
    N = W + W.transpose(0, 2, 1)
    wins = W.sum(2) + 1e-9
    pi = np.full((n, m), 1.0 / m)
    for _ in range(iters):
        denom = (N / (pi[:, :, None] + pi[:, None, :])).sum(2) + 1e-12
        new = wins / denom
        new /= new.sum(1, keepdims=True)
        done = np.max(np.abs(new - pi)) <= tol
        pi = new
        if done:
            break
    return pi


@register("sw_ranking")
class SwRankingPolicy(TablePolicy):
    scores_are_quality = False

    def __init__(self, *, gamma: float = 10.0, neighbours: int = 200, prior_weight: float = 0.01,
                 iters: int = 30, **base: Any) -> None:
        super().__init__(**base)
        self.gamma, self.neighbours, self.prior_weight, self.iters = gamma, neighbours, prior_weight, iters
        self.params = {"gamma": gamma, "neighbours": neighbours, "prior_weight": prior_weight, "iters": iters}
        self._X = np.zeros((0, 0), np.float32)
        self._B = np.zeros((0, 0, 0), np.float32)
        self._prior = np.zeros((0, 0), np.float32)  # mean battle matrix over the training queries

    def _fit_xy(self, X: np.ndarray, table: OutcomeTable) -> None:
        Q = table.quality
        gt = (Q[:, :, None] > Q[:, None, :]).astype(np.float32)
        eq = (Q[:, :, None] == Q[:, None, :]).astype(np.float32)
        m = Q.shape[1]
        self._B = gt + 0.5 * eq * (1 - np.eye(m, dtype=np.float32))  # (n, m, m)
        self._X = X.astype(np.float32)
        self._prior = self._B.mean(0)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        idx, sim = top_k_sims(X.astype(np.float32), self._X, self.neighbours)
        mx = np.maximum(sim.max(1, keepdims=True), 1e-6)
        w = np.power(10.0, self.gamma * (sim / mx - 1.0))  # = 10**(gamma*sim/max) up to a constant
        w /= w.sum(1, keepdims=True)
        Wn = np.einsum("nk,nkab->nab", w, self._B[idx])
        pi = bt_strengths(Wn + self.prior_weight * self._prior[None], self.iters)
        m = pi.shape[1]
        P = pi[:, :, None] / (pi[:, :, None] + pi[:, None, :])
        return (P.sum(2) - 0.5) / max(m - 1, 1)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"X": self._X, "B": self._B}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._restore(state, arrays)
        self._X, self._B = arrays.get("X", self._X), arrays.get("B", self._B)
        self._prior = self._B.mean(0)
