"""Faults from real failing endpoints (a closed port; a local HTTP server answering 500, 429, hanging,
garbage, empty, flaky) go through LiteLLM Router's retries and fallbacks; no session crashes and every
fault is in the trace."""

import asyncio
import socket

import pytest

from routeweave.agents.pool import Pool
from routeweave.serving import Engine

from support.stub_openai import StubServer

FAULTS = ["500", "429", "hang", "garbage", "empty"]


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there once the socket is closed


def fault_pool(stub: StubServer, *, router_says: str, experts: list[dict], **extra) -> Pool:
    return Pool.model_validate({
        "router": {"model": "openai/mock-router", "api_base": stub.api_base, "grammar": False,
                   "mock_response": router_says, "price": {"input_per_m": 0.1, "output_per_m": 0.1}},
        "experts": experts,
        "limits": {"budget_usd": 1.0, "max_rounds": 1, "max_searches_per_turn": 8},
        "reliability": {"num_retries": 1, "retry_after_s": 0, "allowed_fails": 1000, "cooldown_s": 0},
        **extra,
    })


def expert(name: str, api_base: str, model: str, **kw) -> dict:
    return {"name": name, "model": f"openai/{model}", "api_base": api_base, "timeout": 0.5, "description": name,
            "price": {"input_per_m": 1.0, "output_per_m": 2.0}, **kw}


@pytest.fixture(scope="module")
def stub():
    with StubServer() as stub:
        yield stub


def test_every_fault_kind_becomes_a_trace_row_and_the_session_ends(stub, tmp_path):
    experts = [expert(f"F{m}", stub.api_base, m) for m in FAULTS]
    experts += [expert("Refused", closed_port(), "ok"), expert("Good", stub.api_base, "ok:Paris.")]
    names = ", ".join(e["name"] for e in experts)
    pool = fault_pool(stub, router_says=f"<think>ask all</think><search>{names}: capital of France?</search>",
                      experts=experts)
    with Engine(pool, db_path=tmp_path / "t.db", cache_dir=tmp_path / "c") as engine:
        result = engine.graph("router-r1").invoke({"question": "What is the capital of France?"})
        routes = {s["expert"]: s for s in result["steps"] if s["kind"] == "route"}
        assert set(routes) == {e["name"] for e in experts}
        for name in [f"F{m}" for m in FAULTS] + ["Refused"]:
            assert routes[name]["error"], name  # every fault is visible, with its cause
            # a call that failed costs nothing; an empty reply was still billed, and is charged
            assert (routes[name]["cost_usd"] > 0) == (name == "Fempty"), name
        assert routes["Good"]["error"] is None and routes["Good"]["reply"] == "Paris."
        assert "Timeout" in routes["Fhang"]["error"]
        assert result["answer"]  # the session still ends with an answer (here the fallback evidence)
        stored = engine.traces.get(result["session_id"])
        assert sum(1 for s in stored["steps"] if s["error"]) == sum(1 for s in result["steps"] if s["error"])


def test_retries_recover_a_flaky_expert_and_fallbacks_take_over(stub, tmp_path):
    experts = [expert("Flaky", stub.api_base, "flaky:1"),
               expert("Broken", stub.api_base, "500", fallbacks=["Backup"]),
               expert("Backup", stub.api_base, "ok:backup answer", enabled=False,
                      price={"input_per_m": 5.0, "output_per_m": 5.0})]
    pool = fault_pool(stub, router_says="<think>t</think><search>Flaky, Broken: q?</search>", experts=experts)
    with Engine(pool, db_path=tmp_path / "t.db", cache_dir=tmp_path / "c") as engine:
        result = engine.graph("router-r1").invoke({"question": "q?"})
    routes = [s for s in result["steps"] if s["kind"] == "route"]
    flaky = next(s for s in routes if s["query"] and s["reply"] == "Recovered answer.")
    assert flaky["error"] is None
    backup = [s for s in routes if s["reply"] == "backup answer"]
    assert backup and backup[0]["error"] is None
    # charged at the price of the expert that really answered (Backup: $5/1M both ways)
    b = backup[0]
    assert b["cost_usd"] == pytest.approx((b["prompt_tokens"] * 5.0 + b["completion_tokens"] * 5.0) / 1e6)


def test_a_failing_router_ends_the_session_with_a_fallback(stub, tmp_path):
    pool = fault_pool(stub, router_says="unused", experts=[expert("Good", stub.api_base, "ok")])
    pool = pool.model_copy(update={"router": pool.router.model_copy(update={"model": "openai/500", "mock_response": None})})
    before = stub.calls["500"]
    with Engine(pool, db_path=tmp_path / "t.db", cache_dir=tmp_path / "c") as engine:
        result = engine.graph("router-r1").invoke({"question": "q?"})
    assert result["steps"][-1]["kind"] == "fallback" and result["answer"]
    assert "no evidence" in result["steps"][-1]["text"]  # it asked nobody: no evidence to claim an answer from
    assert [s for s in result["steps"] if s["kind"] == "think" and s["error"]]
    # a failed call is the provider's fault, not unusable output: `failed`, once (LiteLLM did the retrying;
    # a correction turn would fail the same way, e.g. a prompt past the context window)
    assert result["stop_reason"] == "failed"
    assert len([s for s in result["steps"] if s["kind"] == "think"]) == 1 and stub.calls["500"] - before == 2  # 1 + 1 retry


