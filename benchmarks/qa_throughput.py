"""QA eval harness: questions per minute at --concurrency 1, 2, 4 against the local server, and the
harness's own overhead per example with mocked models.

    python benchmarks/qa_throughput.py --part mock                      # no server, seconds
    flock /tmp/routeweave-cpu.lock python benchmarks/qa_throughput.py --part server [--questions 8]

mock: the same RouterGraph on a pool whose router and expert answer through LiteLLM's mock_response;
the same examples are run (a) by a bare loop of `graph.ainvoke` calls and (b) by the harness
(`run_examples`: queue, timeout, scoring, SQLite row per example, progress). Overhead per example =
((b) - (a)) / N, at concurrency 1.
server: HotpotQA questions through the embedded default pool (SmolLM2-135M, 2 cores) with the
Router-R1 graph at --max-rounds 1 and the direct graph, at each concurrency; a fresh run each time
(the first question of each graph is run once before, as a warm-up)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from routeweave.agents.pool import Pool, load_pool
from routeweave.evals.qa.datasets import Example, load_dataset
from routeweave.evals.qa.runner import effective_pool, open_eval_graph, run_examples
from routeweave.evals.qa.store import ResultStore

ROUTER_SAYS = "<think>I need one fact.</think>\n<search>Mock: when was it built?</search>"


def mock_pool() -> Pool:
    return Pool.model_validate({
        "router": {"model": "openai/mock-router", "api_base": "http://127.0.0.1:9", "mock_response": ROUTER_SAYS,
                   "grammar": False, "price": {"input_per_m": 0.1, "output_per_m": 0.1}},
        "experts": [{"name": "Mock", "model": "openai/mock-expert", "api_base": "http://127.0.0.1:9",
                     "description": "answers anything", "mock_response": "It was built in 1889.",
                     "price": {"input_per_m": 0.2, "output_per_m": 0.6}}],
        "limits": {"budget_usd": 1.0, "max_rounds": 1, "max_searches_per_turn": 1},
    })


def toy(n: int) -> list[Example]:
    return [Example(id=str(i), question=f"When was tower {i} built?", answers=["1889"], dataset="toy") for i in range(n)]


async def bare(graph, examples) -> float:
    t0 = time.perf_counter()
    for ex in examples:
        await graph.ainvoke({"question": ex.question})
    return time.perf_counter() - t0


class InstantGraph:
    """Answers at once: what is left is the harness alone (queue, timeout wrapper, scoring, SQLite row)."""

    async def ainvoke(self, inputs, *, session_id):
        return {"session_id": session_id, "answer": "1889", "cost_usd": 1e-6, "cost_units": 1.0, "rounds": 1,
                "expert_calls": 1, "latency_s": 0.001, "stop_reason": "answered"}


def part_harness_alone(n: int, repeats: int) -> str:
    per = []
    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "e.db") as store:
        for r in range(repeats):
            t0 = time.perf_counter()
            asyncio.run(run_examples(InstantGraph(), toy(n), store=store, run=f"instant{r}", concurrency=1,
                                     progress=False))
            per.append((time.perf_counter() - t0) / n)
    return (f"harness alone (instant fake graph), {n} examples x {repeats}: p50 {statistics.median(per) * 1000:.2f} "
            f"ms/example (min {min(per) * 1000:.2f})")


def part_mock(n: int, repeats: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with open_eval_graph(mock_pool(), "router-r1", db_path=tmp / "t.db", cache_dir=tmp) as graph, \
                ResultStore(tmp / "e.db") as store:
            asyncio.run(bare(graph, toy(5)))  # warm-up
            overheads, bare_per = [], []
            for r in range(repeats):
                exs = toy(n)
                b = asyncio.run(bare(graph, exs))
                t0 = time.perf_counter()
                asyncio.run(run_examples(graph, exs, store=store, run=f"bench{r}", concurrency=1, progress=False))
                h = time.perf_counter() - t0
                overheads.append((h - b) / n)
                bare_per.append(b / n)
    med = statistics.median(overheads) * 1000
    return (f"mock, {n} examples x {repeats} repeats, concurrency 1: bare graph.ainvoke {statistics.median(bare_per) * 1000:.2f} "
            f"ms/example (one router turn, one expert call, one answer turn, checkpoints + traces); harness overhead "
            f"p50 {med:.2f} ms/example (min {min(overheads) * 1000:.2f}, max {max(overheads) * 1000:.2f})")


def part_server(n: int, concurrencies: list[int], graphs: list[str]) -> list[str]:
    lines = []
    pool = effective_pool(load_pool(None), max_rounds=1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for spec in graphs:
            name, _, count = spec.partition(":")
            examples = load_dataset("hotpotqa", limit=int(count or n), seed=1).examples
            with open_eval_graph(pool, name, db_path=tmp / "t.db") as graph, ResultStore(tmp / "e.db") as store:
                asyncio.run(bare(graph, examples[:1]))  # warm-up: server caches, retrieval index
                for k in concurrencies:
                    out = asyncio.run(run_examples(graph, examples, store=store, run=f"{name}-c{k}", concurrency=k,
                                                   progress=False))
                    qpm = out.ran / out.elapsed_s * 60
                    lines.append(f"| {name} | {k} | {out.ran} | {out.elapsed_s:.1f} | {qpm:.1f} | {out.errors} |")
                    print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["mock", "server", "all"], default="mock")
    parser.add_argument("--examples", type=int, default=200, help="mock: examples per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--questions", type=int, default=8, help="server: HotpotQA questions per concurrency")
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--graphs", default="direct:8,router-r1:4", help="GRAPH[:QUESTIONS],...")
    args = parser.parse_args()
    if args.part in ("mock", "all"):
        print(part_harness_alone(args.examples * 5, args.repeats))
        print(part_mock(args.examples, args.repeats))
    if args.part in ("server", "all"):
        print("| graph | concurrency | questions | seconds | questions/min | errors |\n|---|---:|---:|---:|---:|---:|")
        part_server(args.questions, [int(c) for c in args.concurrency.split(",")], args.graphs.split(","))


if __name__ == "__main__":
    main()
