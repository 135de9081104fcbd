"""Checkpoints written before the layout change (routeweave 0.1) resume with today's graphs; a checkpoint in
a state format this version does not read is refused with a message that says what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from routeweave.agents.errors import ConfigError
from routeweave.agents.pool import Pool
from routeweave.serving import Engine, sessions

from support.pools import ONE_MOCK_EXPERT

FIXTURE = Path(__file__).parent / "data" / "checkpoints-0.1"
POOL = ONE_MOCK_EXPERT  # the pool the fixture was written with


@pytest.fixture
def old_db(tmp_path) -> Path:
    for f in FIXTURE.glob("*.db"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / "routeweave.db"


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


def test_a_checkpoint_in_an_unreadable_format_is_refused_clearly(old_db, tmp_path, monkeypatch):
    monkeypatch.setattr(sessions, "READABLE_FORMATS", {sessions.STATE_FORMAT})
    with Engine(Pool.model_validate(POOL), db_path=old_db, cache_dir=tmp_path / "c") as engine:
        with pytest.raises(ConfigError, match="state format 1; this routeweave reads .*finish it with the version"):
            engine.graph("router-r1").resume("old-partial")
