"""sw_ranking's Bradley-Terry fit stops once converged: the same strengths as the full iterations."""

import numpy as np

from routeweave.policies.sw_ranking import bt_strengths


def _battles(m: int, seed: int) -> np.ndarray:
    W = np.random.default_rng(seed).random((3, m, m))
    return W * (1 - np.eye(m))


def test_two_models_reach_the_closed_form_and_match_every_iteration():
    W = _battles(2, 0)
    wins = W.sum(2) + 1e-9
    closed = wins / wins.sum(1, keepdims=True)  # two models: strength in proportion to weighted wins
    assert np.allclose(bt_strengths(W), closed, atol=1e-12)
    assert np.array_equal(bt_strengths(W), bt_strengths(W, tol=-1.0))


def _reference(W: np.ndarray, iters: int) -> np.ndarray:
    """Plain minorise-maximise, every iteration, one query at a time."""
    out = []
    for w in W:
        n, wins = w + w.T, w.sum(1) + 1e-9
        pi = np.full(len(w), 1.0 / len(w))
        for _ in range(iters):
            pi = wins / ((n / (pi[:, None] + pi[None, :])).sum(1) + 1e-12)
            pi /= pi.sum()
        out.append(pi)
    return np.array(out)


def test_early_stop_changes_no_strength_by_more_than_its_tolerance():
    for m in (3, 9):
        W = _battles(m, m)
        full = _reference(W, 200)
        assert np.abs(bt_strengths(W, iters=200, tol=-1.0) - full).max() < 1e-12
        assert np.abs(bt_strengths(W, iters=200, tol=1e-10) - full).max() < 1e-8
        assert np.allclose(bt_strengths(W, iters=200).sum(1), 1.0)
