"""Fit a policy on the training split, sweep its knob on the test split, summarise the curve."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from routeweave.policies import OutcomeTable, get_policy
from routeweave.policies.embed import Embedder

from .calibration import average as average_calibration
from .calibration import calibration
from .features import policy_options
from .loaders import DataError
from .metrics import Anchors, summarise
from .split import kfold, train_test_split

BASELINES = ("random", "best_single", "oracle")
MIN_TEST = 10  # test queries below which a curve's metrics are noise (warned, not refused)


def anchors(train: OutcomeTable, test: OutcomeTable) -> tuple[Anchors, int, int]:
    w, s = train.cheapest(), train.strongest()
    qm, cm = test.quality.mean(0), test.cost.mean(0)
    return Anchors(q_weak=float(qm[w]), q_strong=float(qm[s]), c_weak=float(cm[w]), c_strong=float(cm[s])), w, s


def sweep_scores(policy, S: np.ndarray, train: OutcomeTable, test: OutcomeTable, *, seed: int = 0) -> tuple[dict, list[dict]]:
    """Route the test queries by the score matrix ``S`` (rows: test queries, columns: the training table's
    models) at every value of the policy's knob; the curve's metrics and its points. A refusal scores the
    tables' lowest quality."""
    a, _, strong = anchors(train, test)
    rows, qmin = np.arange(len(test)), float(min(train.quality.min(), test.quality.min()))
    points = []
    for k in policy.knob_grid(S, test.cost):
        r = policy.route(S, test.cost, k, np.random.default_rng(seed))
        q = np.where(r.index >= 0, test.quality[rows, np.maximum(r.index, 0)], qmin)
        points.append({"knob": None if k is None or not np.isfinite(k) else float(k), "cost": float(r.cost.mean()),
                       "quality": float(q.mean()), "strong_share": float(np.mean(r.index == strong)),
                       "refused": float(np.mean(r.index < 0))})
    x = a.norm_cost(np.array([p["cost"] for p in points]))
    for p, xi in zip(points, x):
        p["cost_norm"] = float(xi)
    return summarise(x, np.array([p["quality"] for p in points]), np.array([p["strong_share"] for p in points]), a), points


