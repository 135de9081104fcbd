"""`routeweave serve`'s process lifecycle, on real processes (mocked or stub models: no llama.cpp): a parent
killed with SIGKILL takes its workers with it, arguments and the port are checked before anything starts,
SIGTERM lets the requests in flight finish, and a worker killed by a signal gives the parent 128 + N."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from support.serve import ServeProcess, pid_alive, worker_pids, write_mock_pool
from support.stub_openai import StubServer, write_stub_pool

QUESTION = [{"role": "user", "content": "When was the Eiffel Tower finished?"}]


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """The pids still running after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if pid_alive(p)]


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_killing_the_parent_with_sigkill_stops_its_workers_and_frees_the_port(tmp_path):
    """...and the next `serve --workers` removes the metrics folder the killed parent left."""
    temp = tmp_path / "temp"  # the processes' temp dir, where the workers' metrics folder goes
    temp.mkdir()
    proc = ServeProcess(tmp_path, args=["--no-ui", "--workers", "2"], env={"TMPDIR": str(temp)}).start()
    workers: list[int] = []
    try:
        workers = worker_pids(proc)
        seen, deadline = set(), time.monotonic() + 120
        while seen != set(workers):  # both workers serve (a worker still starting up stops once it is up)
            try:
                seen.add(httpx.get(proc.url + "/healthz", timeout=5).json()["pid"])
            except httpx.HTTPError:
                time.sleep(0.2)
            assert time.monotonic() < deadline, (seen, "".join(proc.output))
        proc.proc.kill()  # SIGKILL: the parent cannot pass anything on
        proc.proc.wait(timeout=10)
        left = wait_gone(workers, 8)
        assert not left, f"workers {left} outlived their parent"
        host, port = proc.url.rsplit("/", 1)[1].rsplit(":", 1)
        with socket.socket() as again:  # what a restart does
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            again.bind((host, int(port)))
            again.listen()
        left_behind = list(temp.glob(f"routeweave-metrics-{proc.proc.pid}-*"))
        assert len(left_behind) == 1, list(temp.iterdir())
        restart = ServeProcess(tmp_path, args=["--no-ui", "--workers", "2"], env={"TMPDIR": str(temp)}).start()
        try:
            workers += worker_pids(restart)  # logged once the folder is made (and the old one swept)
            assert not left_behind[0].exists(), "".join(restart.output)
            assert "removed 1 metrics folder(s) left by serve processes that were killed" in "".join(restart.output)
            assert [p.name for p in temp.iterdir()] == [f"routeweave-metrics-{restart.proc.pid}-" + p.name.split("-")[-1]
                                                        for p in temp.iterdir()], list(temp.iterdir())  # its own only
        finally:
            restart.stop()
    finally:
        proc.stop()
        kill_all(workers)


FOLLOWER = """\
import sys, time
from routeweave.serving import workers
real = sys.platform
sys.platform = {platform!r}  # 'linux': the kernel's PR_SET_PDEATHSIG; anything else: the watcher thread alone
workers.follow_parent({parent}, every_s={every})
sys.platform = real
print("ready", flush=True)
time.sleep(120)
"""
MIDDLE = """\
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print(child.pid, flush=True)
child.wait()
"""


@pytest.mark.parametrize("how", ["kernel", "watcher"])
def test_a_worker_stops_when_its_parent_dies_by_the_kernels_signal_and_by_the_watcher_alone(how):
    if how == "kernel" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    # the follower's parent is `middle`: killed with SIGKILL once the follower is ready
    code = FOLLOWER.format(platform="linux" if how == "kernel" else "elsewhere", parent="__import__('os').getppid()",
                           every=3600 if how == "kernel" else 0.2)  # (kernel: the watcher looks once, then sleeps an hour)
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, code], stdout=subprocess.PIPE, text=True)
    follower = int(middle.stdout.readline())
    try:
        assert middle.stdout.readline().strip() == "ready"
        middle.kill()
        middle.wait()
        assert not wait_gone([follower], 5), f"the follower outlived its parent ({how})"
    finally:
        kill_all([follower])
        middle.kill()
        middle.wait()


def run_serve(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "ROUTEWEAVE_CACHE_DIR": str(tmp_path / "cache")}
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "routeweave.ui.cli", "serve", "--no-ui", "--pool", str(write_mock_pool(tmp_path)),
                          *args], capture_output=True, text=True, env=env, timeout=120)
    return out, time.monotonic() - start


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["single", "workers"])
@pytest.mark.parametrize("case", ["port in use", "bad duration", "db under a file"])
def test_startup_errors_exit_2_with_one_line_before_anything_starts(tmp_path, case, workers):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    (tmp_path / "a-file").write_text("not a folder")
    args, says = {
        "port in use": (["--port", str(taken.getsockname()[1])], "is already in use"),
        "bad duration": (["--port", "0", "--gc-older-than", "7days"], "cannot read the duration '7days'"),
        "db under a file": (["--port", "0", "--db", str(tmp_path / "a-file" / "x.db")], "a-file is a file, not a folder"),
    }[case]
    if "--db" not in args:
        args += ["--db", str(tmp_path / "data" / "routeweave.db")]
    try:
        out, took = run_serve(tmp_path, *args, *workers)
    finally:
        taken.close()
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith("error: ") and says in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr and " on http://" not in out.stdout  # refused before it served (or said it would)
    assert not (tmp_path / "data" / "routeweave.db").exists()  # the engine never opened its database
    assert took < 30


