"""Plain-text rendering of step events and session results (the CLI's view; Gradio and HTTP render
the same events)."""

from __future__ import annotations

import textwrap
from typing import Any

from ..graphs import Step, outcome
from .steps import short as _short
from .steps import usd

WIDTH = 100


def _meter(step: Step) -> str:
    tokens = step["prompt_tokens"] + step["completion_tokens"]
    return f"{tokens} tok · ${step['cost_usd']:.6f} · {step['latency_s']:.2f}s" if tokens or step["latency_s"] else ""


def render_step(step: Step) -> str:
    kind, meter = step["kind"], _meter(step)
    if kind == "think":
        head = f"  think  {_short(step['text']) or '(no thought)'}"
    elif kind in ("route", "read"):
        head = f"  {kind:<6} {step['expert']} {'←' if kind == 'route' else 'reads:'} {_short(step['query'], 90)}"
        body = _short(outcome(step), 200)
        head += "\n" + textwrap.indent(textwrap.fill(body, WIDTH - 11), " " * 11)
    elif kind == "answer":
        head = f"  answer {_short(step['text'])}"
    else:
        head = f"  {kind:<6} {_short(step['text'])}"
        if step["reply"]:
            head += f" → {_short(step['reply'])}"
    if meter:
        head += f"   [{meter}]"
    return f"r{step['round']}{head}"


def render_unfinished(session: dict[str, Any], status: str) -> str:
    """A stored session that has not finished (running, or interrupted): what its steps have spent so far."""
    steps = session["steps"]
    tokens = sum((s["prompt_tokens"] or 0) + (s["completion_tokens"] or 0) for s in steps)
    calls = sum(1 for s in steps if s["kind"] == "route")
    spent = sum(s["cost_usd"] or 0.0 for s in steps)
    lines = [f"Unfinished: {status}",
             f"So far: ${spent:.6f} · {tokens} tokens · {calls} expert call(s) · {len(steps)} step(s)"]
    if status.startswith("interrupted"):
        lines.append(f"Finish it: routeweave resume {session['session_id']}")
    return "\n".join(lines)


def render_result(result: dict[str, Any], *, budget_usd: float | None = None) -> str:
    budget = f" of {usd(budget_usd)}" if budget_usd else ""  # "$0.005", "$0.0000001": never rounded to $0.0000
    lines = [
        f"Answer: {result['answer']}" + (" [cut off at the answering call's token limit]" if result.get("truncated") else ""),
        f"Cost: ${result['cost_usd']:.6f}{budget} · {result['prompt_tokens'] + result['completion_tokens']} tokens "
        f"· {result['expert_calls']} expert call(s) · {result['rounds']} round(s) · stop: {result['stop_reason']}",
    ]
    if result.get("overspent_usd") or result.get("stop_reason") == "overspent":
        lines.append(f"OVERSPENT: providers billed ${result.get('overspent_usd') or 0:.6f} beyond what their calls reserved; "
                     f"the session stopped there (see the notices above)")
    lines.append(f"Session: {result['session_id']}  (routeweave trace {result['session_id']})")
    return "\n".join(lines)
