"""`routeweave eval qa`'s harness, on a fake graph: bounded concurrency, timeouts and errors as rows, resume
without duplicates, refused config changes, the deadline, and older results files."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from routeweave.evals.qa.datasets import Example
from routeweave.graphs.state import NOT_CALLED
from routeweave.evals.qa.runner import run_examples, score_row
from routeweave.evals.qa.store import ResultStore, RunConfigError


def examples(n: int, dataset: str = "toy") -> list[Example]:
    return [Example(id=f"q{i}", question=f"When was tower {i} built?", answers=["1889" if i % 2 == 0 else "1900"],
                    dataset=dataset) for i in range(n)]


class FakeGraph:
    """ainvoke like RouterGraph's: answers '1889' after `delay` s; 'boom' questions raise, 'hang' ones hang."""

    def __init__(self, delay: float = 0.01):
        self.delay, self.in_flight, self.max_in_flight, self.calls = delay, 0, 0, 0

    async def ainvoke(self, inputs, *, session_id):
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            q = inputs["question"]
            if "boom" in q:
                raise RuntimeError("expert exploded")
            await asyncio.sleep(3600 if "hang" in q else self.delay)
            return {"session_id": session_id, "answer": "1889", "cost_usd": 0.001, "cost_units": 2.0,
                    "prompt_tokens": 10, "completion_tokens": 5, "rounds": 1, "expert_calls": 1, "latency_s": self.delay,
                    "stop_reason": "answered"}
        finally:
            self.in_flight -= 1


def test_harness_bounded_concurrency_scores_and_stores_every_row(tmp_path):
    graph = FakeGraph(delay=0.02)
    with ResultStore(tmp_path / "r.db") as store:
        store.open_run("a", {"x": 1}, total=20)
        out = asyncio.run(run_examples(graph, examples(20), store=store, run="a", concurrency=3, progress=False))
        rows = store.rows("a")
    assert graph.max_in_flight == 3 and graph.calls == 20
    assert out.ran == 20 and out.remaining == 0 and not out.stopped_early and out.done_before == 0
    assert len(rows) == 20 and sum(r["em"] for r in rows) == 10
    assert all(r["session_id"] and r["cost_usd"] == 0.001 and r["rounds"] == 1 for r in rows)


def test_timeouts_and_exceptions_become_rows_not_crashes(tmp_path):
    exs = examples(4) + [Example(id="h", question="hang forever", answers=["x"], dataset="toy"),
                         Example(id="b", question="boom now", answers=["x"], dataset="toy")]
    with ResultStore(tmp_path / "r.db") as store:
        out = asyncio.run(run_examples(FakeGraph(), exs, store=store, run="a", concurrency=2, timeout_s=0.3,
                                       progress=False))
        rows = {r["example_id"]: r for r in store.rows("a")}
    assert out.ran == 6 and out.errors == 2
    assert rows["h"]["error"] == "timeout after 0.3s" and rows["h"]["em"] == 0 and rows["h"]["session_id"]
    assert rows["b"]["error"].startswith("RuntimeError: expert exploded") and rows["b"]["stop_reason"] == "error"
    assert rows["q0"]["error"] is None and rows["q0"]["em"] == 1.0


def test_a_timed_out_session_keeps_what_it_spent_from_its_trace(tmp_path):
    class Traces:
        def get(self, session_id):
            return {"steps": [{"kind": "think", "round": 0, "cost_usd": 0.002, "cost_units": 3.0, "prompt_tokens": 9,
                               "completion_tokens": 4, "error": None},
                              {"kind": "route", "round": 1, "cost_usd": 0.001, "cost_units": 1.0, "error": None},
                              {"kind": "route", "round": 1, "cost_usd": 0.0, "cost_units": 0.0,  # a search not made
                               "error": f"{NOT_CALLED} again: asked before"}]}

    graph = FakeGraph()
    graph.traces = Traces()
    with ResultStore(tmp_path / "r.db") as store:
        asyncio.run(run_examples(graph, [Example(id="h", question="hang", answers=["x"], dataset="toy")], store=store,
                                 run="a", timeout_s=0.1, progress=False))
        (row,) = store.rows("a")
    assert row["error"] == "timeout after 0.1s" and row["em"] == 0.0
    assert row["cost_usd"] == pytest.approx(0.003) and row["cost_units"] == 4.0 and row["expert_calls"] == 1
    assert row["rounds"] == 1 and row["completion_tokens"] == 4


def test_resume_skips_done_rows_and_retry_errors_reruns_failed_ones(tmp_path):
    exs = examples(10) + [Example(id="b", question="boom", answers=["x"], dataset="toy")]
    with ResultStore(tmp_path / "r.db") as store:
        asyncio.run(run_examples(FakeGraph(), exs[:6], store=store, run="a", progress=False))
        graph = FakeGraph()
        out = asyncio.run(run_examples(graph, exs, store=store, run="a", concurrency=2, progress=False))
        assert out.done_before == 6 and out.ran == 5 and graph.calls == 5
        again = FakeGraph()
        out = asyncio.run(run_examples(again, exs, store=store, run="a", progress=False))
        assert again.calls == 0 and out.ran == 0
        retry = FakeGraph()
        asyncio.run(run_examples(retry, exs, store=store, run="a", retry_errors=True, progress=False))
        assert retry.calls == 1  # only the failed one
        assert store.count("a") == 11
        ids = [r["example_id"] for r in store.rows("a")]
        assert len(ids) == len(set(ids))


