"""Reports over stored QA runs: Markdown tables per dataset, a Table-1-style EM matrix side by side with
Router-R1's published figures, a cost table, JSON, and PNG plots of EM vs cost.

Runs whose configs differ only in the budget form a budget sweep: the plot joins them into a cost-EM
curve (Router-R1 trades quality for cost with its coefficient alpha; here the knob is the budget).

The paper's figures stand beside a dataset only if it is one of the catalog's (`catalog.DATASET_FILES`):
a user's file is labelled by its file name (``nq.jsonl``), never by a benchmark's name. Runs of one
dataset drawn on different questions (another --limit/--seed, another file) are flagged in ``warnings``.
`list_runs` lists the stored runs (`eval report` without a run name)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from routeweave.serving import aligned, json_text, minute

from .catalog import DATASET_FILES
from .metrics import Stats, Summary, share
from .store import ResultStore

# Router-R1 (arXiv:2506.09033) Table 1, Exact Match on 500 sampled test questions per dataset, as copied
# in ../shared/data/README.md. Baselines are on the Qwen2.5-3B base.
PAPER_DATASETS = ("nq", "triviaqa", "popqa", "hotpotqa", "2wikimultihopqa", "musique", "bamboogle")
PAPER_LABELS = {"nq": "NQ", "triviaqa": "TriviaQA", "popqa": "PopQA", "hotpotqa": "HotpotQA",
                "2wikimultihopqa": "2Wiki", "musique": "MuSiQue", "bamboogle": "Bamboogle"}
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "Router-R1-Qwen (Qwen2.5-3B)": dict(zip(PAPER_DATASETS, (.388, .706, .384, .352, .434, .138, .512))),
    "Router-R1-Llama (Llama-3.2-3B)": dict(zip(PAPER_DATASETS, (.416, .680, .432, .322, .368, .128, .520))),
    "Direct (Qwen base)": dict(zip(PAPER_DATASETS, (.092, .260, .122, .140, .266, .026, .040))),
    "Largest LLM (Qwen base)": dict(zip(PAPER_DATASETS, (.296, .578, .354, .278, .274, .104, .480))),
    "RouterDC (Qwen base)": dict(zip(PAPER_DATASETS, (.278, .592, .282, .244, .218, .080, .504))),
    "GraphRouter (Qwen base)": dict(zip(PAPER_DATASETS, (.276, .586, .280, .234, .180, .076, .448))),
}
# Router-R1 Table 4: EM / raw cost units (completion tokens x $/1M, unnormalised) of Router-R1-Qwen.
PAPER_TABLE4: dict[str, dict[str, tuple[float, float]]] = {
    "Router-R1-Qwen alpha=0.0": {"nq": (.388, 150.6), "popqa": (.384, 98.3), "hotpotqa": (.352, 138.6),
                                 "2wikimultihopqa": (.434, 150.8)},
    "Router-R1-Qwen alpha=0.9": {"nq": (.244, 5.5), "popqa": (.234, 5.3), "hotpotqa": (.186, 5.3),
                                 "2wikimultihopqa": (.252, 6.5)},
    "Largest LLM (Qwen base)": {"nq": (.296, 20.2)},
}


RUN_HEAD = ["| run | n | EM | F1 | $ total | $/q | units/q | calls/q | rounds/q | latency s/q | errors | answer seen "
            "| EM if seen |", "|---|" + "---:|" * 12]


def _padded_row(*cells: str) -> str:
    """A row of RUN_HEAD's table from its first cells, the rest shown as unknown (–)."""
    width = RUN_HEAD[0].count("|") - 1
    return "| " + " | ".join([*cells, *["–"] * (width - len(cells))]) + " |"


def _run_row(run: str, s: Stats) -> str:
    return (f"| {run} | {s.count} | {_f(s.em)} | {_f(s.f1)} | {_money(s.cost_usd_total)} | {_money(s.cost_usd_mean)} "
            f"| {s.cost_units_mean:.1f} | {s.expert_calls_mean:.2f} | {s.rounds_mean:.2f} | {s.latency_s_mean:.2f} "
            f"| {s.errors} | {share(s.seen)} | {share(s.em_if_seen)} |")


