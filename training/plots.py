"""The GRPO reward curve as a PNG: mean reward per step (and its parts) of one or more runs."""

from __future__ import annotations

import json
from pathlib import Path


def read_curve(path: Path) -> list[dict]:
    """The rows of a reward_curve.jsonl by step; a step run twice (a chunk killed after its rollout, then
    resumed from the checkpoint before it) keeps its last row."""
    rows = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row.get("step", len(rows))] = row
    return [rows[k] for k in sorted(rows)]


def reward_png(curves: dict[str, Path], out: Path, *, window: int = 5) -> Path:
    """One line per run (label -> reward_curve.jsonl): the moving average of the mean reward per step,
    and dotted, of the outcome part."""
    fig, ax = _figure()
    for label, path in curves.items():
        rows = read_curve(path)
        steps = list(range(1, len(rows) + 1))
        for key, style in (("reward", "-"), ("outcome", ":")):
            values = [r[key] for r in rows]
            smooth = [sum(values[max(0, i - window + 1):i + 1]) / len(values[max(0, i - window + 1):i + 1])
                      for i in range(len(values))]
            ax.plot(steps, smooth, style, label=f"{label} {key}")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel(f"mean over the step's sessions (moving average of {window})")
    ax.set_title("Router GRPO: reward = format + outcome − α·cost")
    return _save(fig, ax, out)


def cost_quality_png(points: list[dict], out: Path) -> Path:
    """EM and F1 against $/question, one labelled point per evaluated router (Router-R1's alpha sweep)."""
    fig, ax = _figure()
    x = [p["cost_usd_mean"] * 1e6 for p in points]
    for key, marker in (("em", "o"), ("f1", "s")):
        ax.scatter(x, [p[key] for p in points], marker=marker, label=key.upper())
    for p, xi in zip(points, x):
        ax.annotate(p["label"], (xi, p["f1"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("$ per question (×1e-6)")
    ax.set_ylabel("held-out score")
    ax.set_title("Router cost–quality: each point one router")
    return _save(fig, ax, out)


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 4))


def _save(fig, ax, out: Path) -> Path:
    import matplotlib.pyplot as plt

    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
