"""Decision latency of every routing policy on CPU, embedding included.

For each policy: fit on the training split of an outcome table, then time ``decide()`` for single
held-out queries the embedder has never seen (so each call embeds its query: cache-cold), and the batch
path (embed + score + route the whole held-out split) in decisions per second. Also the guard
classifier's held-out accuracy and latency.

    python benchmarks/policy_latency.py [--data gsm8k] [--n 300] [--out benchmarks/results/policy_latency.md]
"""

from __future__ import annotations

import os

# One decision is a few small mat-vec products: BLAS worker threads only add wake-up latency (on this
# 2-CPU machine a 9,800 x 256 mat-vec takes 0.2 ms on one thread and ~8 ms with two contending threads).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import gc
import platform
import time
from pathlib import Path

import numpy as np

from routeweave.evals.routing.guard_eval import guard_report, qa_questions
from routeweave.evals.routing.loaders import default_data_dir, load_table
from routeweave.evals.routing.split import train_test_split
from routeweave.policies import Request, WordLlamaEmbedder, get_policy, policy_names


def bench(name: str, train, test, n: int, seed: int, freeze: bool) -> dict:
    emb = WordLlamaEmbedder()
    policy = get_policy(name, seed=seed, embedder=emb)
    policy.fit(test if policy.eval_only else train)
    cands = train.candidates()
    queries = [q for q in test.queries if q not in set(train.queries)][:n]
    for q in ("warm-up query one", "warm-up query two"):
        policy.decide(Request(query=q), cands)
    if freeze:  # move start-up objects out of the collector's way, as a long-running server would
        gc.collect()
        gc.freeze()
    lat = []
    for q in queries:
        t0 = time.perf_counter()
        policy.decide(Request(query=q), cands)
        lat.append(1000 * (time.perf_counter() - t0))
    batch_emb = WordLlamaEmbedder()
    policy._embedder = batch_emb  # cold cache for the batch path too
    if hasattr(policy, "inner"):
        policy.inner._embedder = batch_emb
    batch_emb.embed(["warm-up"])
    t0 = time.perf_counter()
    S = policy.scores(test.queries, cands)
    policy.route(S, test.cost, None, np.random.default_rng(seed))
    dt = time.perf_counter() - t0
    return {"policy": name, "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "mean_ms": float(np.mean(lat)), "batch_per_s": len(test) / dt, "n": len(lat)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="gsm8k")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-freeze", action="store_true", help="do not gc.freeze() after start-up")
    args = ap.parse_args()
    table = load_table(args.data)
    tr, te = train_test_split(len(table), 0.3, args.seed)
    train, test = table.subset(tr), table.subset(te)
    rows = [bench(name, train, test, args.n, args.seed, not args.no_freeze) for name in policy_names()]
    ind = [*table.queries, *qa_questions(default_data_dir())]
    g = guard_report(ind, seed=args.seed)
    lines = [
        f"# Policy decision latency ({args.data}: fit on {len(train)} queries, timed on {rows[0]['n']} unseen ones)",
        "",
        f"Command: `python benchmarks/policy_latency.py --data {args.data} --n {args.n} --seed {args.seed}"
        f"{' --no-freeze' if args.no_freeze else ''}`  ",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}. One `decide()` per query, WordLlama embedding (cache-cold) included; batch = "
        "embed + score + route the whole held-out split at once. BLAS pinned to 1 thread (OPENBLAS_NUM_THREADS=1, "
        "set by the script unless already set). "
        + ("Garbage collector left as is." if args.no_freeze else
           "`gc.collect(); gc.freeze()` after start-up (what a long-running router process should do): without it, "
           "CPython's full collections over the start-up objects add 3-5 ms outliers to p99 (run with --no-freeze)."),
        "",
        "| policy | p50 ms | p99 ms | mean ms | batch decisions/s |",
        "|---|---|---|---|---|",
        *(f"| {r['policy']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['mean_ms']:.3f} | {r['batch_per_s']:,.0f} |" for r in rows),
        "",
        "Targets: p50 < 1 ms, p99 < 5 ms (GQR-Bench: fastText < 1 ms, WideMLP < 4 ms; LLM routers 62-669 ms).",
        "",
        "## Guard classifier (held-out split)",
        "",
        f"In-domain: {g['train']['in_domain']} train / {g['test']['in_domain']} test queries (routing + QA datasets); "
        f"out-of-domain: {g['train']['ood']} train / {g['test']['ood']} test prompts from the team-written seed list "
        "(policies/guard_seeds.py; GQR-Bench data was not obtainable offline).",
        "",
        f"- accuracy {g['accuracy']:.3f}, balanced accuracy {g['balanced_accuracy']:.3f}",
        f"- OOD recall {g['ood_recall']:.3f} (by category: "
        + ", ".join(f"{k} {v:.2f}" for k, v in g["ood_recall_by_category"].items()) + ")",
        f"- false refusals of in-domain queries {g['false_refusal_rate']:.3f}",
        f"- latency per query (embedding included): p50 {g['latency_ms_p50']:.3f} ms, p99 {g['latency_ms_p99']:.3f} ms",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
