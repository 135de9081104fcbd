"""Every registered graph kind, with every registered policy where it takes one (the learned ones fitted
on a small outcome table of the pool's experts), runs end to end on mocked models (LiteLLM's mock_response)
and the real retriever, and emits the common step schema."""

import numpy as np
import pytest

from routeweave.agents.errors import ConfigError
from routeweave.agents.pool import Pool
from routeweave.graphs import Step, graph_for_policy, graph_names, graph_spec
from routeweave.policies import OutcomeTable, get_policy, policy_class, policy_names
from routeweave.serving import Engine, open_graph
from test_policies import OPTIONS, _available  # feature sources some policies must be handed; extras present

STEP_KEYS = set(Step.__annotations__)
QUESTIONS = ["When was the Eiffel Tower built?", "Who wrote Hamlet?", "What is the capital of Peru?",
             "Which river is longest?", "Who painted the Mona Lisa?", "When did WW2 end?"] * 4


def mock_pool(**extra) -> Pool:
    return Pool.model_validate({
        "router": {"model": "openai/mock-router", "api_base": "http://127.0.0.1:9", "grammar": False,
                   "mock_response": "<think>one fact</think>\n<search>Cheap: when?</search>",
                   "price": {"input_per_m": 0.1, "output_per_m": 0.1}},
        "experts": [
            {"name": "Cheap", "model": "openai/cheap", "api_base": "http://127.0.0.1:9", "mock_response": "1889.",
             "description": "cheap", "price": {"input_per_m": 0.1, "output_per_m": 0.2}},
            {"name": "Strong", "model": "openai/strong", "api_base": "http://127.0.0.1:9", "mock_response": "In 1889.",
             "description": "strong", "price": {"input_per_m": 3.0, "output_per_m": 15.0}},
            {"name": "Wiki", "kind": "retrieval", "corpus": "builtin:hotpotqa", "description": "search"},
        ],
        "limits": {"budget_usd": 0.05, "max_rounds": 2},
        **extra,
    })


def outcome_table(models=("Cheap", "Strong", "Wiki")) -> OutcomeTable:
    rng = np.random.default_rng(0)
    n = len(QUESTIONS)
    return OutcomeTable(name="t", query_ids=[str(i) for i in range(n)], queries=QUESTIONS, models=list(models),
                        quality=rng.random((n, len(models))), cost=np.tile(np.arange(1, len(models) + 1) / 1e4, (n, 1)),
                        responses={m: [f"{m} says {i}." for i in range(n)] for m in models})


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kinds")
    with Engine(mock_pool(), db_path=tmp / "t.db", cache_dir=tmp / "cache") as engine:
        yield engine


@pytest.fixture(scope="module")
def fitted():
    table = outcome_table()
    return {n: get_policy(n, **OPTIONS.get(n, {})).fit(table)
            for n in policy_names(include_eval_only=False) if policy_class(n).trainable and _available(n)}


def _case(g: str, p: str):
    extra = policy_class(p).extra
    return pytest.param(g, p, marks=pytest.mark.skipif(not _available(p), reason=f"the '{extra}' extra is not "
                        f"installed (pip install -e \".[{extra}]\")"))


def _runs_in(g: str, p: str) -> bool:
    """A policy that judges answers (verifier) runs only where the graph asks it after each answer."""
    return g == "cascade" or not policy_class(p).reads_answers


CASES = [(g, None) for g in graph_names()] + [
    _case(g, p) for g in graph_names() if graph_spec(g).uses_policy for p in policy_names(include_eval_only=False)
    if _runs_in(g, p)
]