def _label(ds: str) -> str:
    return PAPER_LABELS[ds] if ds in DATASET_FILES else ds


def sample_of(config: dict[str, Any]) -> str:
    """Which questions of each dataset a run drew: "all", "first N" or "N, seed S"."""
    limit, seed = config.get("limit"), config.get("seed")
    if limit is None:
        return "all"
    return f"first {limit}" if seed is None or seed < 0 else f"{limit}, seed {seed}"


def skipped_of(config: dict[str, Any]) -> int | None:
    """Malformed rows of the run's dataset files skipped while loading; None for runs stored before it was recorded."""
    skipped = config.get("skipped_rows")
    return None if skipped is None else sum(skipped.values())


def sample_warnings(runs: list[dict[str, Any]], datasets: list[str]) -> list[str]:
    """One line per dataset whose runs were drawn on different questions (sample or file), so not comparable."""
    out = []
    for d in datasets:
        having = [r for r in runs if d in (r["config"].get("datasets") or []) or d in r["summary"].datasets]
        files = {h for r in having if (h := (r["config"].get("dataset_sha256") or {}).get(d))}
        if len({sample_of(r["config"]) for r in having}) > 1 or len(files) > 1:
            out.append(f"{_label(d)}: the runs were on different questions ("
                       + "; ".join(f"{r['run']}: {sample_of(r['config'])}" for r in having)
                       + (f"; {len(files)} different files" if len(files) > 1 else "")
                       + "), so their scores are not directly comparable")
    return out


def _dataset_order(names) -> list[str]:
    known = [d for d in PAPER_DATASETS if d in names]
    return known + sorted(n for n in names if n not in PAPER_DATASETS)


def system_of(config: dict[str, Any]) -> str:
    """A short description of what a run evaluated: graph, policy, experts, budget."""
    parts = [config.get("graph") or "?"]
    if config.get("policy"):
        parts.append(f"policy={config['policy']}")
    if config.get("experts_arg"):
        parts.append(f"experts={','.join(config['experts_arg'])}")
    if config.get("budget_usd") is not None:
        parts.append(f"budget=${config['budget_usd']:g}")
    if config.get("max_rounds") is not None:
        parts.append(f"rounds<={config['max_rounds']}")
    return " ".join(parts)


def build(store: ResultStore, runs: list[str]) -> dict[str, Any]:
    """{"runs": [{"run", "config", "system", "total", "summary": Summary}], "datasets": [...]}.
    Unknown runs raise KeyError naming the known ones."""
    out = []
    for run in runs:
        config = store.run_config(run)
        if config is None:
            known = ", ".join(r["run"] for r in store.runs()) or "none"
            raise KeyError(f"no run named '{run}' in {store.path} (runs: {known})")
        rows = store.rows(run)
        total = next((r["total"] for r in store.runs() if r["run"] == run), len(rows))
        out.append({"run": run, "config": config, "system": system_of(config), "total": total,
                    "summary": Summary.from_rows(rows)})
    datasets = _dataset_order({d for r in out for d in r["summary"].datasets})
    return {"runs": out, "datasets": datasets, "warnings": sample_warnings(out, datasets)}


def _f(x: float, nd: int = 3) -> str:
    return f"{x:.{nd}f}"


def _money(x: float) -> str:
    return f"{x:.2e}" if 0 < abs(x) < 1e-4 else f"{x:.5f}"


