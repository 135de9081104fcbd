"""`routeweave eval qa` as a user runs it: the CLI on a mock pool (no llama server), a SIGKILL in the middle of
a real `eval qa` process, and one small end-to-end run on the embedded server. The harness's own rules, on a
fake graph, are in test_qa_harness.py."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from routeweave.evals.qa.datasets import Example
from routeweave.evals.qa.runner import effective_pool, largest_expert, score_row
from routeweave.evals.qa.store import ResultStore

MOCK_POOL = """
[router]
model = "openai/mock-router"
api_base = "http://127.0.0.1:9"
grammar = false
mock_response = "<think>I know this.</think>\\n<answer>1889</answer>"
price = { input_per_m = 0.1, output_per_m = 0.1 }

[limits]
budget_usd = 1.0
max_rounds = 2
max_searches_per_turn = 1

[[experts]]
name = "Mock"
model = "openai/mock-expert"
api_base = "http://127.0.0.1:9"
description = "answers anything"
mock_response = "It was built in 1889."
price = { input_per_m = 0.2, output_per_m = 0.6 }

[[experts]]
name = "Big"
model = "openai/mock-big"
api_base = "http://127.0.0.1:9"
description = "a bigger model"
mock_response = "1889"
price = { input_per_m = 0.9, output_per_m = 0.9 }
"""


def test_score_row_and_pool_helpers(tmp_path):
    (tmp_path / "p.toml").write_text(MOCK_POOL)
    from routeweave.agents.pool import load_pool

    pool = load_pool(tmp_path / "p.toml")
    assert largest_expert(pool) == "Big"
    eff = effective_pool(pool, experts=["largest"], budget_usd=0.5, max_rounds=1)
    assert [e.name for e in eff.enabled] == ["Big"] and eff.limits.budget_usd == 0.5 and eff.limits.max_rounds == 1
    ex = Example(id="q0", question="When was tower 0 built?", answers=["1889"], dataset="toy")
    row = score_row("r", ex, {"answer": "The 1889", "cost_usd": 0.1}, wall_s=0.5, error=None, trace_db="t.db")
    assert row["em"] == 1.0 and row["f1"] == 1.0 and row["answers"] == ["1889"]
    bad = score_row("r", ex, {"answer": "1889"}, wall_s=0.5, error="timeout", trace_db=None)
    assert bad["em"] == 0.0 and bad["stop_reason"] == "error"


# -- the CLI on a mock pool (LiteLLM mock_response: no server, no lock needed) --------------------------


def write_inputs(tmp_path: Path, n: int) -> tuple[Path, Path]:
    pool = tmp_path / "mock.toml"
    pool.write_text(MOCK_POOL)
    data = tmp_path / "toy.jsonl"
    with data.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "question": f"When was tower {i} built?",
                                "golden_answers": ["1889" if i % 2 == 0 else "1900"]}) + "\n")
    return pool, data


def eval_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "routeweave.ui.cli", "eval", *args]


def rows_in(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select dataset, example_id, session_id, prediction from qa_results").fetchall()
    finally:
        conn.close()


def test_cli_run_resume_refuse_and_report(tmp_path):
    pool, data = write_inputs(tmp_path, 12)
    base = ["qa", "--dataset", str(data), "--pool", str(pool), "--run", "mock", "--concurrency", "3",
            "--trace-db", str(tmp_path / "traces.db"), "--no-progress", "--seed", "-1"]
    first = subprocess.run(eval_cmd(*base, "--limit", "5", "--json"), capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["done"] == 5 and doc["remaining"] == 0 and doc["summary"]["overall"]["em"] == pytest.approx(0.6)
    assert Path(doc["results_db"]) == tmp_path / "evals.db"
    # the same run with another limit is another config: refused
    refused = subprocess.run(eval_cmd(*base, "--json"), capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "limit: stored 5, now None" in refused.stderr
    again = subprocess.run(eval_cmd(*base, "--limit", "5", "--json"), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and json.loads(again.stdout)["ran"] == 0
    assert len(rows_in(tmp_path / "evals.db")) == 5
    # another file of the same name is another dataset: refused, though its label is the same
    other = tmp_path / "elsewhere" / data.name
    other.parent.mkdir()
    other.write_text(data.read_text().replace("1889", "1890"))
    swapped = [other if a == str(data) else a for a in base]
    refused = subprocess.run(eval_cmd(*map(str, swapped), "--limit", "5"), capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "dataset_sha256: stored" in refused.stderr, refused.stderr
    assert len(rows_in(tmp_path / "evals.db")) == 5
    # rows link their stored traces
    trace = subprocess.run([sys.executable, "-m", "routeweave.ui.cli", "trace", rows_in(tmp_path / "evals.db")[0][2],
                            "--db", str(tmp_path / "traces.db"), "--json"], capture_output=True, text=True, timeout=60)
    assert trace.returncode == 0 and json.loads(trace.stdout)["answer"] == "1889"
    rep = subprocess.run(eval_cmd("report", "mock", "--results-db", str(tmp_path / "evals.db"), "--json", "--out",
                                  str(tmp_path / "rep")), capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0, rep.stderr
    assert json.loads(rep.stdout)["runs"][0]["summary"]["overall"]["count"] == 5
    assert (tmp_path / "rep" / "qa-report.png").stat().st_size > 1000
    missing = subprocess.run(eval_cmd("report", "nope", "--db", str(tmp_path / "evals.db")), capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode == 1 and "no run named 'nope'" in missing.stderr and "mock" in missing.stderr
    # without a run name: the stored runs, how far each got and what it ran; --json the same as objects
    listed = subprocess.run(eval_cmd("report", "--db", str(tmp_path / "evals.db")), capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and listed.stdout.split("\n")[0].split() == ["run", "done", "created", "graph", "pool", "datasets"]
    assert listed.stdout.split("\n")[1].split()[:2] == ["mock", "5/5"] and "toy.jsonl (first 5)" in listed.stdout
    runs = json.loads(subprocess.run(eval_cmd("report", "--db", str(tmp_path / "evals.db"), "--json"), capture_output=True,
                                     text=True, timeout=60).stdout)
    assert [(r["run"], r["done"], r["total"], r["config"]["limit"]) for r in runs] == [("mock", 5, 5, 5)]
    from routeweave.graphs.router_r1.prompt import prompt_version

    assert runs[0]["config"]["graph_version"] == prompt_version()  # what training's rejection sampling checks


def test_cli_names_the_rows_it_skipped_and_why(tmp_path):
    pool, data = write_inputs(tmp_path, 3)
    with data.open("a") as f:
        f.write("not json\n" + json.dumps({"question": "no answer here"}) + "\n")
    base = ["qa", "--dataset", str(data), "--pool", str(pool), "--trace-db", str(tmp_path / "traces.db"), "--no-progress"]
    ran = subprocess.run(eval_cmd(*base, "--run", "mixed", "--json"), capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "· concurrency 2 ·" in ran.stderr  # no embedded server in this pool: two questions in flight
    assert json.loads(ran.stdout)["done"] == 3  # the good rows ran
    assert "2 malformed row(s) skipped" in ran.stderr
    assert f"{data.name} (line 4): invalid JSON" in ran.stderr and f"{data.name} (line 5): missing 'golden_answers'" in ran.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    none = subprocess.run(eval_cmd("qa", "--dataset", str(bad), *base[3:], "--run", "bad"), capture_output=True,
                          text=True, timeout=120)
    assert none.returncode == 2 and "no line is a JSON object" in none.stderr and "Traceback" not in none.stderr


@pytest.mark.parametrize("model, cut", [("ok:1889+length", 1), ("ok:1889", 0)])
def test_a_run_records_answers_cut_at_their_token_limit(tmp_path, model, cut):
    """A real HTTP reply with finish_reason 'length' is kept in the row (`truncated`) and counted in the summary."""
    from support.stub_openai import StubServer

    with StubServer() as stub:
        pool = tmp_path / "pool.toml"
        pool.write_text(f'[router]\nmodel = "openai/router:unused"\napi_base = "{stub.api_base}"\ngrammar = false\n'
                        f'[[experts]]\nname = "Only"\nmodel = "openai/{model}"\napi_base = "{stub.api_base}"\n'
                        'description = "answers"\n')
        _, data = write_inputs(tmp_path, 3)
        ran = subprocess.run(eval_cmd("qa", "--dataset", str(data), "--pool", str(pool), "--graph", "single-shot",
                                      "--policy", "cheapest", "--run", "cut", "--db", str(tmp_path / "evals.db"),
                                      "--trace-db", str(tmp_path / "traces.db"), "--no-progress", "--json"),
                             capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["summary"]["overall"]["truncated"] == 3 * cut
    with ResultStore(tmp_path / "evals.db") as store:
        assert [r["truncated"] for r in store.rows("cut")] == [cut] * 3
    assert ("3 answer(s) were cut at their call's token limit" in ran.stderr) == bool(cut)


def test_a_session_whose_calls_all_failed_is_an_error_that_retry_errors_runs_again(tmp_path):
    """A provider down (real HTTP 500s) ends each session 'failed': counted under errors, not as a plain wrong
    answer, and `--retry-errors` runs those questions again once it is back."""
    from support.stub_openai import StubServer

    with StubServer() as stub:
        pool = tmp_path / "pool.toml"
        pool.write_text(f'[router]\nmodel = "openai/router:unused"\napi_base = "{stub.api_base}"\ngrammar = false\n'
                        '[reliability]\nnum_retries = 0\n'
                        f'[[experts]]\nname = "Only"\nmodel = "openai/flaky:3"\napi_base = "{stub.api_base}"\n'
                        'description = "answers"\n')
        _, data = write_inputs(tmp_path, 3)
        base = ["qa", "--dataset", str(data), "--pool", str(pool), "--graph", "single-shot", "--policy", "cheapest",
                "--run", "down", "--db", str(tmp_path / "evals.db"), "--trace-db", str(tmp_path / "traces.db"),
                "--no-progress", "--json", "--concurrency", "1"]
        first = subprocess.run(eval_cmd(*base), capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["summary"]["overall"]["errors"] == 3
        again = subprocess.run(eval_cmd(*base), capture_output=True, text=True, timeout=120)
        assert json.loads(again.stdout)["ran"] == 0  # resuming alone leaves them
        retried = subprocess.run(eval_cmd(*base, "--retry-errors"), capture_output=True, text=True, timeout=120)
    assert retried.returncode == 0, retried.stderr
    doc = json.loads(retried.stdout)
    assert doc["ran"] == 3 and doc["summary"]["overall"]["errors"] == 0
    with ResultStore(tmp_path / "evals.db") as store:
        assert {r["stop_reason"] for r in store.rows("down")} == {"answered"}


def test_kill_9_mid_run_loses_no_finished_row_and_resume_never_duplicates(tmp_path):
    n = 600
    pool, data = write_inputs(tmp_path, n)
    db = tmp_path / "evals.db"
    cmd = eval_cmd("qa", "--dataset", str(data), "--pool", str(pool), "--run", "kill", "--concurrency", "2",
                   "--trace-db", str(tmp_path / "traces.db"), "--no-progress", "--seed", "-1", "--json")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        before: list[tuple] = []
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if db.exists():
                try:
                    before = rows_in(db)
                except sqlite3.OperationalError:  # table not created yet
                    continue
                if len(before) >= 25:
                    break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    after_kill = rows_in(db)
    assert 25 <= len(before) <= len(after_kill) < n, "the run must be killed in the middle"
    assert set(before) <= set(after_kill)  # every row seen finished before the kill is still there, unchanged
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)
    assert doc["done"] == n and doc["ran"] == n - len(after_kill)
    final = rows_in(db)
    assert len(final) == n and len({(d, i) for d, i, _, _ in final}) == n  # no duplicates
    assert set(after_kill) <= set(final)  # rows finished before the kill were not run again


@pytest.mark.server
@pytest.mark.slow
def test_eval_qa_end_to_end_on_the_embedded_server(tmp_path):
    """The CI slice: 5 HotpotQA questions through the real Router-R1 graph, then the report."""
    from routeweave.evals.qa.datasets import default_data_dir

    if not (default_data_dir() / "hotpotqa").is_dir():
        pytest.skip("../shared/data not present")
    db = tmp_path / "evals.db"
    def run_as(name: str) -> subprocess.CompletedProcess:
        return subprocess.run(eval_cmd("qa", "--dataset", "hotpotqa", "--limit", "5", "--max-rounds", "1", "--run", name,
                                       "--db", str(db), "--trace-db", str(tmp_path / "traces.db"), "--json", "--no-progress"),
                              capture_output=True, text=True, timeout=600)

    run = run_as("ci")
    assert run.returncode == 0, run.stderr
    # on the embedded server one question at a time by default: batched decoding of two would change greedy
    # outputs, and the same run would not repeat (benchmarks/results/qa_throughput.md)
    assert "· concurrency 1 ·" in run.stderr
    doc = json.loads(run.stdout)
    assert doc["done"] == 5 and doc["errors_this_time"] == 0
    overall = doc["summary"]["overall"]
    with ResultStore(db) as store:
        rows = store.rows("ci")
    assert overall["cost_usd_total"] == pytest.approx(sum(r["cost_usd"] for r in rows)) and overall["cost_usd_total"] > 0
    assert overall["em"] == pytest.approx(sum(r["em"] for r in rows) / 5) and all(r["em"] in (0.0, 1.0) for r in rows)
    assert overall["rounds_mean"] <= 1 and all(r["session_id"] and r["prompt_tokens"] > 0 for r in rows)
    # "answer seen" is read off the session's real expert replies, as stored in its trace
    from routeweave.evals.qa.metrics import answer_seen
    from routeweave.serving.trace_store import TraceStore

    traces = TraceStore(tmp_path / "traces.db")
    for r in rows:
        replies = [s["reply"] for s in traces.get_steps(r["session_id"]) if s["kind"] == "route"]
        assert r["seen"] == answer_seen(replies, r["answers"])
    traces.close()
    assert any(r["seen"] is not None for r in rows)
    rep = subprocess.run(eval_cmd("report", "ci", "--db", str(db), "--out", str(tmp_path)), capture_output=True,
                         text=True, timeout=120)
    assert rep.returncode == 0, rep.stderr
    assert "| paper: Router-R1-Qwen (Qwen2.5-3B) |" in rep.stdout and "HotpotQA" in rep.stdout
    assert (tmp_path / "qa-report.png").exists()
    # the same run again, in a new process and a new server: the same answers, question by question
    assert run_as("ci-again").returncode == 0
    with ResultStore(db) as store:
        again = store.rows("ci-again")
    # a call that failed, or that took longer than its timeout (so an attempt timed out and was retried, beside
    # the timed-out generation still running on the server), can take its session down another path on a
    # loaded machine: such a session is named, not compared; the rest must repeat answer for answer
    from routeweave.agents.pool import load_pool
    from routeweave.graphs.state import status_word

    pool = load_pool("embedded")
    timeout = min(e.timeout for e in [pool.router, *pool.experts] if getattr(e, "timeout", None))
    traces = TraceStore(tmp_path / "traces.db")
    failed = {r["example_id"]: errs for r in [*rows, *again]
              if (errs := [s["error"] or f"{s['latency_s']:.0f} s: retried after a timeout"
                           for s in traces.get_steps(r["session_id"]) if status_word(s) == "failed" or s["latency_s"] > timeout])}
    traces.close()
    first = {r["example_id"]: r["prediction"] for r in rows if r["example_id"] not in failed}
    assert len(first) >= 3, f"too many sessions had a failed call to compare the runs: {failed}"
    assert {r["example_id"]: r["prediction"] for r in again if r["example_id"] in first} == first, failed


@pytest.mark.slow
def test_kill_9_mid_session_then_resume_finishes_in_flight_sessions_without_paying_twice(tmp_path):
    """Killed while two sessions wait on a slow expert: the resumed run finishes those same sessions (their
    router turns are not made again) instead of starting them over."""
    from support.stub_openai import StubServer

    n = 8
    with StubServer() as stub:
        pool = tmp_path / "pool.toml"
        pool.write_text(f'[router]\nmodel = "openai/router:Slow"\napi_base = "{stub.api_base}"\ngrammar = false\n'
                        f'[reliability]\nnum_retries = 0\n[[experts]]\nname = "Slow"\nmodel = "openai/slow:1.5"\n'
                        f'api_base = "{stub.api_base}"\ndescription = "slow"\n')
        data = tmp_path / "toy.jsonl"
        data.write_text("".join(json.dumps({"id": f"q{i}", "question": f"When was tower {i} built?", "golden_answers": ["1889"]})
                                + "\n" for i in range(n)))
        db = tmp_path / "evals.db"
        cmd = eval_cmd("qa", "--dataset", str(data), "--pool", str(pool), "--run", "inflight", "--concurrency", "2",
                       "--db", str(db), "--trace-db", str(tmp_path / "traces.db"), "--no-progress", "--seed", "-1", "--json")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (db.exists() and _count(db) >= 2 and stub.active["slow:1.5"] == 2):
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        with ResultStore(db) as store:
            left = store.in_flight("inflight")
        assert len(left) == 2 and _count(db) < n
        resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        with ResultStore(db) as store:
            rows = {(r["dataset"], r["example_id"]): r for r in store.rows("inflight")}
            assert store.in_flight("inflight") == {}
        assert len(rows) == n and all(r["em"] == 1.0 for r in rows.values())
        assert {k: rows[k]["session_id"] for k in left} == left  # the same sessions, finished
        assert stub.calls["router:Slow"] == 2 * n  # every router turn made once: none paid twice


def _count(db) -> int:
    try:
        return len(rows_in(db))
    except sqlite3.OperationalError:
        return 0
