"""The router's messages: the system prompt (experts, prices, budget) and the turns that feed it
expert replies inside <information>. All foreign text is escaped before it goes in."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from ...agents.experts import ExpertSettings, expert_kinds
from .protocol import escape


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


@lru_cache(maxsize=1)
def prompt_version() -> str:
    """A short hash of what the router sees and must write: these prompt functions rendered on a fixed
    example, and the grammar. Any change to their wording changes it; a router adapter trained on another
    version is refused (a trained router records the version it was trained on)."""
    from .grammar import router_grammar

    kinds = expert_kinds()
    experts = [kinds["retrieval"].settings(name="Alpha", kind="retrieval", corpus="builtin:hotpotqa", description="d1"),
               kinds["llm"].settings(name="Beta", model="openai/x", description="d2",
                                     price={"input_per_m": 1.0, "output_per_m": 2.0})]
    parts = [
        system_prompt(experts, budget_usd=0.005, max_rounds=3),
        str(question_message("Q?")),
        str(information_message([("Alpha: q", "text")], status=status_line(budget_left_usd=0.004, rounds_left=1,
                                                                          must_answer=False))),
        status_line(budget_left_usd=0.0, rounds_left=0, must_answer=True),
        router_grammar(["Alpha", "Beta"], can_search=True, max_searches=2),
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]