def to_markdown(report: dict[str, Any], *, title: str | None = "QA evaluation") -> str:
    runs, datasets = report["runs"], report["datasets"]
    lines: list[str] = []
    if title:
        lines += [f"# {title}", ""]
    lines += ["## Runs", "", "| run | system | datasets | sample | pool | questions (done/planned) | errors "
              "| malformed rows skipped |", "|---|---|---|---|---|---:|---:|---:|"]
    for r in runs:
        c, s = r["config"], r["summary"].overall
        skipped = skipped_of(c)
        lines.append(f"| {r['run']} | {r['system']} | {', '.join(map(_label, c.get('datasets', [])))} | {sample_of(c)} "
                     f"| {c.get('pool', '?')} | {s.count}/{r['total']} | {s.errors} | {'–' if skipped is None else skipped} |")
    if report.get("warnings"):
        lines += ["", *(f"**Note:** {w}." for w in report["warnings"])]
    # Table-1 style EM matrix, ours beside the paper's.
    head = "| system | " + " | ".join(_label(d) for d in datasets) + " | Avg of these |"
    paper = ("Paper rows: Router-R1 (arXiv:2506.09033) Table 1, 500 questions each, Qwen2.5-3B/Llama-3.2-3B routers "
             "with 7B-70B experts on GPUs. The paper's own Avg also covers Bamboogle; \"Avg of these\" averages the "
             "columns shown." if any(d in DATASET_FILES for d in datasets) else
             "No paper rows: none of these datasets is one of the catalog's (a file of your own is labelled by its file "
             "name, and is not the benchmark of the same name).")
    lines += ["", "## Exact Match by dataset (Router-R1 Table 1 layout)", "", f"Ours: `n` questions per dataset. {paper}",
              "", head, "|---|" + "---:|" * (len(datasets) + 1)]
    for r in runs:
        cells, ems = [], []
        per_ds = r["summary"].datasets
        for d in datasets:
            s = per_ds.get(d)
            if s is None:
                cells.append("–")
                continue
            ems.append(s.em)
            cells.append(f"{_f(s.em)} (n={s.count})")
        avg = _f(sum(ems) / len(ems)) if ems else "–"
        lines.append(f"| **{r['run']}** | " + " | ".join(cells) + f" | {avg} |")
    for name, row in PAPER_TABLE1.items() if any(d in DATASET_FILES for d in datasets) else ():
        vals = [row.get(d) if d in DATASET_FILES else None for d in datasets]
        shown = [v for v in vals if v is not None]
        avg = _f(sum(shown) / len(shown)) if shown else "–"
        lines.append(f"| paper: {name} | " + " | ".join("–" if v is None else _f(v) for v in vals) + f" | {avg} |")
    # Per dataset detail.
    for d in datasets:
        lines += ["", f"## {_label(d)}", "", *RUN_HEAD]
        for r in runs:
            s: Stats | None = r["summary"].datasets.get(d)
            if s is None:
                continue
            lines.append(_run_row(r["run"], s))
        for n, row in PAPER_TABLE1.items() if d in DATASET_FILES else ():
            if d in row and not n.startswith(("RouterDC", "GraphRouter")):
                lines.append(_padded_row(f"paper Table 1: {n}", "500", _f(row[d])))
        t4 = [(n, row[d]) for n, row in PAPER_TABLE4.items() if d in row and d in DATASET_FILES]
        for n, (em, units) in t4:
            lines.append(_padded_row(f"paper Table 4: {n}", "500", _f(em), "–", "–", "–", f"{units:.1f}"))
    # Overall.
    lines += ["", "## Overall (all questions of each run)", "", *RUN_HEAD]
    for r in runs:
        lines.append(_run_row(r["run"], r["summary"].overall))
    lines += ["", "Cost: `$` from the pool's per-model prices (local models have nominal prices); `units` is "
              "Router-R1's unit, completion tokens x output $/1M. Errors (timeouts, failures) count as wrong. "
              "`answer seen`: share of the questions (yes/no ones left out) whose gold answer appeared in some "
              "expert's reply; `EM if seen`: EM over those, i.e. how often an answer that was found was also "
              "given (– for runs stored before these columns existed)."]
    return "\n".join(lines) + "\n"


def to_json(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "datasets": report["datasets"],
        "runs": [{"run": r["run"], "system": r["system"], "config": r["config"], "total": r["total"],
                  "sample": sample_of(r["config"]), "skipped_rows": skipped_of(r["config"]),
                  "summary": r["summary"].model_dump()} for r in report["runs"]],
        "warnings": report.get("warnings", []),
        "paper_table1": PAPER_TABLE1,
    }


