"""Several service instances share sessions through LangGraph's Postgres checkpointer: a session started
on Engine A is readable and resumable on Engine B, with no checkpoint written twice.

Runs against a real PostgreSQL server: $ROUTEWEAVE_TEST_POSTGRES_URL if set, else a throwaway cluster
that the `postgres_url` fixture makes with Debian's initdb/pg_ctl on a free 127.0.0.1 port (as the
`postgres` user when run as root) and removes afterwards. Skipped with the reason when neither is
possible, unless ROUTEWEAVE_REQUIRE_POSTGRES=1 (set by .ci/run), where that is a failure. Models are
LiteLLM mock_response: no llama server."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from routeweave.agents.pool import Pool
from routeweave.serving.checkpointers import CHECKPOINTER_URL_ENV, checkpointer_url, redact
from routeweave.serving import Engine

from support.pools import ONE_MOCK_EXPERT

try:
    import psycopg
    import langgraph.checkpoint.postgres  # noqa: F401
except ImportError as exc:
    if os.environ.get("ROUTEWEAVE_REQUIRE_POSTGRES") == "1":
        raise
    pytest.skip(f"the 'postgres' extra is not installed (pip install -e '.[postgres]'): {exc}", allow_module_level=True)


def _unavailable(reason: str):
    if os.environ.get("ROUTEWEAVE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here (ROUTEWEAVE_REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(f"no PostgreSQL server: {reason}")


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    if os.environ.get("ROUTEWEAVE_TEST_POSTGRES_URL"):
        yield os.environ["ROUTEWEAVE_TEST_POSTGRES_URL"]
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        _unavailable("initdb/pg_ctl not found (apt-get install -y postgresql)")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the cluster as Debian's postgres user
        if not shutil.which("runuser"):
            _unavailable("running as root and runuser is missing")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="routeweave-pg-"))
    data, log = base / "data", base / "server.log"
    if as_user:
        try:
            shutil.chown(base, user="postgres")
        except (LookupError, PermissionError) as exc:
            shutil.rmtree(base, ignore_errors=True)
            _unavailable(f"cannot hand the cluster directory to the postgres user: {exc}")
    port = _free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200"
    started = False
    try:
        steps = [
            [*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start"],
        ]
        for cmd in steps:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                tail = log.read_text()[-2000:] if log.exists() else ""
                _unavailable(f"{Path(cmd[len(as_user)]).name} failed: {done.stderr.strip()[-2000:]} {tail}")
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def database(postgres_url):
    """A fresh database per test on the shared server."""
    name = "rw_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    scheme, _, rest = postgres_url.rpartition("/")
    yield f"{scheme}/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def mock_pool() -> Pool:
    return Pool.model_validate(ONE_MOCK_EXPERT)


def _checkpoint_rows(url: str, thread_id: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT checkpoint_ns, checkpoint_id FROM checkpoints WHERE thread_id = %s",
                            (thread_id,)).fetchall()


def _write_rows(url: str, thread_id: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM checkpoint_writes WHERE thread_id = %s", (thread_id,)).fetchone()[0]


def test_url_choice_and_redaction(monkeypatch):
    monkeypatch.delenv(CHECKPOINTER_URL_ENV, raising=False)
    assert checkpointer_url(None) is None and checkpointer_url("sqlite") is None
    monkeypatch.setenv(CHECKPOINTER_URL_ENV, "postgresql://u:secret@db:5432/rw")
    assert checkpointer_url(None) == "postgresql://u:secret@db:5432/rw"
    assert checkpointer_url("") is None  # an explicit empty argument keeps SQLite
    with pytest.raises(ValueError, match="unsupported checkpointer URL") as err:
        checkpointer_url("mysql://u:secret@db/rw")
    assert "secret" not in str(err.value)
    assert redact("postgresql://u:secret@db:5432/rw") == "postgresql://u:***@db:5432/rw"


def test_unreachable_postgres_is_a_clear_error(tmp_path):
    url = f"postgresql://u:secret@127.0.0.1:{_free_port()}/nope?connect_timeout=2"
    engine = Engine(mock_pool(), db_path=tmp_path / "t.db", cache_dir=tmp_path / "cache", checkpointer_url=url)
    with pytest.raises(ValueError, match="cannot open the Postgres checkpointer") as err:
        engine.start()
    assert "secret" not in str(err.value)


def test_readiness_fails_while_the_database_is_gone(database, tmp_path, monkeypatch):
    """GET /readyz's check (Service.readiness): ready with the database, then not ready, naming the checkpointer,
    once the database is dropped under the running instance (its pooled connections are terminated)."""
    from routeweave.serving import Service

    monkeypatch.setenv(CHECKPOINTER_URL_ENV, database)
    with Service(mock_pool(), db_path=tmp_path / "rw.db").start() as service:
        run = service.engine.loop.run
        assert run(service.readiness(timeout_s=5)) == {"ready": True, "model_servers": {}, "checkpointer": "ok", "traces": "ok"}
        scheme, _, name = database.rpartition("/")
        with psycopg.connect(f"{scheme}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        state = run(service.readiness(timeout_s=2, max_age_s=0))
        assert not state["ready"] and state["checkpointer"] != "ok", state


def test_session_started_on_one_instance_is_read_and_resumed_on_another(database, tmp_path):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    # Two instances: separate trace files and caches (as on two hosts), one Postgres database.
    with Engine(mock_pool(), db_path=a_dir / "rw.db", cache_dir=a_dir / "cache", checkpointer_url=database) as a, \
         Engine(mock_pool(), db_path=b_dir / "rw.db", cache_dir=b_dir / "cache", checkpointer_url=database) as b:
        graph_a, graph_b = a.graph(), b.graph()
        assert not (a_dir / "rw.checkpoints.db").exists()  # no SQLite checkpoints beside the traces

        # A reference session run straight through on A: how many checkpoints one whole session makes.
        whole = graph_a.invoke({"question": "When was it built?"}, session_id="whole")
        whole_checkpoints = _checkpoint_rows(database, "whole")

        # The same question on A, stopped after the router's first turn (as if A died there).
        config = graph_a._config("moved")
        inputs = graph_a._inputs({"question": "When was it built?"})

        async def start_on_a():
            async for _ in graph_a.compiled.astream(inputs, config, interrupt_after=["route"]):
                pass

        a.loop.run(start_on_a())

        # B reads it.
        state = b.loop.run(graph_b.compiled.aget_state(graph_b._config("moved")))
        assert state.values["question"] == "When was it built?"
        assert state.next == ("ask_expert",)
        assert [s["kind"] for s in state.values["steps"]] == ["think"]
        before = _checkpoint_rows(database, "moved")

        # B finishes it.
        resumed = graph_b.resume("moved")
        assert resumed["answer"] == whole["answer"] and resumed["stop_reason"] == whole["stop_reason"]
        kinds = [(s["kind"], s["round"], s["query"], s["reply"]) for s in resumed["steps"]]
        assert kinds == [(s["kind"], s["round"], s["query"], s["reply"]) for s in whole["steps"]]
        assert sum(1 for s in resumed["steps"] if s["kind"] == "route") == 2  # each expert call made once

        # No checkpoint duplicated: unique ids, the ones written on A kept, as many as the whole session's.
        after = _checkpoint_rows(database, "moved")
        assert len(after) == len(set(after)) == len(whole_checkpoints)
        assert set(before) <= set(after)
        assert _write_rows(database, "moved") == _write_rows(database, "whole")

        # A sees B's result too; a second resume has nothing left to do and writes nothing.
        final_on_a = a.loop.run(graph_a.compiled.aget_state(graph_a._config("moved")))
        assert final_on_a.next == () and final_on_a.values["answer"] == resumed["answer"]
        again = graph_a.resume("moved")
        assert again["answer"] == resumed["answer"]
        assert len(_checkpoint_rows(database, "moved")) == len(after)

        # Traces stay per instance: A has the step it ran before stopping; B, which never began the session,
        # has its header (question, graph) and every step: those committed on A, then its own.
        assert a.traces.get("moved") is not None
        on_b = b.traces.get("moved")
        assert on_b["question"] == "When was it built?" and on_b["graph"] == "router-r1" and on_b["meta"]["resumed_here"]
        assert [(s["kind"], s["query"]) for s in on_b["steps"]] == [(s["kind"], s["query"]) for s in whole["steps"]]


def test_two_instances_start_together_and_share_concurrent_sessions(database, tmp_path):
    """Both instances run LangGraph's migrations at start (serialised by an advisory lock) and then
    interleave sessions on one database."""
    import concurrent.futures

    engines = [Engine(mock_pool(), db_path=tmp_path / n / "rw.db", cache_dir=tmp_path / n / "cache",
                      checkpointer_url=database) for n in ("a", "b")]
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        list(ex.map(lambda e: e.start(), engines))
    try:
        graphs = [e.graph() for e in engines]

        async def many(graph, prefix):
            import asyncio
            return await asyncio.gather(*(graph.ainvoke({"question": f"q{i}"}, session_id=f"{prefix}{i}") for i in range(10)))

        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            results = list(ex.map(lambda gp: gp[1].engine.loop.run(many(gp[1], gp[0])), [("a", graphs[0]), ("b", graphs[1])]))
        assert all(r["steps"][-1]["kind"] in {"answer", "fallback"} for rs in results for r in rs)
        for sid in ("a3", "b7"):  # each instance reads the other's sessions
            other = graphs[0] if sid.startswith("b") else graphs[1]
            state = other.engine.loop.run(other.compiled.aget_state(other._config(sid)))
            assert state.values["question"] == f"q{sid[1:]}" and state.next == ()
    finally:
        for e in engines:
            e.close()


def test_an_instance_killed_mid_session_is_resumed_by_another(database, tmp_path, routeweave_cmd):
    """Instance A (a real `routeweave ask` process on the shared Postgres) is killed with SIGKILL while one
    expert call of a round has finished and another is in flight. Instance B, with its own trace database,
    finds the session in the shared checkpoints, waits for A's lease to lapse, and finishes it without
    making the finished call again."""
    import json
    import signal
    import time

    from support.stub_openai import StubServer
    from test_resume import wait_for_journal, wait_for_step, write_pool

    env = {**os.environ, CHECKPOINTER_URL_ENV: database, "ROUTEWEAVE_LEASE_S": "20"}
    with StubServer() as stub:
        pool = write_pool(tmp_path, stub, slow=30.0)
        a_db, b_db = tmp_path / "a" / "rw.db", tmp_path / "b" / "rw.db"
        a = subprocess.Popen([*routeweave_cmd, "ask", "When?", "--pool", str(pool), "--db", str(a_db), "--json"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            session = wait_for_step(a_db, "Fast")
            wait_for_journal(session, url=database)  # the trace row can precede the shared journal's commit
        finally:
            os.kill(a.pid, signal.SIGKILL)
            a.wait(timeout=10)
        listing = [*routeweave_cmd, "sessions", "--unfinished", "--db", str(b_db), "--json"]
        listed = subprocess.run(listing, env=env, capture_output=True, text=True, timeout=120)
        assert listed.returncode == 0 and not b_db.exists(), listed.stderr  # B's own trace knows nothing of it
        row = next(r for r in json.loads(listed.stdout) if r["session_id"] == session)
        assert row["question"] == "When?" and row["status"] == f"running (pid {a.pid} on {socket.gethostname()})", row
        assert row["spent_usd"] > 0 and row["started"] is not None, row  # Fast's call was paid
        resume = [*routeweave_cmd, "resume", session, "--db", str(b_db), "--json"]
        busy = subprocess.run(resume, env=env, capture_output=True, text=True, timeout=120)
        assert busy.returncode == 3 and f"pid {a.pid}" in busy.stderr  # A's lease still holds the session
        deadline = time.monotonic() + 60
        while busy.returncode == 3 and time.monotonic() < deadline:  # until A's lease lapses
            time.sleep(2)
            busy = subprocess.run(resume, env=env, capture_output=True, text=True, timeout=120)
        assert busy.returncode == 0, busy.stderr
        result = json.loads(busy.stdout)
        assert result["stop_reason"] == "answered" and stub.calls["ok"] == 1  # Fast's finished call was not made again
        assert sorted(s["expert"] for s in result["steps"] if s["kind"] == "route") == ["Fast", "Slow"]
        listed = subprocess.run(listing, env=env, capture_output=True, text=True, timeout=120)
        assert session not in {r["session_id"] for r in json.loads(listed.stdout)}, listed.stdout  # finished now
