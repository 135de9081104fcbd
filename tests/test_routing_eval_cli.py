"""End to end: `routeweave eval routing ... --json` in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from routeweave.evals.routing.loaders import default_data_dir

needs_data = pytest.mark.skipif(not (default_data_dir() / "routellm_evals").exists(), reason="../shared/data not present")


def cli(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("routeweave")
    cmd = [exe, "eval", "routing", *args] if exe else [sys.executable, "-m", "routeweave.evals.routing", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})


@needs_data
def test_eval_routing_gsm8k_json(tmp_path):
    out = cli("--data", "gsm8k", "--policies", "knn,mf", "--json", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["dataset"] == "gsm8k"
    assert doc["split"]["kind"] == "holdout" and doc["split"]["seed"] == 0
    policies = [r["policy"] for r in doc["results"]]
    assert policies == ["knn", "mf", "random", "best_single", "oracle"]
    for r in doc["results"]:
        assert {"policy", "auc", "apgr", "cpt50", "cpt80", "strong_share"} <= set(r)
        assert 0 <= r["auc"] <= 1 and 0 <= r["strong_share"] <= 1
    by = {r["policy"]: r for r in doc["results"]}
    assert by["oracle"]["auc"] > by["knn"]["auc"] > by["random"]["auc"] + 0.01  # the CLI runs real fits (regressions: test_policies_learned.py)
    assert by["best_single"]["apgr"] == pytest.approx(0.5)
    assert {p.name for p in tmp_path.iterdir()} >= {"gsm8k.json", "gsm8k.md", "gsm8k.png", "routing.sqlite"}
    again = cli("--data", "gsm8k", "--policies", "knn", "--opt", "knn.k=5", "--test-frac", "0.4", "--out", str(tmp_path))
    assert again.returncode == 0, again.stderr
    import sqlite_utils  # a second run appends to routing.sqlite: each run's record says what it was asked
    runs = list(sqlite_utils.Database(tmp_path / "routing.sqlite")["routing_runs"].rows_where(order_by="run_id"))
    assert [(json.loads(r["options"]), r["test_frac"]) for r in runs] == [({}, 0.3), ({"knn": {"k": 5}}, 0.4)]
    assert "options: `knn.k=5`" in (tmp_path / "gsm8k.md").read_text()


@needs_data
def test_the_default_policy_set_names_the_policies_it_leaves_out():
    out = cli("--data", "gsm8k", "--json")
    assert out.returncode == 0, out.stderr
    ran = [r["policy"] for r in json.loads(out.stdout)["results"]]
    assert "verifier" not in ran and "knn" in ran
    note = next(line for line in out.stderr.splitlines() if line.startswith("policies: "))
    assert "also: " in note and all(n in note.split("also: ")[1] for n in ("bert", "causal_llm", "stack", "verifier"))
    chosen = cli("--data", "gsm8k", "--policies", "knn", "--json")
    assert chosen.returncode == 0 and "also: " not in chosen.stderr


def test_eval_routing_malformed_file_reports_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("query_id,query,model,quality\nq1,hi,a,1\nq1,hi,b,oops\n", encoding="utf-8")
    out = cli("--data", str(bad), "--policies", "knn")
    assert out.returncode == 2
    assert f"{bad}:3" in out.stderr and "'quality' must be a number" in out.stderr


@pytest.mark.parametrize("value", ["three", "-1"])
def test_a_bad_router_llm_depth_is_refused_with_the_fix(tmp_path, monkeypatch, value):
    table = tmp_path / "t.csv"
    rows = "".join(f"q{i},question {i},{m},{(i + j) % 2}\n" for i in range(6) for j, m in enumerate("ab"))
    table.write_text("query_id,query,model,quality\n" + rows, encoding="utf-8")
    monkeypatch.setenv("ROUTEWEAVE_ROUTER_LLM_LAYERS", value)
    out = cli("--data", str(table), "--policies", "causal_llm")
    assert out.returncode == 2, out.stderr
    assert f"ROUTEWEAVE_ROUTER_LLM_LAYERS='{value}'" in out.stderr and "e.g. 3 (0: all of them)" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_table_too_small_to_split_is_refused_clearly(tmp_path):
    table = tmp_path / "one.csv"
    table.write_text("query_id,query,model,quality\nq1,hi,a,1\nq1,hi,b,0\n", encoding="utf-8")
    out = cli("--data", str(table), "--policies", "knn")
    assert out.returncode == 2 and f"error: {table}: the table has 1 query: a train/test split needs at least 2" in out.stderr
    assert "Traceback" not in out.stderr
    table.write_text("query_id,query,model,quality\n" + "".join(f"q{i},hi {i},a,1\nq{i},hi {i},b,0\n" for i in range(3)))
    out = cli("--data", str(table), "--policies", "knn", "--folds", "5")
    assert out.returncode == 2 and "--folds must be between 2 and the number of queries (3), got 5" in out.stderr


def test_a_generic_table_with_responses_feeds_the_verifier_and_one_without_is_refused(tmp_path):
    """The generic format's optional 'response' column carries each model's answer; the verifier reads
    it. Without it, the verifier is refused with what to add (exit 2, no traceback)."""
    good, bad = "12 / 3 = 4, so 4 left.\n#### 4", "Approximately 12 / 3 = 5, however unclear.\n#### 4.5"
    header, rows = "query_id,query,model,quality,cost_usd", []
    for i in range(40):
        right = i % 2 == 0
        rows.append((f'q{i},"Share {12 + i} pies among 3?",cheap,{int(right)},0.001', good if right else bad))
        rows.append((f'q{i},"Share {12 + i} pies among 3?",strong,1,0.01', "#### 4"))
    table, plain = tmp_path / "answers.csv", tmp_path / "plain.csv"
    table.write_text("\n".join([header + ",response", *(f'{r},"{a}"' for r, a in rows)]) + "\n", encoding="utf-8")
    plain.write_text("\n".join([header, *(r for r, _ in rows)]) + "\n", encoding="utf-8")
    out = cli("--data", str(table), "--policies", "verifier,cascade", "--json")
    assert out.returncode == 0, out.stderr
    by = {r["policy"]: r for r in json.loads(out.stdout)["results"]}
    # the answers say which cheap ones are wrong: the verifier escalates exactly those (oracle's quality)
    assert by["verifier"]["quality_at_strong_cost"] == pytest.approx(1.0)
    assert by["verifier"]["apgr"] > by["cascade"]["apgr"] + 0.05, (by["verifier"], by["cascade"])
    out = cli("--data", str(plain), "--policies", "verifier")
    assert out.returncode == 2 and "records none" in out.stderr and "'response' column" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(("opt", "says"), [
    ("knn.k=abc", "policy 'knn' option k='abc': expected int"),
    ("knn.kk=3", "policy 'knn' has no option 'kk'; it takes: embedder, k, knob, seed, shrink"),
    ("mf.rank=3", "--opt names mf, not among --policies (knn)"),
    *((bad, f"error: --opt expects POLICY.NAME=VALUE, e.g. knn.k=20, got {bad!r}") for bad in ("knn", "knn.k", "knn=3", ".k=3")),
])
def test_a_bad_policy_option_is_an_error_that_names_it_not_a_traceback(tmp_path, opt, says):
    table = tmp_path / "t.csv"
    rows = "".join(f"q{i},question {i},{m},{(i + j) % 2}\n" for i in range(6) for j, m in enumerate("ab"))
    table.write_text("query_id,query,model,quality\n" + rows, encoding="utf-8")
    out = cli("--data", str(table), "--policies", "knn", "--opt", opt)
    assert out.returncode == 2, out.stderr
    assert says in out.stderr and "Traceback" not in out.stderr


def test_a_good_policy_option_passes_the_check(tmp_path):
    table = tmp_path / "t.csv"
    rows = "".join(f"q{i},question {i},{m},{(i + j) % 2}\n" for i in range(6) for j, m in enumerate("ab"))
    table.write_text("query_id,query,model,quality\n" + rows, encoding="utf-8")
    good = cli("--data", str(table), "--policies", "knn", "--opt", "knn.k=2", "--opt", "random.seed=1", "--json")
    assert good.returncode == 0, good.stderr
    assert [r["policy"] for r in json.loads(good.stdout)["results"]][0] == "knn"


@needs_data
def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path, monkeypatch):
    """`routeweave … | head`: when the reader has gone, a write raises BrokenPipeError; the console script ends
    quietly with 1 (Python's recipe: stdout pointed at devnull), not a traceback. Fault injected: a stdout whose
    writes fail as a closed pipe's do."""
    import sys

    from routeweave.ui import cli

    class ClosedPipe:
        def __init__(self):
            self.f = open(tmp_path / "out", "w")

        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

        def fileno(self):
            return self.f.fileno()

    monkeypatch.setattr(sys, "argv", ["routeweave", "eval", "routing", "--data", "gsm8k", "--policies", "knn"])
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli.run() == 1


@needs_data
def test_eval_routing_names_a_missing_extra_in_one_line(monkeypatch, capsys):
    """Fault injected: bert's fit raises ExtraMissing, as it does without the extra (its features may be cached)."""
    from routeweave.policies import minilm
    from routeweave.policies.bert import BertPolicy
    from routeweave.ui.cli import main

    def missing(self, table):
        raise minilm.ExtraMissing(f"the 'bert' policy needs the 'bert' extra. Install it with: {minilm.INSTALL_HINT}")

    monkeypatch.setattr(BertPolicy, "fit", missing)
    assert main(["eval", "routing", "--data", "gsm8k", "--policies", "bert"]) == 2
    assert "error: the 'bert' policy needs the 'bert' extra" in capsys.readouterr().err


def test_the_plot_gives_each_of_many_policies_its_own_colour(tmp_path, monkeypatch):
    """With 14 curves the default 10-colour cycle drew knn and verifier alike."""
    import matplotlib.pyplot as plt

    from routeweave.evals.routing.report import to_png

    shown = []
    monkeypatch.setattr(plt, "close", lambda fig: shown.append(fig))
    result = {"dataset": "t", "split": {"kind": "holdout", "seed": 0, "folds": [{"q_weak": 0.1, "q_strong": 0.9}]},
              "results": [{"policy": f"p{i}", "points": [{"cost_norm": 0.0, "quality": 0.1 + i / 100},
                                                          {"cost_norm": 1.0, "quality": 0.5 + i / 100}]} for i in range(14)]}
    assert to_png(result, tmp_path / "p.png").stat().st_size > 1000
    colours = [tuple(line.get_color()) if not isinstance(line.get_color(), str) else line.get_color()
               for line in shown[0].axes[0].get_lines() if line.get_label().startswith("p")]
    assert len(colours) == 14 and len(set(colours)) == 14
