"""The `verifier` cascade: it reads the cheap expert's answer and escalates when the answer looks wrong.

Offline on RouteLLM's GSM8K table (Mixtral's recorded answers), in the cascade graph on real LiteLLM
calls (mock_response) with a real engine, and the answer features it reads."""

from __future__ import annotations

import re

import numpy as np
import pytest

from routeweave.agents.pool import Pool
from routeweave.evals.routing.loaders import MIXTRAL, default_data_dir, load_table
from routeweave.evals.routing.sweep import evaluate
from routeweave.policies import Candidate, OutcomeTable, Request, get_policy, load_policy
from routeweave.policies.answer_stats import NAMES, answer_stats, arithmetic
from routeweave.serving import Engine

GOOD, BAD = "She has 16 - 3 = 13 eggs left.\n#### 13", "Approximately 16 - 3 = 12 eggs, however it is unclear.\n#### 12.5"


def test_answer_stats_recompute_the_calculations_an_answer_writes():
    row = dict(zip(NAMES, answer_stats("Janet has 16 eggs and eats 3.", "16 - 3 = <<16-3=14>>14\n#### 14")))
    assert row["wrong_annotations"] == 1 and row["any_wrong"] == 1
    row = dict(zip(NAMES, answer_stats("Janet has 16 eggs and eats 3.", "16 - 3 = <<16-3=13>>13\n#### 13")))
    assert row["wrong_annotations"] == 0 and row["any_wrong"] == 0 and row["fractional_final"] == 0
    assert dict(zip(NAMES, answer_stats("q", "So 4 * 2.5 = 11 apples.")))["wrong_inline"] == 1
    assert dict(zip(NAMES, answer_stats("q", BAD)))["hedges"] >= 3
    assert dict(zip(NAMES, answer_stats("q", None)))["no_final_number"] == 1


def test_arithmetic_is_plain_arithmetic_never_eval():
    assert arithmetic("(48 + 2) / 5") == 10.0 and arithmetic("$1,200 x 3") == 3600.0
    for hostile in ("__import__('os').system('true')", "2**99999", "1/0", "a+b", "9" * 500):
        assert arithmetic(hostile) is None


def test_a_table_without_recorded_answers_is_a_clear_error():
    table = OutcomeTable("plain", ["0", "1"], ["q0", "q1"], ["a", "b"], np.eye(2), np.ones((2, 2)))
    with pytest.raises(ValueError, match="'plain' records none"):
        get_policy("verifier").fit(table)


def test_a_stack_refuses_a_member_that_reads_answers():
    with pytest.raises(ValueError, match="read answers"):
        get_policy("stack", members=["knn", "verifier"])


@pytest.fixture(scope="module")
def gsm8k():
    if not (default_data_dir() / "routellm_evals").exists():
        pytest.skip("../shared/data not present")
    return load_table("gsm8k", default_data_dir())


def test_on_gsm8k_reading_mixtrals_answer_recovers_most_of_the_gap(gsm8k):
    """Held-out split, seed 0, as docs/routing-results.md: the verifier's APGR is pinned at its recorded
    value minus 0.01 and beats the query-only cascade and threshold; it pays Mixtral's call on every query."""
    result = evaluate(gsm8k, ["verifier", "cascade", "threshold"], seed=0)
    by = {r["policy"]: r for r in result["results"]}
    assert by["verifier"]["apgr"] >= 0.80
    assert by["verifier"]["apgr"] > by["threshold"]["apgr"] + 0.1 and by["verifier"]["apgr"] > by["cascade"]["apgr"] + 0.1
    weak_cost = gsm8k.mean_cost()[MIXTRAL]
    assert min(p["cost"] for p in by["verifier"]["points"]) >= weak_cost - 1e-12


def test_saved_and_loaded_it_judges_answers_the_same(tmp_path, gsm8k):
    policy = get_policy("verifier").fit(gsm8k.subset(np.arange(300)))
    again = load_policy(policy.save(tmp_path / "v"))
    cand = Candidate(name=MIXTRAL)
    mixtral = gsm8k.models.index(MIXTRAL)
    right = [i for i in range(300, len(gsm8k)) if gsm8k.quality[i, mixtral] == 1 and "<<" in gsm8k.responses[MIXTRAL][i]]
    drops = []
    for i in right[:30]:  # held-out answers Mixtral got right, and each with one calculation made wrong
        req, answer = Request(query=gsm8k.queries[i]), gsm8k.responses[MIXTRAL][i]
        broken = re.sub(r"=(\d+)>>", lambda m: f"={int(m.group(1)) + 7}>>", answer, count=1)
        if dict(zip(NAMES, answer_stats(req.query, broken)))["wrong_annotations"] != 1:
            continue  # the calculation made wrong is not one the features can recompute (e.g. 20% of 5)
        for a in (answer, broken):
            assert again.answer_confidence(req, cand, a) == pytest.approx(policy.answer_confidence(req, cand, a))
        drops.append(policy.answer_confidence(req, cand, answer) - policy.answer_confidence(req, cand, broken))
    assert len(drops) >= 10 and min(drops) > 0 and np.mean(drops) > 0.1, np.round(drops, 3)
    assert policy.answer_confidence(req, Candidate(name="not-in-the-table"), answer) is None


def _pool(cheap_reply: str) -> Pool:
    return Pool.model_validate({
        "router": {"model": "openai/mock-router", "api_base": "http://127.0.0.1:9", "grammar": False, "mock_response": "x"},
        "experts": [
            {"name": "Cheap", "model": "openai/cheap", "api_base": "http://127.0.0.1:9", "mock_response": cheap_reply,
             "description": "cheap", "price": {"input_per_m": 0.1, "output_per_m": 0.2}},
            {"name": "Strong", "model": "openai/strong", "api_base": "http://127.0.0.1:9", "mock_response": "#### 13",
             "description": "strong", "price": {"input_per_m": 3.0, "output_per_m": 15.0}},
        ],
        "limits": {"budget_usd": 0.05},
    })


def _fitted_on_cheap_answers():
    """Cheap is right when its answer is plain, wrong when it hedges; Strong is always right."""
    n = 40
    queries = [f"Janet has {16 + i} eggs and eats 3. How many are left?" for i in range(n)]
    right = np.arange(n) % 2 == 0
    table = OutcomeTable("cheap-answers", [str(i) for i in range(n)], queries, ["Cheap", "Strong"],
                         np.stack([right.astype(float), np.ones(n)], axis=1), np.tile([1e-5, 1e-3], (n, 1)),
                         responses={"Cheap": [GOOD if r else BAD for r in right], "Strong": ["#### 13"] * n})
    return get_policy("verifier").fit(table)


@pytest.mark.parametrize("reply, escalates", [(GOOD, False), (BAD, True)])
def test_in_the_cascade_graph_a_doubtful_answer_escalates(tmp_path, reply, escalates):
    with Engine(_pool(reply), db_path=tmp_path / "t.db", cache_dir=tmp_path / "cache") as engine:
        result = engine.graph("cascade", _fitted_on_cheap_answers()).invoke({"question": "Janet has 16 eggs and eats 3?"})
    asked = [s["expert"] for s in result["steps"] if s["kind"] == "route"]
    assert asked == (["Cheap", "Strong"] if escalates else ["Cheap"])
    notices = [s["text"] for s in result["steps"] if s["kind"] == "notice"]
    assert any("verifier: P(good enough)" in t for t in notices) == escalates
    assert result["stop_reason"] == "answered"
    assert [s for s in result["steps"] if s["kind"] == "answer"][-1]["expert"] == ("Strong" if escalates else "Cheap")
