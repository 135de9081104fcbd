"""Crash-resume with real process kills: a `routeweave ask` killed with SIGKILL while one expert call of a
round has finished and another is in flight is listed as resumable and finished by `routeweave resume`,
without making the finished call (or the router's finished turn) again. One runner per session: a resume
while the session still runs is refused, and so is a resume with a changed pool."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from routeweave.serving import TraceStore
from routeweave.serving.paths import checkpoint_path
from routeweave.ui.steps import usd
from support.stub_openai import StubServer, write_stub_pool

pytestmark = pytest.mark.slow


@pytest.fixture
def stub():
    with StubServer() as server:
        yield server


def write_pool(tmp_path, stub, slow: float = 4.0, price: float = 1.0):
    return write_stub_pool(tmp_path / "pool.toml", stub, router="router:Fast, Slow", router_price=price,
                           experts={"Fast": "ok", "Slow": f"slow:{slow}"}, expert_lines={"Slow": "timeout = 30"},
                           tables="[limits]\nbudget_usd = 0.05\n[reliability]\nnum_retries = 0")


def start_ask(cmd, pool, db):
    return subprocess.Popen([*cmd, "ask", "When was the Eiffel Tower finished?", "--pool", str(pool), "--db", str(db),
                             "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(db, expert: str, timeout: float = 60.0) -> str:
    """The session id once a route step of `expert` is in the trace (the call finished and was stored); read
    only, so the running process's writes are never in the way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
            try:
                row = conn.execute("select session_id from rw_steps where kind = 'route' and expert = ? and error is null",
                                   [expert]).fetchone()
            finally:
                conn.close()
            if row:
                return row[0]
        except sqlite3.OperationalError:  # not created yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"no finished call of {expert} within {timeout}s")


def wait_for_journal(session: str, *, db: Path | None = None, url: str | None = None, timeout: float = 30.0) -> None:
    """Until a finished expert call's reply of `session` is journaled: a pending write on channel 'replies' in
    the SQLite checkpoints beside `db`, or in the Postgres checkpointer at `url`. LangGraph writes it right
    after the trace row (within milliseconds): the promise is about journaled calls, so a test kills after it."""
    query = "select 1 from {} where thread_id = {} and channel = 'replies'"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if url:
            import psycopg

            with psycopg.connect(url) as conn:
                if conn.execute(query.format("checkpoint_writes", "%s"), [session]).fetchone():
                    return
        else:
            path = checkpoint_path(db)
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                if conn.execute(query.format("writes", "?"), [session]).fetchone():
                    return
            except sqlite3.OperationalError:  # not created yet
                pass
            finally:
                conn.close()
        time.sleep(0.02)
    raise AssertionError(f"no journaled reply of session {session} within {timeout}s")


def test_kill_9_mid_round_then_resume_never_repeats_a_finished_call(stub, tmp_path, routeweave_cmd):
    pool, db = write_pool(tmp_path, stub), tmp_path / "rw.db"
    proc = start_ask(routeweave_cmd, pool, db)
    session = wait_for_step(db, "Fast")
    wait_for_journal(session, db=db)
    deadline = time.monotonic() + 3  # the two calls start together; on a loaded machine Slow's may land a bit later
    while stub.calls["slow:4.0"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stub.calls["slow:4.0"] == 1 and stub.active["slow:4.0"] == 1  # in flight
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    before = dict(stub.calls)
    assert before["router:Fast, Slow"] == 1 and before["ok"] == 1

    listed = subprocess.run([*routeweave_cmd, "sessions", "--unfinished", "--db", str(db)], capture_output=True, text=True)
    assert session in listed.stdout and "interrupted: resumable" in listed.stdout
    traces = TraceStore(db)
    spent = sum(s["cost_usd"] for s in traces.get(session)["steps"])
    traces.close()
    row = next(line for line in listed.stdout.splitlines() if line.startswith(session))
    assert spent > 0 and f"{usd(spent)} so far" in row  # what the killed session had spent ($0 before)
    shown = subprocess.run([*routeweave_cmd, "trace", session, "--db", str(db)], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr  # a session cut short is shown as far as it got, with what it spent
    assert "Unfinished: interrupted: resumable" in shown.stdout and f"routeweave resume {session}" in shown.stdout
    assert "So far: $0.0" in shown.stdout and "1 expert call(s)" in shown.stdout

    done = subprocess.run([*routeweave_cmd, "resume", session, "--db", str(db), "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["stop_reason"] == "answered" and result["answer"] == "1889"
    assert stub.calls["ok"] == 1  # the finished call was not made again
    assert stub.calls["slow:4.0"] == 2  # the one in flight at the kill was
    assert stub.calls["router:Fast, Slow"] == 2  # its first turn was not repeated; the second answered
    routes = [s["expert"] for s in result["steps"] if s["kind"] == "route"]
    assert sorted(routes) == ["Fast", "Slow"]  # each call once in the trace
    traces = TraceStore(db)
    stored = traces.get(session)
    traces.close()
    assert [(s["kind"], s["expert"]) for s in stored["steps"]] == [(s["kind"], s["expert"]) for s in result["steps"]]
    assert stored["finished"]
    again = subprocess.run([*routeweave_cmd, "sessions", "--unfinished", "--db", str(db)], capture_output=True, text=True)
    assert session not in again.stdout and "resume one" not in again.stderr  # nothing left to resume: no hint
    calls = dict(stub.calls)  # resuming a finished session says so and calls nothing
    twice = subprocess.run([*routeweave_cmd, "resume", session, "--db", str(db)], capture_output=True, text=True, timeout=120)
    assert twice.returncode == 0 and "had already finished (stop: answered): nothing to resume" in twice.stderr
    assert "Answer: 1889" in twice.stdout and dict(stub.calls) == calls


def test_one_runner_per_session_and_the_same_pool(stub, tmp_path, routeweave_cmd):
    pool, db = write_pool(tmp_path, stub, slow=60.0), tmp_path / "rw.db"
    proc = start_ask(routeweave_cmd, pool, db)
    try:
        session = wait_for_step(db, "Fast")
        busy = subprocess.run([*routeweave_cmd, "resume", session, "--db", str(db)], capture_output=True, text=True,
                              timeout=60)
        assert busy.returncode == 3 and f"pid {proc.pid}" in busy.stderr  # still running: refused, named
        listed = subprocess.run([*routeweave_cmd, "sessions", "--unfinished", "--db", str(db)], capture_output=True, text=True)
        assert f"running (pid {proc.pid}" in listed.stdout
        shown = subprocess.run([*routeweave_cmd, "trace", session, "--db", str(db)], capture_output=True, text=True)
        assert shown.returncode == 0 and f"Unfinished: running (pid {proc.pid}" in shown.stdout, shown.stderr
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    write_pool(tmp_path, stub, slow=60.0, price=2.0)  # someone edits the pool file
    changed = subprocess.run([*routeweave_cmd, "resume", session, "--db", str(db)], capture_output=True, text=True,
                             timeout=60)
    assert changed.returncode == 2 and "has changed since session" in changed.stderr
    missing = subprocess.run([*routeweave_cmd, "resume", "nope", "--db", str(db)], capture_output=True, text=True)
    assert missing.returncode == 2 and "no session nope" in missing.stderr
