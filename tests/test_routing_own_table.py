"""`routeweave eval routing --data YOUR_TABLE`, as a user with their own outcome table meets it: text encodings,
dropped queries, degenerate tables, k-fold reports, --pool. Real files through the real CLI (a subprocess)."""

from __future__ import annotations

import gzip
import json
import math
import re

import pytest
from test_routing_eval_cli import cli

from routeweave.evals.routing.split import train_test_split

HEADER = "query_id,query,model,quality,cost_usd"
MODELS = {"small": 0.001, "medium": 0.004, "large": 0.02}


def rows(n: int = 60, models: dict[str, float] = MODELS, lacking: int = 0, cost: bool = True) -> list[str]:
    """n queries x the models; the last `lacking` queries have no row of the dearest model."""
    out = [HEADER if cost else HEADER.removesuffix(",cost_usd")]
    for i in range(n):
        for j, (m, c) in enumerate(models.items()):
            if i >= n - lacking and j == len(models) - 1:
                continue
            q = 1 if (i + 1) % (3 - min(j, 2)) == 0 or j == 2 else 0  # small: every 3rd, medium: every 2nd, large: all
            out.append(f"q{i},question number {i} about topic {i % 7},{m},{q}" + (f",{c}" if cost else ""))
    return out


def write(path, lines: list[str]):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["latin.csv", "latin.csv.gz", "latin.jsonl"])
def test_a_table_that_is_not_utf8_is_an_error_naming_file_and_line(tmp_path, name):
    """A cp1252 file (what Excel's plain "CSV" writes) crashed with a UnicodeDecodeError traceback, exit 1."""
    if name.endswith("jsonl"):
        lines = [json.dumps({"query_id": f"q{i}", "query": f"question {i}", "model": m, "quality": 1})
                 for i in range(3) for m in ("a", "b")]
    else:
        lines = rows(3, {"a": 0.1, "b": 0.2})
    data = ("\n".join(lines[:3] + [lines[3].replace("question", "caf\u00e9")] + lines[4:]) + "\n").encode("cp1252")
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    out = cli("--data", str(path), "--policies", "knn")
    assert out.returncode == 2, out.stderr
    assert f"error: {path}:4: not UTF-8 text (byte 0xe9); save it as UTF-8" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_csv_with_a_byte_order_mark_loads_like_one_without(tmp_path):
    """Excel's "CSV UTF-8" starts with a BOM, which made the first column '\\ufeffquery_id': "missing column(s)"."""
    plain = write(tmp_path / "plain.csv", rows())
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    results = []
    for path in (plain, bom):
        out = cli("--data", str(path), "--policies", "knn", "--json")
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["n_queries"] == 60 and doc["models"] == list(MODELS)
        results.append(doc["results"])
    assert [(r["policy"], r["auc"], r["apgr"]) for r in results[0]] == [(r["policy"], r["auc"], r["apgr"]) for r in results[1]]


