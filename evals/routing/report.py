"""Reports of a routing evaluation: compact JSON, a Markdown table, a PNG cost-quality plot, SQLite rows."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

SUMMARY_KEYS = ("policy", "auc", "apgr", "cpt50", "cpt80", "strong_share", "quality_at_strong_cost", "max_quality",
                "cost_for_strong_quality", "fit_s", "score_ms_per_query")


def compact(result: dict[str, Any], with_points: bool = False) -> dict[str, Any]:
    out = {k: v for k, v in result.items() if k != "results"}
    out["results"] = [{k: r.get(k) for k in (*SUMMARY_KEYS, *(("points",) if with_points else ()))} for r in result["results"]]
    for o, r in zip(out["results"], result["results"]):
        if with_points and "points_fold" in r:  # k-fold: the points are this fold's curve, the metrics the folds' mean
            o["points_fold"] = r["points_fold"]
        cal = r.get("calibration")
        o["calibration"] = None if not cal else {k: v for k, v in cal.items() if with_points or k != "bins"}
    return out


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{100 * v:.1f}%" if pct else f"{v:.3f}"
    return str(v)


def _options(options: dict[str, dict]) -> str:
    return "; ".join(f"`{p}.{k}={v}`" for p, opts in options.items() for k, v in opts.items())


def _span(values: list[float], fmt: str = ".3f") -> str:
    lo, hi = min(values), max(values)
    return f"{lo:{fmt}}" if lo == hi else f"{lo:{fmt}}–{hi:{fmt}}"


def _anchor(folds: list[dict], role: str) -> str:
    """`model` (q=...) of the weak or strong anchor; over k folds, the mean quality and its range, and which model
    it was in how many folds."""
    names = Counter(f[role] for f in folds)
    who = ", ".join(f"`{m}`" + (f" in {c} fold{'s' if c > 1 else ''}" if len(names) > 1 else "") for m, c in names.items())
    qs = [f[f"q_{role}"] for f in folds]
    if len(folds) == 1:
        return f"{who} (q={qs[0]:.3f})"
    if min(qs) == max(qs):
        return f"{who} (q={qs[0]:.3f} in each of the {len(folds)} folds)"
    return f"{who} (q={sum(qs) / len(qs):.3f}, mean over the {len(folds)} folds; {_span(qs)})"


def to_markdown(result: dict[str, Any]) -> str:
    folds, split = result["split"]["folds"], result["split"]
    sizes = f"{_span([f['n_train'] for f in folds], 'd')} train / {_span([f['n_test'] for f in folds], 'd')} test queries"
    lines = [
        f"### {result['dataset']} — {split['kind']} split, seed {split['seed']}, {sizes}"
        + (" per fold" if len(folds) > 1 else ""),
        "",
        *([f"options: {_options(result['options'])}", ""] if result.get("options") else []),
        f"weak = {_anchor(folds, 'weak')}, strong = best single = {_anchor(folds, 'strong')}"
        + ("; all models cost the same, so the cost axis is flat" if any(f["flat_cost"] for f in folds) else ""),
        "",
        *([f"Every metric is the mean over the {len(folds)} folds; the curves (the PNG, `points` in the JSON, "
           "`routing_points` in SQLite) are fold 0's.", ""] if len(folds) > 1 else []),
        *(line for w in result.get("warnings") or [] for line in (f"**Warning:** {w}.", "")),
        "| policy | AUC | APGR | CPT(50%) | CPT(80%) | strong share | quality @ strong cost | cost for strong quality |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(result["results"], key=lambda r: -(r["auc"] or 0)):
        lines.append(f"| {r['policy']} | {_fmt(r['auc'])} | {_fmt(r['apgr'])} | {_fmt(r['cpt50'], True)} | "
                     f"{_fmt(r['cpt80'], True)} | {_fmt(r['strong_share'], True)} | {_fmt(r['quality_at_strong_cost'])} | "
                     f"{_fmt(r.get('cost_for_strong_quality'), True)} |")
    cal = [r for r in result["results"] if r.get("calibration") and r["policy"] not in ("random",)]
    if cal:
        lines += ["", "Calibration of per-expert quality predictions (held-out, quality rescaled to [0, 1]; "
                  "reference = each model's training mean for every query):", "",
                  "| policy | Brier | Brier of the reference | ECE |", "|---|---|---|---|"]
        for r in sorted(cal, key=lambda r: r["calibration"]["brier"]):
            c = r["calibration"]
            lines.append(f"| {r['policy']} | {c['brier']:.4f} | {c['brier_prior']:.4f} | {c['ece']:.3f} |")
    return "\n".join(lines) + "\n"


def to_png(result: dict[str, Any], path: str | Path) -> Path | None:
    """Cost-quality curves (normalised cost on x). Returns None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    f0 = result["split"]["folds"][0]
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab20").colors  # 20 distinct colours: the default cycle of 10 repeated past ten curves
    for i, r in enumerate(result["results"]):
        pts = sorted(r["points"], key=lambda p: p["cost_norm"])
        style = "--" if r["policy"] in ("random", "best_single", "oracle", "cheapest") else "-"
        ax.plot([p["cost_norm"] for p in pts], [p["quality"] for p in pts], style, marker=".", label=r["policy"],
                color=colours[(2 * i) % 20 + (2 * i) // 20 % 2])
    k = len(result["split"]["folds"])
    fold = " (fold 0)" if k > 1 else ""
    ax.axhline(f0["q_weak"], color="grey", lw=0.8, ls=":", label=f"weak {f0.get('weak', '')}{fold}")
    ax.axhline(f0["q_strong"], color="red", lw=0.8, ls=":", label=f"strong {f0.get('strong', '')}{fold}")
    ax.set_xlabel("normalised cost (0 = weak model, 1 = best single model)")
    ax.set_ylabel("mean quality")
    ax.set_title(f"{result['dataset']}: cost vs quality ({result['split']['kind']}, seed {result['split']['seed']})"
                 + (f"\ncurves of fold 0 of {k}; the table's metrics are the mean over the folds" if k > 1 else ""))
    ax.legend(fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def to_sqlite(result: dict[str, Any], db_path: str | Path) -> str:
    import sqlite_utils

    db = sqlite_utils.Database(db_path)
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    split = result["split"]
    db["routing_runs"].insert({"run_id": run_id, "dataset": result["dataset"], "split": split["kind"],
                               "seed": split["seed"], "test_frac": split.get("test_frac"), "n_queries": result["n_queries"],
                               "models": json.dumps(result["models"]),  # and what was asked, so runs appended
                               "options": json.dumps(result.get("options") or {})},  # to one file tell apart
                              pk="run_id", alter=True)
    db["routing_results"].insert_all(
        ({"run_id": run_id, "dataset": result["dataset"], **{k: r.get(k) for k in SUMMARY_KEYS}} for r in result["results"]),
        pk=("run_id", "policy"), alter=True)
    db["routing_points"].insert_all(
        ({"run_id": run_id, "policy": r["policy"], "fold": r.get("points_fold"), **p}  # fold: None = the held-out split
         for r in result["results"] for p in r["points"]), alter=True)
    return run_id
