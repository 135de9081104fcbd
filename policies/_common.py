"""Shared pieces of the learned policies: the table-backed base class and small numpy learners."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import Policy
from .outcomes import OutcomeTable
from .types import Candidate


class TablePolicy(Policy):
    """A policy that predicts an (n, M) matrix over the training table's M models from query embeddings,
    then maps it onto the offered candidates by ``Candidate.key`` (unknown models keep their prior)."""

    trainable = True

    def __init__(self, **base: Any) -> None:
        super().__init__(**base)
        self._models: list[str] = []

    def _fit(self, table: OutcomeTable) -> None:
        self._models = list(table.models)
        self._fit_xy(self.embed(table.queries), table)

    def _fit_xy(self, X: np.ndarray, table: OutcomeTable) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Predicted quality per fitted model (columns in self._models) for each text."""
        return self._predict(self.embed(texts))

    def _predict(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def scores(self, texts: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
        S = self.prior_scores(len(texts), candidates)
        if not self.fitted:
            return S
        return self._onto(self._predict_texts(texts), S, candidates)

    def _onto(self, P: np.ndarray, S: np.ndarray, candidates: Sequence[Candidate]) -> np.ndarray:
        """Predictions over the fitted models (P) written onto the offered candidates' columns of S."""
        col = {m: j for j, m in enumerate(self._models)}
        for j, c in enumerate(candidates):
            if c.key in col:
                S[:, j] = P[:, col[c.key]]
        return S

    def _state_json(self) -> dict[str, Any]:
        return {"models": self._models}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._models = list(state.get("models", []))


def text_stats(texts: Sequence[str]) -> np.ndarray:
    """Cheap surface features of a query (length, numbers, sentences, ...): on GSM8K they predict the weak
    model's failures better than a bag-of-token embedding does."""
    rows = []
    for t in texts:
        nums = re.findall(r"\d+(?:\.\d+)?", t)
        rows.append([np.log1p(len(t)), np.log1p(len(nums)), np.log1p(t.count(".") + t.count("?")),
                     np.log1p(len(t.split())), np.log1p(sum(len(n) for n in nums)), float("%" in t), float("$" in t),
                     np.log1p(t.count(","))])
    return np.array(rows, dtype=np.float64).reshape(len(rows), 8)


_CUES = ("half", "twice", "double", "triple", "third", "quarter", "percent", "each", "every", "per ", "remain",
         "rest", "total", "average", "times", "more than", "less than", "fewer", "how many", "how much", "hour",
         "minute", "week", "month", "year", "profit", "discount", "ratio", "if ", "after", "then", "not ")


def rich_text_stats(texts: Sequence[str]) -> np.ndarray:
    """``text_stats`` plus counts of number structure and of words that mark multi-step arithmetic (rates,
    fractions, comparisons, time units): cheap query-only difficulty cues (40 columns)."""
    base = text_stats(texts)
    rows = []
    for t in texts:
        low = t.lower()
        nums = re.findall(r"\d+(?:[.,]\d+)*", t)
        vals = [float(n.replace(",", "")) for n in nums if n.replace(",", "").replace(".", "", 1).isdigit()]
        rows.append([np.log1p(len(set(nums))), np.log1p(max(vals) if vals else 0.0), float(any("." in n for n in nums)),
                     float("/" in t), np.log1p(t.count("?")), np.log1p(len(re.findall(r"[A-Z][a-z]+", t))),
                     np.log1p(np.mean([len(w) for w in t.split()]) if t.split() else 0.0), np.log1p(t.count("\n")),
                     *(np.log1p(low.count(c)) for c in _CUES)])
    return np.hstack([base, np.array(rows, dtype=np.float64).reshape(len(rows), 8 + len(_CUES))])


def fit_logreg(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 25,
               sample_weight: np.ndarray | None = None) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method; returns [w..., b]. Deterministic."""
    Xb = np.hstack([X.astype(np.float64), np.ones((len(X), 1))])
    sw = np.ones(len(X)) if sample_weight is None else sample_weight.astype(np.float64)
    w = np.zeros(Xb.shape[1])
    reg = np.full(Xb.shape[1], l2)
    reg[-1] = 1e-6
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(Xb @ w, -30, 30)))
        g = Xb.T @ (sw * (p - y)) + reg * w
        H = (Xb * (sw * p * (1 - p))[:, None]).T @ Xb + np.diag(reg)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def logreg_proba(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(X @ w[:-1] + w[-1], -30, 30)))


def kmeans(X: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> np.ndarray:
    """k-means++ init + Lloyd iterations on (unit-norm) rows; returns the (k, d) centroids."""
    rng = np.random.default_rng(seed)
    k = max(1, min(k, len(X)))
    C = [X[rng.integers(len(X))]]
    d2 = ((X - C[0]) ** 2).sum(1)
    for _ in range(1, k):
        probs = d2 / d2.sum() if d2.sum() > 0 else np.full(len(X), 1 / len(X))
        C.append(X[rng.choice(len(X), p=probs)])
        d2 = np.minimum(d2, ((X - C[-1]) ** 2).sum(1))
    cent = np.array(C, dtype=np.float64)
    for _ in range(iters):
        lab = assign(X, cent)
        new = np.array([X[lab == j].mean(0) if (lab == j).any() else cent[j] for j in range(k)])
        if np.allclose(new, cent):
            break
        cent = new
    return cent


def assign(X: np.ndarray, cent: np.ndarray) -> np.ndarray:
    d = (X * X).sum(1)[:, None] - 2 * X @ cent.T + (cent * cent).sum(1)[None, :]
    return np.argmin(d, axis=1)


def top_k_sims(Xq: np.ndarray, Xt: np.ndarray, k: int, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of the k nearest training rows for each query row (unit-norm)."""
    k = min(k, len(Xt))
    idx = np.empty((len(Xq), k), dtype=np.int64)
    sim = np.empty((len(Xq), k), dtype=np.float32)
    for s in range(0, len(Xq), chunk):
        G = Xq[s:s + chunk] @ Xt.T
        part = np.argpartition(-G, k - 1, axis=1)[:, :k] if k < G.shape[1] else np.tile(np.arange(G.shape[1]), (len(G), 1))
        idx[s:s + chunk] = part
        sim[s:s + chunk] = np.take_along_axis(G, part, axis=1)
    return idx, sim
