"""The floor of a Router-R1 session's CPU: its three calls (router, expert, router) made from a bare process,
through LiteLLM's Router (routeweave's settings) or the bare openai client, against the stub backend.
benchmarks/serve_vs_litellm.py runs it in a child process (`floor_in_child`), so the figure is that
process's CPU alone:

    python benchmarks/client_floor.py {litellm,openai} API_BASE SESSIONS CONCURRENCY   # prints one JSON line"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_load import python  # noqa: E402

ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "LITELLM_LOG": "ERROR"}
QUESTION = [{"role": "user", "content": "When was the Eiffel Tower built?"}]


def client_floor(api_base: str, kind: str, sessions: int, concurrency: int) -> dict:
    """CPU of a bare process making a Router-R1 session's three calls (router, expert, router) per session
    through LiteLLM's Router (routeweave's settings) or the bare openai client, `concurrency` at a time."""
    import routeweave.agents.llm  # noqa: F401  (LiteLLM's environment)
    import litellm

    messages = [{"role": "system", "content": "x" * 1200}, *QUESTION]
    if kind == "litellm":
        router = litellm.Router(model_list=[{"model_name": "m", "litellm_params": {"model": "openai/expert", "api_base": api_base,
                                "api_key": "sk-none", "timeout": 60}}], num_retries=2, allowed_fails=3, cooldown_time=30)
        call = lambda: router.acompletion(model="m", messages=messages, max_tokens=32)  # noqa: E731
    else:
        from openai import AsyncOpenAI
        client = AsyncOpenAI(base_url=api_base, api_key="sk-none")
        call = lambda: client.chat.completions.create(model="expert", messages=messages, max_tokens=32)  # noqa: E731

    async def run() -> dict:
        for _ in range(20):
            await call()
        done = 0

        async def worker() -> None:
            nonlocal done
            while done < sessions:
                done += 1
                for _ in range(3):
                    await call()

        cpu0, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return {"sessions_per_s": sessions / (time.perf_counter() - started),
                "cpu_ms_per_session": (time.process_time() - cpu0) / sessions * 1000}

    return asyncio.run(run())


def floor_in_child(api_base: str, kind: str, sessions: int, concurrency: int) -> dict:
    import subprocess

    out = subprocess.run([python(), __file__, kind, api_base, str(sessions), str(concurrency)],
                         capture_output=True, text=True, env={**os.environ, **ENV}, timeout=600)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    kind, api_base, sessions, concurrency = sys.argv[1:5]
    print(json.dumps(client_floor(api_base, kind, int(sessions), int(concurrency))))