def test_queries_lacking_a_model_are_reported_in_the_markdown_on_stderr_and_in_json(tmp_path):
    """60 queries, 3 without a `large` row: "40 train / 17 test" and nothing said why."""
    path = write(tmp_path / "out_cost.csv", rows(lacking=3))
    says = "3 of 60 queries dropped: they lack an outcome for some model (large missing in 3; e.g. q57, q58, q59)"
    out = cli("--data", str(path), "--policies", "knn", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["n_queries"] == 57
    assert doc["dropped"] == {"queries": 3, "of": 60, "reason": "no outcome for some model", "missing": {"large": 3},
                              "ids": ["q57", "q58", "q59"]}
    assert any(w.startswith(says) for w in doc["warnings"])
    assert f"warning: {says}" in out.stderr
    md = cli("--data", str(path), "--policies", "knn", "--out", str(tmp_path / "out"))
    assert md.returncode == 0, md.stderr
    assert f"**Warning:** {says}" in md.stdout and f"**Warning:** {says}" in (tmp_path / "out" / "out_cost.md").read_text()
    complete = cli("--data", str(write(tmp_path / "complete.csv", rows())), "--policies", "knn", "--json")
    assert complete.returncode == 0 and "warning:" not in complete.stderr
    assert json.loads(complete.stdout)["dropped"] is None and json.loads(complete.stdout)["warnings"] == []


def test_a_table_of_one_model_is_refused_naming_the_file(tmp_path):
    path = write(tmp_path / "single.csv", rows(60, {"small": 0.001}))
    out = cli("--data", str(path), "--policies", "knn")
    assert out.returncode == 2, out.stderr
    assert f"error: {path}: has outcomes for 1 model ('small'); routing chooses between models" in out.stderr
    assert "|" not in out.stdout  # no table


def test_a_test_split_of_few_queries_is_warned_of(tmp_path):
    path = write(tmp_path / "three.csv", rows(3))
    out = cli("--data", str(path), "--policies", "knn")
    assert out.returncode == 0, out.stderr
    says = "only 1 test query: APGR, AUC and CPT over fewer than 10 are not meaningful"
    assert f"warning: {says}" in out.stderr and f"**Warning:** {says}" in out.stdout
    folds = cli("--data", str(write(tmp_path / "t.csv", rows(30))), "--policies", "knn", "--folds", "5", "--json")
    assert folds.returncode == 0, folds.stderr
    assert "warning: only 6 test queries in folds 0, 1, 2, 3, 4 of 5" in folds.stderr


def test_a_strong_anchor_not_above_the_weak_one_is_warned_of(tmp_path):
    """The best single model on the training split is worse than the cheapest one on the test split."""
    n = 40
    _, test = train_test_split(n, 0.3, 0)
    lines = [HEADER]
    for i in range(n):
        held_out = i in set(test.tolist())
        lines += [f"q{i},question {i},cheap,{int(held_out)},0.001", f"q{i},question {i},dear,{int(not held_out)},0.01"]
    path = write(tmp_path / "flip.csv", lines)
    out = cli("--data", str(path), "--policies", "knn", "--json")
    assert out.returncode == 0, out.stderr
    says = ("the strong anchor `dear` (best single on the training split) scores q=0.000 on the test split, not above "
            "the weak `cheap` (q=1.000): APGR = (AUC - q_weak) / (q_strong - q_weak) is not meaningful there")
    assert f"warning: {says}" in out.stderr
    assert [w for w in json.loads(out.stdout)["warnings"] if w.startswith(says)]


def test_a_table_of_one_query_is_refused_naming_the_file(tmp_path):
    path = write(tmp_path / "one.csv", rows(1, lacking=0) + ["q1,another,small,1,0.001"])
    out = cli("--data", str(path), "--policies", "knn")
    assert out.returncode == 2, out.stderr
    assert f"error: {path}: the table has 1 query (1 more lacks some model): a train/test split needs at least 2" in out.stderr


def test_kfold_reports_say_the_metrics_are_means_and_the_curves_fold_0s(tmp_path, monkeypatch):
    """The header showed fold 0's split and anchors, and the plot fold 0's curves, under a table of fold means."""
    import matplotlib.pyplot as plt
    import sqlite_utils

    from routeweave.evals.routing.report import to_png

    path = write(tmp_path / "out_cost.csv", rows())
    out = cli("--data", str(path), "--policies", "knn", "--folds", "5", "--out", str(tmp_path / "o"))
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "o" / "out_cost.md").read_text()
    assert "5-fold split, seed 0, 48 train / 12 test queries per fold" in md
    assert ("weak = `small` (q=0.333, mean over the 5 folds; 0.167–0.500), strong = best single = `large` "
            "(q=1.000 in each of the 5 folds)") in md
    assert "Every metric is the mean over the 5 folds; the curves (the PNG, `points` in the JSON, `routing_points` " \
           "in SQLite) are fold 0's." in md
    doc = json.loads((tmp_path / "o" / "out_cost.json").read_text())
    assert {r["points_fold"] for r in doc["results"]} == {0}
    db = sqlite_utils.Database(tmp_path / "o" / "routing.sqlite")
    assert {r["fold"] for r in db["routing_points"].rows} == {0}
    shown = []
    monkeypatch.setattr(plt, "close", lambda fig: shown.append(fig))
    to_png(doc, tmp_path / "again.png")
    ax = shown[0].axes[0]
    assert "curves of fold 0 of 5; the table's metrics are the mean over the folds" in ax.get_title()
    assert {"weak small (fold 0)", "strong large (fold 0)"} <= {t.get_text() for t in ax.get_legend().get_texts()}
    holdout = cli("--data", str(path), "--policies", "knn", "--out", str(tmp_path / "h"))
    assert holdout.returncode == 0 and "per fold" not in holdout.stdout and "fold 0" not in holdout.stdout
    assert "points_fold" not in json.loads((tmp_path / "h" / "out_cost.json").read_text())["results"][0]