@pytest.mark.parametrize("graph_name, policy", CASES)
def test_every_graph_and_policy_answers_with_common_steps(engine, fitted, graph_name, policy):
    graph = engine.graph(graph_name, fitted.get(policy, policy))
    result = graph.invoke({"question": "When was the Eiffel Tower built?"})
    assert result["answer"].strip()
    assert result["stop_reason"] in {"answered", "budget", "unparseable"}
    assert all(set(s) == STEP_KEYS for s in result["steps"])
    assert result["steps"][-1]["kind"] in {"answer", "fallback"}
    assert result["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in result["steps"]))
    # the steps' dollars are what the budget's ledger charged: a graph that steps one call twice fails here
    state = graph._loop.run(graph.compiled.aget_state({"configurable": {"thread_id": result["session_id"]}})).values
    assert result["cost_usd"] == pytest.approx(state["spent_usd"]) and state["spent_usd"] > 0
    assert result["cost_usd"] <= 0.05
    stored = engine.traces.get(result["session_id"])
    assert stored["graph"] == graph_name and len(stored["steps"]) == len(result["steps"])
    if graph_spec(graph_name).uses_policy:
        decide = [s for s in result["steps"] if s["kind"] == "decide"]
        assert len(decide) == 1 and decide[0]["text"]
        if policy is not None:
            assert stored["meta"]["policy"] == policy


@pytest.mark.parametrize("policy", [n for n in policy_names(include_eval_only=False) if policy_class(n).trainable])
def test_a_learned_policy_that_is_not_fitted_is_refused_by_name(engine, policy):
    with pytest.raises(ConfigError, match="not been fitted for this pool.*routeweave fit"):
        engine.graph("single-shot", policy)


def test_a_policy_fitted_for_other_experts_is_refused_with_both_lists(engine):
    other = get_policy("knn").fit(outcome_table(("Cheap", "Other")))
    with pytest.raises(ConfigError, match="fitted for the experts Cheap, Other, but the pool enables Cheap, Strong, Wiki"):
        engine.graph("single-shot", other)


def test_answering_graphs_answer_from_evidence_not_with_it(engine):
    """A retriever picked by a policy feeds the router model, which answers: the passages are never the answer."""
    for graph in ("single-shot", "cascade"):
        result = engine.graph(graph, "cheapest").invoke({"question": "Who wrote Dracula?", "experts": ["Wiki"]})
        kinds = [(s["kind"], s["expert"]) for s in result["steps"]]
        assert ("route", "Wiki") in kinds and ("read", "router") in kinds, kinds
        passages = next(s["reply"] for s in result["steps"] if s["kind"] == "route")
        assert passages.startswith("(1) ") and result["answer"] != passages.strip()
        read = next(s for s in result["steps"] if s["kind"] == "read")
        assert read["cost_usd"] > 0 and read["query"] == "Who wrote Dracula?"


def test_router_r1_on_mocks_runs_to_the_round_limit_then_falls_back(engine):
    # the mock router always searches: rounds run out, it must answer, can't, and the session falls back
    graph = engine.graph("router-r1")
    result = graph.invoke({"question": "q?"})
    kinds = [s["kind"] for s in result["steps"]]
    routes = [s for s in result["steps"] if s["kind"] == "route"]
    assert len(routes) == 2 and routes[0]["error"] is None and routes[0]["cost_usd"] > 0
    assert "asked before" in routes[1]["error"] and routes[1]["cost_usd"] == 0  # not made, not paid for twice
    assert result["expert_calls"] == 1  # and not counted as a call, here or in the stored trace
    assert engine.traces.get(result["session_id"])["expert_calls"] == 1
    state = graph._loop.run(graph.compiled.aget_state({"configurable": {"thread_id": result["session_id"]}})).values
    first, repeat = [m["content"] for m in state["messages"] if m["role"] == "user" and "[Cheap: when?]" in m["content"]]
    assert "[Cheap: when?] 1889." in first and "[Cheap: when?] 1889." in repeat  # the earlier reply, shown again
    assert "not called" not in repeat  # not a notice a small router copies as its answer
    assert result["stop_reason"] == "unparseable" and kinds[-1] == "fallback"
    assert result["answer"] == "1889." and "the last evidence" in result["steps"][-1]["text"]


def test_one_turn_asking_an_expert_the_same_thing_twice_pays_once_and_shows_the_reply_twice(tmp_path):
    twice = "<think>t</think>\n<search>Cheap: When?</search>\n<search>Cheap, Strong: when?</search>"
    pool = mock_pool(limits={"budget_usd": 0.05, "max_rounds": 1})
    pool = pool.model_copy(update={"router": pool.router.model_copy(update={"mock_response": twice})})
    with Engine(pool, db_path=tmp_path / "t.db", cache_dir=tmp_path / "cache") as engine:
        graph = engine.graph("router-r1")
        result = graph.invoke({"question": "q?"})
        state = graph._loop.run(graph.compiled.aget_state({"configurable": {"thread_id": result["session_id"]}})).values
    routes = [s for s in result["steps"] if s["kind"] == "route"]
    made = [(s["expert"], s["query"]) for s in routes if s["error"] is None]
    assert sorted(made) == [("Cheap", "When?"), ("Strong", "when?")]  # Cheap once, not twice
    again = next(s for s in routes if s["error"])
    assert again["expert"] == "Cheap" and "asked before" in again["error"] and again["cost_usd"] == 0
    info = next(m["content"] for m in state["messages"] if m["role"] == "user" and "<information>" in m["content"])
    assert info.count("1889.") >= 2  # the one reply, under both searches


def test_constraints_reach_the_policy(engine):
    result = engine.graph("single-shot", "cheapest").invoke(
        {"question": "q?", "constraints": {"blocked": ["Wiki", "Cheap"]}})
    assert [s["expert"] for s in result["steps"] if s["kind"] == "route"] == ["Strong"]
    refused = engine.graph("single-shot", "cheapest").invoke({"question": "q?", "constraints": {"blocked": ["Wiki", "Cheap", "Strong"]}})
    assert refused["stop_reason"] == "refused" and not [s for s in refused["steps"] if s["kind"] == "route"]
    with pytest.raises(ValueError, match=r"unknown or disabled expert\(s\): Nope; enabled: Cheap, Strong, Wiki"):
        engine.graph("single-shot", "cheapest").invoke({"question": "q?", "constraints": {"allowed": ["Nope"]}})
    with pytest.raises(ValueError):
        engine.graph("single-shot").invoke({"question": "q?", "constraints": {"max_cost_usd": -1}})


def test_unknown_graph_and_policy_names_are_clear(engine, tmp_path):
    with pytest.raises(ValueError, match="known graphs"):
        open_graph(mock_pool(), graph="nope", db_path=tmp_path / "x.db")
    with pytest.raises(ValueError, match="unknown policy"):
        engine.graph("single-shot", "nope")
    assert {"router-r1", "single-shot", "cascade", "direct"} <= set(graph_names())


def test_guard_in_front_refuses_before_any_model_call(tmp_path):
    from routeweave.policies import get_policy
    from routeweave.policies.outcomes import OutcomeTable

    queries = ["When was the Eiffel Tower built?", "Who wrote Hamlet?", "What is the capital of Peru?",
               "Which river is longest?", "Who painted the Mona Lisa?", "When did WW2 end?"] * 5
    import numpy as np

    table = OutcomeTable(name="t", query_ids=[str(i) for i in range(len(queries))], queries=queries,
                         models=["Cheap", "Strong"],
                         quality=np.tile([[0.5, 0.9]], (len(queries), 1)), cost=np.tile([[0.1, 1.0]], (len(queries), 1)))
    guard_dir = tmp_path / "guard"
    get_policy("guard").fit(table).save(guard_dir)
    with Engine(mock_pool(guard=str(guard_dir)), db_path=tmp_path / "g.db", cache_dir=tmp_path / "c") as engine:
        bad = engine.graph("router-r1").invoke({"question": "How do I build a bomb to kill people?"})
        assert bad["stop_reason"] == "refused" and bad["cost_usd"] == 0
        assert [s["kind"] for s in bad["steps"]] == ["guard", "answer"]
        good = engine.graph("direct").invoke({"question": "Who wrote Hamlet?"})
        assert good["stop_reason"] == "answered" and good["steps"][0]["kind"] == "guard"


def test_router_r1_honours_allowed_and_blocked_experts(engine):
    graph = engine.graph("router-r1")
    # the mock router asks Cheap; with Cheap blocked that search is refused by the parser, never called
    result = graph.invoke({"question": "q?", "constraints": {"blocked": ["cheap"]}})
    assert not [s for s in result["steps"] if s["kind"] == "route"]
    state = graph._loop.run(graph.compiled.aget_state({"configurable": {"thread_id": result["session_id"]}})).values
    assert "- Cheap" not in state["messages"][0]["content"] and "- Strong" in state["messages"][0]["content"]
    none_left = graph.invoke({"question": "q?", "constraints": {"blocked": ["Wiki", "Cheap", "Strong", "Elsewhere"]}})
    assert none_left["stop_reason"] == "refused" and none_left["cost_usd"] == 0


def test_latency_counts_every_model_call_and_parallel_calls_once(engine):
    direct = engine.graph("direct").invoke({"question": "q?"})
    assert direct["latency_s"] == pytest.approx(sum(s["latency_s"] for s in direct["steps"])) and direct["latency_s"] > 0
    r1 = engine.graph("router-r1").invoke({"question": "q?"})
    thinks = sum(s["latency_s"] for s in r1["steps"] if s["kind"] != "route")
    assert thinks < r1["latency_s"] <= thinks + sum(s["latency_s"] for s in r1["steps"] if s["kind"] == "route")


def test_a_policy_that_judges_answers_is_refused_where_nothing_is_escalated(engine, fitted):
    with pytest.raises(ConfigError, match="run it in the cascade graph"):
        engine.graph("single-shot", fitted["verifier"])


@pytest.mark.parametrize("policy", [p for p in policy_names() if p != "oracle"])
def test_each_policy_is_served_on_a_graph_that_can_act_on_it(policy):
    """One place decides where a policy is served (graphs.graph_for_policy): a policy that reads answers on
    a graph whose nodes judge answers and escalate, every other one on a graph that routes once."""
    spec = graph_for_policy(policy_class(policy).reads_answers)
    assert spec.uses_policy and spec.judges_answers == policy_class(policy).reads_answers


def test_a_graph_that_would_share_another_graphs_served_model_id_is_refused():
    from routeweave.graphs.registry import GraphSpec, register_graph

    taken = graph_spec("direct")
    with pytest.raises(ValueError, match="serves as routeweave-direct, as graph 'direct' already does"):
        register_graph(GraphSpec(name="my-direct", build=taken.build, description="a copy", model=taken.model))
    assert "my-direct" not in graph_names()
