"""The router's messages: the system prompt (experts, prices, budget) and the turns that feed it
expert replies inside <information>. All foreign text is escaped before it goes in."""

from __future__ import annotations

from ...agents.experts import ExpertSettings
from .protocol import escape

PROMPT_VERSION = 2  # bump on any change to the text below: a router adapter records the version it was trained on


def system_prompt(experts: list[ExpertSettings], *, budget_usd: float, max_rounds: int) -> str:
    listing = "\n".join(f"- {e.name} ({e.price_label()}): {e.description}" for e in experts)
    first = experts[0].name
    return (
        "You answer questions by asking experts. Every turn, write <think>a short thought</think> and then either\n"
        f"<search>Expert: one short sub-question</search> to ask an expert (or several at once: <search>A, B: question</search>),\n"
        "or <answer>the answer in a few words</answer> when you know it.\n"
        "Replies come back inside <information>...</information>. Ask about one fact at a time; cheaper experts first.\n"
        f"Experts:\n{listing}\n"
        f"Budget for the whole session: ${budget_usd:.4f}. At most {max_rounds} rounds of searches.\n"
        f"Search with the names and words of the question itself, e.g. <search>{first}: ...</search>."
    )


def question_message(question: str) -> dict[str, str]:
    return {"role": "user", "content": f"Question: {escape(question)}"}


def information_message(blocks: list[tuple[str, str]], *, status: str) -> dict[str, str]:
    """blocks: (label, text) pairs, e.g. ("Wiki: Who directed Jaws?", "(1) Jaws: ...")."""
    body = "\n".join(f"[{escape(label)}] {escape(text)}" for label, text in blocks)
    return {"role": "user", "content": f"<information>\n{body}\n</information>\n{status}"}


def correction_message(message: str, *, status: str) -> dict[str, str]:
    return {"role": "user", "content": f"<information>\n{escape(message)}\n</information>\n{status}"}


def status_line(*, budget_left_usd: float, rounds_left: int, must_answer: bool) -> str:
    line = f"Budget left: ${budget_left_usd:.4f}. Search rounds left: {rounds_left}."
    if must_answer:
        line += " No searches are left: give your final answer now."
    return line
