"""Step events (graphs/state.py) as short text lines and as chat-UI messages. Every graph kind emits the
same Step dicts, so nothing here looks at which graph ran; an unknown kind renders like a notice."""

from __future__ import annotations

import html
import math
from typing import Any

from ..graphs import Step, outcome, status_word

# plain symbols that every sans-serif font has (no emoji font needed)
ICONS = {"think": "✎", "route": "→", "read": "≡", "answer": "✓", "decide": "◇", "guard": "◈", "notice": "⚠",
         "fallback": "↩"}


def usd(value: float | None) -> str:
    """Readable dollars: $0 exactly, tiny amounts with significant digits, never scientific notation."""
    value = float(value or 0.0)
    if value == 0:
        return "$0"
    if value >= 0.01:
        return f"${value:,.4f}".rstrip("0").rstrip(".")
    zeros = -math.floor(math.log10(value)) - 1  # after the point, before the first significant digit
    return f"${value:.{zeros + 3}f}".rstrip("0").rstrip(".")  # three significant digits, rounded


def short(text: str | None, limit: int = 160) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def meter(step: Step) -> str:
    tokens = step["prompt_tokens"] + step["completion_tokens"]
    parts = []
    if tokens:
        parts.append(f"{tokens:,} tok")
    if tokens or step["cost_usd"]:
        parts.append(usd(step["cost_usd"]))
    if step["latency_s"]:
        parts.append(f"{step['latency_s']:.2f}s")
    return " · ".join(parts)


def _status(step: Step) -> str:
    word = status_word(step)
    return f" ({word})" if word else ""


def step_title(step: Step) -> str:
    """One line naming what happened: who was asked what, or what the router did."""
    kind = step["kind"]
    icon = ICONS.get(kind, "•")
    if kind == "route":
        return f"{icon} Ask {step['expert'] or '?'}: {short(step['query'], 90)}" + _status(step)
    if kind == "think":
        return f"{icon} Router thinks: {short(step['text'], 90) or '(no thought)'}"
    if kind == "read":
        return f"{icon} {step['expert'] or '?'} {short(step['text'], 60) or 'answers'}" + _status(step)
    if kind == "answer":
        return f"{icon} Answer" + (f" from {step['expert']}" if step["expert"] and step["expert"] != "router" else "")
    if kind == "decide":
        return f"{icon} Policy picks {step['expert'] or 'no expert'}"
    if kind == "guard":
        return f"{icon} Guard {'refused' if step['error'] else 'passed'}"
    return f"{icon} {kind.capitalize()}: {short(step['text'], 80)}"


def step_line(step: Step) -> str:
    """One plain-text line per step (the HTTP stream's reasoning_content)."""
    head = f"r{step['round']} {step['kind']}"
    kind = step["kind"]
    if kind in ("route", "read"):
        arrow = "<-" if kind == "route" else "reads for"
        body = f"{step['expert']} {arrow} {short(step['query'], 120)} => " + short(outcome(step), 200)
    elif kind == "answer":
        body = f"({len(step['text'] or '')} chars)"
    else:
        body = short(step["text"], 200) + (f" -> {short(step['reply'], 120)}" if step["reply"] else "")
    m = meter(step)
    return f"{head}: {body}" + (f" [{m}]" if m else "")


def _quote(text: str | None) -> str:
    """User and expert text shown as text: HTML escaped, line breaks kept."""
    return html.escape(text or "").replace("\n", "  \n")


def step_message(step: Step, index: int) -> dict[str, Any]:
    """A collapsible assistant message (Gradio's messages format with metadata) for one step."""
    kind = step["kind"]
    if kind in ("route", "read"):
        body = f"**{'Sub-question' if kind == 'route' else 'Question'}:** {_quote(step['query'])}\n\n"
        body += (f"**{status_word(step).capitalize()}:** {_quote(step['error'])}" if step["error"]
                 else f"**Reply:** {_quote(step['reply']) or '(empty)'}")
    elif kind == "answer":
        body = _quote(step["text"])
    else:
        body = _quote(step["text"]) or "(nothing said)"
        if step["reply"]:
            body += f"\n\n**Reply:** {_quote(step['reply'])}"
        if step["error"] and kind != "route":
            body += f"\n\n_{_quote(step['error'])}_"
    metadata: dict[str, Any] = {"title": f"r{step['round']} · {step_title(step)}", "status": "done", "id": f"step-{index}"}
    m = meter(step)
    if m:
        metadata["log"] = m
    return {"role": "assistant", "content": body, "metadata": metadata}


def totals_html(result: dict[str, Any] | None, budget_usd: float, steps: list[Step] | None = None, *, running: bool = False) -> str:
    """The session's spend against its budget, as a small card (bar, dollars, tokens, calls)."""
    steps = steps if steps is not None else (result or {}).get("steps", [])
    spent = sum(s["cost_usd"] for s in steps)
    tokens = sum(s["prompt_tokens"] + s["completion_tokens"] for s in steps)
    calls = sum(1 for s in steps if s["kind"] == "route")
    share = min(spent / budget_usd, 1.0) if budget_usd else 0.0
    over = sum(s.get("overspent_usd") or 0.0 for s in steps)
    stop = (result or {}).get("stop_reason")
    status = "running…" if running else html.escape(str(stop or "—"))
    warning = (f'<div class="rw-over">over budget: providers billed {usd(over)} beyond their reservations</div>'
               if over or stop == "overspent" else "")
    session = (result or {}).get("session_id") or ""
    session_html = f'<div class="rw-session">session <code>{html.escape(session)}</code></div>' if session else ""
    return (
        '<div class="rw-totals">'
        f'<div class="rw-spend"><span class="rw-big">{usd(spent)}</span> of {usd(budget_usd)} budget</div>'
        f'<div class="rw-bar"><div class="rw-fill{" rw-fill-over" if warning else ""}" style="width:{share * 100:.1f}%"></div></div>'
        f'{warning}<div class="rw-stats"><span>{tokens:,} tokens</span><span>{calls} expert call{"s" if calls != 1 else ""}</span>'
        f'<span>{len(steps)} step{"s" if len(steps) != 1 else ""}</span><span class="rw-status">{status}</span></div>'
        f"{session_html}</div>"
    )


def answer_message(result: dict[str, Any], budget_usd: float) -> dict[str, Any]:
    tokens = result["prompt_tokens"] + result["completion_tokens"]
    footer = (f"{usd(result['cost_usd'])} of {usd(budget_usd)} · {tokens:,} tokens · {result['expert_calls']} expert "
              f"call{'s' if result['expert_calls'] != 1 else ''} · {result['rounds']} round{'s' if result['rounds'] != 1 else ''}"
              f" · {result['stop_reason']}")
    answer = _quote(result["answer"]) or "_(no answer)_"
    return {"role": "assistant", "content": f"{answer}\n\n<sub>{html.escape(footer)}</sub>"}