def test_a_thousand_distinct_injected_faults_crash_no_session(stub, tmp_path):
    """1,050 distinct failed calls (five failing experts in each of 210 sessions, 25 at a time), each a trace
    row; the retries LiteLLM made on top of them are counted apart."""
    failing = ("500", "429", "garbage", "hang")
    experts = [expert(f"F{m}", stub.api_base, m) for m in failing]
    experts.append(expert("Refused", closed_port(), "ok"))
    names = ", ".join(e["name"] for e in experts)
    pool = fault_pool(stub, router_says=f"<think>t</think><search>{names}: q?</search>", experts=experts)
    before = sum(stub.calls[m] for m in failing)
    sessions = 210
    with Engine(pool, db_path=tmp_path / "t.db", cache_dir=tmp_path / "c") as engine:
        graph = engine.graph("router-r1")

        async def run_all():  # 25 sessions at a time (125 calls in flight): more would only time out in the client
            gate = asyncio.Semaphore(25)

            async def one(i):
                async with gate:
                    return await graph.ainvoke({"question": f"q{i}?"})

            return await asyncio.gather(*(one(i) for i in range(sessions)), return_exceptions=True)

        results = asyncio.run(run_all())
        crashed = [r for r in results if isinstance(r, BaseException)]
        assert crashed == []
        stored = [engine.traces.get(r["session_id"]) for r in results]
    failed_rows = [s for t in stored for s in t["steps"] if s["kind"] == "route" and s["error"]]
    http_rows = [s for s in failed_rows if s["expert"] != "Refused"]
    attempts = sum(stub.calls[m] for m in failing) - before
    assert len(failed_rows) == 5 * sessions >= 1000  # distinct faults, one trace row each
    assert attempts >= len(http_rows) + len(http_rows) // 2  # retries happened, and are not counted as faults
    assert all(r["answer"] and r["steps"][-1]["kind"] in {"answer", "fallback"} for r in results)
    print(f"distinct faults {len(failed_rows)} (HTTP {len(http_rows)}, refused connections {len(failed_rows) - len(http_rows)}); "
          f"HTTP attempts including retries {attempts}; sessions {sessions}, crashed 0")


@pytest.mark.parametrize("cheap, strong, asked, kept, notice", [
    # unsure, escalated; the stronger expert is even less sure, and still its answer is kept (not the cheap one's)
    ("ok:Lyon+logprob=-2", "ok:Paris+logprob=-3", ["Cheap", "Strong"], "Paris", "confidence 0.14 < 0.50: escalating"),
    ("ok:Lyon+logprob=-0.1", "ok:Paris+logprob=-3", ["Cheap"], "Lyon", None),  # sure: no escalation
    ("ok:Lyon", "ok:Paris+logprob=-3", ["Cheap"], "Lyon", "no confidence signal (Cheap returned no logprobs)"),
    ("ok:Lyon+logprob=-2", "500", ["Cheap", "Strong"], "Lyon", "escalating"),  # the escalation failed: the answer it had
])
def test_cascade_escalates_on_real_logprobs_and_keeps_the_last_answer(stub, tmp_path, cheap, strong, asked, kept, notice):
    """The cascade graph on real HTTP replies carrying logprobs: exp(mean logprob) below the ladder's 0.5 escalates;
    the answer kept is the last expert's that answered (two models' confidences are not comparable); a reply
    without logprobs is kept and the trace says why."""
    from routeweave.policies import get_policy

    experts = [expert("Cheap", stub.api_base, cheap, price={"input_per_m": 0.1, "output_per_m": 0.1}),
               expert("Strong", stub.api_base, strong, price={"input_per_m": 9.0, "output_per_m": 9.0})]
    pool = fault_pool(stub, router_says="unused", experts=experts)
    with Engine(pool, db_path=tmp_path / "t.db", cache_dir=tmp_path / "c") as engine:
        result = engine.graph("cascade", get_policy("ladder")).invoke({"question": "What is the capital of France?"})
    assert [s["expert"] for s in result["steps"] if s["kind"] == "route"] == asked
    assert result["answer"] == kept and result["stop_reason"] == "answered"
    notices = [s["text"] for s in result["steps"] if s["kind"] == "notice" and "confidence" in (s["text"] or "")]
    assert (notice is None and not notices) or (notice is not None and any(notice in t for t in notices)), notices


@pytest.mark.parametrize("model, truncated", [("ok:Paris+length", True), ("ok:Paris", False)])
def test_a_policy_graphs_answer_cut_at_its_token_limit_is_marked(stub, tmp_path, model, truncated):
    pool = fault_pool(stub, router_says="unused", experts=[expert("Only", stub.api_base, model)])
    with Engine(pool, db_path=tmp_path / "t.db", cache_dir=tmp_path / "c") as engine:
        result = engine.graph("single-shot", "cheapest").invoke({"question": "What is the capital of France?"})
    assert result["answer"] == "Paris" and result["truncated"] is truncated


def test_ask_exits_non_zero_when_the_session_failed(stub, tmp_path, capsys):
    """A down router server once gave exit 0 and a fallback: scripts could not tell it from an answer."""
    from routeweave.ui.cli import main
    from support.stub_openai import write_stub_pool

    pool = write_stub_pool(tmp_path / "pool.toml", stub, router="500", experts={"Good": "ok"},
                           tables="[reliability]\nnum_retries = 0")
    for json_flag in ([], ["--json"]):
        assert main(["ask", "q?", "--pool", str(pool), "--trace-db", str(tmp_path / "t.db"), *json_flag]) == 1
        out = capsys.readouterr().out
        assert "failed" in out and "the router call failed" in out
    good = write_stub_pool(tmp_path / "good.toml", stub, router="router:Good", experts={"Good": "ok"})
    assert main(["ask", "q?", "--pool", str(good), "--trace-db", str(tmp_path / "t.db")]) == 0