def _sweep_key(config: dict[str, Any]) -> str:
    return repr(sorted((k, v) for k, v in config.items() if k not in ("budget_usd", "pool_hash")))


def to_png(report: dict[str, Any], path: str | Path, metric: str = "em") -> Path | None:
    """EM (or `metric="f1"`) vs mean $ per question (log scale), one panel per dataset plus overall; runs differing only by budget are
    joined into a curve. None if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    panels = [*report["datasets"], "overall"]
    cols = min(4, len(panels))
    rows_n = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 3.4 * rows_n), squeeze=False)
    sweeps: dict[str, list[dict[str, Any]]] = {}
    for r in report["runs"]:
        sweeps.setdefault(_sweep_key(r["config"]), []).append(r)
    for i, panel in enumerate(panels):
        ax = axes[i // cols][i % cols]
        for group in sweeps.values():
            pts = []
            for r in group:
                s = r["summary"].overall if panel == "overall" else r["summary"].datasets.get(panel)
                if s is not None and s.count:
                    pts.append((s.cost_usd_mean, getattr(s, metric), r["run"], (r["config"].get("budget_usd") or 0)))
            if not pts:
                continue
            pts.sort(key=lambda p: (p[3], p[0]))
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            label = group[0]["run"] if len(group) == 1 else f"{group[0]['system'].split(' budget')[0]} (budget sweep)"
            ax.plot(xs, ys, marker="o", linestyle="-" if len(pts) > 1 else "", label=label)
            for x, y, name, _ in pts:
                if len(group) > 1:
                    ax.annotate(name, (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
        if metric == "em" and panel in DATASET_FILES and panel in PAPER_TABLE1["Router-R1-Qwen (Qwen2.5-3B)"]:
            ax.axhline(PAPER_TABLE1["Router-R1-Qwen (Qwen2.5-3B)"][panel], color="grey", linestyle=":",
                       linewidth=1, label="paper Router-R1-Qwen EM")
        ax.set_title(_label(panel) if panel != "overall" else "all datasets")
        flat = [float(x) for ln in ax.get_lines() if ln.get_linestyle() != ":" for x in ln.get_xdata()]
        if flat and min(flat) > 0:
            ax.set_xscale("log")
        ax.set_xlabel("mean $ per question")
        ax.set_ylabel(metric.upper())
        ax.set_ylim(-0.02, 1.0)
        ax.grid(alpha=0.3)
    for j in range(len(panels), rows_n * cols):
        axes[j // cols][j % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    for row in axes:
        for ax in row:
            h, lab = ax.get_legend_handles_labels()
            for hh, ll in zip(h, lab):
                if ll not in labels:
                    handles.append(hh)
                    labels.append(ll)
    fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.025 * math.ceil(len(labels) / 4), 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def list_runs(store: ResultStore, path: Path, *, as_json: bool) -> int:
    """The stored runs, oldest first: how far each got and what it ran (a run's config is what a resume checks)."""
    runs = [{"run": r["run"], "done": store.count(r["run"]), "total": r["total"], "created": r["created"],
             "config": r["config"]} for r in store.runs()]
    if as_json:
        print(json_text(runs, indent=1))
        return 0
    if not runs:
        print(f"no runs in {path} yet")
        return 0
    lines = [("run", "done", "created", "graph", "pool", "datasets")]
    for r in runs:
        c = r["config"]
        graph = c.get("graph", "?") + (f" ({c['policy']})" if c.get("policy") else "")
        lines.append((r["run"], f"{r['done']}/{r['total']}", minute(r.get("created")), graph, str(c.get("pool", "?")),
                      ",".join(c.get("datasets") or []) + f" ({sample_of(c)})"))
    print(aligned(lines))
    print(f"scores: routeweave eval report RUN [RUN ...] --results-db {path}", file=sys.stderr)
    return 0
