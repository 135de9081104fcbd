"""`routeweave eval report`: tables per dataset beside Router-R1's Table 1, JSON, and the EM-vs-cost plot
(budget sweeps joined into a curve), from rows written straight into a results store."""

from __future__ import annotations

import json

import pytest

from routeweave.evals.qa.report import PAPER_TABLE1, _sweep_key, build, system_of, to_json, to_markdown, to_png
from routeweave.evals.qa.store import ResultStore


def add_run(store: ResultStore, run: str, config: dict, rows: list[tuple[str, str, float, float]]) -> None:
    store.open_run(run, config, total=len(rows) + 1)  # one question still to do
    for ds, ex_id, em, cost in rows:
        store.write({"run": run, "dataset": ds, "example_id": ex_id, "question": "q", "answers": ["a"],
                     "prediction": "a" if em else "b", "em": em, "f1": em, "cost_usd": cost, "cost_units": cost * 1e6,
                     "rounds": 1, "expert_calls": 2, "latency_s": 1.5, "error": None if em or cost else "timeout"})


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "e.db") as s:
        base = {"datasets": ["nq", "hotpotqa"], "graph": "router-r1", "policy": None, "seed": 0, "limit": 2}
        add_run(s, "r1-low", {**base, "budget_usd": 0.0005}, [("nq", "1", 0.0, 1e-5), ("hotpotqa", "1", 1.0, 2e-5)])
        add_run(s, "r1-high", {**base, "budget_usd": 0.005}, [("nq", "1", 1.0, 1e-4), ("hotpotqa", "1", 1.0, 3e-4),
                                                              ("hotpotqa", "2", 0.0, 0.0)])
        add_run(s, "direct", {**base, "graph": "direct", "budget_usd": None}, [("nq", "1", 0.0, 1e-6)])
        yield s


def test_markdown_has_our_runs_beside_router_r1_table_1(store):
    report = build(store, ["r1-low", "r1-high", "direct"])
    assert report["datasets"] == ["nq", "hotpotqa"]  # the paper's order
    md = to_markdown(report)
    assert "| system | NQ | HotpotQA | Avg of these |" in md
    assert "| **r1-high** | 1.000 (n=1) | 0.500 (n=2) | 0.750 |" in md
    assert "| **direct** | 0.000 (n=1) | – | 0.000 |" in md
    qwen = PAPER_TABLE1["Router-R1-Qwen (Qwen2.5-3B)"]
    assert f"| paper: Router-R1-Qwen (Qwen2.5-3B) | {qwen['nq']:.3f} | {qwen['hotpotqa']:.3f} |" in md
    assert "## HotpotQA" in md and "paper Table 4: Router-R1-Qwen alpha=0.0 | 500 | 0.352" in md
    assert "| r1-high | 3 | 0.667 |" in md  # overall
    assert "| r1-high | router-r1 budget=$0.005 | NQ, HotpotQA | ? | 3/4 | 1 |" in md  # done/planned, errors
    tables = [block.splitlines() for block in md.split("\n\n") if block.startswith("|")]
    for rows in tables:  # every row of a table as wide as its header, the paper's rows included
        assert {row.count("|") for row in rows} == {rows[0].count("|")}, rows


def test_json_round_trips_the_summaries(store):
    doc = json.loads(json.dumps(to_json(build(store, ["r1-high"]))))
    run = doc["runs"][0]
    assert run["run"] == "r1-high" and run["total"] == 4
    assert run["summary"]["datasets"]["hotpotqa"]["count"] == 2 and run["summary"]["overall"]["errors"] == 1
    assert doc["paper_table1"]["Direct (Qwen base)"]["nq"] == 0.092


def test_unknown_run_names_the_known_ones(store):
    with pytest.raises(KeyError, match="no run named 'nope'.*r1-low"):
        build(store, ["nope"])


def test_budget_sweep_is_one_curve_and_png_is_written(store, tmp_path):
    report = build(store, ["r1-low", "r1-high", "direct"])
    keys = {_sweep_key(r["config"]) for r in report["runs"]}
    assert len(keys) == 2  # the two router-r1 budgets share a key; direct is alone
    png = to_png(report, tmp_path / "plot.png")
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000


def test_system_description():
    assert system_of({"graph": "single-shot", "policy": "knn", "experts_arg": ["largest"], "budget_usd": 0.001,
                      "max_rounds": 2}) == "single-shot policy=knn experts=largest budget=$0.001 rounds<=2"
