"""GQR-Bench-style guard: a fast in-domain vs out-of-domain/harmful classifier in front of any policy.

Logistic regression on the query embedding (numpy, Newton). Trained on in-domain queries (the outcome
table it is fitted on, plus any ``extra_in_domain`` texts) against the team-written seed list in
``guard_seeds.py`` (classes re-weighted to balance). If P(ood) >= ``ood_threshold`` the decision is a
refusal with a safe reply; otherwise the ``inner`` policy (default knn) decides. Unfitted, the guard passes
everything."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._common import fit_logreg, logreg_proba
from .base import Policy, Routed
from .guard_seeds import OOD_SEEDS
from .outcomes import OutcomeTable
from .registry import get_policy, load_policy, register
from .types import Candidate, Decision, Request

SAFE_REPLY = "Sorry, I can't help with that request. I can answer questions and solve problems in other areas."


def fit_guard(emb_in: np.ndarray, emb_out: np.ndarray, l2: float = 1.0) -> np.ndarray:
    X = np.vstack([emb_in, emb_out]).astype(np.float64)
    y = np.r_[np.zeros(len(emb_in)), np.ones(len(emb_out))]
    w = np.where(y == 1, len(X) / (2 * max(len(emb_out), 1)), len(X) / (2 * max(len(emb_in), 1)))
    return fit_logreg(X, y, l2=l2, sample_weight=w)


@register("guard")
class GuardPolicy(Policy):
    trainable = True

    def __init__(self, *, inner: str = "knn", inner_options: dict | None = None, ood_threshold: float = 0.5,
                 max_in_domain: int = 3000, l2: float = 1.0, **base: Any) -> None:
        super().__init__(**base)
        self.ood_threshold, self.max_in_domain, self.l2 = ood_threshold, max_in_domain, l2
        self.params = {"inner": inner, "inner_options": inner_options or {}, "ood_threshold": ood_threshold,
                       "max_in_domain": max_in_domain, "l2": l2}
        opts = {"seed": self.seed, "embedder": self._embedder, **(inner_options or {})}
        self.inner: Policy = get_policy(inner, **opts)
        self.knob = self.inner.knob if base.get("knob") is None else base["knob"]
        self.knob_doc = f"the inner policy's knob ({inner}): {self.inner.knob_doc}"
        self._w: np.ndarray | None = None

    def fit(self, table: OutcomeTable, extra_in_domain: Sequence[str] = ()) -> "GuardPolicy":
        super().fit(table)
        self.inner.fit(table)
        rng = np.random.default_rng(self.seed)
        texts = list(table.queries)
        if len(texts) > self.max_in_domain:
            texts = [texts[i] for i in sorted(rng.choice(len(texts), self.max_in_domain, replace=False))]
        texts += list(extra_in_domain)
        self._w = fit_guard(self.embed(texts), self.embed([t for _, t in OOD_SEEDS]), self.l2)
        return self

    def p_ood(self, texts: Sequence[str]) -> np.ndarray:
        if self._w is None:
            return np.zeros(len(texts))
        return logreg_proba(self.embed(texts).astype(np.float64), self._w)

    def scores(self, texts: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
        """The inner policy's scores; rows the guard refuses are all NaN."""
        S = self.inner.scores(texts, candidates).astype(np.float64)
        S[self.p_ood(texts) >= self.ood_threshold] = np.nan
        return S

    def quality_estimates(self, S: np.ndarray, candidates: Sequence[Candidate]) -> np.ndarray:
        return self.inner.quality_estimates(S, candidates)

    def route(self, S: np.ndarray, C: np.ndarray, knob: float | None, rng: np.random.Generator) -> Routed:
        refused = np.isnan(S).all(axis=1)
        r = self.inner.route(np.where(refused[:, None], 0.0, S), C, knob, rng)
        return Routed(np.where(refused, -1, r.index), np.where(refused, 0.0, r.cost))

    def knob_grid(self, S: np.ndarray, C: np.ndarray, points: int = 41) -> list[float]:
        ok = ~np.isnan(S).all(axis=1)
        return self.inner.knob_grid(S[ok], C[ok], points) if ok.any() else [self.knob or 0.0]

    def decide(self, request: Request, candidates: Sequence[Candidate]) -> Decision:
        p = float(self.p_ood([request.text()])[0])
        if p >= self.ood_threshold:
            return Decision(policy=self.name, refused=True, safe_reply=SAFE_REPLY,
                            reason=f"guard: out-of-domain or harmful (p={p:.2f} >= {self.ood_threshold})")
        d = self.inner.decide(request, candidates)
        return d.model_copy(update={"policy": self.name, "reason": f"guard: in-domain (p_ood={p:.2f}); {d.reason}"[:500]})

    def _state_json(self) -> dict[str, Any]:
        return {"has_classifier": self._w is not None}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {} if self._w is None else {"w": self._w}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._w = arrays.get("w")

    def save(self, directory: str | Path) -> Path:
        d = super().save(directory)
        self.inner.save(d / "inner")
        return d

    @classmethod
    def load(cls, directory: str | Path, **options: Any) -> "GuardPolicy":
        obj = super().load(directory, **options)
        obj.inner = load_policy(Path(directory) / "inner", **{k: v for k, v in options.items() if k == "embedder"})
        return obj  # type: ignore[return-value]