def slow_serve(tmp_path: Path, stub: StubServer, seconds: float, args: list[str]) -> ServeProcess:
    pool = write_stub_pool(tmp_path / "pool.toml", stub, router="router:Slow", experts={"Slow": f"slow:{seconds:g}"})
    return ServeProcess(tmp_path, pool=pool, args=["--no-ui", *args]).start()


def ask_in_thread(url: str, replies: dict, name: str, *, stream: bool = False) -> threading.Thread:
    body = {"model": "routeweave-r1", "messages": QUESTION, "stream": stream}

    def ask() -> None:
        try:
            if stream:
                with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=120) as r:
                    replies[name] = (r.status_code, [line for line in r.iter_lines() if line])
            else:
                r = httpx.post(url + "/v1/chat/completions", json=body, timeout=120)
                replies[name] = (r.status_code, r.json() if r.headers.get("content-type") == "application/json" else r.text)
        except httpx.HTTPError as exc:
            replies[name] = (None, repr(exc))

    thread = threading.Thread(target=ask)
    thread.start()
    return thread


def wait_active(stub: StubServer, model: str, n: int) -> None:
    deadline = time.monotonic() + 60
    while stub.active[model] < n:
        assert time.monotonic() < deadline, f"{model}: {stub.active[model]} of {n} calls in flight"
        time.sleep(0.05)


def sigterm_mid_session(tmp_path: Path, seconds: float, args: list[str], asks: dict[str, bool], *,
                        after: float = 0.0) -> tuple[dict, int, str]:
    """Serve a pool whose only expert takes `seconds`; send one request per entry of `asks` (name: stream?),
    SIGTERM the server `after` seconds once all of them are calling the expert; the replies, serve's exit
    code and its log."""
    with StubServer() as stub:
        proc = slow_serve(tmp_path, stub, seconds, args)
        try:
            replies: dict = {}
            threads = [ask_in_thread(proc.url, replies, name, stream=stream) for name, stream in asks.items()]
            wait_active(stub, f"slow:{seconds:g}", len(threads))
            time.sleep(after)
            proc.proc.send_signal(signal.SIGTERM)
            for t in threads:
                t.join(timeout=90)
            code = proc.proc.wait(timeout=60)
        finally:
            proc.stop()
    return replies, code, "".join(proc.output)


def test_sigterm_lets_requests_in_flight_finish(tmp_path):
    """Sessions of ~5 s: SIGTERM half a second into them; both end normally (uvicorn gave them 3 s before)."""
    replies, code, log = sigterm_mid_session(tmp_path, 5, [], {"plain": False, "stream": True}, after=0.5)
    status, body = replies["plain"]
    assert status == 200 and body["choices"][0]["message"]["content"] == "1889", replies["plain"]
    status, lines = replies["stream"]
    assert status == 200 and lines[-1] == "data: [DONE]" and any('"finish_reason":"stop"' in line for line in lines), lines[-3:]
    assert code == 0, log
    assert "Traceback" not in log and "2 request(s) in flight" in log


def test_requests_still_running_after_the_graceful_timeout_get_a_503_and_one_log_line_each(tmp_path):
    """Cut off by --graceful-timeout: a 503 `shutting_down` naming the session, which is stored unfinished (a
    stream, its 200 sent, ends with that error as an event); uvicorn's own answer was a plain-text 500."""
    replies, code, log = sigterm_mid_session(tmp_path, 5, ["--graceful-timeout", "1"], {"plain": False, "stream": True})
    assert code == 0, (replies, log)
    status, body = replies["plain"]
    assert status == 503 and body["error"]["code"] == "shutting_down", replies["plain"]
    assert body["error"]["session_id"] and body["error"]["session_id"] in body["error"]["message"], body
    status, lines = replies["stream"]
    assert status == 200 and lines[-1] == "data: [DONE]" and '"code":"shutting_down"' in lines[-2], lines[-3:]
    assert "Traceback" not in log and "CancelledError" not in log, log[:3000]
    assert log.count("a request was cancelled") == 2 and len(log.splitlines()) < 10, log
    listed = subprocess.run([sys.executable, "-m", "routeweave.ui.cli", "sessions", "--unfinished", "--json", "--db",
                             str(tmp_path / "routeweave.db")], capture_output=True, text=True, timeout=60)
    unfinished = {row["session_id"] for row in json.loads(listed.stdout)}
    assert body["error"]["session_id"] in unfinished, (listed.stdout, listed.stderr)


@pytest.mark.slow
def test_workers_parent_gives_its_workers_the_graceful_timeout_on_sigterm(tmp_path):
    """A session of 18 s with --workers 2: the parent used to kill its workers 15 s after SIGTERM, and each
    worker's uvicorn cancelled the session after 3 s."""
    replies, code, log = sigterm_mid_session(tmp_path, 18, ["--workers", "2"], {"long": False})
    status, body = replies["long"]
    assert status == 200 and body["choices"][0]["message"]["content"] == "1889", replies
    assert code == 0, log


def test_a_worker_killed_by_a_signal_makes_the_parent_exit_128_plus_its_number(tmp_path):
    proc = ServeProcess(tmp_path, args=["--no-ui", "--workers", "2"]).start()
    workers: list[int] = []
    try:
        workers = worker_pids(proc)
        os.kill(workers[0], signal.SIGKILL)
        code = proc.proc.wait(timeout=60)
    finally:
        proc.stop()
        kill_all(workers)
    assert code == 128 + signal.SIGKILL, "".join(proc.output)
    assert f"worker {workers[0]} was killed by SIGKILL: stopping the others" in "".join(proc.output)
