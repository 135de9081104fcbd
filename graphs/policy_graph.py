"""The graphs where a query-level policy decides (single-shot, cascade). One model call per node visit, so
the checkpointer has journaled every paid call before the next one starts:

    START → guard → decide → answer ─┬─ evidence ──→ read ─┐
                               ↑     ├─ escalate ──────────┤ (cascade: the answer's confidence is low)
                               └─────┴──────────────────────┘
                                     └─ done ──────────────→ END

`answer` asks the next expert of the plan; an evidence expert's reply goes to `read` (its reader answers
from it); the node whose call ends the plan also writes the answer step (no LangGraph step of its own: a
single-shot session is two steps, decide and answer). The `finish` node stays for checkpoints written
before that, whose next step may be it. A graph supplies a `PolicyNodes` subclass that says what it
plans from the policy's decision (single-shot: one expert; cascade: a ladder and a confidence threshold)."""

from __future__ import annotations

import asyncio
from typing import Literal, TypedDict

from langgraph.graph import END

from ..agents.errors import ConfigError
from ..policies import Decision
from .answering import ask_reader, candidates
from .edges import reduced_keys, routed
from .guard import guarded_graph
from .metering import NOT_AFFORDABLE
from .registry import GraphContext, graph_for_policy
from .session import NO_ANSWER, overspend_notice, policy_request, session_meter
from .state import SessionState, make_step, step_from_call


class Planned(TypedDict):
    experts: list[str]
    query: str


class Best(TypedDict, total=False):
    answer: str
    confidence: float
    by: str
    truncated: bool  # its call was cut at the token limit


class PolicyState(SessionState, total=False):
    pending: list[Planned]  # the plan: experts to ask, in order
    escalate_below: float  # answers below this confidence go to the next expert (0: the first answer is kept)
    attempt: int  # index of the expert being asked
    evidence: str | None  # an evidence expert's reply, waiting for its reader
    best: Best | None
    then: Literal["answer", "read", "finish"]
    last_error: str | None


class PolicyNodes:
    """`decide` asks the policy and records its decision; subclasses say what it plans (`plan`)."""

    escalates = False  # the graph asks again after a weak answer (a policy that judges answers needs it)

    def __init__(self, ctx: GraphContext):
        self.runtime, self.pool, self.policy = ctx.runtime, ctx.pool, ctx.policy
        if self.policy.reads_answers and not self.escalates:
            graph = graph_for_policy(True).name
            raise ConfigError(f"the '{self.policy.name}' policy judges an expert's answer before keeping it: "
                              f"run it in the {graph} graph (--graph {graph}; served as routeweave-{self.policy.name})")
        self.candidates = candidates(self.pool)

    def plan(self, decision: Decision, state: PolicyState) -> tuple[dict, str | None, str]:
        """(state update, the expert(s) shown on the decide step, the step's text)."""
        scores = ", ".join(f"{k} {v:.3g}" for k, v in decision.scores.items())
        update = {"pending": [{"experts": decision.experts[:1], "query": state["question"]}], "escalate_below": 0.0}
        return update, ", ".join(decision.experts) or None, decision.reason + (f" [scores: {scores}]" if scores else "")

    async def decide(self, state: PolicyState) -> dict:
        request = policy_request(state, self.runtime.disabled)
        needs = self.policy.feature_needs()  # e.g. causal_llm's router-model features, from the runtime's server
        if needs:
            features = {}
            for name, spec in needs.items():
                source = self.runtime.features(spec, name)
                features[name] = (await asyncio.to_thread(source.embed, [request.text()]))[0].tolist()
            request = request.model_copy(update={"features": features})
        decision = self.policy.decide(request, self.candidates)
        if not isinstance(decision, Decision):
            cls = type(self.policy)
            raise TypeError(f"the '{self.policy.name}' policy's decide ({cls.__module__}.{cls.__qualname__}.decide) returned "
                            f"{type(decision).__name__} {decision!r:.120}, expected a routeweave.policies.Decision: return "
                            "Decision(policy=self.name, experts=[...], reason=...), or self.refusal(reason) to refuse")
        update, shown, text = self.plan(decision, state)
        step = make_step("decide", 0, expert=shown, text=text, error="refused" if decision.refused else None)
        if decision.refused:
            reply = decision.safe_reply or "I can't route this request."
            return {"answer": reply, "stop_reason": "refused", "steps": [step, make_step("answer", 0, text=reply)]}
        return {**update, "attempt": 0, "best": None, "evidence": None, "steps": [step]}

    async def answer(self, state: PolicyState) -> dict:
        """Ask the plan's next expert (one call)."""
        order, attempt, question = state["pending"][0]["experts"], state.get("attempt", 0), state["question"]
        name, meter = order[attempt], session_meter(self.pool, state)
        client = self.runtime.experts[name]
        record = await meter.call(name, client.reservation(question), lambda: client.ask(question))
        steps = [step_from_call("route", attempt + 1, record, expert=name, query=question, reply=record.text)]
        if record.error is None and client.settings.read_by() is not None:
            return {"evidence": record.text, "then": "read", "steps": steps + _notices(record, attempt), **meter.spent()}
        return self._judge(state, record, name, steps, meter)

    async def read(self, state: PolicyState) -> dict:
        """The reader of an evidence expert answers from its reply (one call)."""
        order, attempt, question = state["pending"][0]["experts"], state.get("attempt", 0), state["question"]
        reader, meter = self.runtime.experts[order[attempt]].settings.read_by(), session_meter(self.pool, state)
        record = await ask_reader(self.runtime, meter, reader, question, state["evidence"], source=order[attempt])
        steps = [step_from_call("read", attempt + 1, record, expert=reader, query=question, reply=record.text,
                                text=f"reads the reply of {order[attempt]}")]
        return {**self._judge(state, record, reader, steps, meter), "evidence": None}

    def confidence(self, state: PolicyState, expert: str, record) -> tuple[float | None, str]:
        """How sure the answer is, and what says so: a policy that reads answers judges it (the verifier's
        P(good enough)); otherwise exp(mean token logprob) of the call; None when the call returned no
        logprobs (the answer is then kept, and a notice says why)."""
        if self.policy.reads_answers:
            cand = next((c for c in self.candidates if c.name == expert), None)
            judged = None if cand is None else self.policy.answer_confidence(policy_request(state), cand, record.text)
            if judged is not None:
                return judged, f"{self.policy.name}: P(good enough)"
        return record.confidence, "confidence"

    def _judge(self, state: PolicyState, record, by: str, steps: list, meter) -> dict:
        """Keep the answer (the latest expert's: confidences of different models are not comparable, and an
        escalation trusts the expert it escalates to); finish, or escalate to the next expert of the plan."""
        order, attempt = state["pending"][0]["experts"], state.get("attempt", 0)
        best, threshold = state.get("best"), state.get("escalate_below", 0.0)
        steps = steps + _notices(record, attempt)
        confident = False
        if record.error is None:
            answer = " ".join(record.text.split())
            confidence, signal = self.confidence(state, order[attempt], record)
            best = {"answer": answer, "confidence": 1.0 if confidence is None else confidence, "by": by,
                    "truncated": record.truncated}
            can_escalate = threshold > 0 and attempt + 1 < len(order) and not meter.overspent
            confident = confidence is None or confidence >= threshold
            if can_escalate and confidence is None:
                steps.append(make_step("notice", attempt + 1, expert=order[attempt],
                                       text=f"no confidence signal ({by} returned no logprobs): its answer is kept"))
            elif can_escalate and not confident:
                steps.append(make_step("notice", attempt + 1, expert=order[attempt],
                                       text=f"{signal} {confidence:.2f} < {threshold:.2f}: escalating"))
        more = not confident and attempt + 1 < len(order) and not meter.overspent
        judged = {"best": best, "last_error": record.error, "steps": steps, "then": "answer" if more else "end",
                  "attempt": attempt + 1 if more else attempt, **meter.spent()}
        if more:
            return judged
        done = _finished(best, attempt, overspent=bool(judged["overspent"]), last_error=record.error)
        return {**judged, **done, "steps": steps + done["steps"]}

    async def finish(self, state: PolicyState) -> dict:
        """Resume only: the answer step of a checkpoint written when finishing was a step of its own."""
        return _finished(state.get("best"), state.get("attempt", 0), overspent=bool(state.get("overspent")),
                         last_error=state.get("last_error"))


