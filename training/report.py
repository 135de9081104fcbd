"""`routeweave train report`: what the GRPO runs of a working folder did, as two PNGs and a Markdown
table. The reward curve of every `grpo-a*/` run (one line per alpha), and the cost-quality points of
held-out `eval qa` runs named on the command line (LABEL=RUN, e.g. `SFT=ho40-sft`, `α=0.2=ho40-grpo-0.2`),
read from the eval results DB: Router-R1's alpha sweep as a curve of EM and F1 against $/question."""

from __future__ import annotations

from pathlib import Path

from .base import TrainingError
from .plots import cost_quality_png, read_curve, reward_png


def grpo_curves(work: Path) -> dict[str, Path]:
    """alpha label -> reward_curve.jsonl, ordered by alpha."""
    found = {}
    for path in work.glob("grpo-a*/reward_curve.jsonl"):
        alpha = path.parent.name.removeprefix("grpo-a")
        try:
            found[float(alpha)] = (f"α={alpha}", path)
        except ValueError:
            continue
    return {label: path for _, (label, path) in sorted(found.items())}


def parse_points(specs: list[str]) -> list[tuple[str, str]]:
    points = []
    for spec in specs:
        label, sep, run = spec.rpartition("=")
        if not sep or not label or not run:
            raise TrainingError(f"--run takes LABEL=RUN (e.g. SFT=ho40-sft), got {spec!r}")
        points.append((label, run))
    return points


def eval_points(results_db: Path, specs: list[str]) -> list[dict]:
    from routeweave.evals.qa.metrics import Summary
    from routeweave.evals.qa.store import ResultStore

    if specs and not results_db.is_file():
        raise TrainingError(f"no eval results DB at {results_db} (pass --results-db, the DB `eval qa` wrote)")
    points = []
    with ResultStore(results_db) as store:
        for label, run in parse_points(specs):
            rows = store.rows(run)
            if not rows:
                known = ", ".join(r["run"] for r in store.runs()) or "none"
                raise TrainingError(f"run '{run}' has no results in {results_db} (runs: {known})")
            s = Summary.from_rows(rows).overall
            points.append({"label": label, "run": run, "count": s.count, "em": s.em, "f1": s.f1,
                           "cost_usd_mean": s.cost_usd_mean, "errors": s.errors})
    return points


def _mean(key: str, rows: list[dict]) -> float:
    return sum(r[key] for r in rows) / len(rows)


def curve_rows(curves: dict[str, Path], *, last: int = 5) -> list[dict]:
    out = []
    for label, path in curves.items():
        rows = read_curve(path)
        if not rows:
            continue
        tail = rows[-last:]
        out.append({"label": label, "steps": len(rows), "reward_first": rows[0]["reward"],
                    "reward_last": _mean("reward", tail), "outcome_all": _mean("outcome", rows),
                    "outcome_last": _mean("outcome", tail), "cost_last": _mean("cost", tail),
                    "format_last": _mean("format", tail), "rollout_s": _mean("rollout_s", rows)})
    return out


def markdown(curves: list[dict], points: list[dict], *, last: int = 5) -> str:
    lines = []
    if curves:
        head = (f"| GRPO run | steps | reward, step 1 | reward, last {last} | outcome, all steps | outcome, last {last} "
                f"| cost/budget, last {last} | format, last {last} | rollout s/step |")
        lines += [head, "|---|" + "---:|" * 8]
        lines += [f"| {c['label']} | {c['steps']} | {c['reward_first']:.3f} | {c['reward_last']:.3f} | {c['outcome_all']:.3f} "
                  f"| {c['outcome_last']:.3f} | {c['cost_last']:.3f} | {c['format_last']:.3f} | {c['rollout_s']:.0f} |"
                  for c in curves]
    if points:
        lines += [""] if lines else []
        lines += ["| router | eval run | questions | EM | F1 | $/question | errors |", "|---|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {p['label']} | `{p['run']}` | {p['count']} | {p['em']:.3f} | {p['f1']:.3f} | {p['cost_usd_mean']:.6f} "
                  f"| {p['errors']} |" for p in points]
    return "\n".join(lines)


def write_report(work: Path, out: Path, *, results_db: Path, runs: list[str]) -> dict:
    curves = grpo_curves(work)
    points = eval_points(results_db, runs) if runs else []
    if not curves and not points:
        raise TrainingError(f"nothing to report: no grpo-a*/reward_curve.jsonl in {work} and no --run given")
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    if curves:
        files["reward_png"] = str(reward_png(curves, out / "reward_curve.png"))
    if points:
        files["cost_quality_png"] = str(cost_quality_png(points, out / "cost_quality.png"))
    table = markdown(curve_rows(curves), points)
    (out / "training_report.md").write_text(table + "\n", encoding="utf-8")
    return {**files, "markdown": str(out / "training_report.md"), "table": table}
