"""Answers from any expert, for the graphs that pick one (single-shot, cascade) and the direct baseline.

An expert whose reply answers the question (an LLM, a python tool returning answers) answers it. An
expert whose reply is evidence (a retriever) feeds a reader, the router model unless the expert names
another: retrieve-then-read (`ask_reader`). Policies compare experts by what an answer from each would
cost, reading included (`candidates`)."""

from __future__ import annotations

from ..agents.experts import ExpertSettings
from ..agents.llm import complete, reservation
from ..agents.pool import Pool
from ..agents.records import CallRecord
from ..agents.runtime import Runtime
from ..policies import Candidate
from .metering import Meter

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
        out.append(Candidate(name=e.name, cost_usd=cost, latency_s=e.latency_s, description=e.description))
    return out


async def ask_reader(runtime: Runtime, meter: Meter, who: str, question: str, evidence: str | None, *,
                     source: str | None = None) -> CallRecord:
    """One short answer from a model ('router' or a model expert), metered: from `evidence` if given (it
    reads the reply of the evidence expert `source`), else from the question alone (the direct baseline).

    A router with a trained adapter reads in its own protocol, with the adapter (graphs/router_r1/reader.py);
    any other reader, and the router answering alone, get the plain answer prompt (the adapter off)."""
    if who == "router" and evidence is not None and source is not None and runtime.pool.router.adapter:
        return await _protocol_read(runtime, meter, question, evidence, runtime.pool.expert(source))
    target = runtime.reader(who)
    messages = answer_messages(question, evidence)
    return await meter.call(who, reservation(target, messages, ANSWER_TOKENS),
                            lambda: complete(target, messages, max_tokens=ANSWER_TOKENS, logprobs=True))


async def _protocol_read(runtime: Runtime, meter: Meter, question: str, evidence: str, source: ExpertSettings) -> CallRecord:
    from .router_r1.reader import READ_TOKENS, STOP, reader_answer, reader_grammar, reader_messages

    router = runtime.router
    assert router is not None, "Runtime.start() was not called"
    messages = reader_messages(source, question, evidence, budget_usd=meter.ledger.budget_usd,  # the session's
                               max_rounds=runtime.pool.limits.max_rounds, budget_left_usd=meter.left_usd)
    grammar = reader_grammar(source) if runtime.pool.router.grammar else None
    record = await meter.call("router", reservation(router, messages, READ_TOKENS),
                              lambda: complete(router, messages, grammar=grammar, stop=STOP, max_tokens=READ_TOKENS,
                                               logprobs=True, confidence_after="<answer>"))
    if record.error is not None:
        return record
    answer = reader_answer(record.text, source)
    if answer is None:  # paid for, but no answer in it: the graph treats it as a failed read
        return record.model_copy(update={"error": f"unusable reader output: no <answer> in {record.text[:120]!r}"})
    return record.model_copy(update={"text": answer})
