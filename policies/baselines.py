"""Baselines: random, cheapest, best_single, oracle (evaluation only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import Policy, Routed
from .embed import text_key
from .outcomes import OutcomeTable
from .registry import register
from .types import Candidate


@register("random")
class RandomPolicy(Policy):
    """Uniform over the candidates; with a knob p in [0, 1]: the strongest (by prior) with probability p,
    else the cheapest — RouteLLM's random router, whose sweep is the straight line weak -> strong."""

    default_knob = None
    knob_doc = "p = chance of calling the strongest candidate (else the cheapest); None = uniform"

    def scores(self, texts: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
        return self.prior_scores(len(texts), candidates)

    def route(self, S: np.ndarray, C: np.ndarray, knob: float | None, rng: np.random.Generator) -> Routed:
        n, m = S.shape
        rows = np.arange(n)
        p = self.knob if knob is None else knob
        if p is None:
            idx = rng.integers(0, m, size=n)
        else:
            Sz = np.nan_to_num(S, nan=-np.inf)
            strong = np.array([np.lexsort((C[i], -Sz[i]))[0] for i in rows], dtype=int)
            cheap = np.array([np.lexsort((-Sz[i], C[i]))[0] for i in rows], dtype=int)
            idx = np.where(rng.random(n) < p, strong, cheap)
        return Routed(idx, C[rows, idx])

    def knob_grid(self, S: np.ndarray, C: np.ndarray, points: int = 21) -> list[float]:
        return [float(x) for x in np.linspace(0, 1, points)]


@register("cheapest")
class CheapestPolicy(Policy):
    """Always the cheapest candidate (ties: the better prior, then candidate order)."""

    default_knob = float("inf")
    knob_doc = "none (always the cheapest)"

    def scores(self, texts: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
        return self.prior_scores(len(texts), candidates)

    def route(self, S: np.ndarray, C: np.ndarray, knob: float | None, rng: np.random.Generator) -> Routed:
        return super().route(S, C, float("inf"), rng)

    def knob_grid(self, S: np.ndarray, C: np.ndarray, points: int = 1) -> list[float]:
        return [float("inf")]


@register("best_single")
class BestSinglePolicy(Policy):
    """The model with the best mean quality on the training table, for every query."""

    trainable = True
    knob_doc = "none (always the best model of the training split)"

    def scores(self, texts: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
        return self.prior_scores(len(texts), candidates)

    def route(self, S: np.ndarray, C: np.ndarray, knob: float | None, rng: np.random.Generator) -> Routed:
        return super().route(S, C, 0.0, rng)

    def knob_grid(self, S: np.ndarray, C: np.ndarray, points: int = 1) -> list[float]:
        return [0.0]


@register("oracle")
class OraclePolicy(Policy):
    """Knows the true outcome of every query it was fitted on (evaluation only: fit it on the test split).
    Unknown queries fall back to the per-model means."""

    trainable = True
    eval_only = True

    def __init__(self, **base) -> None:
        super().__init__(**base)
        self._truth: dict[bytes, np.ndarray] = {}
        self._models: list[str] = []

    def _fit(self, table: OutcomeTable) -> None:
        self._models = list(table.models)
        self._truth = {text_key(q): table.quality[i] for i, q in enumerate(table.queries)}

    def scores(self, texts: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
        S = self.prior_scores(len(texts), candidates)
        col = {m: j for j, m in enumerate(self._models)}
        for i, t in enumerate(texts):
            row = self._truth.get(text_key(t))
            if row is not None:
                for j, c in enumerate(candidates):
                    if c.key in col:
                        S[i, j] = row[col[c.key]]
        return S

    def _state_json(self) -> dict:
        return {"models": self._models}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        keys = list(self._truth)
        return {"keys": np.array([k.hex() for k in keys]), "quality": np.array([self._truth[k] for k in keys])}

    def _restore(self, state: dict, arrays: dict[str, np.ndarray]) -> None:
        self._models = state["models"]
        if "keys" in arrays:
            self._truth = {bytes.fromhex(str(k)): q for k, q in zip(arrays["keys"], arrays["quality"])}
