"""GET /readyz: 200 while every embedded model server the instance uses answers, its checkpointer answers a query
and its trace database can be read, else 503 naming what fails (/healthz stays a liveness check). Real
processes: a second `serve` attached to the first one's llama.cpp server (as `serve --workers` workers are) is
ready, then not ready once that server's process is killed with SIGKILL, while it still answers /healthz."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request

import pytest
from support.serve import ServeProcess, write_mock_pool

READY = {"model_servers": {"local": "ok"}, "checkpointer": "ok", "traces": "ok"}


def get(url: str, key: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.server
@pytest.mark.slow
def test_ready_until_the_model_server_it_uses_is_killed(tmp_path, rw_home):
    (tmp_path / "first").mkdir(), (tmp_path / "second").mkdir()
    with ServeProcess(tmp_path / "first", pool="embedded", args=["--no-ui"]) as first:
        assert get(first.url + "/readyz") == (200, {"status": "ready", **READY})
        servers = get(first.url + "/healthz")[1]["model_servers"]
        second = ServeProcess(tmp_path / "second", pool="embedded", args=["--no-ui"], api_key="k",
                              env={"ROUTEWEAVE_ATTACH_SERVERS": json.dumps(servers)})
        with second:
            assert get(second.url + "/readyz", "k") == (200, {"status": "ready", **READY})
            os.kill(first.proc.pid, signal.SIGKILL)  # the llama.cpp server runs in-process: it dies with it
            first.proc.wait(timeout=30)
            deadline = time.monotonic() + 10  # (a probe's result is reused for 1 s)
            while (found := get(second.url + "/readyz", "k"))[0] == 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            status, body = found
            assert status == 503 and body["status"] == "not_ready", body
            assert body["model_servers"]["local"].startswith("no answer") and body["checkpointer"] == "ok"
            # without the key: what fails, but no addresses or error texts
            assert get(second.url + "/readyz") == (503, {"status": "not_ready", "failing": ["model server local"]})
            assert get(second.url + "/healthz")[0] == 200  # alive, not ready: a balancer stops sending, nobody restarts it


def test_ready_reports_a_checkpointer_or_trace_file_that_does_not_answer(tmp_path):
    """The SQLite checkpointer (fault injected: its connection closed under it) and the trace file (overwritten
    with junk under the running instance); a pool without embedded servers has none to probe. The Postgres case,
    a real dropped database, is in test_postgres_checkpointer.py."""
    from routeweave.serving import Service

    with Service(write_mock_pool(tmp_path), db_path=tmp_path / "rw.db").start() as service:
        run = service.engine.loop.run
        assert run(service.readiness()) == {"ready": True, **READY, "model_servers": {}}
        service.engine.saver.conn.close()
        state = run(service.readiness(max_age_s=0))
        assert not state["ready"] and state["checkpointer"].startswith("ProgrammingError"), state
        service.engine.traces.close()
        (tmp_path / "rw.db").write_bytes(b"not a database" * 1000)
        for side in ("-wal", "-shm"):
            (tmp_path / f"rw.db{side}").unlink(missing_ok=True)
        state = run(service.readiness(max_age_s=0))
        assert state["traces"].startswith(f"the trace database {tmp_path / 'rw.db'} cannot be used"), state


def test_a_trace_file_that_is_not_a_database_is_refused_at_start(tmp_path, routeweave_cmd):
    import subprocess

    junk = tmp_path / "junk.db"
    junk.write_text("junk\n" * 100)
    run = subprocess.run([*routeweave_cmd, "serve", "--port", "0", "--no-ui", "--pool", str(write_mock_pool(tmp_path)),
                          "--db", str(junk)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and f"the trace database {junk} cannot be used" in run.stderr, run.stderr


def test_concurrent_checks_share_one_probe_and_servers_are_probed_at_once(tmp_path):
    """A balancer's checks while a model server hangs: 20 concurrent /readyz calls cost one probe, and two hung
    servers cost one timeout, not two (a real socket that accepts and never answers)."""
    from routeweave.agents.local_server import ServerFleet
    from routeweave.serving import Service

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)
    url = f"http://127.0.0.1:{hung.getsockname()[1]}"
    try:
        with Service(write_mock_pool(tmp_path), db_path=tmp_path / "rw.db").start() as service:
            fleet = ServerFleet.__new__(ServerFleet)
            fleet._servers = {n: type("Hung", (), {"base_url": url, "stop": lambda self: None})() for n in ("a", "b")}
            service.engine.runtime.fleet, calls = fleet, []
            real = fleet.health
            fleet.health = lambda t: calls.append(t) or real(t)

            async def burst():
                return await asyncio.gather(*(service.readiness(timeout_s=1.5) for _ in range(20)))

            started = time.monotonic()
            states = service.engine.loop.run(burst())
            took = time.monotonic() - started
            assert len(calls) == 1 and all(s == states[0] for s in states), calls
            assert states[0]["model_servers"] == {"a": "no answer (timed out)", "b": "no answer (timed out)"}, states[0]
            assert 1.5 <= took < 2.9, took  # both servers within one timeout (one after the other: 3 s and more)
    finally:
        hung.close()
