"""Budget arithmetic: reservations make concurrent calls unable to overspend."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routeweave.graphs.budget import BudgetExceeded, Ledger


def test_reserve_settle_release():
    ledger = Ledger(budget_usd=1.0, max_tokens=1000)
    a = ledger.reserve(0.6, 100)
    assert ledger.left_usd == pytest.approx(0.4)
    with pytest.raises(BudgetExceeded):
        ledger.reserve(0.5, 10)  # would break the budget together with the open reservation
    ledger.settle(a, 0.2, 80)
    assert ledger.spent_usd == pytest.approx(0.2) and ledger.left_usd == pytest.approx(0.8)
    b = ledger.reserve(0.5, 10)
    ledger.release(b)
    assert ledger.left_usd == pytest.approx(0.8) and ledger.spent_tokens == 80


def test_token_cap_is_a_budget_too():
    ledger = Ledger(budget_usd=1.0, max_tokens=100)
    ledger.reserve(0.0, 90)
    assert not ledger.can_afford(0.0, 11)


def test_negative_reservation_is_refused():
    with pytest.raises(ValueError):
        Ledger(1.0, 10).reserve(-1.0, 0)


@settings(max_examples=300, deadline=None)
@given(
    budget=st.floats(1e-6, 1.0),
    calls=st.lists(
        st.tuples(st.floats(0, 0.5), st.integers(0, 500), st.floats(0, 1), st.booleans()), max_size=30
    ),
)
def test_spend_never_exceeds_budget(budget, calls):
    """Random concurrent batches: reserve all, then settle each with a real cost <= its reservation
    (or fail, costing nothing)."""
    ledger = Ledger(budget_usd=budget, max_tokens=5000)
    held = []
    for usd, tokens, used_share, fails in calls:
        if ledger.can_afford(usd, tokens):
            held.append((ledger.reserve(usd, tokens), used_share, fails))
    for reservation, used_share, fails in held:
        if fails:
            ledger.settle(reservation, 0.0, 0)
        else:
            ledger.settle(reservation, reservation.usd * used_share, int(reservation.tokens * used_share))
    assert ledger.spent_usd <= budget + 1e-12
    assert ledger.spent_tokens <= 5000


def test_a_settlement_beyond_its_reservation_is_an_overspend_that_blocks_new_calls():
    ledger = Ledger(budget_usd=1.0, max_tokens=1000)
    a, b = ledger.reserve(0.1, 100), ledger.reserve(0.1, 100)  # two calls in flight
    assert ledger.settle(a, 0.5, 50) is True  # billed five times its reservation
    assert ledger.blocked and not ledger.can_afford(0.0, 0)  # nothing new starts, not even a free call
    assert ledger.settle(b, 0.05, 50) is False  # the other call in flight still settles (honestly)
    assert ledger.spent_usd == pytest.approx(0.55)  # the excess is charged: it was spent
    honest = Ledger(budget_usd=1.0, max_tokens=1000)
    assert honest.settle(honest.reserve(0.1, 100), 0.1, 100) is False and not honest.blocked  # exactly the reservation
    tokens = Ledger(budget_usd=1.0, max_tokens=1000)
    assert tokens.settle(tokens.reserve(0.1, 100), 0.0, 101) is True  # tokens beyond the reservation count too