def _finished(best: Best | None, attempt: int, *, overspent: bool, last_error: str | None) -> dict:
    """The session's end: the best answer as its answer step, or a fallback saying why there is none."""
    if best is not None:
        return {"answer": best["answer"], "stop_reason": "overspent" if overspent else "answered", "pending": [],
                "answer_truncated": bool(best.get("truncated")),
                "round": attempt + 1, "steps": [make_step("answer", attempt + 1, expert=best["by"], text=best["answer"])]}
    stop = "overspent" if overspent else "budget" if last_error == NOT_AFFORDABLE else "failed"
    return {"answer": NO_ANSWER, "stop_reason": stop, "pending": [], "round": attempt + 1,
            "steps": [make_step("fallback", attempt + 1, text=f"no expert answered ({last_error})")]}


def _notices(record, attempt: int) -> list:
    notice = overspend_notice(record, attempt + 1)
    return [notice] if notice else []


def after_decide(state: PolicyState) -> str:
    return "end" if state.get("answer") is not None else "answer"


def after_call(state: PolicyState) -> str:
    return state.get("then") or "end"


def policy_graph(nodes_class: type[PolicyNodes], name: str):
    """The builder of a policy graph with these nodes."""

    def build(ctx: GraphContext, checkpointer=None):
        if any(e.read_by() == "router" for e in ctx.pool.enabled):  # the router reads in its protocol, adapter on
            from .router_r1 import check_router_adapter

            check_router_adapter(ctx.pool)
        nodes = nodes_class(ctx)
        graph = guarded_graph(PolicyState, ctx.guard, nodes.candidates, "decide")
        reduced = reduced_keys(PolicyState)
        graph.add_node("decide", routed(nodes.decide, after_decide, {"answer": "answer", "end": END}, reduced=reduced),
                       destinations=("answer", END))
        for node in ("answer", "read"):
            graph.add_node(node, routed(getattr(nodes, node), after_call, {"answer": "answer", "read": "read", "end": END},
                                        reduced=reduced), destinations=("answer", "read", END))
        graph.add_node("finish", nodes.finish)
        graph.add_edge("finish", END)  # resume only (see the module's docstring)
        return graph.compile(checkpointer=checkpointer, name=name)

    build.judges_answers = nodes_class.escalates  # type: ignore[attr-defined]  (read by GraphSpec)
    return build
