"""Helpers for the HTTP/UI tests and benchmarks: a pool of mocked models (LiteLLM's mock_response, so no
server starts and no network is used) and a real `routeweave serve` process on a free port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

MOCK_POOL = """\
# Mocked models: LiteLLM answers with mock_response; api_base points nowhere and is never called.
[router]
model = "openai/mock-router"
api_base = "http://127.0.0.1:9"
mock_response = "<think>I need the year the tower was finished.</think>\\n<search>Mock: when was the Eiffel Tower finished?</search>"
grammar = false
price = { input_per_m = 0.10, output_per_m = 0.10 }

[limits]
budget_usd = 0.01
max_rounds = 2
max_searches_per_turn = 1

[[experts]]
name = "Mock"
model = "openai/mock-expert"
api_base = "http://127.0.0.1:9"
description = "A cheap expert that answers anything."
mock_response = "The Eiffel Tower was finished in March 1889."
price = { input_per_m = 0.20, output_per_m = 0.60 }

[[experts]]
name = "Pricey"
model = "openai/mock-pricey"
api_base = "http://127.0.0.1:9"
description = "A dearer expert."
mock_response = "1889."
price = { input_per_m = 2.0, output_per_m = 6.0 }
"""


def write_mock_pool(folder: Path) -> Path:
    path = Path(folder) / "mock-pool.toml"
    path.write_text(MOCK_POOL, encoding="utf-8")
    return path


class ServeProcess:
    """`routeweave serve` (or `chat`) in a child process on a free port; `url` once it listens."""

    def __init__(self, folder: Path, *, pool: Path | str | None = None, api_key: str | None = None, args: list[str] | None = None,
                 command: str = "serve", env: dict[str, str] | None = None):
        self.folder = Path(folder)
        self.pool = pool or write_mock_pool(self.folder)
        self.api_key = api_key
        self.args = args or []
        self.command = command
        self.env = env or {}
        self.url: str | None = None
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 120.0) -> "ServeProcess":
        if self.proc is not None and self.proc.poll() is None:  # (`with proc.start():` would start a second one)
            raise RuntimeError("this ServeProcess is running already: use `with ServeProcess(...) as proc`")
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "ROUTEWEAVE_CACHE_DIR": str(self.folder / "cache"), "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("ROUTEWEAVE_API_KEY", None)
        if self.api_key:
            env["ROUTEWEAVE_API_KEY"] = self.api_key
        cmd = [sys.executable, "-m", "routeweave.ui.cli", self.command, "--port", "0", "--pool", str(self.pool),
               "--db", str(self.folder / "routeweave.db"), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        found = threading.Event()

        def read() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                self.output.append(line)
                match = re.search(r"on (http://[\d.]+:\d+)", line)
                if match and not found.is_set():
                    self.url = match.group(1)
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("routeweave serve did not start:\n" + "".join(self.output[-40:]))
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self) -> "ServeProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def worker_pids(proc: ServeProcess, timeout: float = 60.0) -> list[int]:
    """The worker pids a `serve --workers N` parent logged ("N workers: pids A B; ...")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(proc.output):
            match = re.search(r"workers: pids ([\d ]+);", line)
            if match:
                return [int(p) for p in match.group(1).split()]
        time.sleep(0.1)
    raise RuntimeError("no 'workers: pids' line:\n" + "".join(proc.output[-40:]))


def pid_alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead and waiting for whoever adopted it to reap it, does not)."""
    if not Path("/proc/self/stat").exists():  # no /proc: ask the kernel (a zombie counts as running here)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
