"""An expert with replicas: two real embedded llama.cpp servers (1 thread each, so 2 threads in all on
2 cores), balanced by LiteLLM Router."""

import asyncio

import pytest

from routeweave.agents.pool import Pool
from routeweave.agents.runtime import Runtime

pytestmark = pytest.mark.server


def test_calls_are_spread_over_two_local_replicas(tmp_path):
    pool = Pool.model_validate({
        "servers": {"a": {"threads": 1, "n_parallel": 2, "n_ctx": 2048}, "b": {"threads": 1, "n_parallel": 2, "n_ctx": 2048}},
        "router": {"model": "openai/smollm2", "server": "a"},
        "experts": [{"name": "SmolLM2", "model": "openai/smollm2", "server": "a", "replicas": [{"server": "b"}],
                     "description": "d", "max_tokens": 8}],
    })
    runtime = Runtime(pool, cache_dir=tmp_path).start()
    try:
        expert = runtime.experts["SmolLM2"]

        async def ask_many():
            return await asyncio.gather(*(expert.ask(f"Say the number {i}.") for i in range(12)))

        records = asyncio.run(ask_many())
    finally:
        runtime.close()
    assert all(r.error is None and r.completion_tokens > 0 for r in records), [r.error for r in records]
    assert {r.deployment for r in records} == {"SmolLM2#0", "SmolLM2#1"}


def test_thread_budget_is_enforced():
    from routeweave.agents.local_server import ServerError, check_thread_budget
    from routeweave.agents.settings import LocalServer

    with pytest.raises(ServerError, match="threads"):
        check_thread_budget({"a": LocalServer(threads=2), "b": LocalServer(threads=2)}, cores=2)
    check_thread_budget({"a": LocalServer(threads=1), "b": LocalServer(threads=1)}, cores=2)
