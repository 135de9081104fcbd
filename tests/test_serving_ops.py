"""Running the service: Prometheus metrics, retention (`routeweave gc`) and `serve --workers N`, each on
real processes: `routeweave serve` on a free port, a real stub model server, `routeweave ask` killed with
SIGKILL mid-session, `routeweave gc` from the command line."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from routeweave.evals.qa.store import ResultStore
from routeweave.serving import load_pool, open_graph
from support.serve import MOCK_POOL, ServeProcess
from support.stub_openai import StubServer

TESTS = Path(__file__).resolve().parent
QUESTION = [{"role": "user", "content": "When was the Eiffel Tower finished?"}]
ROUTER = MOCK_POOL.split("[limits]")[0]  # the mock router: it always searches Mock


def slow_pool(folder: Path, expert: str) -> Path:
    path = folder / "slow-pool.toml"
    path.write_text(ROUTER + '[limits]\nbudget_usd = 0.01\nmax_rounds = 1\nmax_searches_per_turn = 1\n\n[[experts]]\n'
                    'name = "Mock"\ndescription = "answers anything"\n' + expert, encoding="utf-8")
    return path


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_sessions_tokens_dollars_latency_refusals_and_429s(tmp_path):
    with StubServer() as stub:
        expert = f'model = "openai/slow:1.5"\napi_base = "{stub.api_base}"\nprice = {{ input_per_m = 1.0, output_per_m = 2.0 }}\n'
        with ServeProcess(tmp_path, pool=slow_pool(tmp_path, expert), args=["--no-ui", "--max-sessions", "1"]) as proc:
            url = proc.url + "/v1/chat/completions"
            replies = {}

            def ask(name: str, **options) -> None:
                body = {"model": "routeweave-r1", "messages": QUESTION, "routeweave": options}
                replies[name] = httpx.post(url, json=body, timeout=60)

            first = threading.Thread(target=ask, args=("first",))
            first.start()
            time.sleep(0.8)  # the first session waits on the slow expert
            ask("second")
            first.join()
            ask("poor", budget_usd=1e-9)  # the router's first turn cannot be paid for
            httpx.post(url, json={"model": "nope", "messages": QUESTION}, timeout=30)
            text = httpx.get(proc.url + "/metrics", timeout=30).text
    assert replies["first"].status_code == 200 and replies["second"].status_code == 429
    assert replies["poor"].json()["routeweave"]["stop_reason"] == "budget"
    assert metric(text, "routeweave_requests_total", model="routeweave-r1", status="200") == 2
    assert metric(text, "routeweave_requests_total", model="routeweave-r1", status="429") == 1
    assert metric(text, "routeweave_requests_total", model="unknown", status="404") == 1
    assert metric(text, "routeweave_overload_rejections_total") == 1
    stop = replies["first"].json()["routeweave"]["stop_reason"]
    assert metric(text, "routeweave_sessions_total", graph="router-r1", stop_reason=stop) == 1
    assert metric(text, "routeweave_sessions_total", graph="router-r1", stop_reason="budget") == 1
    assert metric(text, "routeweave_budget_refusals_total", graph="router-r1") == 1
    usage = replies["first"].json()["usage"]
    prompt = sum(metric(text, "routeweave_tokens_total", expert=e, kind="prompt") for e in ("router", "Mock"))
    assert prompt == usage["prompt_tokens"] and metric(text, "routeweave_tokens_total", expert="Mock", kind="completion") > 0
    assert metric(text, "routeweave_cost_usd_total", expert="Mock") > 0
    cost = sum(metric(text, "routeweave_cost_usd_total", expert=e) for e in ("router", "Mock"))
    assert cost == pytest.approx(replies["first"].json()["routeweave"]["cost_usd"])
    assert metric(text, "routeweave_call_latency_seconds_count", expert="Mock") == 1
    assert metric(text, "routeweave_call_latency_seconds_sum", expert="Mock") >= 1.5
    assert metric(text, "routeweave_session_latency_seconds_count", graph="router-r1") == 2
    assert metric(text, "routeweave_sessions_in_flight") == 0


def test_metrics_count_failed_calls_by_expert_though_the_session_answered(tmp_path):
    """An expert that fails every call: the session still answers (its fallback), so only
    routeweave_call_errors shows it."""
    with StubServer() as stub:
        expert = f'model = "openai/500"\napi_base = "{stub.api_base}"\nprice = {{ input_per_m = 1.0, output_per_m = 2.0 }}\n'
        with ServeProcess(tmp_path, pool=slow_pool(tmp_path, expert), args=["--no-ui"]) as proc:
            reply = httpx.post(proc.url + "/v1/chat/completions", json={"model": "routeweave-r1", "messages": QUESTION},
                               timeout=120)
            text = httpx.get(proc.url + "/metrics", timeout=30).text
    assert reply.status_code == 200, reply.text
    assert metric(text, "routeweave_call_errors_total", error="failed", expert="Mock") == 1, text
    assert metric(text, "routeweave_call_errors_total", error="failed", expert="router") == 0


def cli(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(TESTS), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-m", "routeweave.ui.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300, **kw)


def count(db: Path, sql: str, *params) -> int:
    conn = sqlite3.connect(str(db))
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


def test_gc_prunes_only_finished_sessions_checkpoints_keeps_traces_and_evals_and_killed_ones_resume(tmp_path):
    db, checkpoints = tmp_path / "routeweave.db", tmp_path / "routeweave.checkpoints.db"
    fast = slow_pool(tmp_path, 'kind = "python"\nfunction = "support.tools:slow_echo"\n')
    done = [cli(["ask", f"finished question {i}?", "--pool", str(fast), "--db", str(db), "--json"]) for i in range(2)]
    assert all(d.returncode == 0 for d in done), done[0].stderr
    with ResultStore(tmp_path / "evals.db") as store:  # eval results beside the traces: never gc's business
        store.open_run("kept", {"graph": "direct"}, total=1)
    evals_before = (tmp_path / "evals.db").read_bytes()

    hanging = tmp_path / "hang-pool.toml"
    hanging.write_text(fast.read_text().replace('function = "support.tools:slow_echo"',
                                                'function = "support.tools:slow_echo"\noptions = { delay = 120 }'))
    env = {**os.environ, "PYTHONPATH": str(TESTS), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    ask = subprocess.Popen([sys.executable, "-m", "routeweave.ui.cli", "ask", "killed question?", "--pool", str(hanging),
                            "--db", str(db), "--json"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the router's turn is stored; the expert call hangs
        if db.exists() and count(db, "SELECT count(*) FROM rw_steps s JOIN rw_sessions r USING (session_id) "
                                     "WHERE r.finished IS NULL AND s.kind = 'think'"):
            break
        time.sleep(0.2)
    time.sleep(0.5)
    ask.send_signal(signal.SIGKILL)
    ask.wait()
    killed = sqlite3.connect(str(db)).execute("SELECT session_id FROM rw_sessions WHERE finished IS NULL").fetchone()[0]
    finished = [r[0] for r in sqlite3.connect(str(db)).execute("SELECT session_id FROM rw_sessions WHERE finished IS NOT NULL")]
    assert len(finished) == 2 and all(count(checkpoints, "SELECT count(*) FROM checkpoints WHERE thread_id = ?", s) for s in finished)
    kept_before = count(checkpoints, "SELECT count(*) FROM checkpoints WHERE thread_id = ?", killed)
    steps_before = count(db, "SELECT count(*) FROM rw_steps")

    out = cli(["gc", "--older-than", "0", "--db", str(db), "--json"])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"sessions": 2, "checkpoints_pruned": 2, "traces_deleted": 0}
    again = cli(["gc", "--older-than", "0", "--db", str(db)])  # nothing left to prune: it says so
    assert again.stdout.startswith("2 finished session(s) older than 0: deleted the checkpoints of 0 (the others had none")
    for s in finished:
        assert count(checkpoints, "SELECT count(*) FROM checkpoints WHERE thread_id = ?", s) == 0
        assert count(checkpoints, "SELECT count(*) FROM writes WHERE thread_id = ?", s) == 0
    assert count(checkpoints, "SELECT count(*) FROM checkpoints WHERE thread_id = ?", killed) == kept_before > 0
    assert count(db, "SELECT count(*) FROM rw_steps") == steps_before  # traces kept
    assert count(db, "SELECT count(*) FROM rw_sessions") == 3
    assert (tmp_path / "evals.db").read_bytes() == evals_before
    assert json.loads(cli(["gc", "--older-than", "1d", "--db", str(db), "--json"]).stdout)["sessions"] == 0

    with open_graph(load_pool(fast), db_path=db, cache_dir=tmp_path / "cache") as graph:  # the killed one goes on
        result = graph.resume(killed)
    kinds = [s["kind"] for s in result["steps"]]
    assert kinds[0] == "think" and "route" in kinds and result["stop_reason"] is not None
    assert count(db, "SELECT count(*) FROM rw_sessions WHERE session_id = ? AND finished IS NOT NULL", killed) == 1

    out = json.loads(cli(["gc", "--older-than", "0", "--db", str(db), "--traces", "--json"]).stdout)
    assert out == {"sessions": 3, "checkpoints_pruned": 1, "traces_deleted": 3} and count(db, "SELECT count(*) FROM rw_steps") == 0
    assert json.loads(cli(["gc", "--older-than", "0", "--db", str(db), "--traces", "--json"]).stdout)["traces_deleted"] == 0
    assert (tmp_path / "evals.db").read_bytes() == evals_before


def test_gc_refuses_a_duration_it_cannot_read(tmp_path):
    out = cli(["gc", "--older-than", "a week", "--db", str(tmp_path / "x.db")])
    assert out.returncode == 2 and "30m, 12h, 7d" in out.stderr


@pytest.mark.server
def test_workers_serve_from_n_processes_sharing_one_llama_server(tmp_path):
    pool = tmp_path / "local-pool.toml"
    experts = MOCK_POOL[MOCK_POOL.index("[limits]"):]
    pool.write_text('[servers.local]\nthreads = 2\nn_parallel = 2\n\n[router]\nmodel = "openai/smollm2-135m"\nserver = "local"\n'
                    'grammar = false\nmax_tokens = 16\n\n' + experts, encoding="utf-8")
    with ServeProcess(tmp_path, pool=pool, args=["--no-ui", "--workers", "2"]) as proc:
        seen, deadline = {}, time.monotonic() + 180
        while len(seen) < 2 and time.monotonic() < deadline:
            try:
                health = httpx.get(proc.url + "/healthz", timeout=10).json()
                seen[health["pid"]] = health["model_servers"]
            except httpx.HTTPError:
                time.sleep(0.5)
        assert len(seen) == 2, "".join(proc.output)  # both workers answered /healthz (else: what the server said)
        reply = httpx.post(proc.url + "/v1/chat/completions", json={"model": "routeweave-direct", "messages": QUESTION},
                           timeout=120)
        text = httpx.get(proc.url + "/metrics", timeout=30).text
        maps = {pid: Path(f"/proc/{pid}/maps").read_text() for pid in [proc.proc.pid, *seen]}
    assert len(seen) == 2 and proc.proc.pid not in seen, seen  # two worker processes, neither the parent
    urls = {tuple(sorted(s.items())) for s in seen.values()}
    assert len(urls) == 1 and re.match(r"http://127\.0\.0\.1:\d+$", dict(urls.pop())["local"])  # one server for both
    assert "llama" in maps[proc.proc.pid].lower()  # the parent runs llama.cpp ...
    assert all("llama" not in maps[pid].lower() for pid in seen)  # ... the workers never load it
    assert reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] > 0
    assert metric(text, "routeweave_requests_total", model="routeweave-direct", status="200") == 1


def test_closing_the_engine_closes_its_model_clients(tmp_path):
    """LiteLLM caches an HTTP client per event loop; the engine's loop used to close with it open, so every
    process that asked a question printed "ResourceWarning: unclosed resource <TCPTransport ...>" at exit."""
    from support.stub_openai import write_stub_pool

    with StubServer() as stub:
        pool = write_stub_pool(tmp_path / "pool.toml", stub, router="router:Fast", experts={"Fast": "ok"})
        script = (f"from routeweave.serving import open_graph\n"
                  f"with open_graph({str(pool)!r}, db_path={str(tmp_path / 't.db')!r}) as g:\n"
                  f"    print(g.invoke({{'question': 'When was the Eiffel Tower finished?'}})['stop_reason'])\n")
        run = subprocess.run([sys.executable, "-X", "dev", "-W", "always::ResourceWarning", "-c", script],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.split() == ["answered"], run.stderr[-2000:]
    assert "ResourceWarning" not in run.stderr, run.stderr[-2000:]
