"""The processes a benchmarks/load_serve.py run drives: the stub models (tests/support/stub_openai.py plus a
router that searches, then answers) in a child process, and `routeweave serve` as a real subprocess.

    python benchmarks/load_serve_procs.py   # the stub server alone: prints its api_base, serves until stdin closes
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUTER_MODEL = "openai/router"
SEARCH = "<think>I need one fact.</think>\n<search>Stub: when was the tower built?</search>"
ANSWER = "<think>The evidence says 1889.</think>\n<answer>It was built in 1889.</answer>"


# -- the stubs (a child process) --------------------------------------------------------------------------


def run_stub() -> None:
    """The stub server of tests/support plus a router: it searches until it has read an <information>
    block, then answers. Prints its api_base and serves until stdin closes."""
    sys.path.insert(0, str(ROOT))
    from starlette.responses import JSONResponse

    from tests.support.stub_openai import StubServer, _answer

    class LoadStub(StubServer):
        async def _chat(self, request):
            body = await request.json()
            if body.get("model") == "router":
                self.calls["router"] += 1
                seen = any("<information>" in str(m.get("content") or "") for m in body.get("messages", [])
                           if m.get("role") != "system")  # the system prompt names the tag too
                return JSONResponse(_answer("router", ANSWER if seen else SEARCH))
            return await super()._chat(request)

    stub = LoadStub().start()
    print(stub.api_base, flush=True)
    sys.stdin.read()  # until the parent closes the pipe (or dies)
    stub.stop()


class Stub:
    def __enter__(self) -> "Stub":
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.api_base = self.proc.stdout.readline().strip()
        if not self.api_base.startswith("http"):
            raise RuntimeError("the stub server did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def pool_toml(api_base: str, expert_delay: float) -> str:
    return f"""
[router]
model = "{ROUTER_MODEL}"
api_base = "{api_base}"
grammar = false
price = {{ input_per_m = 0.10, output_per_m = 0.10 }}
max_tokens = 64
timeout = 120

[limits]
budget_usd = 1.0
max_rounds = 2
max_searches_per_turn = 1

[[experts]]
name = "Stub"
model = "openai/slow:{expert_delay}"
api_base = "{api_base}"
description = "Answers any factual question."
price = {{ input_per_m = 0.20, output_per_m = 0.60 }}
max_tokens = 64
timeout = 120
"""


# -- the serve process ------------------------------------------------------------------------------------


class Serve:
    """`routeweave serve --no-ui` as a real subprocess on a free port."""

    def __init__(self, pool: Path, workdir: Path, extra: list[str] | None = None):
        self.pool, self.workdir, self.extra = pool, workdir, extra or []

    def __enter__(self) -> "Serve":
        env = {**os.environ, "ROUTEWEAVE_CACHE_DIR": str(self.workdir / "cache"), "GRADIO_ANALYTICS_ENABLED": "False",
               "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        env.pop("ROUTEWEAVE_API_KEY", None)
        env.pop("ROUTEWEAVE_CHECKPOINTER_URL", None)  # this measures the default: SQLite checkpoints
        self.log = open(self.workdir / "serve.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "routeweave.ui.cli", "serve", "--no-ui", "--port", "0", "--pool", str(self.pool),
             "--db", str(self.workdir / "serve.db"), *self.extra],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        line = self.proc.stdout.readline()
        if "http://" not in line:
            self.__exit__()
            self.log.seek(0)
            raise RuntimeError(f"routeweave serve did not start: {line!r} {self.log.read()[-2000:]}")
        self.base = line.split("http://", 1)[1].split()[0]
        self.url = f"http://{self.base}/v1/chat/completions"
        self._wait_healthy()
        return self

    def _wait_healthy(self, timeout: float = 60) -> None:
        # The port is bound (and printed) before uvicorn listens on it.
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"http://{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("routeweave serve did not become healthy")

    def checkpoints_mb(self) -> float:
        return sum(p.stat().st_size for p in self.workdir.glob("serve.checkpoints.db*")) / 2**20

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


if __name__ == "__main__":
    run_stub()
