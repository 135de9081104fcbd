"""Matrix-factorisation router (after RouteLLM's MF): quality(x, m) = sigmoid(b_m + v_m . (P x)),
a low-rank bilinear model of query embedding x and a learned model vector v_m, trained with a
pointwise cross-entropy on qualities rescaled to [0, 1] (full-batch Adam, seeded, numpy only).
RouteLLM trains the same form pairwise on preference data; we have per-model outcomes instead."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import TablePolicy
from .outcomes import OutcomeTable
from .registry import register


@register("mf")
class MfPolicy(TablePolicy):
    def __init__(self, *, rank: int = 16, epochs: int = 300, lr: float = 0.02, l2: float = 1e-3, **base: Any) -> None:
        super().__init__(**base)
        self.rank, self.epochs, self.lr, self.l2 = rank, epochs, lr, l2
        self.params = {"rank": rank, "epochs": epochs, "lr": lr, "l2": l2}
        self._P = self._V = self._b = np.zeros(0)
        self._lo, self._hi = 0.0, 1.0

    def _fit_xy(self, X: np.ndarray, table: OutcomeTable) -> None:
        Q = table.quality
        self._lo, self._hi = float(Q.min()), float(Q.max())
        Y = (Q - self._lo) / ((self._hi - self._lo) or 1.0)
        X = X.astype(np.float64)
        n, d = X.shape
        m = Y.shape[1]
        rng = np.random.default_rng(self.seed)
        params = {
            "P": rng.normal(0, 1 / np.sqrt(d), (d, self.rank)),
            "V": rng.normal(0, 0.1, (m, self.rank)),
            "b": np.log(np.clip(Y.mean(0), 1e-3, 1 - 1e-3) / np.clip(1 - Y.mean(0), 1e-3, 1)),
        }
        mom = {k: np.zeros_like(v) for k, v in params.items()}
        vel = {k: np.zeros_like(v) for k, v in params.items()}
        b1, b2 = 0.9, 0.999
        for t in range(1, self.epochs + 1):
            H = X @ params["P"]  # (n, r)
            Z = H @ params["V"].T + params["b"]  # (n, m)
            G = (1 / (1 + np.exp(-Z)) - Y) / n  # dLoss/dZ of mean BCE
            grads = {
                "V": G.T @ H + self.l2 * params["V"],
                "P": X.T @ (G @ params["V"]) + self.l2 * params["P"],
                "b": G.sum(0),
            }
            for k in params:
                mom[k] = b1 * mom[k] + (1 - b1) * grads[k]
                vel[k] = b2 * vel[k] + (1 - b2) * grads[k] ** 2
                params[k] -= self.lr * (mom[k] / (1 - b1**t)) / (np.sqrt(vel[k] / (1 - b2**t)) + 1e-8)
        self._P, self._V, self._b = params["P"], params["V"], params["b"]

    def _predict(self, X: np.ndarray) -> np.ndarray:
        Z = (X.astype(np.float64) @ self._P) @ self._V.T + self._b
        return self._lo + (self._hi - self._lo) / (1 + np.exp(-Z))

    def _state_json(self) -> dict[str, Any]:
        return {**super()._state_json(), "lo": self._lo, "hi": self._hi}

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"P": self._P, "V": self._V, "b": self._b}

    def _restore(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        super()._restore(state, arrays)
        self._lo, self._hi = state.get("lo", 0.0), state.get("hi", 1.0)
        if arrays:
            self._P, self._V, self._b = arrays["P"], arrays["V"], arrays["b"]
