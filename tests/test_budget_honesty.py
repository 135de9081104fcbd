"""The budget against providers that do not bill what they were asked to (a real HTTP stub that reports
usage above max_tokens, no usage at all, or prompts counted by another tokenizer): the overspend is
stopped at once, recorded on the step, reported in the result, the CLI, the HTTP reply and the trace, and
counted per expert; a reply without usage is charged its whole reservation."""

from __future__ import annotations

import json
import subprocess

import pytest

from routeweave.agents.pool import Pool
from routeweave.serving import Engine
from support.stub_openai import StubServer, write_stub_pool

LIAR = "+lie=50000,100000"  # 150,000 tokens at $1/M: $0.15 a call, whatever was asked


@pytest.fixture(scope="module")
def stub():
    with StubServer() as server:
        yield server


def pool(stub, router: str, big: str, **extra) -> Pool:
    return Pool.model_validate({
        "router": {"model": f"openai/{router}", "api_base": stub.api_base, "grammar": False,
                   "price": {"input_per_m": 1.0, "output_per_m": 1.0}},
        "experts": [{"name": "Big", "model": f"openai/{big}", "api_base": stub.api_base, "description": "big",
                     "price": {"input_per_m": 1.0, "output_per_m": 1.0}, "max_tokens": 64}],
        "limits": {"budget_usd": 0.01, "max_rounds": 2}, "reliability": {"num_retries": 0}, **extra,
    })


def test_a_lying_router_is_stopped_after_its_first_call_and_the_overspend_reported(stub, tmp_path):
    with Engine(pool(stub, "router:Big" + LIAR, "ok" + LIAR), db_path=tmp_path / "t.db", cache_dir=tmp_path) as engine:
        result = engine.graph("router-r1").invoke({"question": "When was the Eiffel Tower finished?"})
        stored = engine.traces.get(result["session_id"])
    assert result["stop_reason"] == "overspent"
    assert result["cost_usd"] == pytest.approx(0.15) and result["overspent_usd"] == pytest.approx(0.15 - 0.01, abs=0.01)
    think = result["steps"][0]
    assert think["kind"] == "think" and think["overspent_usd"] == pytest.approx(result["overspent_usd"])
    assert not [s for s in result["steps"] if s["kind"] == "route"]  # no call started after the overspend
    assert [s["error"] for s in result["steps"] if s["kind"] == "notice"] == ["overspent"]
    assert stored["stop_reason"] == "overspent" and stored["overspent_usd"] == pytest.approx(result["overspent_usd"])


def test_parallel_expert_calls_that_lie_end_the_session_after_their_round(stub, tmp_path):
    with Engine(pool(stub, "router:Big", "ok" + LIAR), db_path=tmp_path / "t.db", cache_dir=tmp_path) as engine:
        result = engine.graph("router-r1").invoke({"question": "q?"})
        assert engine.traces.overspends_by_expert() == {"Big": 1}
    kinds = [s["kind"] for s in result["steps"]]
    assert result["stop_reason"] == "overspent" and kinds.count("think") == 1  # the router was not asked again
    route = next(s for s in result["steps"] if s["kind"] == "route")
    assert route["cost_usd"] == pytest.approx(0.15) and route["overspent_usd"] > 0.14


def test_a_reply_without_usage_is_charged_its_reservation_and_flagged(stub, tmp_path):
    with Engine(pool(stub, "router:Big", "ok+nousage"), db_path=tmp_path / "t.db", cache_dir=tmp_path) as engine:
        result = engine.graph("router-r1").invoke({"question": "q?"})
    route = next(s for s in result["steps"] if s["kind"] == "route")
    assert route["cost_usd"] > 0 and route["prompt_tokens"] > 64 and route["overspent_usd"] == 0  # its reservation
    notice = next(s for s in result["steps"] if s["kind"] == "notice")
    assert notice["error"] == "usage missing" and notice["expert"] == "Big"
    assert result["stop_reason"] == "answered" and result["cost_usd"] <= 0.01


@pytest.mark.parametrize("usage", ["-1,5", "20,-", "20,0", "-,-"])
def test_usage_that_is_negative_partial_or_zero_for_a_reply_is_charged_its_reservation_and_the_reply_kept(
        stub, tmp_path, usage):
    """A count the provider can't have meant (a negative prompt, no completion count, 0 tokens for a reply with
    text) is usage not reported: the call is charged its whole reservation and flagged, and its reply is read."""
    with Engine(pool(stub, "router:Big", f"ok+usage={usage}"), db_path=tmp_path / "t.db", cache_dir=tmp_path) as engine:
        result = engine.graph("router-r1").invoke({"question": "q?"})
    route = next(s for s in result["steps"] if s["kind"] == "route")
    assert route["error"] is None and route["reply"]
    assert route["prompt_tokens"] > 64 and route["cost_usd"] == pytest.approx(route["prompt_tokens"] / 1e6)
    assert [s["error"] for s in result["steps"] if s["kind"] == "notice"] == ["usage missing"]
    assert result["stop_reason"] == "answered"


def test_reservations_learn_how_a_provider_counts_prompts(stub, tmp_path):
    """A provider counting prompts at 3x our count overspends once; its next reservations include the ratio."""
    with Engine(pool(stub, "router:Big+prompt*3", "ok"), db_path=tmp_path / "t.db", cache_dir=tmp_path) as engine:
        first = engine.graph("router-r1").invoke({"question": "q?"})
        second = engine.graph("router-r1").invoke({"question": "q?"})
    assert first["stop_reason"] == "overspent"
    assert second["stop_reason"] == "answered" and second["overspent_usd"] == 0


def test_an_expert_past_the_pools_overspend_limit_is_taken_out_of_service(stub, tmp_path):
    liar = pool(stub, "router:Big", "ok" + LIAR, reliability={"num_retries": 0, "disable_after_overspends": 1})
    with Engine(liar, db_path=tmp_path / "t.db", cache_dir=tmp_path) as engine:
        engine.graph("router-r1").invoke({"question": "q?"})
        assert engine.runtime.disabled == {"Big"}
        again = engine.graph("router-r1").invoke({"question": "q?"})
    assert again["stop_reason"] == "refused" and not [s for s in again["steps"] if s["kind"] == "route"]
    with Engine(liar, db_path=tmp_path / "t.db", cache_dir=tmp_path) as engine:  # the count is in the trace store
        assert engine.runtime.disabled == {"Big"}


def test_ask_shows_the_overspend(stub, tmp_path, routeweave_cmd):
    path = write_stub_pool(tmp_path / "liar.toml", stub, router=f"router:Big{LIAR}", router_price=1.0,
                           experts={"Big": f"ok{LIAR}"}, tables="[reliability]\nnum_retries = 0")
    cmd = [*routeweave_cmd, "ask", "When?", "--pool", str(path), "--budget", "0.01", "--db", str(tmp_path / "a.db")]
    shown = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "stop: overspent" in shown.stdout and "OVERSPENT: providers billed $0.14" in shown.stdout
    as_json = json.loads(subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=120).stdout)
    assert as_json["stop_reason"] == "overspent" and as_json["overspent_usd"] > 0.13
