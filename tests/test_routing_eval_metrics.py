"""Metrics on hand-computed tiny cases, split/k-fold properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from routeweave.evals.routing.metrics import Anchors, apgr, auc, cpt, envelope, quality_at, summarise
from routeweave.evals.routing.split import kfold, train_test_split

A = Anchors(q_weak=0.5, q_strong=1.0, c_weak=0.0, c_strong=1.0)


def test_random_line_is_apgr_half():
    x, q = np.array([0.0, 1.0]), np.array([0.5, 1.0])
    assert auc(x, q, A) == pytest.approx(0.75)
    assert apgr(auc(x, q, A), A) == pytest.approx(0.5)
    assert cpt(x, q, A, 0.5) == pytest.approx(0.5)
    assert cpt(x, q, A, 0.8) == pytest.approx(0.8)


def test_single_point_hand_computed():
    # curve: (0, .5) -> (.5, 1.0), flat after. AUC = .5*(.5+1)/2 + .5*1 = .875
    x, q = np.array([0.5]), np.array([1.0])
    assert auc(x, q, A) == pytest.approx(0.875, abs=1e-6)
    assert apgr(0.875, A) == pytest.approx(0.75)
    assert cpt(x, q, A, 0.5) == pytest.approx(0.25)  # target .75
    assert cpt(x, q, A, 0.8) == pytest.approx(0.4)  # target .9
    assert quality_at(x, q, A, 1.0) == pytest.approx(1.0)


def test_envelope_is_monotone_and_dominated_points_ignored():
    xs, qs = envelope(np.array([0.6, 0.2, 0.4, 0.8]), np.array([0.7, 0.9, 0.6, 0.95]))
    assert list(xs) == [0.2, 0.4, 0.6, 0.8]
    assert list(qs) == [0.9, 0.9, 0.9, 0.95]


def test_matches_routellm_trapz_when_curve_spans_the_axis():
    x = np.linspace(0, 1, 11)
    q = 0.5 + 0.5 * np.sqrt(x)
    weak_auc = np.trapezoid(np.full_like(x, 0.5), x) if hasattr(np, "trapezoid") else np.trapz(np.full_like(x, 0.5), x)
    ref = np.trapezoid(q, x) if hasattr(np, "trapezoid") else np.trapz(q, x)
    ours = auc(x, q, A)
    assert ours == pytest.approx(ref, abs=1e-4)
    assert apgr(ours, A) == pytest.approx((ref - weak_auc) / (1.0 - weak_auc), abs=1e-3)


def test_unreached_cpt_is_none_and_flat_costs():
    x, q = np.array([0.0, 1.0]), np.array([0.5, 0.6])
    assert cpt(x, q, A, 0.5) is None
    flat = Anchors(q_weak=0.4, q_strong=0.6, c_weak=1.0, c_strong=1.0)
    assert flat.flat
    assert auc(np.array([0.0, 0.0]), np.array([0.5, 0.7]), flat) == pytest.approx(0.7)
    assert cpt(np.zeros(2), np.array([0.5, 0.7]), flat, 0.8) == 0.0


def test_summarise_reads_strong_share_at_strong_cost():
    m = summarise(np.array([0.0, 0.5, 1.0, 1.5]), np.array([0.5, 0.8, 0.9, 1.0]), np.array([0, 0.4, 0.8, 1.0]), A)
    assert m["strong_share"] == pytest.approx(0.8)
    assert m["quality_at_strong_cost"] == pytest.approx(0.9)


def test_split_is_seeded_disjoint_and_complete():
    tr, te = train_test_split(100, 0.3, seed=1)
    tr2, te2 = train_test_split(100, 0.3, seed=1)
    assert np.array_equal(tr, tr2) and np.array_equal(te, te2)
    assert len(te) == 30 and not set(tr) & set(te) and set(tr) | set(te) == set(range(100))
    assert not np.array_equal(te, train_test_split(100, 0.3, seed=2)[1])


@given(n=st.integers(5, 200), k=st.integers(2, 5), seed=st.integers(0, 10))
def test_kfold_partitions(n, k, seed):
    folds = kfold(n, k, seed)
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests) == list(range(n))
    for tr, te in folds:
        assert not set(tr) & set(te) and len(tr) + len(te) == n
