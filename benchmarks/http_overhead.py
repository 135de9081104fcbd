"""The HTTP layer's own overhead per request: `POST /v1/chat/completions` on a real `routeweave serve`
process (uvicorn, loopback, keep-alive client) against calling the same graph in-process, with mocked
models (LiteLLM mock_response: no llama.cpp server, no network).

Two measurements:
  stub   the service over a graph that answers instantly (canned steps): the round trip IS the HTTP
         layer (client, socket, uvicorn, FastAPI, JSON/SSE encoding), nothing else;
  mocked the real graphs (single-shot and router-r1) over mocked models: HTTP time vs in-process time of
         the same request, measured alternately; overhead = the paired difference.

    python benchmarks/http_overhead.py [--requests 300]
Target (issue 6): overhead < 5 ms p50."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/support: the mock pool and the serve-process helper

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

QUESTION = "When was the Eiffel Tower finished?"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] * 1000


def line(name: str, values: list[float]) -> str:
    return f"| {name} | {pct(values, 0.5):.2f} | {pct(values, 0.99):.2f} | {statistics.mean(values) * 1000:.2f} |"


# -- stub: a graph that answers instantly -----------------------------------------------------------------


def _stub_step(kind: str, **fields):
    from routeweave.graphs import make_step

    return make_step(kind, 1, **fields)


class StubGraph:
    def __init__(self):
        self.steps = [_stub_step("think", expert="router", text="I need one fact.", prompt_tokens=300, completion_tokens=20,
                                 cost_usd=3.2e-05, latency_s=0.1),
                      _stub_step("route", expert="Mock", query="when?", reply="In 1889.", prompt_tokens=10,
                                 completion_tokens=8, cost_usd=7e-06, latency_s=0.05),
                      _stub_step("answer", expert="router", text="1889")]

    def result(self, session_id: str) -> dict:
        from routeweave.serving import summarize

        return summarize(session_id, QUESTION, {"steps": self.steps, "answer": "1889", "stop_reason": "answered", "round": 1})

    def new_session_id(self) -> str:
        return "stub"

    async def ainvoke(self, inputs, *, session_id=None):
        return self.result(session_id or "stub")

    async def astream(self, inputs, *, session_id=None):
        for step in self.steps:
            yield {"type": "step", "step": step}
        yield {"type": "result", **self.result(session_id or "stub")}


def _serve_stub(port: int) -> None:
    import uvicorn

    from routeweave.ui.http_app import create_app
    from routeweave.serving import Service
    from tests.support.serve import MOCK_POOL

    folder = Path(tempfile.mkdtemp())
    (folder / "pool.toml").write_text(MOCK_POOL)
    service = Service(folder / "pool.toml", db_path=folder / "rw.db", cache_dir=folder)  # not started: the stub needs nothing
    stub = StubGraph()
    service.graph = lambda model: stub  # type: ignore[method-assign]
    uvicorn.run(create_app(service, ui=False), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not start")


def _post(client: httpx.Client, model: str, stream: bool) -> tuple[float, float]:
    """(round trip, the graph's wall time in the server as the reply reports it)."""
    body = {"model": model, "messages": [{"role": "user", "content": QUESTION}], "stream": stream}
    started = time.perf_counter()
    if stream:
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            data = b"".join(response.iter_bytes())
        elapsed = time.perf_counter() - started
        wall = [json.loads(line[6:])["routeweave"]["wall_s"] for line in data.split(b"\n")
                if line.startswith(b"data: {") and b'"wall_s"' in line]
        return elapsed, wall[0]
    response = client.post("/v1/chat/completions", json=body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed, response.json()["routeweave"]["wall_s"]


def bench_stub(n: int) -> list[str]:
    port = _free_port()
    proc = multiprocessing.get_context("spawn").Process(target=_serve_stub, args=(port,), daemon=True)
    proc.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url)
        with httpx.Client(base_url=url, timeout=30) as client:
            rows = []
            for stream in (False, True):
                for _ in range(20):
                    _post(client, "routeweave-r1", stream)
                times = [_post(client, "routeweave-r1", stream)[0] for _ in range(n)]
                rows.append(line(f"stub graph, {'stream (3 steps + answer)' if stream else 'non-stream'}: whole HTTP round trip", times))
            return rows
    finally:
        proc.terminate()
        proc.join(10)


# -- mocked: real graphs, HTTP vs in-process ----------------------------------------------------------------


def bench_mocked(n: int) -> list[str]:
    from routeweave.serving import Service
    from tests.support.serve import ServeProcess, write_mock_pool

    rows = []
    with tempfile.TemporaryDirectory() as tmp, ServeProcess(Path(tmp), args=["--no-ui"]) as served:
        pool = write_mock_pool(Path(tmp))
        with Service(pool, db_path=Path(tmp) / "inproc.db", cache_dir=Path(tmp) / "cache") as service, \
                httpx.Client(base_url=served.url, timeout=60) as client:
            for model in ("routeweave-single-shot", "routeweave-r1"):
                graph = service.graph(model)
                for _ in range(10):
                    graph.invoke({"question": QUESTION})
                    _post(client, model, False)
                    _post(client, model, True)
                inproc, http, http_stream = [], [], []
                for _ in range(n):
                    started = time.perf_counter()
                    graph.invoke({"question": QUESTION})
                    inproc.append(time.perf_counter() - started)
                    http.append(_post(client, model, False))
                    http_stream.append(_post(client, model, True))
                rows.append(line(f"{model}: in-process graph.invoke", inproc))
                rows.append(line(f"{model}: HTTP non-stream round trip", [t for t, _ in http]))
                rows.append(line(f"{model}: HTTP stream round trip", [t for t, _ in http_stream]))
                rows.append(line(f"{model}: **HTTP layer, non-stream** (round trip − graph wall time in the server)",
                                 [t - w for t, w in http]))
                rows.append(line(f"{model}: **HTTP layer, stream** (round trip − graph wall time in the server)",
                                 [t - w for t, w in http_stream]))
                rows.append(line(f"{model}: HTTP non-stream − in-process, paired (two processes, noisy)",
                                 [t - i for (t, _), i in zip(http, inproc)]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    header = ["| measurement | p50 ms | p99 ms | mean ms |", "|---|---:|---:|---:|"]
    rows = bench_stub(args.requests) + bench_mocked(args.requests)
    print(f"requests={args.requests} per row, python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print("\n".join(header + rows))


if __name__ == "__main__":
    main()
