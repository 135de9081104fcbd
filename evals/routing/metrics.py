"""Cost-quality metrics for a swept routing policy, following RouteLLM (arXiv:2406.18665, and
routellm/evals/evaluate.py) and generalised to any number of models with dollar costs.

Normalised cost x = (mean cost - c_weak) / (c_strong - c_weak), weak = the cheapest model, strong = the
model with the best mean quality on the training split (= best_single); both measured on the test split.
With two models at fixed per-call prices x is exactly RouteLLM's share of strong-model calls.

The curve of a policy is its swept (x, quality) points plus the always-cheapest point (0, q_weak), made
monotone (quality at budget <= x is the best seen so far) and linearly interpolated (mixing two operating
points at random achieves any point between them); beyond its last point it stays flat.
- AUC   = integral of the curve over x in [0, 1]   (RouteLLM: trapz of accuracy over strong-call share)
- APGR  = (AUC - q_weak) / (q_strong - q_weak)     (average performance gap recovered)
- CPT(p)= the smallest x where quality >= q_weak + p (q_strong - q_weak)  (call-performance threshold;
          for two models the share of strong calls needed; may exceed 1, None if never reached)
- quality_at_strong_cost = curve at x = 1 (quality for the cost of the best single model)
- cost_for_strong_quality = the smallest mean cost at which the curve reaches the best single model's
          quality, as a fraction of that model's mean cost (c_weak + CPT(100%) (c_strong - c_weak)) / c_strong;
          None if never reached. "Best single quality at <= 50% of its cost" means this is <= 0.5.
When c_strong <= c_weak (e.g. all models priced alike) the cost axis is flat: AUC = the best quality the
policy reaches, CPT = 0 if reached, else None."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = np.linspace(0.0, 1.0, 2001)
_trapz = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz


@dataclass
class Anchors:
    q_weak: float
    q_strong: float
    c_weak: float
    c_strong: float

    @property
    def flat(self) -> bool:
        return not self.c_strong > self.c_weak + 1e-15

    def norm_cost(self, cost: np.ndarray | float) -> np.ndarray:
        return np.asarray(cost, dtype=float) * 0 if self.flat else (np.asarray(cost, dtype=float) - self.c_weak) / (self.c_strong - self.c_weak)


def envelope(x: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by cost and take the running max of quality (ties in x keep the best)."""
    order = np.lexsort((-q, x))
    xs, qs = np.asarray(x)[order], np.maximum.accumulate(np.asarray(q)[order])
    keep = np.r_[True, np.diff(xs) > 0]
    return xs[keep], qs[keep]


def curve_at(x: np.ndarray, q: np.ndarray, at: np.ndarray) -> np.ndarray:
    xs, qs = envelope(x, q)
    out = np.interp(at, xs, qs)  # flat outside the range
    return np.where(at < xs[0], np.nan, out)


def auc(x: np.ndarray, q: np.ndarray, a: Anchors) -> float:
    if a.flat:
        return float(np.max(q))
    xx, qq = np.r_[0.0, x], np.r_[a.q_weak, q]
    return float(_trapz(curve_at(xx, qq, GRID), GRID))


def apgr(auc_value: float, a: Anchors) -> float | None:
    gap = a.q_strong - a.q_weak
    return None if abs(gap) < 1e-12 else float((auc_value - a.q_weak) / gap)


def cpt(x: np.ndarray, q: np.ndarray, a: Anchors, p: float) -> float | None:
    target = a.q_weak + p * (a.q_strong - a.q_weak)
    if a.flat:
        return 0.0 if np.max(q) >= target - 1e-12 else None
    xx, qq = envelope(np.r_[0.0, x], np.r_[a.q_weak, q])
    if qq[-1] < target - 1e-12:
        return None
    j = int(np.argmax(qq >= target - 1e-12))
    if j == 0:
        return float(xx[0])
    x0, x1, q0, q1 = xx[j - 1], xx[j], qq[j - 1], qq[j]
    return float(x0 + (x1 - x0) * (target - q0) / (q1 - q0))


def quality_at(x: np.ndarray, q: np.ndarray, a: Anchors, at: float = 1.0) -> float:
    if a.flat:
        return float(np.max(q))
    return float(curve_at(np.r_[0.0, x], np.r_[a.q_weak, q], np.array([at]))[0])


def summarise(x: np.ndarray, q: np.ndarray, share: np.ndarray, a: Anchors) -> dict[str, float | None]:
    """All metrics of one swept curve. ``share`` = share of calls to the strong model at each point;
    strong_share is read at the best point affordable for the strong model's cost (x <= 1)."""
    x, q, share = np.asarray(x, float), np.asarray(q, float), np.asarray(share, float)
    a_val = auc(x, q, a)
    ok = x <= 1 + 1e-9 if not a.flat else np.ones_like(x, bool)
    j = np.flatnonzero(ok)[np.argmax(q[ok])] if ok.any() else int(np.argmin(x))
    c100 = cpt(x, q, a, 1.0)
    if c100 is None or a.c_strong <= 0:
        cost_for_strong = None
    else:
        cost_for_strong = float((a.c_weak + c100 * (a.c_strong - a.c_weak)) / a.c_strong) if not a.flat else 1.0
    return {"auc": a_val, "apgr": apgr(a_val, a), "cpt50": cpt(x, q, a, 0.5), "cpt80": cpt(x, q, a, 0.8),
            "cost_for_strong_quality": cost_for_strong,
            "strong_share": float(share[j]), "quality_at_strong_cost": quality_at(x, q, a), "max_quality": float(q.max())}
