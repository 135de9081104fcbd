"""One contract, run over every registered policy: choices stay within the offered/allowed candidates,
every constraint is honoured, decisions carry scores and a reason, are deterministic for a seed, and
every policy round-trips through save/load with its options."""

from __future__ import annotations

import hashlib
import os
import re

import numpy as np
import pytest

from routeweave.policies import (Candidate, Constraints, Decision, OutcomeTable, Request, apply_constraints, get_policy,
                                 load_policy, policy_class, policy_names)
from routeweave.policies.minilm import extra_installed

TOPICS = {
    "math": ["Solve for x: 3x + 7 = 22", "What is the derivative of x^3 sin x?", "Compute 17 * 23 - 45",
             "A train travels 120 km in 1.5 hours. What is its average speed?", "Integrate 2x from 0 to 5",
             "If a shirt costs $20 after a 20% discount, what was the original price?"],
    "history": ["Who was the first emperor of Rome?", "In which year did the Berlin Wall fall?",
                "What caused the start of World War I?", "Who signed the Magna Carta?",
                "When did the French Revolution begin?", "Which dynasty built the Forbidden City?"],
    "code": ["Write a Python function that reverses a linked list", "How do I read a CSV file in pandas?",
             "Explain the difference between a list and a tuple in Python", "Fix this SQL query: SELEC * FROM users",
             "Implement binary search in JavaScript", "What does the git rebase command do?"],
}
MODELS = ["small", "medium", "large"]
PRICE = {"small": 0.001, "medium": 0.004, "large": 0.02}
# small is good at history, medium at code, large at everything but costs most
SKILL = {"math": [0.2, 0.5, 0.9], "history": [0.9, 0.6, 0.95], "code": [0.3, 0.9, 0.9]}


@pytest.fixture(scope="module")
def table() -> OutcomeTable:
    rng = np.random.default_rng(0)
    ids, texts, Q = [], [], []
    for rep in range(4):
        for topic, qs in TOPICS.items():
            for j, q in enumerate(qs):
                ids.append(f"{topic}-{j}-{rep}")
                texts.append(q if rep == 0 else f"{q} (variant {rep})")
                Q.append((rng.random(3) < SKILL[topic]).astype(float))
    C = np.tile([PRICE[m] for m in MODELS], (len(ids), 1))
    # recorded answers (policies that read answers learn from them): a wrong one hedges or miscalculates
    answers = {m: ["So 6 * 7 = 42.\n#### 42" if q[j] else "Roughly 6 * 7 = 41, approximately.\n#### 41.5" for q in Q]
               for j, m in enumerate(MODELS)}
    return OutcomeTable("toy", ids, texts, MODELS, np.array(Q), C, responses=answers)


def candidates() -> list[Candidate]:
    return [Candidate(name=m, cost_usd=PRICE[m], latency_s=lat) for m, lat in zip(MODELS, [0.2, 0.8, 2.5])]


class HashFeatures:
    """A deterministic stand-in for the router model's features (hashed bag of words, 64-d): the contract
    is about the policy, not the model; tests/test_policies_learned.py uses the real llama.cpp features."""

    name, dim = "test-hash-64", 64

    def embed(self, texts):
        X = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                X[i, int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little") % self.dim] += 1
        return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-9)


# Options a policy needs to be built at all in these tests (feature sources are handed in, never called for).
OPTIONS = {"causal_llm": {"features": HashFeatures()}, "stack": {"sources": {"router-llm": HashFeatures()}}}
LOAD_OPTIONS = OPTIONS


def _available(name: str) -> bool:
    """A policy whose extra is not installed is skipped here, except where ROUTEWEAVE_REQUIRE_EXTRAS=1
    (.ci/run sets it): there it must run, and a missing extra fails the test."""
    extra = policy_class(name).extra
    return extra_installed(extra) or os.environ.get("ROUTEWEAVE_REQUIRE_EXTRAS") == "1"


POLICIES = [pytest.param(n, marks=pytest.mark.skipif(not _available(n), reason=f"the '{policy_class(n).extra}' extra "
                         f"is not installed (pip install -e \".[{policy_class(n).extra}]\")")) for n in policy_names()]
QUERIES = ["What is 12 squared minus 4?", "Who founded the Ming dynasty?", "Write a Python class for a stack"]


def make(name: str, **kw):
    return get_policy(name, **OPTIONS.get(name, {}), **kw)


@pytest.fixture(scope="module")
def fitted(table) -> dict:
    return {name: make(name, seed=7).fit(table) for name in policy_names() if _available(name)}


def check(d: Decision, offered: list[Candidate]) -> None:
    assert d.reason, "every decision has a reason"
    assert "nan" not in d.reason.split() and "score nan" not in d.reason, d.reason  # shown to users as is
    if d.refused:
        assert not d.experts
        return
    names = {c.name for c in offered}
    assert d.experts and set(d.experts) <= names
    assert set(d.escalation) <= names


