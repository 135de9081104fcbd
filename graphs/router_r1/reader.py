"""A trained router reads evidence in its own protocol: the answer turn of a one-search Router-R1 session.

The single-shot and cascade graphs hand an evidence expert's reply (a retriever's passages) to a reader. A
router with a trained adapter learned to read in exactly one form: the system prompt listing the experts, the
question, its own `<search>`, the reply inside `<information>`, then `<think>` and `<answer>`. Asked with the
plain answer prompt, the same adapter writes protocol fragments, and without it the 135M model echoes the
passages. So the reading is put to it as that turn: one search of the evidence expert with the question's own
words (the teacher's wording for such a search), its reply, no searches left. The prompt functions are the
graph's own (`prompt.py`), so a prompt change that would refuse the adapter changes this too."""

from __future__ import annotations

from ...agents.experts import ExpertSettings
from .grammar import router_grammar
from .prompt import information_message, question_message, status_line, system_prompt
from .protocol import Turn, parse_turn, restore_stop

SEARCH_THINK = "Search with the question's own words."  # training/teacher.py's thought for such a search
READ_TOKENS = 96  # <think> (<= 100 characters) and <answer> (<= 80), with their tags
STOP = ["</answer>", "<information>"]


def reader_messages(source: ExpertSettings, question: str, evidence: str, *, budget_usd: float, max_rounds: int,
                    budget_left_usd: float) -> list[dict[str, str]]:
    """The router's answer turn after one search of ``source`` with the question, ``evidence`` its reply."""
    search = " ".join(question.split())
    return [
        {"role": "system", "content": system_prompt([source], budget_usd=budget_usd, max_rounds=max_rounds)},
        question_message(question),
        {"role": "assistant", "content": f"<think>{SEARCH_THINK}</think>\n<search>{source.name}: {search}</search>"},
        information_message([(f"{source.name}: {search}", evidence[:source.reply_chars])],
                            status=status_line(budget_left_usd=budget_left_usd, rounds_left=0, must_answer=True)),
    ]


def reader_grammar(source: ExpertSettings) -> str:
    return router_grammar([source.name], can_search=False)


def reader_answer(text: str, source: ExpertSettings) -> str | None:
    """The `<answer>` of the router's reply, or None if it wrote none (a search, or nothing usable)."""
    turn = parse_turn(restore_stop(text), [source.name], max_searches=1)
    return turn.answer if isinstance(turn, Turn) and turn.kind == "answer" and turn.answer.strip() else None
