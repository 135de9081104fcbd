"""Teacher trajectories: what a good router would have done, built with the graph's own prompt
functions and the REAL retriever's output inside <information>.

HotpotQA has no decompositions: the sub-questions are the supporting titles (the entities to look
up), those named in the question first (two at once when the question names both, as a comparison
does), the bridge entity next. MuSiQue brings decompositions: each hop's sub-question, with the
answers of earlier hops filled in. The last turn thinks one fixed sentence (or, with
answer_think="quote", quotes the evidence around the answer) and answers in a few words."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from ._graph import REPLY_CHARS, get_aggregator, grammar, prompt, reply_text
from .data_settings import ANSWER_THINKS, DEFAULT_ANSWER_THINK
from .expert_lists import SessionPool
from .records import Message, Trajectory
from .sources import TrainExample

_concat = get_aggregator("concat")


def _plain(text: str, limit: int) -> str:
    """Text the grammar allows in a free field: one line, no '<', not starting with a space, cut at a word."""
    text = " ".join(text.replace("<", " ").split())
    if len(text) > limit:
        cut = text[:limit]
        text = cut[: cut.rfind(" ")] if cut.rfind(" ") > limit // 2 else cut
    return text.strip(" ,;:")


def entity(title: str) -> str:
    return re.sub(r"\s*\([^)]*\)", "", title).strip() or title


def mentioned(title: str, question: str) -> bool:
    return entity(title).lower() in question.lower()


def evidence_span(answer: str, evidence: str, limit: int = grammar.THINK_CHARS) -> str | None:
    """The words of the evidence around the answer, at most `limit` chars; None if it is not there."""
    flat = " ".join(evidence.replace("<", " ").split())
    at = flat.lower().find(answer.lower())
    if at < 0 or len(answer) > limit:
        return None
    start = max(0, at - (limit - len(answer)) // 2)
    start = flat.rfind(" ", 0, start) + 1 if start > 0 else 0
    span = flat[start:start + limit]
    if len(flat) > start + limit and span.rfind(" ") > at - start + len(answer):
        span = span[: span.rfind(" ")]
    span = re.sub(r"^\(\d+\)\s*", "", span).strip(" ,;:")
    return span if answer.lower() in span.lower() else None


@dataclass
class Plan:
    turns: list[list[str]]  # the queries of each search turn
    think: list[str]


def hotpot_plan(ex: TrainExample) -> Plan:
    named = [h.title for h in ex.hops if mentioned(h.title, ex.question)]
    rest = [h.title for h in ex.hops if h.title not in named]
    if len(named) >= 2:
        first, later = named[:2], [[t] for t in named[2:] + rest]
    elif named:
        first, later = named, [[t] for t in rest]
    else:
        first, later = [_plain(ex.question, grammar.QUERY_CHARS)], [[t] for t in rest]
    turns = [[_plain(entity(q), grammar.QUERY_CHARS) for q in first]] + [[_plain(entity(q), grammar.QUERY_CHARS) for q in t] for t in later]
    think = [f"Look up {' and '.join(turns[0])}." if named else "Search with the question's own words."]
    think += [f"The evidence names {q[0]}; look it up." for q in turns[1:]]
    return Plan(turns=turns, think=[_plain(t, grammar.THINK_CHARS) for t in think])


def musique_plan(ex: TrainExample) -> Plan:
    turns, think, known = [], [], {}
    for i, hop in enumerate(ex.hops, 1):
        q = re.sub(r"#(\d+)", lambda m: known.get(int(m.group(1)), m.group(0)), hop.question)
        known[i] = hop.answer or ""
        turns.append([_plain(q, grammar.QUERY_CHARS)])
        think.append(_plain("First: " + q if i == 1 else f"Found {ex.hops[i - 2].answer}; next: {q}", grammar.THINK_CHARS))
    return Plan(turns=turns, think=think)


BRIEF_THINK = "The evidence gives the answer."


def build(ex: TrainExample, pool: SessionPool, search, *, prompt_version: str, variant: str = "",
          llm=None, answer_think: str = DEFAULT_ANSWER_THINK) -> Trajectory | None:
    """One teacher trajectory, or None when the plan needs more rounds than the pool allows, an answer
    longer than the grammar's, or the evidence never shows the answer (a trajectory that would teach
    guessing). `search(query, question) -> text` is the real retrieval expert's reply. With `llm(question) ->
    text` (the real LLM expert's reply) and an LLM expert in the pool, the first turn asks that expert
    the question; the answer still has to be found in the retrieved evidence. `answer_think` is what the
    last turn thinks when the answer is a span of the evidence: "brief" (one fixed sentence, so the answer
    is read straight from the evidence) or "quote" (the words around it, the recipe before the tenth
    session: the 135M router learned to quote the start of a passage and then answered from its quote)."""
    if answer_think not in ANSWER_THINKS:
        raise ValueError(f"answer_think must be one of {ANSWER_THINKS}, not {answer_think!r}")
    plan = hotpot_plan(ex) if ex.dataset == "hotpotqa" else musique_plan(ex)
    asked_llm = llm is not None and bool(pool.llms)
    if asked_llm:
        name = pool.llms[0]
        plan = Plan(turns=[[_plain(ex.question, grammar.QUERY_CHARS)]] + plan.turns,
                    think=[_plain(f"Ask {name} first; check it with {pool.retrieval}.", grammar.THINK_CHARS)] + plan.think)
    answer = ex.answers[0]
    if len(plan.turns) > pool.max_rounds or len(answer) > grammar.ANSWER_CHARS or any(
            len(t) > 2 for t in plan.turns):
        return None
    messages = [
        Message(role="system", content=prompt.system_prompt(pool.experts, budget_usd=pool.budget_usd, max_rounds=pool.max_rounds)),
        Message(**prompt.question_message(ex.question)),
    ]
    spent = 0.0
    evidence = []
    for r, (queries, think) in enumerate(zip(plan.turns, plan.think), 1):
        who = pool.llms[0] if asked_llm and r == 1 else pool.retrieval
        turn = f"<think>{think}</think>\n" + "\n".join(f"<search>{who}: {q}</search>" for q in queries)
        messages.append(Message(role="assistant", content=turn))
        blocks = []
        for q in queries:
            reply = llm(q) if who != pool.retrieval else search(q, ex.question)  # each cut as the pool shows it
            if who == pool.retrieval:
                evidence.append(reply)
            blocks.append((f"{who}: {q}", _concat([(who, reply, None)])))
        spent += pool.router_price.cost_usd(sum(len(m.content) for m in messages) // 4, len(turn) // 4)
        left = pool.max_rounds - r
        status = prompt.status_line(budget_left_usd=max(0.0, pool.budget_usd - spent), rounds_left=left, must_answer=not left)
        messages.append(Message(**prompt.information_message(blocks, status=status)))
    span = next((s for e in reversed(evidence) if (s := evidence_span(answer, e))), None)
    if span is not None and answer_think == "brief":
        span = BRIEF_THINK
    elif span is None and answer.lower() in ("yes", "no"):
        span = "Both facts are in the evidence; compare them."
    elif span is None and answer.lower() in ex.question.lower():
        span = _plain(f"Comparing the two: the answer is {answer}.", grammar.THINK_CHARS)
    if span is None:
        return None
    messages.append(Message(role="assistant", content=f"<think>{_plain(span, grammar.THINK_CHARS)}</think>\n<answer>{_plain(answer, grammar.ANSWER_CHARS)}</answer>"))
    return Trajectory(
        id=f"{ex.label}:{ex.id}{variant}", source=f"{ex.label}-teacher" + ("+llm" if asked_llm else ""),
        question=ex.question, answers=ex.answers,
        messages=messages, prompt_version=prompt_version, experts=[e.name for e in pool.experts],
    )


def retrieval_search(retriever, top_k: int, rank_by_question: bool = False, *, passage_chars: int = 400,
                     reply_chars: int = REPLY_CHARS):
    """What the router reads of a retrieval expert's reply, by the expert's own function and view (with its
    `rank_by_question`: the passages that match the search ranked by the search's and the question's words)."""
    def search(query: str, question: str = "") -> str:
        return reply_text(retriever, query, top_k, question if rank_by_question else "", passage_chars)[:reply_chars]
    return search


def choose_pool(rng: random.Random, default_share: float, hops: int, *, need_llm: bool = False, made_up_share: float = 0.0,
                default=None):
    """The expert list of one session: `default_share` of the time the served pool's own (``default(max_rounds)``,
    the embedded pool's unless given), else a varied one."""
    from .expert_lists import embedded_default, varied

    if rng.random() < default_share:
        return (default or embedded_default)(max_rounds=hops)
    return varied(rng, min_rounds=hops, min_llms=int(need_llm), made_up_share=made_up_share)
