"""Tokens per second through the Router-R1 graph against the same calls made directly to the local server.

Runs N HotpotQA questions through the embedded pool, then replays every model call of those sessions
(same prompts, same number of generated tokens, via the `openai` client straight to the llama.cpp
server) and compares tokens processed per wall-clock second. Same process, same server, same run.

    python benchmarks/throughput.py [--questions 5]
Target (issue 3): graph >= 0.9x direct."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from openai import AsyncOpenAI

from routeweave.agents.experts.llm import LLMExpert
from routeweave.serving import open_graph

QUESTIONS = [
    "Between Harvey Pekar and Denise Levertov who was born earlier?",
    "Who designed the casino that The Venetian Macao is modeled on?",
    "SkyJump Las Vegas is located at a hotel on what street?",
    "Are Muzzle and Screaming Trees both alternative rock bands?",
    "What music school did the singer of The Search for Everything: Wave One attend?",
    "Who was responsible for the Soviet-Albanian split?",
]


async def replay(client: AsyncOpenAI, calls: list[tuple[list[dict], int]]) -> tuple[int, float]:
    tokens, started = 0, time.perf_counter()
    for messages, completion in calls:
        resp = await client.chat.completions.create(
            model="x", messages=messages, max_tokens=max(1, completion), temperature=0,
            extra_body={"ignore_eos": True},
        )
        tokens += resp.usage.prompt_tokens + resp.usage.completion_tokens
    return tokens, time.perf_counter() - started


def session_calls(graph, result) -> list[tuple[list[dict], int]]:
    """Every model call of a finished session: (messages, completion tokens)."""
    config = {"configurable": {"thread_id": result["session_id"]}}
    messages = graph._loop.run(graph.compiled.aget_state(config)).values["messages"]
    thinks = [s for s in result["steps"] if s["kind"] == "think"]
    prefixes = [messages[:i] for i, m in enumerate(messages) if m["role"] == "assistant"] + [messages]
    calls = [(p, t["completion_tokens"]) for p, t in zip(prefixes, thinks)]  # retries are not in the transcript
    for s in result["steps"]:
        client = graph.runtime.experts.get(s["expert"] or "")
        if s["kind"] == "route" and isinstance(client, LLMExpert) and not s["error"]:
            calls.append((client._messages(s["query"]), s["completion_tokens"]))
    return calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, open_graph(db_path=Path(tmp) / "t.db", cache_dir=Path(tmp) / "c") as graph:
        graph.invoke({"question": "warm-up question?", "max_rounds": 1})
        direct = AsyncOpenAI(base_url=graph.runtime.router.api_base, api_key="none")
        g_tokens, g_wall, d_tokens, d_wall = 0, 0.0, 0, 0.0
        for q in QUESTIONS[: args.questions]:  # interleaved, so load from elsewhere hits both sides alike
            started = time.perf_counter()
            result = graph.invoke({"question": q})
            g_wall += time.perf_counter() - started
            g_tokens += result["prompt_tokens"] + result["completion_tokens"]
            tokens, wall = graph._loop.run(replay(direct, session_calls(graph, result)))
            d_tokens, d_wall = d_tokens + tokens, d_wall + wall
    g_rate, d_rate = g_tokens / g_wall, d_tokens / d_wall
    print(json.dumps({"questions": args.questions, "graph_tokens": g_tokens, "graph_wall_s": round(g_wall, 2),
                      "direct_tokens": d_tokens, "direct_wall_s": round(d_wall, 2),
                      "graph_tok_per_s": round(g_rate, 1), "direct_tok_per_s": round(d_rate, 1),
                      "ratio": round(g_rate / d_rate, 3)}, indent=1))


if __name__ == "__main__":
    main()
