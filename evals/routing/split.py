"""Deterministic, seeded train/test splits and k-fold."""

from __future__ import annotations

import numpy as np

from .loaders import DataError  # a ValueError: callers that catch ValueError still do


def train_test_split(n: int, test_frac: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < test_frac < 1:
        raise DataError(f"--test-frac must be between 0 and 1 (exclusive), got {test_frac}")
    if n < 2:
        raise DataError(f"the table has {n} quer{'y' if n == 1 else 'ies'}: a train/test split needs at least 2")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = min(max(1, round(n * test_frac)), n - 1)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def kfold(n: int, k: int = 5, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    if not 2 <= k <= n:
        raise DataError(f"--folds must be between 2 and the number of queries ({n}), got {k}")
    perm = np.random.default_rng(seed).permutation(n)
    folds = np.array_split(perm, k)
    return [(np.sort(np.concatenate([f for j, f in enumerate(folds) if j != i])), np.sort(folds[i])) for i in range(k)]
