"""The confidence a call reports (exp of the mean token log-probability), over the answer's own tokens when asked."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from routeweave.agents.llm import _confidence


def choice(tokens: list[tuple[str, float]], as_dicts: bool) -> SimpleNamespace:
    content = [({"token": t, "logprob": lp} if as_dicts else SimpleNamespace(token=t, logprob=lp)) for t, lp in tokens]
    return SimpleNamespace(logprobs=SimpleNamespace(content=content))


@pytest.mark.parametrize("as_dicts", [True, False])
def test_confidence_after_a_marker_counts_only_what_follows_it(as_dicts):
    # a fixed preamble the grammar all but forces (log-prob ~0), then a doubtful answer
    tokens = [("<think>", 0.0), ("The evidence gives the answer.", -0.01), ("</think>\n<", 0.0), ("answer", 0.0),
              (">", 0.0), ("Den", -1.2), ("ise", -0.8)]
    everything = _confidence(choice(tokens, as_dicts))
    answer_only = _confidence(choice(tokens, as_dicts), "<answer>")
    assert answer_only == pytest.approx(math.exp(-1.0)) and everything == pytest.approx(math.exp(-2.01 / 7))
    assert _confidence(choice(tokens, as_dicts), "<search>") == pytest.approx(everything)  # marker absent: all tokens
    assert _confidence(choice([], as_dicts), "<answer>") is None


def test_a_positive_log_probability_from_a_provider_counts_as_certain_not_above_it():
    # a provider rounding log-probs up past 0 must not make the call's record invalid (confidence is in [0, 1])
    assert _confidence(choice([("a", 0.3), ("b", 0.2)], True)) == 1.0
    assert _confidence(choice([("a", 0.4), ("b", -0.4)], True)) == pytest.approx(math.exp(-0.2))