def sweep_policy(name: str, train: OutcomeTable, test: OutcomeTable, *, seed: int = 0,
                 embedder: Embedder | None = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    policy = get_policy(name, **{"seed": seed, "embedder": embedder, **policy_options(name, options)})  # --opt wins
    t0 = time.perf_counter()
    policy.fit(test if policy.eval_only else train)  # only the oracle sees the test outcomes
    fit_s = time.perf_counter() - t0
    cands = train.candidates()
    t0 = time.perf_counter()
    S = policy.table_scores(test, cands)
    score_ms = 1000 * (time.perf_counter() - t0) / max(len(test), 1)
    metrics, points = sweep_scores(policy, S, train, test, seed=seed)
    cal = None
    if policy.scores_are_quality and not policy.eval_only and policy.fitted:
        lo, hi = float(min(train.quality.min(), test.quality.min())), float(max(train.quality.max(), test.quality.max()))
        cal = calibration(S, test.quality, train.quality.mean(0), lo, hi)
    return {"policy": name, **metrics, "fit_s": round(fit_s, 3), "score_ms_per_query": round(score_ms, 4),
            "calibration": cal, "points": points}


def evaluate(table: OutcomeTable, policies: list[str], *, seed: int = 0, test_frac: float = 0.3, folds: int = 0,
             embedder: Embedder | None = None, options: dict[str, dict] | None = None) -> dict[str, Any]:
    """Baselines random, best_single and oracle are always included, on the same split(s)."""
    names = list(dict.fromkeys([*policies, *BASELINES]))
    dropped = _dropped(table)
    if len(table) < 2:
        n, d = len(table), (dropped or {}).get("queries", 0)
        lack = f" ({d} more lack{'s' if d == 1 else ''} some model)" if d else ""
        raise DataError(f"{table.meta.get('path', table.name)}: the table has {n} quer{'y' if n == 1 else 'ies'}{lack}: "
                        "a train/test split needs at least 2; add queries, each with one row per model")
    splits = kfold(len(table), folds, seed) if folds else [train_test_split(len(table), test_frac, seed)]
    per_fold: list[list[dict]] = []
    fold_info = []
    for tr, te in splits:
        train, test = table.subset(tr, "/train"), table.subset(te, "/test")
        a, weak, strong = anchors(train, test)
        fold_info.append({"n_train": len(tr), "n_test": len(te), "weak": table.models[weak], "strong": table.models[strong],
                          "q_weak": a.q_weak, "q_strong": a.q_strong, "c_weak": a.c_weak, "c_strong": a.c_strong,
                          "flat_cost": a.flat})
        per_fold.append([sweep_policy(n, train, test, seed=seed, embedder=embedder, options=(options or {}).get(n))
                         for n in names])
    results = per_fold[0] if len(per_fold) == 1 else [_average([f[i] for f in per_fold]) for i in range(len(names))]
    split = {"kind": f"{folds}-fold" if folds else "holdout", "seed": seed,
             "test_frac": None if folds else test_frac, "folds": fold_info}
    return {"dataset": table.name, "split": split, "n_queries": len(table), "models": table.models,
            "options": options or {}, "cost_note": table.meta.get("cost_note"), "dropped": dropped,
            "warnings": _warnings(fold_info, dropped, table.models), "results": results}


def _dropped(table: OutcomeTable) -> dict | None:
    """The queries a generic table's loader skipped for lacking some model's outcome (None: none were)."""
    n = int(table.meta.get("skipped") or 0)
    if not n:
        return None
    return {"queries": n, "of": n + len(table), "reason": "no outcome for some model",
            "missing": dict(table.meta.get("skipped_missing") or {}), "ids": list(table.meta.get("skipped_ids") or [])[:5]}


def _in_folds(idx: list[int], n_folds: int) -> str:
    return "" if n_folds == 1 else f" in fold{'s' if len(idx) > 1 else ''} {', '.join(map(str, idx))} of {n_folds}"


def _warnings(fold_info: list[dict], dropped: dict | None, models: list[str]) -> list[str]:
    """What makes this evaluation's numbers less than they seem: dropped queries, a test split too small for its
    metrics, a 'strong' anchor that is not above the weak one (APGR's denominator)."""
    out = []
    if dropped:
        missing = ", ".join(f"{m} missing in {c}" for m, c in dropped["missing"].items())
        out.append(f"{dropped['queries']} of {dropped['of']} queries dropped: they lack an outcome for some model "
                   f"({missing}; e.g. {', '.join(dropped['ids'])}); every query needs one row per "
                   f"model ({', '.join(models)}). The numbers are over the other {dropped['of'] - dropped['queries']}")
    small = [i for i, f in enumerate(fold_info) if f["n_test"] < MIN_TEST]
    if small:
        n = min(fold_info[i]["n_test"] for i in small)
        out.append(f"only {n} test quer{'y' if n == 1 else 'ies'}{_in_folds(small, len(fold_info))}: APGR, AUC and CPT "
                   f"over fewer than {MIN_TEST} are not meaningful; evaluate a table of more queries (or a larger "
                   "--test-frac / fewer --folds)")
    flat = [i for i, f in enumerate(fold_info) if not f["q_strong"] > f["q_weak"] + 1e-12]
    if flat:
        f = fold_info[flat[0]]
        who = (f"`{f['strong']}` is both the cheapest and the best single model on the training split"
               if f["strong"] == f["weak"] else
               f"the strong anchor `{f['strong']}` (best single on the training split) scores q={f['q_strong']:.3f} on "
               f"the test split, not above the weak `{f['weak']}` (q={f['q_weak']:.3f})")
        shown = f" (shown: fold {flat[0]})" if len(flat) > 1 else ""
        out.append(f"{who}{_in_folds(flat, len(fold_info))}{shown}: APGR = (AUC - q_weak) / (q_strong - q_weak) is not "
                   "meaningful there; evaluate more queries, and check that quality is higher-is-better")
    return out


def _average(rs: list[dict]) -> dict:
    out = {"policy": rs[0]["policy"], "folds": len(rs)}
    for k, v in rs[0].items():
        if k in ("policy", "points", "calibration"):
            continue
        vals = [r[k] for r in rs]
        out[k] = None if any(x is None for x in vals) else float(np.mean(vals))
    out["points"], out["points_fold"] = rs[0]["points"], 0  # the first fold's curve (for the plot), and it says so
    cals = [r["calibration"] for r in rs if r.get("calibration")]
    out["calibration"] = average_calibration(cals) if len(cals) == len(rs) else None
    return out