def test_a_retried_failure_keeps_what_it_spent_on_record(tmp_path):
    """--retry-errors replaces a failed row with the new attempt's; the dollars the failed attempts spent stay on
    the row (`retried_usd`) and in the summary, so a run's spending is never understated."""
    from routeweave.evals.qa.metrics import Summary

    boom = [Example(id="b", question="boom", answers=["1889"], dataset="toy")]
    with ResultStore(tmp_path / "r.db") as store:
        store.write(score_row("a", boom[0], {"cost_usd": 0.002}, wall_s=1.0, error="timeout after 1s", trace_db=None))
        asyncio.run(run_examples(FakeGraph(), boom, store=store, run="a", retry_errors=True, progress=False))
        (row,) = store.rows("a")
        assert row["error"] and row["retried_usd"] == pytest.approx(0.002)  # failed again: both attempts' spending
        recovered = Example(id="b", question="fine now", answers=["1889"], dataset="toy")
        asyncio.run(run_examples(FakeGraph(), [recovered], store=store, run="a", retry_errors=True, progress=False))
        (row,) = store.rows("a")
        assert not row["error"] and row["cost_usd"] == pytest.approx(0.001) and row["retried_usd"] == pytest.approx(0.002)
        assert Summary.from_rows(store.rows("a")).overall.retried_usd_total == pytest.approx(0.002)


def test_deadline_stops_starting_new_examples(tmp_path):
    with ResultStore(tmp_path / "r.db") as store:
        out = asyncio.run(run_examples(FakeGraph(delay=0.05), examples(40), store=store, run="a", concurrency=2,
                                       deadline=time.monotonic() + 0.2, progress=False))
        assert out.stopped_early and 0 < out.ran < 40 and out.remaining == 40 - out.ran
        assert store.count("a") == out.ran


def test_a_results_file_of_an_older_routeweave_gains_the_new_columns(tmp_path):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.execute("create table qa_results (run text, dataset text, example_id text, prediction text, em real, "
                 "primary key (run, dataset, example_id))")
    conn.execute("insert into qa_results values ('old', 'nq', 'q1', '1889', 1.0)")
    conn.commit()
    conn.close()
    with ResultStore(db) as store:
        assert store.rows("old")[0]["seen"] is None  # kept, with the new column empty
        store.write(score_row("new", examples(1)[0], {"answer": "1889", "steps": [
            {"kind": "route", "reply": "built in 1889"}]}, wall_s=0.1, error=None, trace_db=None))
        assert store.rows("new")[0]["seen"] == 1.0 and store.rows("old")[0]["prediction"] == "1889"


def test_same_example_id_in_two_datasets_are_two_rows(tmp_path):
    with ResultStore(tmp_path / "r.db") as store:
        asyncio.run(run_examples(FakeGraph(), examples(3, "nq") + examples(3, "popqa"), store=store, run="a",
                                 progress=False))
        assert store.count("a") == 6


def test_changed_config_is_refused_with_the_keys_that_differ(tmp_path):
    with ResultStore(tmp_path / "r.db") as store:
        assert store.open_run("a", {"graph": "router-r1", "budget_usd": None}, total=5) is False
        assert store.open_run("a", {"graph": "router-r1", "budget_usd": None}, total=5) is True
        with pytest.raises(RunConfigError, match=r"budget_usd: stored None, now 0.001"):
            store.open_run("a", {"graph": "router-r1", "budget_usd": 0.001}, total=5)
        # a run stored before the dataset hashes and prompt version were recorded resumes unchecked on them...
        later = {"dataset_sha256": {"toy": "ab12"}, "graph_version": "v1"}
        assert store.open_run("a", {"graph": "router-r1", "budget_usd": None, **later}, total=5) is True
        # ...but a run that recorded them is checked on them
        assert store.open_run("b", {"graph": "router-r1", **later}, total=5) is False
        with pytest.raises(RunConfigError, match=r"graph_version: stored 'v1', now 'v2'"):
            store.open_run("b", {"graph": "router-r1", **later, "graph_version": "v2"}, total=5)
        with pytest.raises(RunConfigError, match=r"dataset_sha256"):
            store.open_run("b", {"graph": "router-r1", "graph_version": "v1"}, total=5)


def test_a_killed_runs_session_is_started_afresh_only_when_it_has_no_checkpoint():
    """A session killed before its first checkpoint is asked again; one that can't be resumed for another reason
    (a checkpoint of another state format: ConfigError) is an error, never re-run on top of its checkpoint."""
    from routeweave.agents.errors import ConfigError
    from routeweave.evals.qa.runner import _resumed
    from routeweave.serving import NoCheckpoint

    class Graph:
        def __init__(self, error):
            self.error, self.invoked = error, []

        async def aresume(self, session_id):
            raise self.error

        async def ainvoke(self, inputs, session_id=None):
            self.invoked.append(session_id)
            return {"answer": "again"}

    fresh = Graph(NoCheckpoint("no checkpoint"))
    assert asyncio.run(_resumed(fresh, "s1", "Q?")[0]) == {"answer": "again"} and fresh.invoked == ["s1"]
    other = Graph(ConfigError("checkpointed in state format 9"))
    with pytest.raises(ConfigError, match="state format 9"):
        asyncio.run(_resumed(other, "s2", "Q?")[0])
    assert other.invoked == []
