"""Router-R1's reward on crafted session results: format, outcome (EM + F1), cost share and alpha."""

from __future__ import annotations

import pytest

from routeweave.training.reward import RewardSettings, format_ok, score

ANSWERS = ["Denise Levertov"]


def session(answer: str, *, cost: float = 0.0, steps=None, stop: str = "answered") -> dict:
    steps = steps if steps is not None else [
        {"kind": "think", "round": 0, "text": "look up both", "error": None},
        {"kind": "route", "round": 0, "expert": "Wiki", "error": None},
        {"kind": "answer", "round": 1, "text": answer, "error": None},
    ]
    return {"answer": answer, "cost_usd": cost, "stop_reason": stop, "steps": steps}


def test_right_answer_scores_em_plus_weighted_f1():
    parts = score(session("Denise Levertov"), ANSWERS, 0.005, RewardSettings(f1_weight=0.5))
    assert (parts.format, parts.outcome) == (0.0, 1.5)


def test_partial_answer_scores_f1_only():
    parts = score(session("Levertov"), ANSWERS, 0.005, RewardSettings(f1_weight=1.0))
    assert parts.outcome == pytest.approx(2 / 3)  # precision 1, recall 1/2


def test_cost_is_the_budget_share_weighted_by_alpha():
    s = RewardSettings(alpha=0.5, f1_weight=0.0)
    parts = score(session("Denise Levertov", cost=0.001), ANSWERS, 0.005, s)
    assert parts.cost == pytest.approx(0.2)
    assert parts.total(s) == pytest.approx(1.0 - 0.5 * 0.2)
    assert score(session("x", cost=1.0), ANSWERS, 0.005, s).cost == 1.0  # capped at the whole budget


def test_format_fault_gets_no_outcome():
    bad = session("Denise Levertov", steps=[
        {"kind": "notice", "round": 0, "text": "no <search>", "error": "unusable router output"},
        {"kind": "answer", "round": 0, "text": "Denise Levertov", "error": None},
    ])
    assert not format_ok(bad["steps"])
    parts = score(bad, ANSWERS, 0.005, RewardSettings())
    assert (parts.format, parts.outcome) == (-1.0, 0.0)
    fallback = session("Denise Levertov", stop="budget", steps=[{"kind": "fallback", "round": 2, "text": "", "error": None}])
    assert score(fallback, ANSWERS, 0.005, RewardSettings()).format == -1.0


def test_alpha_orders_a_cheap_and_a_dear_right_answer():
    cheap, dear = session("Denise Levertov", cost=0.0001), session("Denise Levertov", cost=0.004)
    for alpha, same in ((0.0, True), (0.3, False)):
        s = RewardSettings(alpha=alpha)
        a, b = score(cheap, ANSWERS, 0.005, s).total(s), score(dear, ANSWERS, 0.005, s).total(s)
        assert (a == pytest.approx(b)) if same else a > b
