"""Property test over whole sessions: random prices, reply lengths (token counts), parallel expert calls,
failures and dishonest providers (usage above max_tokens, no usage, prompts counted at several times our
count), through the real graph and a real HTTP stub. The guarantee, checked on every session:

- when every provider bills within its reservation, spend never exceeds the budget;
- otherwise the session ends "overspent", nothing starts after the first overspend settles (only the calls
  already in flight with it finish), and the spend exceeds the budget by at most the recorded excess;
- a reply without usage is charged its whole reservation and flagged; every dollar is on a step.

1,000 sessions by default; ROUTEWEAVE_BUDGET_SESSIONS=10000 for the full run."""

import os
import socket

import pytest
from hypothesis import HealthCheck, event, given, settings
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

    def billing(honest_share: int = 3) -> str:  # honest, or one of the ways providers bill past a reservation
        return rng.choice([""] * honest_share + ["+nousage", f"+lie={rng.randint(1, 9000)},{rng.randint(1, 9000)}",
                                                  f"+prompt*{rng.choice([2, 5])}"])

    with StubServer() as stub:
        engines = []
        for i in range(CONFIGS):
            experts = []
            for j, name in enumerate(["A", "B", "C", "D"]):
                failing = j == 3 and i % 2 == 0
                experts.append({
                    "name": name, "description": name, "timeout": 5,
                    "model": f"openai/words:{rng.randint(1, 400)}{billing(0 if j == 1 else 3)}",  # B never honest
                    "api_base": _closed_port() if failing else stub.api_base,
                    "price": {"input_per_m": rng.uniform(0, 60), "output_per_m": rng.uniform(0, 120)},
                    "max_tokens": 400,
                })
            pool = Pool.model_validate({
                "router": {"model": f"openai/router:A, B, C, D{billing()}", "api_base": stub.api_base, "grammar": False,
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
@given(config=st.integers(0, CONFIGS - 1), budget=st.one_of(st.floats(1e-7, 0.05), st.floats(0.05, 1.0)), max_tokens=st.one_of(st.integers(50, 5000), st.integers(5000, 100_000)),
       rounds=st.integers(1, 3))
def test_spend_stays_within_the_budget_or_the_overspend_is_stopped_and_reported(engines, config, budget, max_tokens, rounds):
    engine = engines[config]
    result = engine.graph("router-r1").invoke(
        {"question": "q?", "budget_usd": budget, "max_tokens": max_tokens, "max_rounds": rounds})
    steps = result["steps"]
    notices = [i for i, s in enumerate(steps) if s["kind"] == "notice"]
    overspends = [i for i in notices if steps[i]["error"] == "overspent"]
    missing = {steps[i]["expert"] for i in notices if steps[i]["error"] == "usage missing"}
    excess = sum(s["overspent_usd"] for s in steps)
    event(f"stop: {result['stop_reason']}")
    event("usage missing" if missing else "usage reported")
    assert result["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in steps), abs=1e-15)
    assert result["overspent_usd"] == pytest.approx(excess, abs=1e-15)
    if not overspends:
        assert result["cost_usd"] <= budget * (1 + 1e-9) and excess == 0
        assert result["prompt_tokens"] + result["completion_tokens"] <= max_tokens
        assert result["stop_reason"] in {"answered", "budget", "unparseable"}
    else:
        assert result["stop_reason"] == "overspent"
        assert result["cost_usd"] <= budget * (1 + 1e-9) + excess
        first = overspends[0]
        later = steps[first + 1:]
        assert not [s for s in later if s["kind"] == "think"]  # the router was not asked again
        assert all(s["round"] == steps[first]["round"] for s in later if s["kind"] == "route")  # only that round's calls
    pool = engine.pool
    for s in steps:
        if s["kind"] not in ("route", "think") or (s["expert"] in missing) or s["error"]:
            continue
        price = pool.router.price if s["kind"] == "think" else pool.expert(s["expert"]).price
        assert s["cost_usd"] == pytest.approx(price.cost_usd(s["prompt_tokens"], s["completion_tokens"]), abs=1e-15)
    for name in missing:  # charged its whole reservation: as much as the most it could have cost
        flagged = [s for s in steps if s["kind"] in ("route", "think") and s["expert"] == name and not s["error"]]
        price = pool.router.price if name == "router" else pool.expert(name).price
        assert flagged and all(s["cost_usd"] > 0 or price.input_per_m == 0 for s in flagged)
    assert result["answer"]
