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
    # sample, done/planned, errors, malformed rows skipped (– : not recorded by this run)
    assert "| r1-high | router-r1 budget=$0.005 | NQ, HotpotQA | 2, seed 0 | ? | 3/4 | 1 | – |" in md
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


def test_each_runs_sample_is_shown_and_runs_on_different_questions_are_flagged(tmp_path):
    """hotpotqa --limit 8 seed 0 vs seed 1: two question sets in one column used to pass without a word."""
    with ResultStore(tmp_path / "e.db") as s:
        base = {"datasets": ["hotpotqa"], "graph": "direct", "limit": 8, "dataset_sha256": {"hotpotqa": "aa"}}
        add_run(s, "s0", {**base, "seed": 0}, [("hotpotqa", "1", 1.0, 1e-5)])
        add_run(s, "s0-again", {**base, "seed": 0, "graph": "router-r1"}, [("hotpotqa", "1", 0.0, 1e-5)])
        add_run(s, "s1", {**base, "seed": 1}, [("hotpotqa", "2", 0.0, 1e-5)])
        add_run(s, "first", {**base, "seed": None, "datasets": ["hotpotqa", "nq"]}, [("nq", "1", 1.0, 1e-5)])
        add_run(s, "all", {**base, "limit": None, "seed": 0, "datasets": ["nq"], "dataset_sha256": {"nq": "bb"}},
                [("nq", "1", 1.0, 1e-5)])
        add_run(s, "other-file", {**base, "limit": None, "seed": 0, "datasets": ["nq"], "dataset_sha256": {"nq": "cc"}},
                [("nq", "1", 1.0, 1e-5)])
        same = build(s, ["s0", "s0-again"])
        assert same["warnings"] == [] and "**Note:**" not in to_markdown(same)
        report = build(s, ["s0", "s1", "first"])
        files = build(s, ["all", "other-file"])
    md = to_markdown(report)
    assert "| s0 | direct | HotpotQA | 8, seed 0 |" in md and "| s1 | direct | HotpotQA | 8, seed 1 |" in md
    assert "| first | direct | HotpotQA, NQ | first 8 |" in md
    assert report["warnings"] == ["HotpotQA: the runs were on different questions (s0: 8, seed 0; s1: 8, seed 1; "
                                  "first: first 8), so their scores are not directly comparable"]
    assert f"**Note:** {report['warnings'][0]}." in md.split("## Exact Match")[0]  # right under the Runs table
    assert "| all | direct | NQ | all |" in to_markdown(files)
    assert files["warnings"] == ["NQ: the runs were on different questions (all: all; other-file: all; 2 different files), "
                                 "so their scores are not directly comparable"]
    doc = to_json(report)
    assert doc["warnings"] == report["warnings"] and [r["sample"] for r in doc["runs"]] == ["8, seed 0", "8, seed 1", "first 8"]


def test_the_papers_figures_stand_only_beside_the_catalogs_datasets(tmp_path):
    """A user's file named nq.jsonl is labelled 'nq.jsonl' and gets no paper rows; a stored catalog run keeps them."""
    with ResultStore(tmp_path / "e.db") as s:
        add_run(s, "mine", {"datasets": ["nq.jsonl"], "graph": "direct", "skipped_rows": {"nq.jsonl": 2}},
                [("nq.jsonl", "1", 1.0, 1e-5)])
        add_run(s, "bench", {"datasets": ["nq"], "graph": "direct"}, [("nq", "1", 1.0, 1e-5)])  # stored before skipped_rows
        # a label in the paper's table but not a catalog dataset: only a file of someone's could have it
        add_run(s, "own-bamboogle", {"datasets": ["bamboogle"], "graph": "direct"}, [("bamboogle", "1", 1.0, 1e-5)])
        mine, bench, bamboogle = build(s, ["mine"]), build(s, ["bench"]), build(s, ["own-bamboogle"])
    assert "paper" not in to_markdown(bamboogle).replace("No paper rows", "") and "## bamboogle" in to_markdown(bamboogle)
    md = to_markdown(mine)
    assert "paper:" not in md and "paper Table" not in md and "No paper rows" in md
    assert "| system | nq.jsonl | Avg of these |" in md and "## nq.jsonl" in md
    assert "| mine | direct | nq.jsonl | all | ? | 1/2 | 0 | 2 |" in md  # 2 malformed rows skipped
    assert to_json(mine)["runs"][0]["skipped_rows"] == 2 and to_json(bench)["runs"][0]["skipped_rows"] is None
    bench_md = to_markdown(bench)
    assert "| system | NQ | Avg of these |" in bench_md and "| paper: Router-R1-Qwen (Qwen2.5-3B) | 0.388 |" in bench_md
    assert "paper Table 4: Router-R1-Qwen alpha=0.0 | 500 | 0.388" in bench_md
    assert "| bench | direct | NQ | all | ? | 1/2 | 0 | – |" in bench_md
