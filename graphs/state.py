"""The state every graph shares and the step events they all emit.

Steps are plain typed dicts (they go through LangGraph's checkpointer and into JSON unchanged); every step
has every key, so the CLI, the trace store, the UI and HTTP render them without special cases. Each graph
package extends `SessionState` with its own keys (graphs/router_r1/state.py, ...)."""

from __future__ import annotations

import operator
from typing import Annotated, Literal, TypedDict

NOT_CALLED = "not called"  # how the `error` of a call the graph chose not to make begins (asked before, not affordable)

StepKind = Literal["guard", "decide", "think", "route", "read", "answer", "notice", "fallback"]
STATE_FORMAT = 2  # bump when a graph's state keys or node names change in a way old checkpoints can't follow


class Step(TypedDict):
    kind: StepKind
    round: int
    expert: str | None  # route: the expert asked; read: who read its reply; decide: the expert chosen; think: "router"
    query: str | None  # route: the sub-question
    reply: str | None  # route: the expert's reply (aggregated text goes to the router)
    text: str | None  # think: the thought; answer: the answer; notice/fallback: what happened
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cost_units: float
    latency_s: float
    error: str | None
    overspent_usd: float  # dollars charged beyond the call's reservation (a provider billing past max_tokens)
    answered_by: str | None  # the model or expert that really answered the call (a fallback, when one took over)


def make_step(kind: StepKind, round: int, **fields) -> Step:
    step: Step = {
        "kind": kind, "round": round, "expert": None, "query": None, "reply": None, "text": None,
        "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0, "cost_units": 0.0, "latency_s": 0.0,
        "error": None, "overspent_usd": 0.0, "answered_by": None,
    }
    unknown = set(fields) - set(step)
    if unknown:
        raise TypeError(f"unknown step fields: {sorted(unknown)}")
    step.update(fields)  # type: ignore[typeddict-item]
    return step


def status_word(step: Step) -> str:
    """'' for a call that answered, else "not called" or "failed" (titles)."""
    return "" if not step["error"] else NOT_CALLED if step["error"].startswith(NOT_CALLED) else "failed"


def expert_calls(steps: list[Step]) -> int:
    """Expert calls made (answered or failed): route steps, less the ones the graph chose not to make."""
    return sum(1 for s in steps if s["kind"] == "route" and status_word(s) != NOT_CALLED)


def outcome(step: Step) -> str:
    """A route or read step's result in a few words: its reply, why it was not called (not a failure), or its failure."""
    word = status_word(step)
    if not word:
        return step["reply"] or ""
    return step["error"] if word == NOT_CALLED else f"failed: {step['error']}"


def step_from_call(kind: StepKind, round: int, record, **fields) -> Step:
    """A step carrying a metered call's numbers (record: agents.records.CallRecord)."""
    return make_step(
        kind, round, prompt_tokens=record.prompt_tokens, completion_tokens=record.completion_tokens,
        cost_usd=record.cost_usd, cost_units=record.cost_units, latency_s=record.latency_s, error=record.error,
        overspent_usd=record.overspent_usd, answered_by=record.who if record.error is None else None, **fields,
    )


class SessionLimits(TypedDict, total=False):
    budget_usd: float
    max_rounds: int
    max_tokens: int


class SessionState(TypedDict, total=False):
    """Keys every graph has. Inputs: question, limits, constraints; the rest is written by the nodes."""

    question: str
    limits: SessionLimits  # per-session caps, never above the pool's
    constraints: dict  # user constraints (policies.Constraints fields): allowed/blocked experts, ...
    round: int
    steps: Annotated[list[Step], operator.add]
    spent_usd: float
    spent_tokens: int
    overspent_usd: float  # dollars providers billed beyond their calls' reservations
    answer_truncated: bool  # the call that wrote the answer was cut at its token limit (OpenAI finish_reason 'length')
    overspent: bool  # a call billed beyond its reservation (dollars or tokens): no new call may start
    answer: str | None
    stop_reason: str | None  # answered | budget | unparseable | refused | failed | overspent
