"""Property test over whole sessions: random prices, reply lengths (token counts), parallel expert calls
and failures, through the real graph and a real HTTP stub. Spend never exceeds the budget, and every
dollar is attributed to a step at the price of the expert that took it.

1,000 sessions by default; ROUTEWEAVE_BUDGET_SESSIONS=10000 for the full run."""

import os
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routeweave.agents.pool import Pool
from routeweave.serving import Engine

from support.stub_openai import StubServer

SESSIONS = int(os.environ.get("ROUTEWEAVE_BUDGET_SESSIONS", "1000"))
CONFIGS = 8  # pools with different prices and reply lengths, each started once


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    import random

    rng = random.Random(1234)
    tmp = tmp_path_factory.mktemp("budget")
    with StubServer() as stub:
        engines = []
        for i in range(CONFIGS):
            experts = []
            for j, name in enumerate(["A", "B", "C", "D"]):
                failing = j == 3 and i % 2 == 0
                experts.append({
                    "name": name, "description": name, "timeout": 5,
                    "model": f"openai/words:{rng.randint(1, 400)}",
                    "api_base": _closed_port() if failing else stub.api_base,
                    "price": {"input_per_m": rng.uniform(0, 60), "output_per_m": rng.uniform(0, 120)},
                    "max_tokens": 400,
                })
            pool = Pool.model_validate({
                "router": {"model": "openai/r", "api_base": stub.api_base, "grammar": False,
                           "mock_response": "<think>t</think><search>A, B, C, D: q</search>",
                           "price": {"input_per_m": rng.uniform(0, 20), "output_per_m": rng.uniform(0, 20)}},
                "experts": experts,
                "limits": {"budget_usd": 1.0, "max_rounds": 3, "max_tokens": 100_000, "max_searches_per_turn": 4},
                "reliability": {"num_retries": 0},
            })
            engine = Engine(pool, db_path=tmp / f"{i}.db", cache_dir=tmp).start()
            engines.append(engine)
        yield engines
        for engine in engines:
            engine.close()


@settings(max_examples=SESSIONS, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(config=st.integers(0, CONFIGS - 1), budget=st.floats(1e-7, 0.05), max_tokens=st.integers(50, 5000),
       rounds=st.integers(1, 3))
def test_spend_never_exceeds_the_budget_and_every_dollar_has_a_step(engines, config, budget, max_tokens, rounds):
    engine = engines[config]
    result = engine.graph("router-r1").invoke(
        {"question": "q?", "budget_usd": budget, "max_tokens": max_tokens, "max_rounds": rounds})
    steps = result["steps"]
    assert result["cost_usd"] <= budget * (1 + 1e-9)
    assert result["prompt_tokens"] + result["completion_tokens"] <= max_tokens
    assert result["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in steps), abs=1e-15)
    pool = engine.pool
    for s in steps:
        if s["kind"] == "route" and s["expert"]:
            price = pool.expert(s["expert"]).price
            assert s["cost_usd"] == pytest.approx(price.cost_usd(s["prompt_tokens"], s["completion_tokens"]), abs=1e-15)
        if s["kind"] == "think":
            price = pool.router.price
            assert s["cost_usd"] == pytest.approx(price.cost_usd(s["prompt_tokens"], s["completion_tokens"]), abs=1e-15)
        if s["error"]:
            assert s["cost_usd"] == 0 or s["completion_tokens"] >= 0
    assert result["answer"]
