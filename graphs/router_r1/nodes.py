"""The nodes of the Router-R1 graph: `route` (the router LLM's turn) and `call_experts`.

Errors split two ways. A model's fault (an expert times out, the router writes something unusable) goes
back to the router as <information> and the session goes on. What cannot go on (no money left for the
router, the router failing twice in a row) ends the session with a clear fallback answer. Nothing raises
out of a node for a model's fault."""

from __future__ import annotations

import asyncio

from ...agents.errors import ConfigError
from ...agents.llm import complete, reservation
from ...agents.records import CallRecord
from ...agents.runtime import Runtime
from ..metering import NOT_AFFORDABLE, Meter
from ..session import NO_ANSWER, session_experts, session_limits, session_meter
from ..state import Step, make_step, step_from_call
from .aggregate import get_aggregator
from .grammar import router_grammar
from .prompt import correction_message, information_message, question_message, status_line, system_prompt
from .protocol import Turn, TurnError, parse_turn, restore_stop
from .state import R1State

MAX_FAILURES = 2  # router turns in a row that can't be used before the session falls back
REPLY_CHARS = 700  # of each reply shown to the router: its context is small
ASKED_BEFORE = "not called: asked before (see above)"


class R1Nodes:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.pool = runtime.pool
        try:
            self.aggregate = get_aggregator(runtime.pool.aggregate)
        except ValueError as exc:
            raise ConfigError(f"pool field 'aggregate': {exc}") from None

    def _status(self, state: R1State, meter: Meter, round: int, must_answer: bool) -> str:
        rounds_left = max(0, session_limits(self.pool, state).max_rounds - round)
        return status_line(budget_left_usd=meter.left_usd, rounds_left=rounds_left, must_answer=must_answer or not rounds_left)

    # -- route ---------------------------------------------------------------------------------

    async def route(self, state: R1State) -> dict:
        round = state.get("round", 0)
        limits = session_limits(self.pool, state)
        experts = session_experts(self.pool, state)
        names = [e.name for e in experts]
        if not experts:
            return self._fallback(state, round, "no enabled expert is allowed by the request's constraints",
                                  stop_reason="refused")
        messages = state.get("messages") or [
            {"role": "system", "content": system_prompt(experts, budget_usd=limits.budget_usd, max_rounds=limits.max_rounds)},
            question_message(state["question"]),
        ]
        must_answer = bool(state.get("must_answer")) or round >= limits.max_rounds
        meter = session_meter(self.pool, state)
        router = self.runtime.router
        assert router is not None, "Runtime.start() was not called"
        cost = reservation(router, messages)
        hold = meter.hold(cost)
        if hold is None:
            why = f"budget: the router's next turn could cost ${cost.usd:.6f} / {cost.tokens} tokens, more than is left"
            return self._fallback(state, round, why, stop_reason="budget", messages=messages)
        max_searches = limits.max_searches_per_turn
        grammar = router_grammar(names, can_search=not must_answer, max_searches=max_searches) if self.pool.router.grammar else None
        stop = ["</answer>", "<information>"] + (["</search>"] if max_searches == 1 else [])
        record = await meter.run("router", hold, lambda: complete(router, messages, grammar=grammar, stop=stop))
        record = record.model_copy(update={"text": restore_stop(record.text)})
        spent = meter.spent()

        turn: Turn | TurnError
        if record.error:
            turn = TurnError(message=f"the router call failed: {record.error}")
        else:
            turn = parse_turn(record.text, names, max_searches=max_searches)
            if must_answer and isinstance(turn, Turn) and turn.kind == "search":
                turn = TurnError(think=turn.think, message="No more searches are allowed: write <answer>...</answer> now.")
        think = step_from_call("think", round, record, expert="router", text=turn.think)

        if isinstance(turn, TurnError):
            failures = state.get("failures", 0) + 1
            notice = make_step("notice", round, expert="router", text=turn.message, error="unusable router output")
            if failures >= MAX_FAILURES:
                done = self._fallback(state, round, f"the router failed {failures} times in a row", stop_reason="unparseable")
                done["steps"] = [think, notice, *done["steps"]]
                return {**done, **spent}
            retry = messages + [
                {"role": "assistant", "content": record.text[:2000]},
                correction_message(turn.message, status=self._status(state, meter, round, must_answer)),
            ]
            return {"messages": retry, "failures": failures, "steps": [think, notice], "pending": [], **spent}

        notices = [make_step("notice", round, expert="router", text="repaired: " + "; ".join(turn.repairs))] if turn.repairs else []
        if turn.kind == "answer":
            answer = make_step("answer", round, expert="router", text=turn.answer)
            return {"answer": turn.answer, "stop_reason": "answered", "steps": [think, *notices, answer], "pending": [], **spent}
        canonical = f"<think>{turn.think}</think>\n" + "\n".join(
            f"<search>{', '.join(s.experts)}: {s.query}</search>" for s in turn.searches
        )
        return {
            "messages": messages + [{"role": "assistant", "content": canonical}],
            "pending": [{"experts": list(s.experts), "query": s.query} for s in turn.searches],
            "round": round + 1,
            "failures": 0,
            "steps": [think, *notices],
            **spent,
        }

    def _fallback(self, state: R1State, round: int, why: str, *, stop_reason: str, messages=None) -> dict:
        replies = [s["reply"] for s in state.get("steps", []) if s["kind"] == "route" and s["reply"] and not s["error"]]
        answer = replies[-1].split("\n")[0][:200] if replies else NO_ANSWER
        step = make_step("fallback", round, expert="router", text=f"Stopped ({why}); answered with the last evidence.", reply=answer)
        out = {"answer": answer, "stop_reason": stop_reason, "steps": [step], "pending": []}
        if messages is not None:
            out["messages"] = messages
        return out

    @staticmethod
    def after_route(state: R1State) -> str:
        if state.get("answer") is not None:
            return "end"
        return "call_experts" if state.get("pending") else "route"

    # -- call_experts --------------------------------------------------------------------------

    async def call_experts(self, state: R1State) -> dict:
        round = state.get("round", 0)
        meter = session_meter(self.pool, state)
        asked = {(s["expert"], s["query"].lower()) for s in state.get("steps", []) if s["kind"] == "route" and not s["error"]}
        calls = []  # (search index, expert, query, the call to await)
        for i, search in enumerate(state.get("pending", [])):
            for name in search["experts"]:
                calls.append((i, name, search["query"], self._planned(meter, asked, name, search["query"])))
        records: list[CallRecord] = await asyncio.gather(*(call for *_, call in calls))
        must_answer = any(r.error == NOT_AFFORDABLE for r in records)
        steps: list[Step] = []
        by_search: dict[int, list[tuple[str, str, str | None]]] = {}
        for (i, name, query, _), record in zip(calls, records):
            steps.append(step_from_call("route", round, record, expert=name, query=query, reply=record.text))
            by_search.setdefault(i, []).append((name, record.text[:REPLY_CHARS], record.error))
        blocks = [(f"{', '.join(s['experts'])}: {s['query']}", self.aggregate(by_search.get(i, [])))
                  for i, s in enumerate(state.get("pending", []))]
        if must_answer:
            steps.append(make_step("notice", round, text="budget: an expert call was skipped; the router must answer next"))
        info = information_message(blocks, status=self._status(state, meter, round, must_answer))
        return {"messages": state["messages"] + [info], "pending": [], "steps": steps,
                "must_answer": must_answer or bool(state.get("must_answer")), **meter.spent()}

    def _planned(self, meter: Meter, asked: set, name: str, query: str):
        """The call of one search, its reservation held now (so the calls of one turn run in parallel and
        together never promise more than is left). A search made before is not paid for twice."""
        client = self.runtime.experts[name]
        if (name, query.lower()) in asked:
            return _record(CallRecord(who=name, error=ASKED_BEFORE))
        hold = meter.hold(client.reservation(query))
        if hold is None:
            return _record(CallRecord(who=name, error=NOT_AFFORDABLE))
        return meter.run(name, hold, lambda: client.ask(query))


async def _record(record: CallRecord) -> CallRecord:
    return record