POOL = """[router]
model = "openai/mock-router"
api_base = "http://127.0.0.1:9"
price = {{ input_per_m = 0.1, output_per_m = 0.1 }}
{experts}"""
EXPERT = """
[[experts]]
name = "{name}"
model = "openai/{name}"
api_base = "http://127.0.0.1:9"
description = "{name}"
price = {{ input_per_m = {p}, output_per_m = {out} }}
max_tokens = {max_tokens}
"""


def test_pool_is_refused_with_a_table_that_has_costs_and_prices_one_without(tmp_path):
    """--pool was ignored without a word when the table had cost_usd (even --pool /nonexistent.toml)."""
    with_costs = write(tmp_path / "out_cost.csv", rows())
    out = cli("--data", str(with_costs), "--policies", "knn", "--pool", str(tmp_path / "nonexistent.toml"))
    assert out.returncode == 2, out.stderr
    assert f"error: {with_costs}: has cost_usd on every row, and those costs are used" in out.stderr and "drop --pool" in out.stderr
    named = cli("--data", "gsm8k", "--policies", "knn", "--pool", str(tmp_path / "nonexistent.toml"))
    assert named.returncode == 2 and "the named dataset gsm8k carries its own prices" in named.stderr
    no_costs = write(tmp_path / "plain.csv", rows(cost=False))
    missing = cli("--data", str(no_costs), "--policies", "knn", "--pool", str(tmp_path / "nonexistent.toml"))
    assert missing.returncode == 2 and "error: pool file" in missing.stderr and "Traceback" not in missing.stderr
    experts = "".join(EXPERT.format(name=m, p=10 * c, out=100 * c, max_tokens=100 + i) for i, (m, c) in enumerate(MODELS.items()))
    pool = tmp_path / "pool.toml"
    pool.write_text(POOL.format(experts=experts), encoding="utf-8")
    priced = cli("--data", str(no_costs), "--policies", "knn", "--pool", str(pool), "--out", str(tmp_path / "o"))
    assert priced.returncode == 0, priced.stderr
    doc = json.loads((tmp_path / "o" / "plain.json").read_text())
    assert doc["cost_note"] == "priced from pool pool.toml (len/4 prompt tokens + max_tokens)"
    # what docs/routing-results.md says: price x (ceil(len(query) / 4) prompt tokens, the expert's max_tokens out)
    q0 = "question number 0 about topic 0"
    want = {m: (math.ceil(len(q0) / 4) * 10 * c + (100 + i) * 100 * c) / 1e6 for i, (m, c) in enumerate(MODELS.items())}
    assert doc["split"]["folds"][0]["c_weak"] == pytest.approx(want["small"], rel=0.1)
    from routeweave.evals.routing.generic import load_generic

    t = load_generic(no_costs, pool=pool)
    assert t.cost[0].tolist() == pytest.approx([want[m] for m in t.models])


def test_the_data_help_gives_the_table_format_and_the_docs():
    out = cli("--help")
    assert out.returncode == 0
    text = re.sub(r"(?<=\w-) ", "", " ".join(out.stdout.split()))  # argparse wraps at hyphens too
    assert "columns query_id, query, model, quality[, cost_usd, response]" in text
    assert "docs/routing-results.md, 'Your own outcome table'" in text


def test_kfold_header_names_each_anchor_model_with_its_folds():
    """Over folds the best single model on the training part may differ: the header says which, in how many folds."""
    from routeweave.evals.routing.report import to_markdown

    fold = {"n_train": 8, "n_test": 2, "weak": "small", "q_weak": 0.2, "flat_cost": False}
    folds = [{**fold, "strong": "large", "q_strong": 0.9}] * 4 + [{**fold, "strong": "medium", "q_strong": 0.4}]
    result = {"dataset": "t", "split": {"kind": "5-fold", "seed": 0, "folds": folds}, "warnings": [], "results": []}
    md = to_markdown(result)
    assert "strong = best single = `large` in 4 folds, `medium` in 1 fold (q=0.800, mean over the 5 folds; 0.400–0.900)" in md
    assert "weak = `small` (q=0.200 in each of the 5 folds)" in md
