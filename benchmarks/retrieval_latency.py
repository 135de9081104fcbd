"""Retrieval expert latency: index build time for builtin:hotpotqa and search latency.

Usage (from the repo root):  python benchmarks/retrieval_latency.py [--source PATH] [-n 200] [-k 5]
Queries are the first N questions of the HotpotQA sample the corpus was built from; recall@k (share
of the gold supporting titles retrieved) is printed too, as a sanity check on ranking quality.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from routeweave.agents.bm25 import Retriever, resolve_corpus

REPO = Path(__file__).resolve().parent.parent
SOURCE = Path("../shared/data/hotpotqa/dev_distractor_sample500_with_context.jsonl")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=REPO / SOURCE)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("-k", type=int, default=5)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.source.read_text(encoding="utf-8").splitlines()[: args.n]]
    corpus = resolve_corpus("builtin:hotpotqa")
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        index = Retriever(corpus, Path(cache)).ensure_index()
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        retriever = Retriever(corpus, Path(cache))  # a second process would do this: hash + reuse
        retriever.ensure_index()
        reuse_s = time.perf_counter() - t0
        retriever.search("warm up", args.k)
        latencies, recall = [], 0.0
        for row in rows:
            t0 = time.perf_counter()
            hits = retriever.search(row["question"], args.k)
            latencies.append((time.perf_counter() - t0) * 1000)
            gold = set(row["supporting_facts"]["title"])
            recall += len(gold & {p.title for p in hits}) / len(gold)
        index_bytes = index.stat().st_size
    q = statistics.quantiles(latencies, n=100)
    print(f"python {platform.python_version()}, {platform.machine()}, corpus {corpus.name} ({corpus.stat().st_size:,} bytes)")
    print(f"index build (cold, incl. reading + hashing the corpus): {build_s * 1000:.0f} ms; index file {index_bytes:,} bytes")
    print(f"index reuse (new Retriever, hash corpus, file exists): {reuse_s * 1000:.1f} ms")
    print(f"search over {len(latencies)} questions, k={args.k}: p50 {statistics.median(latencies):.2f} ms, "
          f"p90 {q[89]:.2f} ms, p99 {q[98]:.2f} ms, max {max(latencies):.2f} ms")
    print(f"recall@{args.k} of gold supporting titles: {recall / len(rows):.3f}")


if __name__ == "__main__":
    main()
