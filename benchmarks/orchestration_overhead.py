"""Orchestration overhead of the Router-R1 graph per step, against the same LiteLLM calls made directly.

Every model call is answered by LiteLLM's mock_response, so what is left is routeweave + LangGraph +
the SQLite checkpointer and trace store. Both sides run in the same process, same run.

    python benchmarks/orchestration_overhead.py [--sessions 30] [--rounds 3] [--machinery-sessions 100]
Target (issue 3): graph <= 1.10x direct and < 3 ms overhead per graph step; (issue 13) graph machinery
< 1 ms per step p50.

A graph step is one LangGraph superstep (one checkpoint written), counted from the session's checkpoint
history, so a graph that does its work in fewer steps is not flattered per step: the per-session figures
are printed beside it.

Graph machinery = the same sessions with LiteLLM Router's `acompletion` replaced by a function that returns
a ready reply at once, per graph step: LangGraph's step, the checkpoint, the trace rows and the nodes' own
work (prompts, reservations, parsing, metering), nothing of LiteLLM (whose post-call logging tasks would
otherwise run on the same loop and be counted).

LangGraph's floor = a graph of as many no-op nodes in a chain, one int of state, on the same checkpointer,
streamed the way sessions are (updates + values, durability "sync"): what LangGraph 1.x itself costs per
step on this machine, so the line above it shows what routeweave's state, nodes and trace add. The
machinery and the floor run in alternating batches of 10 sessions, after the LiteLLM part, so a machine
whose speed drifts mid-run (shared CPU) weighs on both alike."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import routeweave.agents.llm  # noqa: F401,I001  (sets LITELLM_LOCAL_MODEL_COST_MAP before litellm loads)
import litellm  # the baseline calls LiteLLM directly
from routeweave.agents.llm import complete
from routeweave.agents.pool import Pool
from routeweave.serving import open_graph

ROUTER_SAYS = "<think>I need one fact.</think>\n<search>Mock: when was it built?</search>"
EXPERT_SAYS = "It was built in 1889."
BATCH = 10  # sessions per alternating batch of the machinery and the floor


def mock_pool(rounds: int) -> Pool:
    return Pool.model_validate({
        "router": {"model": "openai/mock-router", "api_base": "http://127.0.0.1:9", "mock_response": ROUTER_SAYS,
                   "grammar": False, "price": {"input_per_m": 0.1, "output_per_m": 0.1}},
        "experts": [{"name": "Mock", "model": "openai/mock-expert", "api_base": "http://127.0.0.1:9",
                     "description": "answers anything", "mock_response": EXPERT_SAYS,
                     "price": {"input_per_m": 0.2, "output_per_m": 0.6}}],
        "limits": {"budget_usd": 1.0, "max_rounds": rounds, "max_searches_per_turn": 1},
    })


async def direct(calls: list[tuple[str, list[dict]]]) -> float:
    """The baseline: the same calls as plain litellm.acompletion with mock_response, one after another."""
    says = {"router": ROUTER_SAYS, "Mock": EXPERT_SAYS}
    started = time.perf_counter()
    for who, messages in calls:
        await litellm.acompletion(model="openai/mock", messages=messages, mock_response=says[who])
    return time.perf_counter() - started


async def via_router(graph, calls: list[tuple[str, list[dict]]]) -> float:
    """The same calls through routeweave's adapter (LiteLLM Router: retries, fallbacks), outside the graph."""
    targets = {"router": graph.runtime.router, "Mock": graph.runtime.experts["Mock"].target}
    started = time.perf_counter()
    for who, messages in calls:
        await complete(targets[who], messages)
    return time.perf_counter() - started


def interleaved(graph, runs: dict, sessions: int, n_steps: int, batch: int = BATCH) -> dict[str, list[float]]:
    """Seconds per graph step of `sessions` runs of each `runs[name](i)` on the graph's loop, after 3 warm-up
    runs each, in alternating batches of `batch`: a machine that slows down or speeds up mid-run (shared
    CPU) weighs on every side alike, so the sides compare within the run."""
    for run in runs.values():
        for i in range(3):
            graph._loop.run(run(-1 - i))
    out: dict[str, list[float]] = {name: [] for name in runs}
    for start in range(0, sessions, batch):
        for name, run in runs.items():
            out[name] += [graph._loop.run(run(i)) / n_steps for i in range(start, min(start + batch, sessions))]
    return out


def graph_machinery(graph):
    """`run(i)`: a whole session whose model calls cost nothing (a ready LiteLLM reply); its seconds."""
    replies = {who: litellm.ModelResponse(choices=[{"message": {"role": "assistant", "content": text}}],
                                          usage={"prompt_tokens": 300, "completion_tokens": 12, "total_tokens": 312})
               for who, text in (("router", ROUTER_SAYS), ("Mock", EXPERT_SAYS))}
    router = graph.runtime.router.router

    async def instant(*, model: str, **_):
        return replies[model]

    router.acompletion = instant

    async def run(i: int) -> float:
        started = time.perf_counter()
        await graph.ainvoke({"question": f"When was tower {i} finished?"})
        return time.perf_counter() - started

    return run


