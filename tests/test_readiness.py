"""GET /readyz: 200 while every embedded model server the instance uses answers and its checkpointer answers a
query, else 503 naming what fails (/healthz stays a liveness check). Real processes: a second `serve`
attached to the first one's llama.cpp server (as `serve --workers` workers are) is ready, then not ready once
that server's process is killed with SIGKILL, while it still answers /healthz."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request

import pytest
from support.serve import ServeProcess, write_mock_pool


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
    first = ServeProcess(tmp_path / "first", pool="embedded", args=["--no-ui"])
    (tmp_path / "first").mkdir()
    with first.start():
        status, body = get(first.url + "/readyz")
        assert status == 200 and body == {"status": "ready", "model_servers": {"local": "ok"}, "checkpointer": "ok"}
        servers = get(first.url + "/healthz")[1]["model_servers"]
        (tmp_path / "second").mkdir()
        second = ServeProcess(tmp_path / "second", pool="embedded", args=["--no-ui"], api_key="k",
                              env={"ROUTEWEAVE_ATTACH_SERVERS": json.dumps(servers)})
        with second.start():
            assert get(second.url + "/readyz", "k") == (200, {"status": "ready", "model_servers": {"local": "ok"},
                                                              "checkpointer": "ok"})
            os.kill(first.proc.pid, signal.SIGKILL)  # the llama.cpp server runs in-process: it dies with it
            first.proc.wait(timeout=30)
            status, body = get(second.url + "/readyz", "k")
            assert status == 503 and body["status"] == "not_ready", body
            assert body["model_servers"]["local"].startswith("no answer") and body["checkpointer"] == "ok"
            # without the key: what fails, but no addresses or error texts
            assert get(second.url + "/readyz") == (503, {"status": "not_ready", "failing": ["model server local"]})
            assert get(second.url + "/healthz")[0] == 200  # alive, not ready: a balancer stops sending, nobody restarts it


def test_ready_reports_a_checkpointer_that_does_not_answer(tmp_path):
    """The SQLite checkpointer (fault injected: its connection closed under it); a pool without embedded
    servers has none to probe. The Postgres case, a real dropped database, is in test_postgres_checkpointer.py."""
    from routeweave.serving import Service

    with Service(write_mock_pool(tmp_path), db_path=tmp_path / "rw.db").start() as service:
        run = service.engine.loop.run
        assert run(service.readiness()) == {"ready": True, "model_servers": {}, "checkpointer": "ok"}
        service.engine.saver.conn.close()
        state = run(service.readiness())
        assert not state["ready"] and state["checkpointer"].startswith("ProgrammingError"), state
