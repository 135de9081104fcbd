"""What a real `routeweave serve` writes: with --log-format json every line it (and uvicorn, and its workers)
writes is one JSON object; --access-log adds one line per chat completion, streamed or not, failed or not,
with the status the metrics count and the session id; without it there are none."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from support.serve import ServeProcess

pytestmark = [pytest.mark.server]


def ask(url: str, model: str = "routeweave-r1", stream: bool = False) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "When was the Eiffel Tower finished?"}], "stream": stream}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=60)


def lines_when(proc: ServeProcess, ready, timeout: float = 30.0) -> list[str]:
    """The process's output lines once `ready(lines)` holds (its reader thread appends them as they come)."""
    deadline = time.monotonic() + timeout
    while not ready(lines := [x.rstrip("\n") for x in proc.output if x.strip()]):
        assert time.monotonic() < deadline, "\n".join(lines[-40:])
        time.sleep(0.05)
    return lines


def access_records(lines: list[str]) -> list[dict]:
    return [r for r in map(json.loads, lines) if r["logger"] == "routeweave.access"]


def test_json_lines_and_one_access_record_per_completion(tmp_path):
    with ServeProcess(tmp_path, args=["--no-ui", "--log-format", "json", "--access-log"]) as proc:
        ok = ask(proc.url)
        assert ok.status_code == 200
        streamed = ask(proc.url, stream=True)
        assert streamed.status_code == 200 and streamed.text.rstrip().endswith("data: [DONE]")
        assert ask(proc.url, model="no-such-model").status_code == 404
        host, port = proc.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:  # not HTTP: uvicorn logs a warning
            raw.sendall(b"\x16\x03\x01 not http\r\n\r\n")
            raw.recv(1024)
        lines = lines_when(proc, lambda ls: len([x for x in ls if "routeweave.access" in x]) >= 3
                           and any("Invalid HTTP request" in x for x in ls))
        records = [json.loads(line) for line in lines]  # every line: the address line, uvicorn's warning
        assert [r for r in records if r["logger"].startswith("uvicorn") and r["level"] == "warning"]
        assert {"ts", "level", "logger", "message"} <= set(records[0]) and "on http://" in records[0]["message"]
        first, second, unknown = access_records(lines)
        assert (first["status"], first["method"], first["path"]) == (200, "POST", "/v1/chat/completions")
        assert first["session_id"] == ok.json()["routeweave"]["session_id"] and first["model"] == "routeweave-r1"
        assert second["status"] == 200 and second["session_id"] and second["session_id"] != first["session_id"]
        assert first["duration_ms"] > 0
        assert (unknown["status"], unknown["model"], unknown["session_id"]) == (404, "no-such-model", None)  # as asked
        assert {r["pid"] for r in records} == {proc.proc.pid}
        proc.stop()
    assert all(json.loads(line) for line in lines_when(proc, lambda ls: True))  # the shutdown's lines too


def test_text_by_default_access_lines_only_when_asked(tmp_path):
    (tmp_path / "quiet").mkdir(), (tmp_path / "loud").mkdir()
    with ServeProcess(tmp_path / "quiet", args=["--no-ui"]) as quiet:
        assert ask(quiet.url).status_code == 200
        time.sleep(0.5)
        assert not [x for x in quiet.output if "/v1/chat/completions 200" in x]
        assert quiet.output[0].startswith("routeweave serve on http://")  # text, as before
    with ServeProcess(tmp_path / "loud", args=["--no-ui", "--access-log"]) as loud:
        sid = ask(loud.url).json()["routeweave"]["session_id"]
        [line] = [x for x in lines_when(loud, lambda ls: any(" 200 " in x for x in ls)) if " 200 " in x]
        assert line.startswith("POST /v1/chat/completions 200 ") and line.endswith(f"model=routeweave-r1 session={sid}")


@pytest.mark.slow
def test_workers_log_json_too(tmp_path):
    """--workers passes the format on: the parent's lines and each worker's are JSON."""
    with ServeProcess(tmp_path, args=["--no-ui", "--workers", "2", "--log-format", "json", "--access-log"]) as proc:
        assert ask(proc.url).status_code == 200
        lines = lines_when(proc, lambda ls: any("routeweave.access" in x for x in ls) and any("workers: pids" in x for x in ls))
        records = [json.loads(line) for line in lines]
        assert [r for r in records if "workers: pids" in r["message"]] and access_records(lines)


def test_a_bad_log_format_in_the_environment_is_refused_before_anything_starts(tmp_path, routeweave_cmd):
    import os
    import subprocess

    env = {**os.environ, "ROUTEWEAVE_LOG_FORMAT": "xml"}
    run = subprocess.run([*routeweave_cmd, "serve", "--port", "0", "--db", str(tmp_path / "rw.db")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "ROUTEWEAVE_LOG_FORMAT" in run.stderr and "text, json" in run.stderr, run.stderr
    assert not (tmp_path / "rw.db").exists()


def test_json_takes_over_every_logger_and_reads_the_format_as_a_config_map_spells_it(capsys):
    """In-process: LiteLLM's loggers (each with a handler of its own), asyncio's (through the root) and a captured
    warning come out as JSON lines too. The loggers are put back afterwards."""
    import logging
    import warnings

    from routeweave.ui.serve_log import LITELLM, configure

    names = ["", "routeweave", "uvicorn", "uvicorn.access", "py.warnings", "routeweave.serve", "routeweave.access", *LITELLM]
    saved = {n: (logging.getLogger(n or None).handlers[:], logging.getLogger(n or None).propagate) for n in names}
    try:
        configure(" JSON ")
        logging.getLogger("LiteLLM").warning("a litellm warning")
        logging.getLogger("asyncio").error("Task exception was never retrieved")
        warnings.warn("waiting for the cores", RuntimeWarning)
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        logging.captureWarnings(False)
        for n, (handlers, propagate) in saved.items():
            logging.getLogger(n or None).handlers, logging.getLogger(n or None).propagate = handlers, propagate
    assert [(r["logger"], r["level"]) for r in lines] == [("LiteLLM", "warning"), ("asyncio", "error"), ("py.warnings", "warning")]
    assert "waiting for the cores" in lines[2]["message"] and not lines[2]["message"].endswith("\n")