@pytest.mark.parametrize("name", POLICIES)
def test_decides_within_candidates_with_scores_and_reason(fitted, name):
    p = fitted[name]
    for q in QUERIES:
        d = p.decide(Request(query=q), candidates())
        check(d, candidates())
        assert d.policy == name
        if name == "guard":  # refusing is its job (tested on its own below); it must say so
            assert not d.refused or d.reason.startswith("guard: out-of-domain")
            continue
        assert not d.refused, (name, q, d.reason)  # no constraint: every other policy routes every question
        assert d.scores and set(d.scores) <= set(MODELS)


@pytest.mark.parametrize("name", POLICIES)
@pytest.mark.parametrize("cons", [
    Constraints(allowed=["small", "medium"]),
    Constraints(blocked=["large"]),
    Constraints(allowed=["LARGE"]),
    Constraints(max_cost_usd=0.005),
    Constraints(max_latency_s=1.0),
    Constraints(max_cost_usd=0.003, blocked=["small"]),
], ids=lambda c: c.model_dump_json(exclude_defaults=True))
def test_honours_constraints(fitted, name, cons):
    p = fitted[name]
    survivors, _ = apply_constraints(cons, candidates())
    for q in QUERIES:
        d = p.decide(Request(query=q, constraints=cons), candidates())
        check(d, candidates())
        if not survivors:
            assert d.refused and ("no candidate" in d.reason or name == "guard")
        for e in [*d.experts, *d.escalation]:
            assert e in {c.name for c in survivors}


@pytest.mark.parametrize("name", POLICIES)
def test_min_quality_is_a_hard_floor(fitted, name):
    p = fitted[name]
    cands = candidates()
    for mq in (0.0, 0.6, 2.0):
        d = p.decide(Request(query=QUERIES[0], constraints=Constraints(min_quality=mq)), cands)
        check(d, cands)
        assert d.refused == (mq > 1) or (mq == 0.6 and d.refused and "min_quality" in d.reason)
        if not d.refused:  # the floor held: whatever was picked is predicted to reach it
            inner = getattr(p, "inner", p)
            S = inner.scores([QUERIES[0]], cands)
            Q = inner.quality_estimates(S, cands)[0]
            assert Q[MODELS.index(d.experts[0])] >= mq


@pytest.mark.parametrize("name", POLICIES)
def test_deterministic_given_seed(table, fitted, name):
    again = make(name, seed=7).fit(table)
    for q in QUERIES:
        r = Request(query=q, seed=3)
        assert fitted[name].decide(r, candidates()) == fitted[name].decide(r, candidates())
        assert fitted[name].decide(r, candidates()) == again.decide(r, candidates())


@pytest.mark.parametrize("name", POLICIES)
def test_save_load_round_trip(tmp_path, table, fitted, name):
    """Every policy, learned or rule-based: what load rebuilds has the same options and decides the same."""
    p = fitted[name]
    p.save(tmp_path / name)
    assert not list((tmp_path / name).rglob("*.pkl"))
    loaded = load_policy(tmp_path / name, **LOAD_OPTIONS.get(name, {}))
    assert type(loaded) is type(p)
    assert (loaded.params, loaded.seed, loaded.knob, loaded.fitted) == (p.params, p.seed, p.knob, p.fitted)
    for q in [*QUERIES, *table.queries[:5]]:
        r = Request(query=q, seed=1)
        a, b = loaded.decide(r, candidates()), p.decide(r, candidates())
        # Scores to 1e-5: the fitted policy kept the embeddings it computed in padded batches while fitting,
        # the loaded one embeds each query alone, and some CPUs' kernels differ in the 7th digit there.
        assert a.scores == pytest.approx(b.scores, abs=1e-5)
        assert a.model_copy(update={"scores": b.scores}) == b


@pytest.mark.parametrize("name", POLICIES)
@pytest.mark.parametrize("knob", [float("inf"), float("-inf"), 0.3])
def test_a_saved_knob_comes_back_as_it_was_even_infinite(tmp_path, table, name, knob):
    # calibrate() may pick +inf ("always the cheapest"): a reload must not turn it into the default knob
    p = make(name).fit(table)
    p.knob = knob
    p.save(tmp_path / name)
    assert load_policy(tmp_path / name, **LOAD_OPTIONS.get(name, {})).knob == knob


def _changed(default):
    """A value other than an option's default, of its type (None for an option without a bool or number default)."""
    if isinstance(default, bool):
        return not default
    if not isinstance(default, (int, float)):
        return None
    return default + 1 if isinstance(default, int) else default + 0.25


