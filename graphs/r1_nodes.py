"""The nodes of the Router-R1 graph: `route` (the router LLM's turn) and `call_experts`.

Errors split two ways. A model's fault (an expert times out, the router writes something unusable)
goes back to the router as <information> and the session goes on. What cannot go on (no money left
for the router, the router failing twice in a row) ends the session with a clear fallback answer.
Nothing raises out of a node for a model's fault."""

from __future__ import annotations

import asyncio

from ..agents.grammar import router_grammar
from ..agents.llm import CallRecord, complete, count_tokens
from ..agents.protocol import Turn, TurnError, parse_turn, restore_stop
from ..agents.router_prompt import (
    correction_message,
    information_message,
    question_message,
    status_line,
    system_prompt,
)
from ..agents.runtime import Runtime
from ..agents.pool import Limits
from .aggregate import get_aggregator
from .budget import Ledger
from .shared_nodes import NO_ANSWER, session_experts, session_ledger, session_limits
from .state import R1State, Step, make_step, step_from_call

MAX_FAILURES = 2  # router turns in a row that can't be used before the session falls back
REPLY_CHARS = 700  # of each reply shown to the router: its context is small
REPEATED = object()  # marks a search the router already made: not called again


class R1Nodes:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.pool = runtime.pool
        self.aggregate = get_aggregator(runtime.pool.aggregate)

    def _limits(self, state: R1State) -> Limits:
        return session_limits(self.pool, state)

    def _ledger(self, state: R1State) -> Ledger:
        return session_ledger(self.pool, state)

    def _status(self, state: R1State, ledger: Ledger, round: int, must_answer: bool) -> str:
        rounds_left = max(0, self._limits(state).max_rounds - round)
        return status_line(budget_left_usd=ledger.left_usd, rounds_left=rounds_left, must_answer=must_answer or not rounds_left)

    # -- route ---------------------------------------------------------------------------------

    async def route(self, state: R1State) -> dict:
        round = state.get("round", 0)
        limits = self._limits(state)
        experts = session_experts(self.pool, state)
        names = [e.name for e in experts]
        if not experts:
            return self._fallback(state, round, "no enabled expert is allowed by the request's constraints",
                                  stop_reason="refused")
        messages = state.get("messages") or [
            {
                "role": "system",
                "content": system_prompt(experts, budget_usd=limits.budget_usd, max_rounds=limits.max_rounds),
            },
            question_message(state["question"]),
        ]
        must_answer = bool(state.get("must_answer")) or round >= limits.max_rounds
        ledger = self._ledger(state)
        router = self.runtime.router
        assert router is not None, "Runtime.start() was not called"
        prompt_tokens = int(count_tokens(router, messages) * 1.25) + 16
        usd, tokens = router.reserve_usd(prompt_tokens), prompt_tokens + router.max_tokens
        if not ledger.can_afford(usd, tokens):
            why = f"budget: the router's next turn could cost ${usd:.6f} / {tokens} tokens, more than is left"
            return self._fallback(state, round, why, stop_reason="budget", messages=messages)
        reservation = ledger.reserve(usd, tokens)
        max_searches = limits.max_searches_per_turn
        grammar = (
            router_grammar(names, can_search=not must_answer, max_searches=max_searches)
            if self.pool.router.grammar
            else None
        )
        stop = ["</answer>", "<information>"] + (["</search>"] if max_searches == 1 else [])
        record = await complete(router, messages, grammar=grammar, stop=stop)
        record = record.model_copy(update={"text": restore_stop(record.text)})
        ledger.settle(reservation, record.cost_usd, record.prompt_tokens + record.completion_tokens)
        spent = {"spent_usd": ledger.spent_usd, "spent_tokens": ledger.spent_tokens}

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
                correction_message(turn.message, status=self._status(state, ledger, round, must_answer)),
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

    def after_route(self, state: R1State) -> str:
        if state.get("answer") is not None:
            return "end"
        return "call_experts" if state.get("pending") else "route"

    # -- call_experts --------------------------------------------------------------------------

    async def call_experts(self, state: R1State) -> dict:
        round = state.get("round", 0)
        ledger = self._ledger(state)
        must_answer = False
        calls: list[tuple[int, str, str, object]] = []  # (search index, expert, query, reservation or None)
        asked = {(s["expert"], s["query"].lower()): s["round"] for s in state.get("steps", []) if s["kind"] == "route" and not s["error"]}
        for i, search in enumerate(state.get("pending", [])):
            for name in search["experts"]:
                client = self.runtime.experts[name]
                if (name, search["query"].lower()) in asked:
                    calls.append((i, name, search["query"], REPEATED))
                    continue
                usd, tokens = client.reserve_usd(search["query"]), client.reserve_tokens(search["query"])
                if ledger.can_afford(usd, tokens):
                    calls.append((i, name, search["query"], ledger.reserve(usd, tokens)))
                else:
                    must_answer = True
                    calls.append((i, name, search["query"], None))

        async def run(name: str, query: str, reservation) -> CallRecord:
            if reservation is None:
                return CallRecord(who=name, error="not called: it could cost more than the budget has left")
            if reservation is REPEATED:
                return CallRecord(who=name, error="not called: asked before (see above)")
            try:
                return await self.runtime.experts[name].ask(query)
            except Exception as exc:  # an expert client bug must not end the session
                return CallRecord(who=name, error=f"{type(exc).__name__}: {exc}")

        records = await asyncio.gather(*(run(name, query, res) for _, name, query, res in calls))
        steps: list[Step] = []
        by_search: dict[int, list[tuple[str, str, str | None]]] = {}
        for (i, name, query, reservation), record in zip(calls, records):
            if reservation not in (None, REPEATED):
                ledger.settle(reservation, record.cost_usd, record.prompt_tokens + record.completion_tokens)
            steps.append(step_from_call("route", round, record, expert=name, query=query, reply=record.text))
            by_search.setdefault(i, []).append((name, record.text[:REPLY_CHARS], record.error))
        blocks = []
        for i, search in enumerate(state.get("pending", [])):
            blocks.append((f"{', '.join(search['experts'])}: {search['query']}", self.aggregate(by_search.get(i, []))))
        if must_answer:
            steps.append(make_step("notice", round, text="budget: an expert call was skipped; the router must answer next"))
        info = information_message(blocks, status=self._status(state, ledger, round, must_answer))
        return {
            "messages": state["messages"] + [info],
            "pending": [],
            "must_answer": must_answer or bool(state.get("must_answer")),
            "steps": steps,
            "spent_usd": ledger.spent_usd,
            "spent_tokens": ledger.spent_tokens,
        }
