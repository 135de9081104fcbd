"""Single-shot: a query-level policy (knn, mf, threshold, ...) picks one expert in about a millisecond,
and that expert answers (an evidence expert such as a retriever feeds its reader: retrieve-then-read).
The decision, its per-expert scores and its reason are a `decide` step in the trace."""

from __future__ import annotations

from ..answering import answer_with
from ..policy_graph import PolicyNodes, PolicyState
from ..session import NO_ANSWER, session_meter
from ..state import make_step


class SingleShot(PolicyNodes):
    async def answer(self, state: PolicyState) -> dict:
        meter = session_meter(self.pool, state)
        name = state["pending"][0]["experts"][0]
        got = await answer_with(self.runtime, meter, name, state["question"], 1)
        answer = got.answer if got.answer is not None else NO_ANSWER
        final = make_step("answer" if got.answer is not None else "fallback", 1, expert=got.by, text=answer)
        return {"answer": answer, "stop_reason": "answered" if got.answer is not None else "failed", "pending": [],
                "round": 1, "steps": [*got.steps, final], **meter.spent()}
