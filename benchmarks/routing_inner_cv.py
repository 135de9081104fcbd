"""Choose a routing variant without touching the held-out queries: cross-validation inside the TRAINING part
of `eval routing`'s default split (seed 0, 30% test), then report each variant's mean APGR and how often it
reaches the best single model's quality at <= 50% of its cost (issue 14's cost target) across the inner folds.

    python benchmarks/routing_inner_cv.py --data llmrouter --policies causal_llm,bert [--seeds 0,1,2] [--bags 8]

Variants, for each listed policy: the policy as is; `+bag` (the mean of B quality heads fitted on bootstrap
resamples of the fold's training rows: less variance in the argmax over models); `+pareto` (only the models
on the training rows' mean cost-quality Pareto front may be chosen); `+anchored` (the cheapest model whose
predicted quality is within delta of the training-strongest model's prediction; delta is the knob). And `avg(...)`, the mean of the listed
policies' predicted qualities; with causal_llm and bert both listed, `concat(causal_llm,bert)`: one quality head on
the router model's features and MiniLM's embedding side by side. The held-out 30% is never read."""

from __future__ import annotations

import argparse

import numpy as np

from routeweave.evals.routing.features import policy_options
from routeweave.evals.routing.loaders import load_table
from routeweave.evals.routing.split import kfold, train_test_split
from routeweave.evals.routing.sweep import sweep_scores
from routeweave.policies import get_policy
from routeweave.policies.head import QualityHead


def curve(policy, S: np.ndarray, A, B) -> dict:
    return sweep_scores(policy, S, A, B)[0]


class Anchored:
    """The cheapest model predicted within delta of the training-strongest model's predicted quality (delta is
    the knob: +inf = always the strongest, -inf = always the cheapest)."""

    def __init__(self, strong: int) -> None:
        self.strong = strong

    def route(self, S, C, knob, rng):
        from routeweave.policies.base import Routed
        rows = np.arange(len(S))
        ok = S >= S[rows, self.strong][:, None] + knob
        ok[:, self.strong] = True
        idx = np.argmin(np.where(ok, C, np.inf) - 1e-12 * S, axis=1)
        return Routed(idx, C[rows, idx])

    def knob_grid(self, S, C, points: int = 0):
        d = np.unique(S - S[:, [self.strong]])
        return [float("inf"), *sorted(d, reverse=True), float("-inf")]


def pareto(A) -> list[int]:
    q, c = A.quality.mean(0), A.cost.mean(0)
    return [j for j in range(len(q)) if not any(q[i] >= q[j] and c[i] <= c[j] and (q[i] > q[j] or c[i] < c[j]) for i in range(len(q)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="llmrouter")
    ap.add_argument("--policies", default="causal_llm,bert")
    ap.add_argument("--seeds", default="0,1,2", help="seeds of the inner 5-fold splits")
    ap.add_argument("--bags", type=int, default=8, help="bootstrap heads for the +bag variants (0: none)")
    args = ap.parse_args()
    names = args.policies.split(",")
    table = load_table(args.data)
    train_idx, _ = train_test_split(len(table), 0.3, 0)
    T = table.subset(train_idx, "/train")
    res: dict[str, list[dict]] = {}
    for seed in map(int, args.seeds.split(",")):
        for a_idx, b_idx in kfold(len(T), 5, seed):
            A, B = T.subset(a_idx), T.subset(b_idx)
            cands, keep, scores, pols = A.candidates(), pareto(A), {}, {}
            for name in names:
                p = get_policy(name, **policy_options(name, {}))
                p.fit(A)
                pols[name], S = p, p.table_scores(B, cands)
                scores[name] = S
                res.setdefault(name, []).append(curve(p, S, A, B))
                P = np.full_like(S, -1e9)
                P[:, keep] = S[:, keep]
                res.setdefault(f"{name}+pareto", []).append(curve(p, P, A, B))
                res.setdefault(f"{name}+anchored", []).append(curve(Anchored(A.strongest()), S, A, B))
                if args.bags and hasattr(p, "features"):
                    XA, XB, rng = p.features(A.queries), p.features(B.queries), np.random.default_rng(seed)
                    bags = [QualityHead(seed=b).fit(XA[i], A.quality[i]).predict(XB)
                            for b, i in enumerate(rng.integers(0, len(A), (args.bags, len(A))))]
                    res.setdefault(f"{name}+bag", []).append(curve(p, np.mean(bags, 0), A, B))
            if len(names) > 1:
                res.setdefault(f"avg({','.join(names)})", []).append(curve(pols[names[0]], np.mean([scores[n] for n in names], 0), A, B))
            if {"causal_llm", "bert"} <= set(pols):
                XA, XB = (np.hstack([pols["causal_llm"].features(Q), pols["bert"].encoder.embed(list(Q))]) for Q in (A.queries, B.queries))
                head = QualityHead(seed=seed).fit(XA, A.quality)
                res.setdefault("concat(causal_llm,bert)", []).append(curve(pols["causal_llm"], head.predict(XB), A, B))
    print(f"{args.data}: inner 5-fold CV inside the training part of the seed-0 split ({len(T)} queries), seeds {args.seeds}\n")
    print("| variant | mean APGR | mean AUC | cost target met (folds) | median cost for strong quality |\n|---|---:|---:|---:|---:|")
    for k, v in res.items():
        c = [r["cost_for_strong_quality"] for r in v]
        med = np.median([x if x is not None else np.inf for x in c])
        print(f"| {k} | {np.mean([r['apgr'] for r in v]):.3f} | {np.mean([r['auc'] for r in v]):.4f} | "
              f"{sum(x is not None and x <= 0.5 for x in c)}/{len(c)} | {'never' if not np.isfinite(med) else f'{med:.1%}'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
