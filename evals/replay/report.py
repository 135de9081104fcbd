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


def _policy_paths(replayed: list[Repriced], policy: PolicyReplay) -> dict[str, Any]:
    """The policy's path for each recorded session (its decision on that session's question), on the same
    sessions as the recorded totals: a session whose chosen expert has no recorded outcome is unknown."""
    paths = [policy.session(r.recorded.key) for r in replayed]
    known = [p for p in paths if p is not None]
    return {"cost_usd_replayed": None if len(known) < len(paths) else sum(c for _, c in known),
            "cost_usd_replayed_known": sum(c for _, c in known),
            "quality_replayed": _mean([q for q, _ in known]),
            "sessions_replayed_known": len(known)}


def totals(replayed: list[Repriced], policy: PolicyReplay | None = None) -> dict[str, Any]:
    """Sessions, recorded and replayed cost and quality, unknowns and budget-shaped sessions of a group.
    `cost_usd_repriced`: the recorded paths at the new prices. `cost_usd_replayed` and `quality_replayed`
    describe one thing: those same paths without a policy, the policy's paths with one (its decision on
    each session's question, scored and priced from the recorded outcomes)."""
    unknown = [u for r in replayed for u in r.unknown]
    known = [r.cost_usd for r in replayed]
    quality = [r.recorded.quality for r in replayed if r.recorded.quality is not None]
    repriced = {"cost_usd_repriced": None if any(c is None for c in known) else sum(known),  # type: ignore[misc]
                "cost_usd_repriced_known": sum(r.known_usd for r in replayed)}
    paths = _policy_paths(replayed, policy) if policy is not None else {  # without a policy: the recorded paths
        "cost_usd_replayed": repriced["cost_usd_repriced"], "cost_usd_replayed_known": repriced["cost_usd_repriced_known"],
        "quality_replayed": _mean(quality), "sessions_replayed_known": sum(1 for c in known if c is not None)}
    out: dict[str, Any] = {
        "sessions": len(replayed),
        "cost_usd_recorded": sum(r.cost_usd_recorded for r in replayed),
        **repriced,
        "quality_recorded": _mean(quality),
        **paths,
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
        notes.append(ROUTER_NOTE.format(n=out["router_decided"]) + (
            f"; `{policy.name}`'s columns re-decide their questions" if policy is not None else ""))
    if out["budget_shaped"]:
        notes.append(BUDGET_NOTE.format(n=out["budget_shaped"]))
    if out["unknown"]["steps"] or out["unknown"]["traces_missing"]:
        u = out["unknown"]
        names = ", ".join(f"{k} ×{v}" for k, v in u["by_expert"].items()) or "none"
        reasons = list(u["by_reason"].items())
        why = (f"{names}: {reasons[0][0]}" if len(reasons) == 1  # one reason: no count to repeat
               else f"{names}; " + "; ".join(f"{k}: {v}" for k, v in reasons))
        notes.append(f"{u['steps']} step(s) could not be priced ({why}), recorded at ${u['cost_usd_recorded']:.6f}: "
                     "the re-priced total is unknown, "
                     f"${out['cost_usd_repriced_known']:.6f} without them")
    if policy is not None and policy.unknown:
        names = ", ".join(f"{k} ×{v}" for k, v in policy.unknown.items())
        notes.append(f"{sum(policy.unknown.values())} question(s) went to an expert with no recorded outcome on them "
                     f"({names}): unknown, not scored, so the cost of `{policy.name}`'s paths is unknown for "
                     f"{out['sessions'] - out['sessions_replayed_known']} session(s) "
                     f"(${out['cost_usd_replayed_known']:.6f} without them) and its quality is the mean over the "
                     f"{out['sessions_replayed_known']} others; record them with `routeweave eval qa --graph "
                     "single-shot --experts NAME`")
    out["notes"] = notes
    return out


def _usd(v: float | None) -> str:
    return "unknown" if v is None else f"${v:.6f}"


def _q(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def _row(name: str, t: dict[str, Any], policy: bool) -> str:
    ratio = (f"{t['cost_usd_replayed'] / t['cost_usd_recorded']:.3f}×"
             if t["cost_usd_replayed"] is not None and t["cost_usd_recorded"] else "—")
    u = t["unknown"]
    unknown = f"{u['steps']} step(s)" + (f", {u['questions']} question(s)" if u["questions"] else "")
    quality = _q(t["quality_replayed"])
    if policy and t["sessions_replayed_known"] < t["sessions"] and t["quality_replayed"] is not None:
        quality += f" ({t['sessions_replayed_known']} of {t['sessions']})"
    cost = f"{_usd(t['cost_usd_repriced'])} | " if policy else ""
    return (f"| {name} | {t['sessions']} | {_usd(t['cost_usd_recorded'])} | {cost}{_usd(t['cost_usd_replayed'])} | "
            f"{ratio} | {_q(t['quality_recorded'])} | {quality} | {unknown} | {t['budget_shaped']} |")


def to_markdown(report: dict[str, Any], *, ids: list[str], policy: str | None = None) -> str:
    """One row per dataset. Without a policy: the recorded paths at the new prices. With one: those, then
    the policy's paths on the same sessions (cost and quality both), the ratio being theirs to the recorded."""
    name = report["policy"]["name"] if "policy" in report else None
    head = (f"| dataset | sessions | recorded cost | recorded paths at new prices | `{name}`'s paths | ratio "
            f"| quality recorded | quality `{name}` | unknown | budget-shaped |" if name else
            "| dataset | sessions | recorded cost | replayed cost | ratio | quality recorded | quality replayed "
            "| unknown | budget-shaped |")
    lines = [f"### Replay of {', '.join(ids)} at the prices of {report['pool']}"
             + (f", re-decided by `{policy}`" if policy else ""), "", head, "|---" * head.count(" | ") + "|---|"]
    for dataset, t in report["datasets"].items():
        lines.append(_row(dataset, t, name is not None))
    if len(report["datasets"]) > 1:
        lines.append(_row("**all**", report, name is not None))
    if "policy" in report:
        p = report["policy"]
        choices = ", ".join(f"{k} ×{v}" for k, v in p["choices"].items()) or "none"
        lines += ["", (f"`{p['name']}` re-decided {p['questions']} distinct question(s), each session of a question "
                       f"taking its decision: {p['scored']} scored from recorded outcomes, {p['refused']} refused, "
                       f"{p['unknown']} unknown; per question, mean quality {_q(p['quality'])} at "
                       f"{_usd(p['cost_usd_per_question'])} (choices: {choices}). The ratio is its paths' cost to the "
                       "recorded cost of the same sessions.")]
    if report["notes"]:
        lines += ["", *(f"- {n}" for n in report["notes"])]
    return "\n".join(lines) + "\n"
