"""Hybrid LLM-style threshold routing and a confidence cascade.

``threshold``: for each model m a logistic regression on the query embedding predicts
P(m is good enough) = P(quality_m >= quality_ref - tolerance), ref = the best model of the training split
(Hybrid LLM's binary "cheap model is good enough" label, generalised to any number of models). A query
goes to the cheapest candidate whose P >= t (knob t; per request via ``Request.knob``); if none reaches
t, to the highest P. ``calibrate`` sets t for a target share of strong calls or a target quality.

``cascade``: tries candidates from cheap to expensive along the cost/quality frontier and stops at the
first whose confidence >= t. In a graph the confidence is the run-time signal of the answer
(``Request.signals['confidence']`` for the expert at ``signals['step']``); offline, where the tables carry
no answer-level confidence, the pre-answer P(good enough) stands in, and every escalation pays for the
calls already made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._common import TablePolicy, fit_logreg, logreg_proba, text_stats
from .base import Routed
from .outcomes import OutcomeTable
from .registry import register
from .types import Candidate, Decision, Request


@register("threshold")
class ThresholdPolicy(TablePolicy):
    scores_are_quality = False
    default_knob = 0.5
    knob_doc = "threshold t in [0, 1]: cheapest candidate with P(good enough) >= t; higher t = stronger models"

    def __init__(self, *, tolerance: float = 0.0, l2: float = 3.0, text_features: bool = True, **base: Any) -> None:
        super().__init__(**base)
        self.tolerance, self.l2, self.text_features = tolerance, l2, text_features
        self.params = {"tolerance": tolerance, "l2": l2, "text_features": text_features}
        self._W = np.zeros((0, 0))
        self._mu = self._sd = np.zeros(0)

    def _features(self, X: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        if not self.text_features:
            return X.astype(np.float64)
        return np.hstack([X.astype(np.float64), (text_stats(texts) - self._mu) / self._sd])

    def _fit(self, table: OutcomeTable) -> None:
        self._models = list(table.models)
        F = text_stats(table.queries)
        self._mu, self._sd = F.mean(0), F.std(0) + 1e-9
        self._fit_xy(self._features(self.embed(table.queries), table.queries), table)

    def scores(self, texts: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
        S = self.prior_scores(len(texts), candidates)
        if not self.fitted:
            return S
        P = self._predict(self._features(self.embed(texts), texts))
        col = {m: j for j, m in enumerate(self._models)}
        for j, c in enumerate(candidates):
            if c.key in col:
                S[:, j] = P[:, col[c.key]]
        return S

    def _fit_xy(self, X: np.ndarray, table: OutcomeTable) -> None:
        Q = table.quality
        ref = table.strongest()
        W = []
        for j in range(Q.shape[1]):
            y = (Q[:, j] >= Q[:, ref] - self.tolerance - 1e-12).astype(np.float64)
            if y.min() == y.max():  # constant label: a constant probability
                w = np.zeros(X.shape[1] + 1)
                w[-1] = 30.0 if y[0] else -30.0
            else:
                w = fit_logreg(X, y, l2=self.l2)
            W.append(w)
        self._W = np.array(W)

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return np.stack([logreg_proba(X.astype(np.float64), w) for w in self._W], axis=1)

    def route(self, S: np.ndarray, C: np.ndarray, knob: float | None, rng: np.random.Generator) -> Routed:
        t = self.knob if knob is None else knob
        rows = np.arange(len(S))
        Sz = np.nan_to_num(S, nan=-1.0)
        ok = Sz >= t
        cost_key = np.where(ok, C, np.inf)
        cheapest_ok = np.array([np.lexsort((-Sz[i], cost_key[i]))[0] for i in rows], dtype=int)
        idx = np.where(ok.any(1), cheapest_ok, np.argmax(Sz, axis=1))
        return Routed(idx, C[rows, idx])

    def knob_grid(self, S: np.ndarray, C: np.ndarray, points: int = 41) -> list[float]:
        v = S[np.isfinite(S)]
        qs = np.quantile(v, np.linspace(0, 1, points)) if v.size else np.array([])
        return sorted({0.0, *(float(x) for x in qs), 1.0 + 1e-9})

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"W": self._W, "mu": self._mu, "sd": self._sd}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._restore(state, arrays)
        self._W, self._mu, self._sd = arrays.get("W", self._W), arrays.get("mu", self._mu), arrays.get("sd", self._sd)


def frontier(mean_cost: np.ndarray, mean_score: np.ndarray) -> list[int]:
    """Columns on the cost/quality frontier, cheapest first (each next one is dearer and better)."""
    order = np.lexsort((-np.nan_to_num(mean_score, nan=-np.inf), mean_cost))
    chain, best = [], -np.inf
    for j in order:
        s = np.nan_to_num(mean_score[j], nan=-np.inf)
        if not chain or s > best:
            chain.append(int(j))
            best = max(best, s)
    return chain


@register("cascade")
class CascadePolicy(ThresholdPolicy):
    knob_doc = "escalate while the answer's confidence < t (offline: the predicted P(good enough))"

    def route(self, S: np.ndarray, C: np.ndarray, knob: float | None, rng: np.random.Generator) -> Routed:
        t = self.knob if knob is None else knob
        chain = frontier(C.mean(0), np.nanmean(S, axis=0) if np.isfinite(S).any() else np.zeros(S.shape[1]))
        n = len(S)
        idx, cost, done = np.full(n, chain[-1]), np.zeros(n), np.zeros(n, bool)
        for step, j in enumerate(chain):
            active = ~done
            cost[active] += C[active, j]
            stop = active & ((np.nan_to_num(S[:, j], nan=-1.0) >= t) | (step == len(chain) - 1))
            idx[stop], done = j, done | stop
        return Routed(idx.astype(int), cost)

    def _decision(self, i: int, cands: list[Candidate], s: np.ndarray, scores: dict[str, float],
                  knob: float | None, request: Request) -> Decision:
        t = self.knob if knob is None else knob
        chain = [cands[j] for j in frontier(np.array([c.cost_usd for c in cands]), s)]
        names = [c.name for c in chain]
        conf = request.signals.get("confidence")
        if conf is None:
            return Decision(policy=self.name, experts=[names[0]], escalation=names[1:], escalate_below=t,
                            scores=scores, knob=t, reason=f"cascade: start with {names[0]}, escalate "
                            f"{' -> '.join(names[1:]) or '(nowhere)'} while confidence < {t:.3g}")
        step = int(request.signals.get("step", 0))
        step = min(max(step, 0), len(names) - 1)
        if conf >= t or step == len(names) - 1:
            why = "confident" if conf >= t else "end of the chain"
            return Decision(policy=self.name, experts=[names[step]], scores=scores, knob=t, escalate_below=t,
                            reason=f"cascade: keep {names[step]}'s answer ({why}: confidence {conf:.3g} vs {t:.3g})")
        return Decision(policy=self.name, experts=[names[step + 1]], escalation=names[step + 2:], escalate_below=t,
                        scores=scores, knob=t,
                        reason=f"cascade: confidence {conf:.3g} < {t:.3g}, escalate to {names[step + 1]}")
