"""Answers from any expert, for the graphs that pick one (single-shot, cascade) and the direct baseline.

An expert whose reply answers the question (an LLM, a python tool returning answers) answers it. An
expert whose reply is evidence (a retriever) feeds a reader, the router model unless the expert names
another: retrieve-then-read. Policies compare experts by what an answer from each would cost, reading
included (`candidates`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..agents.llm import complete, reservation
from ..agents.pool import Pool
from ..agents.runtime import Runtime
from ..policies import Candidate
from .metering import Meter
from .state import Step, step_from_call

ANSWER_PROMPT = "Answer the question with a few words only: a name, a date, a number, or yes/no."
READ_PROMPT = "Answer the question with a few words only (a name, a date, a number, or yes/no), using the passages."
ANSWER_TOKENS = 32
READ_PROMPT_TOKENS = 600  # what a policy assumes reading one reply costs, in prompt tokens


def answer_messages(question: str, evidence: str | None = None) -> list[dict[str, str]]:
    if evidence is None:
        return [{"role": "system", "content": ANSWER_PROMPT}, {"role": "user", "content": question}]
    user = f"Passages:\n{evidence}\n\nQuestion: {question}"
    return [{"role": "system", "content": READ_PROMPT}, {"role": "user", "content": user}]


def candidates(pool: Pool) -> list[Candidate]:
    """The enabled experts as a policy sees them, each priced as one answer (a reader's call included)."""
    out = []
    for e in pool.enabled:
        cost, reader = e.typical_cost_usd(), e.read_by()
        if reader is not None:
            price = pool.router.price if reader == "router" else pool.expert(reader).price
            cost += price.cost_usd(READ_PROMPT_TOKENS, ANSWER_TOKENS)
        out.append(Candidate(name=e.name, cost_usd=cost, description=e.description))
    return out


@dataclass
class Answered:
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None  # None: the expert (or its reader) failed
    confidence: float | None = None  # exp(mean token logprob) of the answering call, when the provider gives it
    by: str | None = None  # who wrote the answer: the expert, or the reader of its evidence


async def ask_model(runtime: Runtime, meter: Meter, who: str, question: str, evidence: str | None, round: int,
                    *, note: str | None = None) -> Answered:
    """One answer from a model ('router' or a model expert), metered, as a `read` step (it reads `evidence`,
    or the question alone)."""
    target = runtime.reader(who)
    messages = answer_messages(question, evidence)
    record = await meter.call(who, reservation(target, messages, ANSWER_TOKENS),
                              lambda: complete(target, messages, max_tokens=ANSWER_TOKENS, logprobs=True))
    step = step_from_call("read", round, record, expert=who, query=question, reply=record.text, text=note)
    text = " ".join(record.text.split())
    return Answered([step], None if record.error else text, record.confidence, who)


async def answer_with(runtime: Runtime, meter: Meter, name: str, question: str, round: int) -> Answered:
    """Ask expert `name`; if its reply is evidence, have its reader answer from it."""
    client = runtime.experts[name]
    record = await meter.call(name, client.reservation(question), lambda: client.ask(question))
    route = step_from_call("route", round, record, expert=name, query=question, reply=record.text)
    reader = client.settings.read_by()
    if record.error or reader is None:
        answer = None if record.error else record.text.strip()
        return Answered([route], answer, record.confidence, name)
    read = await ask_model(runtime, meter, reader, question, record.text, round, note=f"reads the reply of {name}")
    read.steps.insert(0, route)
    return read
