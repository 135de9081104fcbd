"""What a contributor adding a policy (``policies/length.py``) is told when they get the contract wrong: each
mistake fails early, naming the policy, the method and what was expected, instead of a traceback from deep
inside serving. Policies defined here are registered for one test only (the ``registry`` fixture)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Sequence

import numpy as np
import pytest

from routeweave.policies import Candidate, Decision, Policy, Request, get_policy, load_policy, policy_names, register
from routeweave.policies.registry import PolicyOptionError

CANDS = [Candidate(name="small", cost_usd=0.001), Candidate(name="large", cost_usd=0.02)]


@pytest.fixture
def registry():
    """The policy registry, restored after the test (a policy registered here is not left for other tests)."""
    from routeweave.policies import registry as reg

    policy_names()  # every built-in policy registered before the snapshot
    before = dict(reg._REGISTRY)
    yield reg
    reg._REGISTRY.clear()
    reg._REGISTRY.update(before)


class Length(Policy):
    """A rule-based policy: long queries go to the dearest candidate."""

    def __init__(self, *, min_len: int = 40, **base) -> None:
        super().__init__(**base)
        self.min_len = min_len
        self.params = {"min_len": min_len}

    def scores(self, texts: Sequence[str], candidates: Sequence[Candidate]) -> np.ndarray:
        cost = np.array([c.cost_usd for c in candidates])
        return np.array([cost if len(t) >= self.min_len else -cost for t in texts], dtype=np.float64)


# ---- 1. a missing abstract method, bad constructor options ---------------------------------------------
def test_a_policy_missing_an_abstract_method_is_refused_at_registration_naming_it(registry):
    class Misspelt(Policy):
        def score(self, texts, candidates):  # 'scores' misspelt
            return np.zeros((len(texts), len(candidates)))

    with pytest.raises(TypeError, match=r"policy 'length' \(.*Misspelt\) cannot be built: it does not implement scores"
                       r"(.|\n)*def scores\(self, texts.*candidates.*\(n, m\) scores(.|\n)*defines 'score': a misspelling"):
        register("length")(Misspelt)
    assert "length" not in registry._REGISTRY


def test_register_refuses_a_class_that_is_not_a_policy(registry):
    with pytest.raises(TypeError, match=r"@register\('length'\) decorates .*NotAPolicy.*derive it from .*Policy"):
        register("length")(type("NotAPolicy", (), {}))


def test_a_constructor_type_error_names_the_policy_and_its_options(registry):
    # the verifier sets text_features itself: giving it too is a TypeError inside its constructor
    with pytest.raises(PolicyOptionError, match=r"policy 'verifier' cannot be built with .*text_features=False.*multiple "
                       r"values.*It takes: .*tolerance.*VerifierPolicy.__init__"):
        get_policy("verifier", text_features=False)

    class Needs(Length):
        def __init__(self, *, path: str, **base) -> None:  # a required option
            super().__init__(**base)

    register("needs")(Needs)
    with pytest.raises(PolicyOptionError, match=r"policy 'needs' cannot be built with no options: .*'path'.*It takes: "):
        get_policy("needs")


def test_a_saved_policy_whose_options_no_longer_fit_says_which_and_where(registry, tmp_path):
    register("length")(Length)
    get_policy("length", min_len=5).save(tmp_path / "p")
    meta = (tmp_path / "p" / "policy.json").read_text().replace('"min_len"', '"min_length"')
    (tmp_path / "p" / "policy.json").write_text(meta)
    with pytest.raises(PolicyOptionError, match=r"p: policy 'length' cannot be built with .*min_length=5.*It takes: "
                       r".*min_len.*refit"):
        load_policy(tmp_path / "p")


# ---- 2. wrong return types ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, error, said", [
    (lambda n, m: [0.1] * m, ValueError, r"returned shape \(2,\), expected \(n, m\) = \(queries, candidates\) = \(1, 2\).*1-D"),
    (lambda n, m: np.zeros((m, n)), ValueError, r"returned shape \(2, 1\), expected \(n, m\) = \(queries, candidates\) = \(1, 2\)"),
    (lambda n, m: {"small": 1.0}, TypeError, r"returned dict .*not numbers: expected \(n, m\)"),
], ids=["1-D list", "transposed", "dict"])
def test_scores_of_the_wrong_shape_are_refused_naming_policy_method_and_shape(registry, bad, error, said):
    class Bad(Length):
        def scores(self, texts, candidates):
            return bad(len(texts), len(candidates))

    register("length")(Bad)
    p = get_policy("length")
    with pytest.raises(error, match=r"^length\.scores " + said):
        p.decide(Request(query="How long is this?"), CANDS)


def test_request_scores_of_the_wrong_shape_are_refused_too(registry):
    class Bad(Length):
        def request_scores(self, request, candidates):
            return np.zeros(len(candidates))

    register("length")(Bad)
    with pytest.raises(ValueError, match=r"^length\.request_scores returned shape \(2,\), expected .* = \(1, 2\)"):
        get_policy("length").decide(Request(query="q"), CANDS)


def test_table_scores_are_checked(registry):
    from routeweave.policies import OutcomeTable

    class Bad(Length):
        def scores(self, texts, candidates):
            return super().scores(texts, candidates).T

    register("length")(Bad)
    table = OutcomeTable("t", ["a", "b", "c"], ["x", "y", "z"], ["small", "large"], np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"length\.scores returned shape \(2, 3\), expected .* = \(3, 2\)"):
        get_policy("length").table_scores(table, table.candidates())


def test_a_decide_that_returns_no_decision_stops_the_session_naming_the_policy(registry, tmp_path):
    from routeweave.serving import Engine
    from test_graph_kinds import mock_pool

    class DictDecider(Length):
        def decide(self, request, candidates):
            return {"experts": ["Cheap"], "reason": "long"}

    register("dict_decider")(DictDecider)
    with Engine(mock_pool(), db_path=tmp_path / "t.db", cache_dir=tmp_path / "cache") as engine:
        graph = engine.graph("single-shot", get_policy("dict_decider"))
        with pytest.raises(TypeError, match=r"the 'dict_decider' policy's decide \(.*DictDecider.decide\) returned dict "
                           r".*expected a routeweave.policies.Decision: return Decision\(policy=self.name"):
            graph.invoke({"question": "When was the Eiffel Tower built?"})


def test_a_decision_passes_the_graph_check(registry):
    register("length")(Length)
    d = get_policy("length").decide(Request(query="x" * 50), CANDS)
    assert isinstance(d, Decision) and d.experts == ["large"]


# ---- 3. options that save/load would lose -----------------------------------------------------------------
def test_save_refuses_an_option_its_params_do_not_keep(registry, tmp_path):
    class Forgets(Length):
        def __init__(self, *, min_len: int = 40, strict: bool = False, **base) -> None:
            super().__init__(min_len=min_len, **base)
            self.strict = strict  # not copied into self.params

    register("length")(Forgets)
    get_policy("length", strict=False).save(tmp_path / "default")  # the default comes back as it was: nothing lost
    with pytest.raises(ValueError, match=r"policy 'length' was built with strict=True, but its params do not record it.*"
                       r"in .*Forgets.__init__, add self.params\['strict'\] = strict"):
        get_policy("length", strict=True).save(tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_save_refuses_params_the_constructor_does_not_take(registry, tmp_path):
    class Stray(Length):
        def __init__(self, **base) -> None:
            super().__init__(**base)
            self.params["trained_on"] = "gsm8k"  # state, not an option

    register("length")(Stray)
    with pytest.raises(ValueError, match=r"policy 'length' params hold 'trained_on', which .*Stray.__init__ does not "
                       r"take.*_state_json"):
        get_policy("length").save(tmp_path / "p")


# ---- 4. a new module needs no import line -----------------------------------------------------------------
def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_a_new_policy_module_is_registered_without_an_import_line(tmp_path):
    (tmp_path / "length.py").write_text(textwrap.dedent("""
        import numpy as np
        from routeweave.policies import Policy, register

        @register("length")
        class LengthPolicy(Policy):
            def scores(self, texts, candidates):
                return np.zeros((len(texts), len(candidates)))
        """))
    out = _run(f"""
        import routeweave.policies as p
        p.__path__.append({str(tmp_path)!r})  # as if policies/length.py had been added
        assert "length" in p.policy_names(), p.policy_names()
        """)
    assert out.returncode == 0, out.stderr


def test_every_module_that_registers_a_policy_is_imported():
    import ast
    from pathlib import Path

    import routeweave.policies as p

    declared = set()
    for path in Path(p.__path__[0]).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "register" and node.args:
                declared.add(ast.literal_eval(node.args[0]))
    assert declared and declared <= set(policy_names())


def test_registering_every_policy_imports_no_heavy_dependency():
    out = _run("""
        import sys
        from routeweave.policies import policy_names
        policy_names()
        heavy = sorted(m for m in ("torch", "transformers", "gguf", "llama_cpp", "sklearn", "litellm") if m in sys.modules)
        assert not heavy, f"importing the policies imported {heavy}: import them where they are used (see minilm.py)"
        """)
    assert out.returncode == 0, out.stderr


# ---- 5. eval routing's hint ----------------------------------------------------------------------------------
def test_eval_routing_hint_lists_every_policy_the_default_set_leaves_out(registry):
    from routeweave.evals.routing.cli import DEFAULT_POLICIES, other_policies
    from routeweave.evals.routing.sweep import BASELINES

    register("length")(Length)  # rule-based: learns nothing
    default = DEFAULT_POLICIES.split(",")
    others = other_policies(default)
    assert {"length", "cheapest", "ladder", "verifier", "stack"} <= set(others)
    assert set(others) == set(policy_names(include_eval_only=False)) - set(default) - set(BASELINES)
    assert "oracle" not in others and "random" not in others


def test_the_policy_in_docs_extending_works_as_written(tmp_path):
    """docs/extending.md's example policy, copied as policies/length.py: registered, routes as it says, and its
    option survives save/load."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "extending.md").read_text(encoding="utf-8")
    (tmp_path / "length.py").write_text(re.search(r"```python\n(.*?)```", doc, re.S).group(1), encoding="utf-8")
    out = _run(f"""
        import routeweave.policies as p
        p.__path__.append({str(tmp_path)!r})  # as if policies/length.py had been added
        from routeweave.policies import Candidate, Request, get_policy, load_policy
        cands = [Candidate(name="Cheap", cost_usd=0.001), Candidate(name="Pricey", cost_usd=0.01)]
        policy = get_policy("length", words=3)
        assert policy.decide(Request(query="Who?"), cands).experts == ["Cheap"]
        assert policy.decide(Request(query="Who wrote the novel Dracula, and when?"), cands).experts == ["Pricey"]
        policy.save({str(tmp_path / "saved")!r})
        assert load_policy({str(tmp_path / "saved")!r}).params == {{"words": 3}}
        """)
    assert out.returncode == 0, out.stderr