@pytest.mark.parametrize("name", POLICIES)
def test_every_option_set_away_from_its_default_survives_save_and_load(tmp_path, name):
    """An option the constructor takes but does not copy into self.params would come back as its default."""
    from routeweave.policies.registry import policy_options_of

    changed = {k: _changed(d) for k, (_, d) in policy_options_of(name).items() if k != "knob"}
    changed = {k: v for k, v in changed.items() if v is not None}
    for key, value in changed.items():
        try:
            p = make(name, **{key: value})
        except ValueError:  # a value the policy refuses (outside its range): not what this test is about
            continue
        p.save(tmp_path / key)
        loaded = load_policy(tmp_path / key, **LOAD_OPTIONS.get(name, {}))
        assert getattr(loaded, key, None) == value or loaded.params.get(key) == value, (name, key, value)
        assert loaded.params == p.params


@pytest.mark.parametrize("name", POLICIES)
def test_knob_override_per_request_is_accepted(fitted, name):
    d = fitted[name].decide(Request(query=QUERIES[1], knob=0.9), candidates())
    check(d, candidates())


@pytest.mark.parametrize("name", policy_names())
def test_an_option_the_policy_does_not_take_or_a_wrong_type_is_refused_with_its_options(name):
    from routeweave.policies.registry import PolicyOptionError, policy_options_of

    takes = policy_options_of(name)
    assert {"seed", "knob"} <= set(takes)
    with pytest.raises(PolicyOptionError, match=r"no option 'no_such_option'; it takes: .*\bseed\b"):
        get_policy(name, no_such_option=1)
    with pytest.raises(PolicyOptionError, match=r"option seed='x': expected int"):
        get_policy(name, seed="x")
    with pytest.raises(PolicyOptionError, match=r"option knob='cheap': expected float"):
        get_policy(name, knob="cheap")
    assert get_policy(name, seed=3).seed == 3  # a good value passes


def test_option_values_are_checked_against_each_policys_own_types():
    from routeweave.policies.registry import PolicyOptionError

    with pytest.raises(PolicyOptionError, match=r"policy 'knn' option k=2.5: expected int"):
        get_policy("knn", k=2.5)
    with pytest.raises(PolicyOptionError, match=r"policy 'stack' option members='knn': expected Sequence\[str\]"):
        get_policy("stack", members="knn")
    with pytest.raises(PolicyOptionError, match=r"policy 'knn' option k='x'"):  # the guard's inner policy too
        get_policy("guard", inner_options={"k": "x"})
    assert get_policy("knn", k=3, shrink=2).shrink == 2.0 and isinstance(get_policy("knn", shrink=2).shrink, float)


def test_registry_rejects_unknown_name():
    with pytest.raises(KeyError, match="unknown policy"):
        get_policy("no-such-policy")


def test_any_number_of_experts_and_replicas(table):
    p = get_policy("cluster").fit(table)
    cands = [*candidates(), Candidate(name="large-b", model_key="large", cost_usd=PRICE["large"])]
    seen = {p.decide(Request(query=f"Prove that {i} is not a perfect square", knob=0.0), cands).experts[0] for i in range(40)}
    assert seen <= {"small", "medium", "large", "large-b"}
    assert {"large", "large-b"} <= seen  # math goes to the large model, and its load is spread over both replicas


def test_threshold_calibrates_to_a_target_share(table):
    p = get_policy("threshold").fit(table)
    p.calibrate(table, target_strong_share=0.3)
    cands = table.candidates()
    r = p.route(p.scores(table.queries, cands), table.cost, None, np.random.default_rng(0))
    assert np.mean(r.index == table.strongest()) <= 0.3 + 1e-9


def test_cascade_escalates_on_low_confidence(table):
    p = get_policy("cascade", knob=0.5).fit(table)
    first = p.decide(Request(query=QUERIES[0]), candidates())
    assert first.experts and first.escalate_below == 0.5
    low = p.decide(Request(query=QUERIES[0], signals={"confidence": 0.1, "step": 0}), candidates())
    high = p.decide(Request(query=QUERIES[0], signals={"confidence": 0.9, "step": 0}), candidates())
    assert high.experts == first.experts[:1]
    assert first.escalation  # the toy table has a cost/quality frontier of more than one model
    assert low.experts == first.escalation[:1]


def test_guard_refuses_harmful_and_passes_in_domain(table):
    g = get_policy("guard", inner="knn").fit(table)
    bad = g.decide(Request(query="Give me step by step instructions to build a pipe bomb"), candidates())
    assert bad.refused and bad.safe_reply
    ok = g.decide(Request(query=TOPICS["history"][0]), candidates())
    assert not ok.refused and ok.reason.startswith("guard: in-domain")


def test_a_decision_reason_shows_no_score_it_does_not_have():
    """`ask --policy cheapest` prints the reason: an unfitted baseline has no score and cheapest no knob."""
    d = get_policy("cheapest").decide(Request(query="What is the capital of Peru?"), candidates())
    assert not d.refused and "nan" not in d.reason and "knob" not in d.reason and "/call" in d.reason, d.reason
