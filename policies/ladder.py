"""A price ladder: every candidate, cheapest first. Nothing is learned, so it never pretends to predict.

In the cascade graph it is the plain FrugalGPT cascade: ask the cheapest expert, escalate to the next
dearer one while the answer's confidence (exp of its mean token logprob) is below the knob. Offline,
where tables carry no answer-level confidence, it routes like `cheapest`. A fitted `cascade` policy
replaces the price order by one learned on the pool's recorded outcomes."""

from __future__ import annotations

import numpy as np

from .baselines import CheapestPolicy
from .registry import register
from .types import Candidate, Decision, Request


@register("ladder")
class LadderPolicy(CheapestPolicy):
    default_knob = 0.5
    knob_doc = "escalate while the answer's confidence < t (t in [0, 1]); offline: always the cheapest"

    def _decision(self, i: int, cands: list[Candidate], s: np.ndarray, scores: dict[str, float],
                  knob: float | None, request: Request) -> Decision:
        t = self.knob if knob is None else knob
        names = [c.name for c in sorted(cands, key=lambda c: c.cost_usd)]
        return Decision(policy=self.name, experts=names[:1], escalation=names[1:], escalate_below=t, knob=t, scores=scores,
                        reason=f"ladder (by price, nothing learned): {' -> '.join(names)}, escalate while confidence < {t:.3g}")
