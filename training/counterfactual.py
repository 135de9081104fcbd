"""Counterfactual trajectories (`train data --counterfactual SHARE`): the answer is swapped for another of
its kind everywhere after the question, in the evidence and in the router's own turns, and the target
answer with it. The router then cannot answer a training question from memory (its epochs have seen the
true answer); only reading the evidence gives the swapped one. After Longpre et al. 2021, "Entity-Based
Knowledge Conflicts in Question Answering": substituted contexts teach a reader to follow its context.

The traces show the trained router failing at reading: it has the answer in its evidence in 57% of the
held-out sessions and gives it in a quarter of those (benchmarks/results/training.md).

Swapped: a year for another year (±1..30), any other number digit by digit, anything else for the answer
of another training question with the same shape (capitalised or not, about as many words). Left as they
are: yes/no answers, answers the question itself names (comparisons: swapping would change the question),
and answers the evidence does not contain (nothing to read)."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from .records import Message, Trajectory

YES_NO = {"yes", "no"}


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)")


def _shape(answer: str) -> tuple[bool, int]:
    return answer[:1].isupper(), min(len(answer.split()), 4)


def eligible(t: Trajectory) -> bool:
    """The answer can be swapped: not yes/no, not named by the question, present in the evidence."""
    answer = t.answers[0]
    if answer.strip().lower() in YES_NO or not answer.strip() or _pattern(answer).search(t.question):
        return False
    evidence = " ".join(m.content for m in t.messages if m.role == "user" and "<information>" in m.content)
    return bool(_pattern(answer).search(evidence))


def _number(answer: str, rng: random.Random) -> str:
    def digits(m: re.Match[str]) -> str:
        s = m.group(0)
        if len(s) == 4 and 1000 <= int(s) <= 2099:  # a year: a nearby year
            return str(int(s) + rng.choice([-1, 1]) * rng.randint(1, 30))
        first = "0" if s == "0" else str(rng.randint(1, 9))  # no leading zero
        return first + "".join(str(rng.randint(0, 9)) for _ in s[1:])

    return re.sub(r"\d+", digits, answer)


def substitute(answer: str, others: Sequence[str], rng: random.Random) -> str | None:
    """Another answer of the same kind, or None when there is none that differs."""
    if any(ch.isdigit() for ch in answer):
        for _ in range(10):
            if (new := _number(answer, rng)) != answer:
                return new
        return None
    same = [o for o in others if _shape(o) == _shape(answer) and o.lower() != answer.lower()
            and not any(ch.isdigit() for ch in o) and o.strip().lower() not in YES_NO]
    return rng.choice(same) if same else None


def counterfactual(t: Trajectory, others: Sequence[str], rng: random.Random) -> Trajectory | None:
    """`t` with its answer swapped after the question, or None when it is not eligible (see `eligible`)."""
    if not eligible(t):
        return None
    old = t.answers[0]
    new = substitute(old, others, rng)
    text = " ".join(m.content for m in t.messages)
    if new is None or _pattern(new).search(text):  # the substitute must not already be in the session
        return None
    pat = _pattern(old)
    q = next(i for i, m in enumerate(t.messages) if m.role == "user")  # the question: left as it is
    messages = [m if i <= q else Message(role=m.role, content=pat.sub(new, m.content)) for i, m in enumerate(t.messages)]
    return t.model_copy(update={"id": f"{t.id}:cf", "source": f"{t.source}+cf", "answers": [new], "messages": messages})


def with_counterfactuals(rows: list[Trajectory], share: float, seed: int) -> tuple[list[Trajectory], int]:
    """`rows` with `share` of them (drawn with `seed`) swapped in place where eligible; the count of swaps.
    A share of 0 draws no random number, so the rest of the recipe is unchanged."""
    if share <= 0:
        return rows, 0
    rng = random.Random(f"counterfactual:{seed}")
    others = sorted({t.answers[0] for t in rows})
    out, swapped = [], 0
    for t in rows:
        cf = counterfactual(t, others, rng) if rng.random() < share else None
        out.append(cf or t)
        swapped += cf is not None
    return out, swapped
