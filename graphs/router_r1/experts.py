"""The expert half of a Router-R1 round: plan the calls the router asked for, make each as its own task, and
fold the replies into one <information> message.

    route (plans the round) ══Send══→ ask_expert (one task per call, in parallel) ──→ route (folds the replies in)
      └── nothing to call (asked before, not affordable) ──────────────────────────→ route

Planning and folding run inside the router's node (nodes.py), so a round costs two LangGraph steps and two
checkpoints (the router's turn, the experts' calls) instead of four. `plan` reserves every call of the round
before any starts (together they never promise more than the budget has left); a search made before is not
paid for twice: it is not made again, and the router is shown the earlier reply again (a 135M router shown
only "asked before" copied that notice as its answer). Each `ask_expert` task's result is written by the
checkpointer as soon as it finishes, so a crashed session resumes without repeating it; folding is a pure
function of the checkpointed state, so a router turn that is re-run on resume folds the same replies again.

`call_experts` and `gather` stay as nodes for checkpoints written before planning and folding moved into
`route` (their next step may be one of them); new sessions never enter them."""

from __future__ import annotations

from langgraph.types import Send

from ...agents.errors import ConfigError
from ...agents.experts.base import REPLY_CHARS
from ...agents.records import CallRecord, Cost
from ...agents.runtime import Runtime
from ..metering import NOT_AFFORDABLE, Meter, settle_call
from ..session import overspend_notice, session_limits, session_meter
from ..state import NOT_CALLED, Step, make_step, step_from_call
from .aggregate import get_aggregator
from .prompt import information_message, status_line
from .state import PendingSearch, PlannedCall, R1State

ASKED_BEFORE = f"{NOT_CALLED} again: asked before; the earlier reply is shown again"


class ExpertRound:
    def __init__(self, runtime: Runtime):
        self.runtime, self.pool = runtime, runtime.pool
        try:
            self.aggregate = get_aggregator(runtime.pool.aggregate)
        except ValueError as exc:
            raise ConfigError(f"pool field 'aggregate': {exc}") from None

    def plan(self, state: R1State, pending: list[PendingSearch], round: int, meter: Meter) -> dict:
        """The round's calls, each reserved on `meter` (or skipped, with the reason as a step)."""
        asked = set(_answered(state))  # earlier rounds' calls, then this round's as they are planned
        calls: list[PlannedCall] = []
        steps: list[Step] = []
        for i, search in enumerate(pending):
            for name in search["experts"]:
                query, skip, cost = search["query"], None, Cost()
                if (name, query.lower()) in asked:  # made before, or twice in this turn ("Wiki: Q" and "Wiki, X: Q")
                    skip = ASKED_BEFORE
                else:
                    cost = self.runtime.experts[name].reservation(query)
                    skip = None if meter.hold(cost) is not None else NOT_AFFORDABLE
                    if skip is None:
                        asked.add((name, query.lower()))
                calls.append({"search": i, "expert": name, "query": query, "usd": cost.usd, "tokens": cost.tokens, "skip": skip})
                if skip:
                    steps.append(make_step("route", round, expert=name, query=query, reply="", error=skip))
        return {"calls": calls, "replies": None, "steps": steps}

    def _shown(self, expert: str) -> int:
        """How much of the expert's reply the router reads: its `reply_chars` (the default for an expert a resumed
        checkpoint names that the pool no longer has)."""
        client = self.runtime.experts.get(expert)
        return client.settings.reply_chars if client is not None else REPLY_CHARS

    @staticmethod
    def sends(state: R1State) -> list[Send]:
        return [Send("ask_expert", {"call": c, "round": state.get("round", 0), "question": state.get("question", "")})
                for c in state.get("calls", []) if not c["skip"]]

    async def ask_expert(self, task: dict) -> dict:
        call, round = task["call"], task["round"]
        client = self.runtime.experts[call["expert"]]
        try:
            record = await client.ask(call["query"], question=task.get("question", ""))  # absent in old checkpoints
        except Exception as exc:  # a client bug is this call's failure, not the session's
            record = CallRecord(who=call["expert"], error=f"{type(exc).__name__}: {exc}")
        record = settle_call(record, Cost(call["usd"], call["tokens"]))
        steps = [step_from_call("route", round, record, expert=call["expert"], query=call["query"], reply=record.text)]
        notice = overspend_notice(record, round)
        reply = {"search": call["search"], "expert": call["expert"], "record": record.model_dump()}
        return {"replies": [reply], "steps": steps + ([notice] if notice else [])}

    def fold(self, state: R1State) -> dict:
        """The finished round as the router's next <information> message, its calls charged to the budget."""
        round, meter = state.get("round", 0), session_meter(self.pool, state)
        by_search: dict[int, list[tuple[str, str, str | None]]] = {}
        done = {(r["search"], r["expert"]): CallRecord(**r["record"]) for r in state.get("replies", [])}
        for record in done.values():
            meter.charge(record)
        answered = _answered(state)
        this_round = {(c["expert"], c["query"].lower()): done.get((c["search"], c["expert"]))
                      for c in state.get("calls", []) if not c["skip"]}
        for call in state.get("calls", []):
            if call["skip"] == ASKED_BEFORE:  # shown the earlier reply again (a notice alone, the router copied)
                key = (call["expert"], call["query"].lower())
                text = answered.get(key) or (this_round[key].text if this_round.get(key) else None)
                record = CallRecord(who=call["expert"], text=text) if text else None
            else:
                record = None if call["skip"] else done.get((call["search"], call["expert"]))
            record = record or CallRecord(who=call["expert"], error=call["skip"] or "no reply")
            shown = record.text[:self._shown(call["expert"])]
            by_search.setdefault(call["search"], []).append((call["expert"], shown, record.error))
        blocks = [(f"{', '.join(s['experts'])}: {s['query']}", self.aggregate(by_search.get(i, [])))
                  for i, s in enumerate(state.get("pending", []))]
        must_answer = any(c["skip"] == NOT_AFFORDABLE for c in state.get("calls", []))
        steps = [make_step("notice", round, text="budget: an expert call was skipped; the router must answer next")] if must_answer else []
        rounds_left = max(0, session_limits(self.pool, state).max_rounds - round)
        status = status_line(budget_left_usd=meter.left_usd, rounds_left=rounds_left, must_answer=must_answer or not rounds_left)
        return {"messages": state["messages"] + [information_message(blocks, status=status)], "pending": [], "calls": [],
                "replies": None, "must_answer": must_answer or bool(state.get("must_answer")), "steps": steps, **meter.spent()}

    # -- resume only: nodes of checkpoints written before `route` planned and folded rounds itself ----------

    async def call_experts(self, state: R1State) -> dict:
        return self.plan(state, state.get("pending", []), state.get("round", 0), session_meter(self.pool, state))

    def after_call_experts(self, state: R1State):
        return self.sends(state) or "route"

    async def gather(self, state: R1State) -> dict:
        return self.fold(state)


def _answered(state: R1State) -> dict[tuple[str, str], str]:
    """(expert, lower-cased query) → the reply of every call made so far that did not fail: `plan` does not make
    them again, `fold` shows their replies again."""
    return {(s["expert"], (s["query"] or "").lower()): s["reply"] or ""
            for s in state.get("steps", []) if s["kind"] == "route" and not s["error"]}
