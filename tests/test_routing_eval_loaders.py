"""Loaders: the generic long format (good and malformed rows) and the named datasets in ../shared/data."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from routeweave.evals.routing.generic import load_generic
from routeweave.evals.routing.loaders import DataError, default_data_dir, load_table

HEADER = "query_id,query,model,quality,cost_usd\n"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_generic_csv(tmp_path):
    p = write(tmp_path, "o.csv", HEADER + "q1,What is 2+2?,a,1,0.01\nq1,What is 2+2?,b,0,0.001\n"
              "q2,\"Capital, of France?\",a,1,0.02\nq2,\"Capital, of France?\",b,1,0.002\n")
    t = load_generic(p)
    assert t.models == ["a", "b"] and t.queries[1] == "Capital, of France?"
    assert np.array_equal(t.quality, [[1, 0], [1, 1]]) and t.cost[1, 1] == pytest.approx(0.002)


def test_generic_jsonl_and_incomplete_query_skipped(tmp_path):
    rows = [{"query_id": 1, "query": "x", "model": "a", "quality": 0.5},
            {"query_id": 1, "query": "x", "model": "b", "quality": 0.7},
            {"query_id": 2, "query": "y", "model": "a", "quality": 0.1}]
    p = write(tmp_path, "o.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    t = load_generic(p)
    assert len(t) == 1 and t.meta["skipped"] == 1 and "1 unit" in t.meta["cost_note"]


@pytest.mark.parametrize("body, line, message", [
    ("q1,hi,a,high,0.1\n", 2, "'quality' must be a number"),
    ("q1,hi,a,1,-3\n", 2, "'cost_usd' must be >= 0"),
    ("q1,hi,a,1,0.1\nq1,hi,a,0,0.1\n", 3, "duplicate row"),
    ("q1,hi,a,1,0.1\nq1,bye,b,0,0.1\n", 3, "different query text"),
    ("q1,hi,a,,0.1\n", 2, "'quality' is missing"),
    ("q1,hi,a,1,0.1,extra\n", 2, "more fields"),
    (",hi,a,1,0.1\n", 2, "'query_id' is missing"),
])
def test_generic_csv_malformed_rows_name_file_and_line(tmp_path, body, line, message):
    p = write(tmp_path, "bad.csv", HEADER + body)
    with pytest.raises(DataError, match=re.escape(f"{p}:{line}: ") + ".*" + re.escape(message)):
        load_generic(p)


def test_generic_responses_are_kept_per_model_and_a_non_text_one_names_file_and_line(tmp_path):
    rows = [{"query_id": 1, "query": "x", "model": "a", "quality": 1, "response": "#### 4"},
            {"query_id": 1, "query": "x", "model": "b", "quality": 0},
            {"query_id": 2, "query": "y", "model": "a", "quality": 0, "response": ""},
            {"query_id": 2, "query": "y", "model": "b", "quality": 1}]
    t = load_generic(write(tmp_path, "r.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n"))
    assert t.responses == {"a": ["#### 4", None]}  # b never answered in the file: no entry, not a list of None
    rows[3]["response"] = 42
    p = write(tmp_path, "bad.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DataError, match=re.escape(f"{p}:4: 'response' must be the model's answer as text, got int")):
        load_generic(p)


def test_generic_missing_column_and_bad_json(tmp_path):
    with pytest.raises(DataError, match="missing column"):
        load_generic(write(tmp_path, "c.csv", "query_id,query,model\nq,x,a\n"))
    p = write(tmp_path, "b.jsonl", '{"query_id": 1, "query": "x", "model": "a", "quality": 1}\n{oops\n')
    with pytest.raises(DataError, match=re.escape(f"{p}:2: not valid JSON")):
        load_generic(p)
    with pytest.raises(DataError, match="unknown format"):
        load_generic(write(tmp_path, "x.txt", "hi"))


def test_unknown_name_is_a_clear_error():
    with pytest.raises(DataError, match="neither a named dataset"):
        load_table("no_such_dataset")


needs_data = pytest.mark.skipif(not (default_data_dir() / "routellm_evals").exists(), reason="../shared/data not present")


@needs_data
@pytest.mark.parametrize("name, n, n_models", [("gsm8k", 1307, 2), ("mt_bench", 72, 2), ("llmrouter", 500, 9),
                                               ("routerdc_gsm8k", 1319, 7), ("routerdc", 2591, 7)])
def test_named_datasets(name, n, n_models):
    t = load_table(name)
    assert len(t) == n and len(t.models) == n_models
    assert np.isfinite(t.quality).all() and (t.cost >= 0).all()


@needs_data
def test_routellm_gsm8k_accuracies_and_contamination():
    t = load_table("gsm8k")
    assert t.meta["contaminated_removed"] == 12
    q = t.mean_quality()
    assert q["gpt-4-1106-preview"] == pytest.approx(0.858, abs=0.002)
    assert t.models[t.strongest()] == "gpt-4-1106-preview" and t.models[t.cheapest()].startswith("mistralai")


def test_data_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("ROUTEWEAVE_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    with pytest.raises(DataError, match="file not found"):
        load_table("gsm8k")
