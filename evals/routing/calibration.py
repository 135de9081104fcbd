"""Are a policy's per-expert quality predictions calibrated? Brier score, expected calibration error and
reliability diagrams on the held-out split.

Only policies whose scores are predicted quality (``scores_are_quality``) are checked. Qualities are
rescaled to [0, 1] with the table's range (binary tables: P(correct) vs correct), so Brier = mean squared
error of the rescaled prediction, pooled over queries and models; the reference is the Brier score of
predicting each model's training-split mean for every query (``brier_prior``): a useful policy is below it.
ECE = sum over 10 equal-width bins of (bin share) x |mean prediction - mean outcome|."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BINS = 10


def calibration(P: np.ndarray, Q: np.ndarray, prior: np.ndarray, lo: float, hi: float) -> dict[str, Any]:
    """P, Q: (n, m) predicted and true quality on the test split; prior: (m,) training means."""
    span = (hi - lo) or 1.0
    p = np.clip((np.asarray(P, float) - lo) / span, 0, 1)
    y = (np.asarray(Q, float) - lo) / span
    ok = np.isfinite(p)
    pf, yf = p[ok], y[ok]
    pr = np.broadcast_to(np.clip((prior - lo) / span, 0, 1), p.shape)[ok]
    edges = np.linspace(0, 1, BINS + 1)
    b = np.clip(np.digitize(pf, edges[1:-1]), 0, BINS - 1)
    bins = []
    ece = 0.0
    for i in range(BINS):
        sel = b == i
        if sel.any():
            mp, my = float(pf[sel].mean()), float(yf[sel].mean())
            bins.append({"lo": float(edges[i]), "hi": float(edges[i + 1]), "n": int(sel.sum()), "pred": mp, "obs": my})
            ece += sel.mean() * abs(mp - my)
    return {"brier": float(np.mean((pf - yf) ** 2)), "brier_prior": float(np.mean((pr - yf) ** 2)),
            "ece": float(ece), "bins": bins}


def average(cals: list[dict[str, Any]]) -> dict[str, Any]:
    out = {k: float(np.mean([c[k] for c in cals])) for k in ("brier", "brier_prior", "ece")}
    out["bins"] = cals[0]["bins"]  # first fold's diagram
    return out


def reliability_png(result: dict[str, Any], path: str | Path) -> Path | None:
    """One reliability diagram per policy that has calibration data. None if matplotlib is missing or
    no policy has any."""
    rows = [r for r in result["results"] if r.get("calibration")]
    if not rows:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    cols = min(4, len(rows))
    nrows = (len(rows) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 3.2 * nrows), squeeze=False)
    for ax, r in zip(axes.flat, rows):
        c = r["calibration"]
        ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
        pred, obs, n = [b["pred"] for b in c["bins"]], [b["obs"] for b in c["bins"]], [b["n"] for b in c["bins"]]
        ax.plot(pred, obs, "-o", ms=3)
        for x, yv, k in zip(pred, obs, n):
            ax.annotate(str(k), (x, yv), fontsize=6, xytext=(2, -8), textcoords="offset points")
        ax.set_title(f"{r['policy']}: Brier {c['brier']:.3f} (prior {c['brier_prior']:.3f}), ECE {c['ece']:.3f}",
                     fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("predicted quality (rescaled)", fontsize=7)
        ax.set_ylabel("observed", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    fig.suptitle(f"{result['dataset']}: reliability of per-expert quality predictions (held-out)", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
