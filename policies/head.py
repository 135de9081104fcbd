"""A calibrated per-expert quality head over any feature matrix (numpy only, deterministic).

For each model m, a logistic regression predicts quality_m rescaled to [0, 1] (binary outcomes: the
probability of being right; graded outcomes: the cross-entropy fit of the rescaled score, which is still a
proper scoring rule), from standardised features. The L2 strength is picked per table by k-fold
cross-validated log-loss over a small grid, so the predictions are calibrated on held-out data (checked
with Brier scores and reliability diagrams by ``routeweave.evals.routing.calibration``). Predictions map
back to outcome-table units, so one lambda (quality per unit of normalised cost) means the same for every
policy that uses this head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ._common import TablePolicy, rich_text_stats, text_stats
from .embed import Embedder
from .outcomes import OutcomeTable
from .types import Candidate

L2_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


def _logloss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _proba(Z: np.ndarray, W: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(Z @ W[:, :-1].T + W[:, -1], -30, 30)))


def newton_logreg(Z: np.ndarray, y: np.ndarray, l2: float, w0: np.ndarray | None = None, iters: int = 30) -> np.ndarray:
    """L2-regularised (soft-label) logistic regression by Newton's method, optionally warm-started.
    Solves in the n-dimensional dual when there are more features than rows. Returns [w..., b]."""
    n, d = Z.shape
    Xb = np.hstack([Z, np.ones((n, 1))])
    reg = np.full(d + 1, float(l2))
    reg[-1] = 1e-6
    w = np.zeros(d + 1) if w0 is None else w0.copy()
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(Xb @ w, -30, 30)))
        g = Xb.T @ (p - y) + reg * w
        s = p * (1 - p) + 1e-9
        if d + 1 > n:  # Woodbury: (X^T S X + R)^-1 g via an n x n system
            Ri = 1.0 / reg
            XR = Xb * Ri
            K = (XR @ Xb.T) + np.diag(1.0 / s)
            step = Ri * g - XR.T @ np.linalg.solve(K, XR @ g)
        else:
            H = (Xb * s[:, None]).T @ Xb + np.diag(reg)
            step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


class QualityHead:
    def __init__(self, *, l2: float | None = None, folds: int = 4, seed: int = 0) -> None:
        self.l2, self.folds, self.seed = l2, folds, seed
        self.mu = self.sd = np.zeros(0)
        self.W = np.zeros((0, 0))  # (m, d + 1) logistic weights, one row per model
        self.lo, self.hi = 0.0, 1.0
        self.chosen_l2: list[float] = []
        self.own = 0

    @property
    def fitted(self) -> bool:
        return self.W.size > 0

    def _z(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, np.float64) - self.mu) / self.sd

    def _fit_one(self, Z: np.ndarray, y: np.ndarray, l2: float, w0: np.ndarray | None = None) -> np.ndarray:
        if y.min() == y.max():  # constant outcome: a constant prediction
            w = np.zeros(Z.shape[1] + 1)
            w[-1] = float(np.log(np.clip(y[0], 1e-4, 1 - 1e-4) / np.clip(1 - y[0], 1e-4, 1)))
            return w
        return newton_logreg(Z, y, l2, w0)

    def _pick_l2(self, Z: np.ndarray, y: np.ndarray) -> float:
        if self.l2 is not None:
            return self.l2
        k = min(self.folds, len(y))
        if k < 2 or y.min() == y.max():
            return L2_GRID[len(L2_GRID) // 2]
        fold = np.random.default_rng(self.seed).permutation(len(y)) % k
        losses = {}
        warm: dict[int, np.ndarray] = {}
        for l2 in sorted(L2_GRID, reverse=True):  # strong to weak L2, each fit warm-started from the last
            p = np.empty(len(y))
            for f in range(k):
                tr, te = fold != f, fold == f
                warm[f] = self._fit_one(Z[tr], y[tr], l2, warm.get(f))
                p[te] = _proba(Z[te], warm[f][None])[:, 0]
            losses[l2] = _logloss(p, y)
        return min(L2_GRID, key=lambda l2: losses[l2])

    def fit(self, X: np.ndarray, Q: np.ndarray, own: int = 0) -> "QualityHead":
        """``own=g`` (stacking): X holds g blocks of m columns, one per member, and model j's regression uses
        only column j of each block (g inputs instead of g x m). 0 = every model sees every column."""
        X, Q = np.asarray(X, np.float64), np.asarray(Q, np.float64)
        self.own = own
        self.mu, self.sd = X.mean(0), X.std(0) + 1e-6
        self.lo, self.hi = float(Q.min()), float(Q.max())
        Y = (Q - self.lo) / ((self.hi - self.lo) or 1.0)
        Z = self._z(X)
        m = Y.shape[1]
        self.chosen_l2 = [self._pick_l2(self._cols(Z, j, m), Y[:, j]) for j in range(m)]
        self.W = np.array([self._fit_one(self._cols(Z, j, m), Y[:, j], l2) for j, l2 in zip(range(m), self.chosen_l2)])
        return self

    def _cols(self, Z: np.ndarray, j: int, m: int) -> np.ndarray:
        return Z[:, [g * m + j for g in range(self.own)]] if self.own else Z

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(n, m) predicted quality in outcome-table units."""
        Z = self._z(X)
        m = self.W.shape[0]
        if self.own:
            P = np.stack([_proba(self._cols(Z, j, m), self.W[j][None])[:, 0] for j in range(m)], axis=1)
        else:
            P = _proba(Z, self.W)
        return self.lo + (self.hi - self.lo) * P

    # ---- persistence ----------------------------------------------------------------------------------
    def state_json(self) -> dict[str, Any]:
        return {"lo": self.lo, "hi": self.hi, "chosen_l2": self.chosen_l2, "own": self.own}

    def state_arrays(self, prefix: str = "head_") -> dict[str, np.ndarray]:
        return {f"{prefix}W": self.W, f"{prefix}mu": self.mu, f"{prefix}sd": self.sd}

    def restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str = "head_") -> None:
        self.lo, self.hi = float(state.get("lo", 0.0)), float(state.get("hi", 1.0))
        self.chosen_l2 = list(state.get("chosen_l2", []))
        self.own = int(state.get("own", 0))
        if f"{prefix}W" in arrays:
            self.W, self.mu, self.sd = arrays[f"{prefix}W"], arrays[f"{prefix}mu"], arrays[f"{prefix}sd"]


