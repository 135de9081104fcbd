"""The totals of a replay (one JSON object) and its Markdown table."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .redecide import PolicyReplay
from .reprice import NO_TRACE, Repriced

ROUTER_NOTE = ("{n} session(s) followed a path an LLM router chose: re-priced, not re-decided (its prompt showed "
               "the recorded prices; at these prices it might have asked other experts)")
BUDGET_NOTE = ("{n} session(s) were shaped by the budget (stopped for it, or a call skipped or cut): at other "
               "prices the budget would have allowed another path")
SESSIONS = "(sessions)"  # the group of sessions given by id that belong to no eval qa run


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def totals(replayed: list[Repriced], policy: PolicyReplay | None = None) -> dict[str, Any]:
    """Sessions, recorded and replayed cost and quality, unknowns and budget-shaped sessions of a group."""
    unknown = [u for r in replayed for u in r.unknown]
    known = [r.cost_usd for r in replayed]
    quality = [r.recorded.quality for r in replayed if r.recorded.quality is not None]
    out: dict[str, Any] = {
        "sessions": len(replayed),
        "cost_usd_recorded": sum(r.cost_usd_recorded for r in replayed),
        "cost_usd_replayed": None if any(c is None for c in known) else sum(known),  # type: ignore[misc]
        "cost_usd_replayed_known": sum(r.known_usd for r in replayed),
        "quality_recorded": _mean(quality),
        "quality_replayed": _mean(quality) if policy is None else policy.quality,
        "unknown": {
            "steps": sum(1 for u in unknown if u.reason != NO_TRACE),
            "by_expert": dict(Counter(u.who for u in unknown if u.reason != NO_TRACE)),
            "by_reason": dict(Counter(u.reason for u in unknown)),
            "sessions": sum(1 for r in replayed if r.unknown),
            "cost_usd_recorded": sum((u.cost_usd_recorded for u in unknown), 0.0),
            "traces_missing": sum(1 for u in unknown if u.reason == NO_TRACE),
            "questions": sum(policy.unknown.values()) if policy else 0,
            "questions_by_expert": dict(policy.unknown) if policy else {},
        },
        "budget_shaped": sum(1 for r in replayed if r.budget_shaped),
        "router_decided": sum(1 for r in replayed if r.router_decided),
    }
    if policy is not None:
        out["policy"] = {"name": policy.name, "questions": policy.questions, "scored": policy.scored,
                         "refused": policy.refused, "unknown": sum(policy.unknown.values()),
                         "quality": policy.quality, "cost_usd": policy.cost_usd,
                         "cost_usd_per_question": policy.cost_usd_per_question, "choices": dict(policy.choices)}
    return out


def build(replayed: list[Repriced], *, pool: str, policy: PolicyReplay | None = None) -> dict[str, Any]:
    """The whole replay: totals, then the same per dataset, and what the numbers cannot say."""
    groups: dict[str, list[Repriced]] = {}
    for r in replayed:
        groups.setdefault(r.recorded.dataset or SESSIONS, []).append(r)
    out = {"pool": pool, **totals(replayed, policy)}
    out["budget_shaped_sessions"] = [r.recorded.session_id for r in replayed if r.budget_shaped]
    out["datasets"] = {name: totals(rs, policy.by_dataset.get(name) if policy else None) for name, rs in groups.items()}
    notes = []
    if out["router_decided"]:
        notes.append(ROUTER_NOTE.format(n=out["router_decided"]))
    if out["budget_shaped"]:
        notes.append(BUDGET_NOTE.format(n=out["budget_shaped"]))
    if out["unknown"]["steps"] or out["unknown"]["traces_missing"]:
        u = out["unknown"]
        names = ", ".join(f"{k} ×{v}" for k, v in u["by_expert"].items()) or "none"
        notes.append(f"{u['steps']} step(s) could not be priced ({names}; "
                     + "; ".join(f"{k}: {v}" for k, v in u["by_reason"].items())
                     + f"), recorded at ${u['cost_usd_recorded']:.6f}: the replayed total is unknown, "
                     f"${out['cost_usd_replayed_known']:.6f} without them")
    if policy is not None and policy.unknown:
        names = ", ".join(f"{k} ×{v}" for k, v in policy.unknown.items())
        notes.append(f"{sum(policy.unknown.values())} question(s) went to an expert with no recorded outcome on them "
                     f"({names}): unknown, not scored; record them with `routeweave eval qa --graph single-shot "
                     "--experts NAME`")
    out["notes"] = notes
    return out


def _usd(v: float | None) -> str:
    return "unknown" if v is None else f"${v:.6f}"


def _q(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def _row(name: str, t: dict[str, Any]) -> str:
    ratio = (f"{t['cost_usd_replayed'] / t['cost_usd_recorded']:.3f}×"
             if t["cost_usd_replayed"] is not None and t["cost_usd_recorded"] else "—")
    u = t["unknown"]
    unknown = f"{u['steps']} step(s)" + (f", {u['questions']} question(s)" if u["questions"] else "")
    return (f"| {name} | {t['sessions']} | {_usd(t['cost_usd_recorded'])} | {_usd(t['cost_usd_replayed'])} | {ratio} | "
            f"{_q(t['quality_recorded'])} | {_q(t['quality_replayed'])} | {unknown} | {t['budget_shaped']} |")


def to_markdown(report: dict[str, Any], *, ids: list[str], policy: str | None = None) -> str:
    lines = [f"### Replay of {', '.join(ids)} at the prices of {report['pool']}"
             + (f", re-decided by `{policy}`" if policy else ""), "",
             ("| dataset | sessions | recorded cost | replayed cost | ratio | quality recorded | quality replayed "
              "| unknown | budget-shaped |"), "|---|---|---|---|---|---|---|---|---|"]
    for name, t in report["datasets"].items():
        lines.append(_row(name, t))
    if len(report["datasets"]) > 1:
        lines.append(_row("**all**", report))
    if "policy" in report:
        p = report["policy"]
        choices = ", ".join(f"{k} ×{v}" for k, v in p["choices"].items()) or "none"
        lines += ["", (f"`{p['name']}` re-decided {p['questions']} question(s): {p['scored']} scored from recorded "
                       f"outcomes, {p['refused']} refused, {p['unknown']} unknown; mean quality {_q(p['quality'])}, "
                       f"{_usd(p['cost_usd_per_question'])} per question (choices: {choices}).")]
    if report["notes"]:
        lines += ["", *(f"- {n}" for n in report["notes"])]
    return "\n".join(lines) + "\n"
