"""The serving layer's own rules: session caps validated once for every entry point, the model names a
service answers to (a learned policy only once fitted for the pool), and `routeweave fit` turning eval qa
runs of each expert into fitted policies that the service then serves."""

from __future__ import annotations

import json

import pytest

from routeweave.evals.qa.store import ResultStore
from routeweave.serving import ConfigError, Service, SessionCaps, fitted_dir, load_pool, model_specs
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


def test_graph_models_always_learned_policies_only_when_fitted(tmp_path, monkeypatch):
    monkeypatch.setenv("ROUTEWEAVE_DB", str(tmp_path / "data" / "routeweave.db"))
    pool = load_pool(write_mock_pool(tmp_path))
    specs = model_specs(pool)
    assert specs["routeweave-r1"].graph == "router-r1" and specs["routeweave-cascade"].graph == "cascade"
    assert "routeweave-cheapest" in specs and "routeweave-knn" not in specs
    assert fitted_dir(pool).parent == tmp_path / "data" / "policies"  # beside the trace database


def write_run(store: ResultStore, run: str, expert: str, quality: list[float], *, graph: str = "single-shot"):
    store.open_run(run, {"graph": graph, "experts": [expert]}, total=len(quality))
    for i, q in enumerate(quality):
        store.write({"run": run, "dataset": "hotpotqa", "example_id": str(i), "question": f"question number {i}?",
                     "answers": ["a"], "prediction": "a", "em": q, "f1": q, "cost_usd": 1e-5 if expert == "Mock" else 1e-3,
                     "error": None, "finished": 1.0})


def test_fit_turns_runs_of_each_expert_into_served_policies(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ROUTEWEAVE_DB", str(tmp_path / "data" / "routeweave.db"))
    pool_file = write_mock_pool(tmp_path)
    db = tmp_path / "evals.db"
    with ResultStore(db) as store:
        write_run(store, "mock", "Mock", [0.0, 1.0] * 10)
        write_run(store, "pricey", "Pricey", [1.0] * 20)
        write_run(store, "loop", "Mock", [1.0] * 20, graph="router-r1")
    assert main(["fit", "--pool", str(pool_file), "--runs", "mock", "pricey", "--db", str(db), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["questions"] == 20 and "knn" in summary["policies"] and "oracle" not in summary["policies"]
    assert summary["mean_quality"] == {"Mock": 0.5, "Pricey": 1.0}
    specs = Service(pool_file, db_path=tmp_path / "rw.db").models  # not started: names only
    assert specs["routeweave-knn"].policy == "knn" and "routeweave-mf" in specs
    # runs that do not fit the pool are refused with what to do
    for runs, needle in [(["mock"], "missing: Pricey"), (["mock", "loop"], "ran graph router-r1"),
                         (["mock", "nope"], "no run named 'nope'")]:
        assert main(["fit", "--pool", str(pool_file), "--runs", *runs, "--db", str(db)]) == 2
        assert needle in capsys.readouterr().err


def test_unknown_pool_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match=r"no shipped pool named 'nope' \(shipped: embedded, embedded-prompted, remote, vllm\)"):
        load_pool("nope")