class HeadPolicy(TablePolicy):
    """A learned policy = an encoder (any Embedder-protocol object: ``name``, ``dim``, ``embed(texts)``)
    + cheap surface features of the text + a ``QualityHead``. Subclasses name where the encoder comes
    from (``default_encoder``); ``encoder=`` overrides it (e.g. a disk-cached one for offline runs)."""

    feature_kind: ClassVar[str] = ""

    def __init__(self, *, text_features: bool | str = "rich", l2: float | None = None, encoder: Embedder | None = None,
                 **base: Any) -> None:
        super().__init__(**base)
        self.text_features, self.l2 = text_features, l2
        self.params = {"text_features": text_features, "l2": l2}
        self._encoder = encoder
        self.head = QualityHead(l2=l2, seed=self.seed)
        self.encoder_name = ""

    def default_encoder(self) -> Embedder:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def encoder(self) -> Embedder:
        if self._encoder is None:
            self._encoder = self.default_encoder()
        return self._encoder

    def features(self, texts: Sequence[str], encoded: np.ndarray | None = None) -> np.ndarray:
        X = self.encoder.embed(list(texts)) if encoded is None else np.asarray(encoded, np.float32).reshape(len(texts), -1)
        X = X.astype(np.float64)
        if not self.text_features:
            return X
        return np.hstack([X, rich_text_stats(texts) if self.text_features == "rich" else text_stats(texts)])

    def _fit(self, table: OutcomeTable) -> None:
        self._models = list(table.models)
        self.encoder_name = getattr(self.encoder, "name", "")
        self.head.fit(self.features(table.queries), table.quality)

    def scores_from(self, texts: Sequence[str], candidates: Sequence[Candidate],
                    encoded: np.ndarray | None = None) -> np.ndarray:
        S = self.prior_scores(len(texts), candidates)
        if not self.fitted:
            return S
        P = self.head.predict(self.features(texts, encoded))
        col = {m: j for j, m in enumerate(self._models)}
        for j, c in enumerate(candidates):
            if c.key in col:
                S[:, j] = P[:, col[c.key]]
        return S

    def scores(self, texts: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
        return self.scores_from(texts, candidates)

    def _state_json(self) -> dict[str, Any]:
        return {**super()._state_json(), "head": self.head.state_json(), "encoder": self.encoder_name}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return self.head.state_arrays()

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._restore(state, arrays)
        self.encoder_name = state.get("encoder", "")
        self.head.restore(state.get("head", {}), arrays)
