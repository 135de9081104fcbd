"""The router's turn of the Router-R1 graph (`route`): fold the last round's replies in, ask the router, and
plan the round it asks for; the experts' calls themselves are experts.py.

Errors split two ways. A model's fault (an expert times out, the router writes something unusable) goes
back to the router as <information> and the session goes on. What cannot go on (no money left for the
router, the router failing twice in a row) ends the session with a clear fallback answer. Nothing raises
out of a node for a model's fault."""

from __future__ import annotations

from ...agents.llm import complete, reservation
from ...agents.runtime import Runtime
from ..metering import Meter
from ..session import (
    NO_ANSWER,
    overspend_notice,
    session_experts,
    session_limits,
    session_meter,
)
from ..state import make_step, step_from_call
from .experts import ExpertRound
from .grammar import router_grammar
from .prompt import correction_message, question_message, status_line, system_prompt
from .protocol import Turn, TurnError, parse_turn, restore_stop
from .state import R1State

MAX_FAILURES = 2  # router turns in a row that can't be used before the session falls back


class R1Nodes:
    def __init__(self, runtime: Runtime, experts: ExpertRound):
        self.runtime, self.experts = runtime, experts
        self.pool = runtime.pool

    def _status(self, state: R1State, meter: Meter, round: int, must_answer: bool) -> str:
        rounds_left = max(0, session_limits(self.pool, state).max_rounds - round)
        return status_line(budget_left_usd=meter.left_usd, rounds_left=rounds_left, must_answer=must_answer or not rounds_left)

    # -- route ---------------------------------------------------------------------------------

    async def route(self, state: R1State) -> dict:
        """One LangGraph step: the finished round (if any) folded into the router's messages, then its turn."""
        if not state.get("calls"):
            return await self._turn(state)
        folded = self.experts.fold(state)
        turn = await self._turn({**state, **folded, "steps": [*state.get("steps", []), *folded["steps"]]})
        return {**folded, **turn, "steps": [*folded["steps"], *turn.get("steps", [])]}

    async def _turn(self, state: R1State) -> dict:
        round = state.get("round", 0)
        if state.get("overspent"):
            return self._fallback(state, round, "a provider billed beyond its reservation", stop_reason="overspent")
        limits = session_limits(self.pool, state)
        experts, why = session_experts(self.pool, state, self.runtime.disabled)
        names = [e.name for e in experts]
        if not experts:
            return self._fallback(state, round, f"the request's constraints leave no expert: {why}", stop_reason="refused")
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
        notice = overspend_notice(record, round)
        if record.overspent:  # keep an answer it paid for, but start nothing more
            turn = parse_turn(record.text, names, max_searches=1) if not record.error else None
            answer = turn.answer if turn is not None and getattr(turn, "kind", None) == "answer" else None
            done = self._fallback(state, round, "the router's call billed beyond its reservation", stop_reason="overspent",
                                  answer=answer)
            done["steps"] = [step_from_call("think", round, record, expert="router", text=getattr(turn, "think", "")),
                             notice, *done["steps"]]
            return {**done, **spent}
        extra = [notice] if notice else []

        turn: Turn | TurnError
        if not record.replied:  # after LiteLLM's own retries: a down server, a prompt past the context window. Not
            # the router's output, so no correction turn (it would fail the same way): the session ends `failed`
            notice = make_step("notice", round, expert="router", text=f"the router call failed: {record.error}",
                               error="router call failed")
            done = self._fallback(state, round, "the router call failed", stop_reason="failed")
            done["steps"] = [step_from_call("think", round, record, expert="router", text=""), *extra, notice, *done["steps"]]
            return {**done, **spent}
        elif record.error:  # it answered with nothing: told so, as any unusable output
            turn = TurnError(message="Your reply was empty: write <think>...</think> then <search>...</search> or <answer>...</answer>.")
        else:
            turn = parse_turn(record.text, names, max_searches=max_searches)
            if must_answer and isinstance(turn, Turn) and turn.kind == "search":
                turn = TurnError(think=turn.think, message="No more searches are allowed: write <answer>...</answer> now.")
        head = [step_from_call("think", round, record, expert="router", text=turn.think), *extra]

        if isinstance(turn, TurnError):
            failures = state.get("failures", 0) + 1
            notice = make_step("notice", round, expert="router", text=turn.message, error="unusable router output")
            if failures >= MAX_FAILURES:
                done = self._fallback(state, round, f"the router failed {failures} times in a row", stop_reason="unparseable")
                done["steps"] = [*head, notice, *done["steps"]]
                return {**done, **spent}
            retry = messages + [
                {"role": "assistant", "content": record.text[:2000]},
                correction_message(turn.message, status=self._status(state, meter, round, must_answer)),
            ]
            return {"messages": retry, "failures": failures, "steps": [*head, notice], "pending": [], **spent}

        notices = [make_step("notice", round, expert="router", text="repaired: " + "; ".join(turn.repairs))] if turn.repairs else []
        if turn.kind == "answer":
            answer = make_step("answer", round, expert="router", text=turn.answer)
            return {"answer": turn.answer, "stop_reason": "answered", "steps": [*head, *notices, answer], "pending": [],
                    "messages": messages, "answer_truncated": record.truncated, **spent}
        canonical = f"<think>{turn.think}</think>\n" + "\n".join(
            f"<search>{', '.join(s.experts)}: {s.query}</search>" for s in turn.searches
        )
        pending = [{"experts": list(s.experts), "query": s.query} for s in turn.searches]
        planned = self.experts.plan(state, pending, round + 1, meter)  # reserved after the router's call settled
        return {
            "messages": messages + [{"role": "assistant", "content": canonical}],
            "pending": pending,
            "calls": planned["calls"],
            "replies": None,
            "round": round + 1,
            "failures": 0,
            "steps": [*head, *notices, *planned["steps"]],
            **spent,
        }

    def _fallback(self, state: R1State, round: int, why: str, *, stop_reason: str, messages=None,
                  answer: str | None = None) -> dict:
        if answer is None:
            replies = [s["reply"] for s in state.get("steps", []) if s["kind"] == "route" and s["reply"] and not s["error"]]
            answer = replies[-1].split("\n")[0][:200] if replies else NO_ANSWER
            text = f"Stopped ({why}); " + ("answered with the last evidence." if replies else "no evidence to answer with.")
        else:
            text = f"Stopped ({why}); kept the router's answer."
        step = make_step("fallback", round, expert="router", text=text, reply=answer)
        out = {"answer": answer, "stop_reason": stop_reason, "steps": [step], "pending": []}
        if messages is not None:
            out["messages"] = messages
        return out

    def after_route(self, state: R1State):
        """The end, the round's expert calls (one task each), or the router again (a retry, or a round whose
        calls were all skipped: its next turn reads why)."""
        if state.get("answer") is not None:
            return "end"
        return self.experts.sends(state) or "route"