def langgraph_floor(graph, n_steps: int):
    """`run(i)`: a chain of no-op nodes on the session graph's own checkpointer, as many LangGraph steps as a
    session takes (`n_steps`, the input step included, so the chain has `n_steps - 1` nodes); its seconds."""
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class Counter(TypedDict):
        n: int

    async def bump(state: Counter) -> Counter:
        return {"n": state["n"] + 1}

    builder = StateGraph(Counter)
    names = [f"n{i}" for i in range(n_steps - 1)]
    for name in names:
        builder.add_node(name, bump)
    for a, b in zip([START, *names], [*names, END]):
        builder.add_edge(a, b)
    chain = builder.compile(checkpointer=graph.compiled.checkpointer)

    async def run(i: int) -> float:
        started = time.perf_counter()
        config = {"configurable": {"thread_id": f"floor-{i}"}}
        async for _ in chain.astream({"n": 0}, config, stream_mode=["updates", "values"], durability="sync"):
            pass
        return time.perf_counter() - started

    return run


def supersteps(graph, session_id: str) -> int:
    """LangGraph steps the session took: its checkpoints, less the one of the input."""
    async def history():
        return [c async for c in graph.compiled.aget_state_history({"configurable": {"thread_id": session_id}})]

    return len(graph._loop.run(history())) - 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--machinery-sessions", type=int, default=100,
                        help=f"sessions of the machinery and of the floor each, alternating in batches of {BATCH}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, open_graph(mock_pool(args.rounds), db_path=Path(tmp) / "b.db", cache_dir=Path(tmp)) as graph:
        graph.invoke({"question": "warm-up"}, session_id="warm-up")
        n_steps = supersteps(graph, "warm-up")
        per_step_overhead, ratios, graph_only, router_only = [], [], [], []
        for i in range(args.sessions):
            started = time.perf_counter()
            result = graph.invoke({"question": f"When was tower {i} built?"})
            graph_s = time.perf_counter() - started
            steps = result["steps"]
            router_calls = sum(1 for s in steps if s["kind"] == "think")
            expert_calls = sum(1 for s in steps if s["kind"] == "route" and not s["error"])
            messages = [{"role": "system", "content": "x" * 1200}, {"role": "user", "content": f"When was tower {i} built?"}]
            calls = [("router", messages)] * router_calls + [("Mock", messages[1:])] * expert_calls
            direct_s = graph._loop.run(direct(calls))
            routed_s = graph._loop.run(via_router(graph, calls))
            per_step_overhead.append((graph_s - direct_s) / n_steps)
            graph_only.append((graph_s - routed_s) / n_steps)
            router_only.append((routed_s - direct_s) / len(calls))
            ratios.append(graph_s / direct_s)
        sides = interleaved(graph, {"machinery": graph_machinery(graph), "floor": langgraph_floor(graph, n_steps)},
                            args.machinery_sessions, n_steps)
        machinery, floor = sides["machinery"], sides["floor"]
    p50 = statistics.median(per_step_overhead) * 1000
    print(f"sessions={args.sessions} rounds={args.rounds} graph steps (LangGraph supersteps)/session={n_steps} "
          f"model calls/session={len(calls)}")
    print(f"overhead per graph step: p50 {p50:.2f} ms, max {max(per_step_overhead) * 1000:.2f} ms")
    print(f"  of which LangGraph + checkpoints + traces: p50 {statistics.median(graph_only) * 1000:.2f} ms per step; "
          f"LiteLLM Router (retries/fallbacks) over plain acompletion: p50 {statistics.median(router_only) * 1000:.2f} ms per call")
    print(f"graph machinery (the same sessions, LiteLLM's acompletion replaced by a ready reply), per step: "
          f"p50 {statistics.median(machinery) * 1000:.2f} ms, max {max(machinery) * 1000:.2f} ms (target < 1 ms); "
          f"per session p50 {statistics.median(machinery) * n_steps * 1000:.2f} ms")
    print(f"LangGraph's floor (a chain of {n_steps - 1} no-op nodes: {n_steps} steps with the input's, one int of state, "
          f"same checkpointer and stream modes), "
          f"per step: p50 {statistics.median(floor) * 1000:.2f} ms; routeweave above it: "
          f"{(statistics.median(machinery) - statistics.median(floor)) * 1000:.2f} ms per step, "
          f"{(statistics.median(machinery) - statistics.median(floor)) * n_steps * 1000:.2f} ms per session; "
          f"machinery / floor {statistics.median(machinery) / statistics.median(floor):.2f}x "
          f"({len(machinery)} sessions of each, alternating in batches of {BATCH})")
    print(f"graph time / direct time: p50 {statistics.median(ratios):.2f}x (target <= 1.10x with real models; "
          f"with mocked models the calls themselves take ~{direct_s / len(calls) * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
