"""Checkpoints written before the layout change (routeweave 0.1), and before the Router-R1 graph folded its
call_experts and gather steps into route, resume with today's graphs; a checkpoint in a state format this
version does not read is refused with a message that says what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from routeweave.agents.errors import ConfigError
from routeweave.agents.pool import Pool
from routeweave.graphs.router_r1.experts import ASKED_BEFORE
from routeweave.serving import Engine, sessions

from support.pools import ONE_MOCK_EXPERT

FIXTURE = Path(__file__).parent / "data" / "checkpoints-0.1"
FORMAT2 = Path(__file__).parent / "data" / "checkpoints-format2"
POOL = ONE_MOCK_EXPERT  # the pool the fixtures were written with


def _copy(fixture: Path, to: Path) -> Path:
    for f in fixture.glob("*.db"):
        shutil.copy(f, to / f.name)
    return to / "routeweave.db"


@pytest.fixture
def old_db(tmp_path) -> Path:
    return _copy(FIXTURE, tmp_path)


def test_a_session_interrupted_under_0_1_resumes_and_finishes(old_db, tmp_path):
    with Engine(Pool.model_validate(POOL), db_path=old_db, cache_dir=tmp_path / "c") as engine:
        graph = engine.graph("router-r1")
        before = graph._loop.run(graph.compiled.aget_state({"configurable": {"thread_id": "old-partial"}}))
        assert before.next == ("call_experts",)  # the fixture is what it says: the router asked, nobody answered yet
        result = graph.resume("old-partial")
        assert result["stop_reason"] == "unparseable" and result["answer"] == "1889."
        routes = [s for s in result["steps"] if s["kind"] == "route"]
        assert routes and routes[0]["reply"] == "1889." and routes[0]["cost_usd"] > 0
        assert engine.traces.get("old-partial")["stop_reason"] == "unparseable"
        finished = graph.resume("old-finished")  # nothing left to do: the stored result comes back
        assert finished["answer"] == "1889." and finished["stop_reason"] == "unparseable"


def test_a_session_stopped_before_the_old_gather_step_resumes_as_the_old_code_finished_it(tmp_path):
    with Engine(Pool.model_validate(POOL), db_path=_copy(FORMAT2, tmp_path), cache_dir=tmp_path / "c") as engine:
        graph = engine.graph("router-r1")
        before = graph._loop.run(graph.compiled.aget_state({"configurable": {"thread_id": "before-gather"}}))
        assert before.next == ("gather",)  # the fixture is what it says: the expert answered, nobody folded it in
        done_before = [s for s in before.values["steps"] if s["kind"] == "route"]
        resumed = graph.resume("before-gather")
        whole = graph._loop.run(graph.compiled.aget_state({"configurable": {"thread_id": "whole"}})).values
        # the one change since the fixture was written: a repeated search shows the earlier reply again instead of a
        # notice (graphs/router_r1/experts.py, ASKED_BEFORE); everything else is as the old code finished it
        old_notice, old_info = "not called: asked before (see above)", "failed: not called: asked before (see above)"
        for s in whole["steps"]:
            s["error"] = ASKED_BEFORE if s["error"] == old_notice else s["error"]
        for m in whole["messages"]:
            m["content"] = m["content"].replace(old_info, "1889.")
        strip = [(s["kind"], s["round"], s["expert"], s["query"], s["reply"], s["text"], s["error"]) for s in resumed["steps"]]
        assert strip == [(s["kind"], s["round"], s["expert"], s["query"], s["reply"], s["text"], s["error"]) for s in whole["steps"]]
        assert resumed["answer"] == whole["answer"] and resumed["stop_reason"] == whole["stop_reason"]
        assert [s for s in resumed["steps"] if s["kind"] == "route"][0] == done_before[0]  # the paid call is not made again
        assert resumed["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in whole["steps"]))
        after = graph._loop.run(graph.compiled.aget_state({"configurable": {"thread_id": "before-gather"}})).values
        assert after["messages"] == whole["messages"]  # the router read what it read under the old code, reply folded in
        fresh = graph.invoke({"question": "When was it built?"}, session_id="fresh")  # today's graph: the same path,
        assert [(s["kind"], s["round"], s["error"]) for s in fresh["steps"]] == [(k, r, e) for k, r, _, _, _, _, e in strip]
        steps = len(graph._loop.run(_history(graph, "fresh"))) - 1  # LangGraph steps, the input's included
        assert steps == 6 < len(graph._loop.run(_history(graph, "whole"))) - 1 == 10


@pytest.mark.parametrize("kind,policy", [("single-shot", "random"), ("cascade", None)])
def test_a_policy_session_stopped_before_the_old_finish_step_resumes_as_the_old_code_finished_it(tmp_path, kind, policy):
    with Engine(Pool.model_validate(POOL), db_path=_copy(FORMAT2, tmp_path), cache_dir=tmp_path / "c") as engine:
        graph = engine.graph(kind, policy=policy)
        stopped = f"{kind}-before-finish"
        before = graph._loop.run(graph.compiled.aget_state({"configurable": {"thread_id": stopped}}))
        assert before.next == ("finish",) and [s["kind"] for s in before.values["steps"]] == ["decide", "route"]
        resumed = graph.resume(stopped)
        whole = graph._loop.run(graph.compiled.aget_state({"configurable": {"thread_id": f"{kind}-whole"}})).values
        assert [(s["kind"], s["text"]) for s in resumed["steps"][1:]] == [(s["kind"], s["text"]) for s in whole["steps"][1:]]
        assert resumed["answer"] == whole["answer"] == "1889." and resumed["stop_reason"] == whole["stop_reason"] == "answered"
        assert sum(1 for s in resumed["steps"] if s["kind"] == "route") == 1  # the paid call is not made again
        fresh = graph.invoke({"question": "When was it built?"}, session_id=f"{kind}-fresh")  # today's graph: same steps,
        assert [s["kind"] for s in fresh["steps"]] == ["decide", "route", "answer"]
        steps = len(graph._loop.run(_history(graph, f"{kind}-fresh"))) - 1  # input, decide, answer (was + finish)
        assert steps == 3 < len(graph._loop.run(_history(graph, f"{kind}-whole"))) - 1 == 4


async def _history(graph, session_id: str) -> list:
    return [c async for c in graph.compiled.aget_state_history({"configurable": {"thread_id": session_id}})]


def test_a_checkpoint_in_an_unreadable_format_is_refused_clearly(old_db, tmp_path, monkeypatch):
    monkeypatch.setattr(sessions, "READABLE_FORMATS", {sessions.STATE_FORMAT})
    with Engine(Pool.model_validate(POOL), db_path=old_db, cache_dir=tmp_path / "c") as engine:
        with pytest.raises(ConfigError, match="state format 1; this routeweave reads .*finish it with the version"):
            engine.graph("router-r1").resume("old-partial")
