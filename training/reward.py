"""Router-R1's rule-based reward on one finished session: format + outcome − α·cost.

- format: 0 when every router turn parsed (the grammar makes this the norm), −1 when a turn was
  unusable or the session fell back; a session with a format fault gets no outcome reward.
- outcome: exact match of the answer (Router-R1's EM), plus `f1_weight` x token F1 (optional).
- cost: the session's dollars as a share of its budget (0..1), weighted by α: α = 0 ignores cost;
  a larger α teaches the router to answer with fewer, cheaper calls.
The parts are kept apart so that training logs each of them."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class RewardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(0.2, ge=0, description="weight of the cost term")
    f1_weight: float = Field(0.5, ge=0, description="weight of token F1 beside EM in the outcome")
    format_penalty: float = Field(1.0, ge=0)


@dataclass(frozen=True)
class RewardParts:
    format: float
    outcome: float
    cost: float  # share of the budget spent, 0..1 (the reward subtracts alpha x this)

    def total(self, s: RewardSettings) -> float:
        return self.format + self.outcome - s.alpha * self.cost


def format_ok(steps: list[dict]) -> bool:
    """No unusable router turn and no fallback: the router followed the protocol all the way."""
    return not any(
        (s.get("kind") == "notice" and s.get("error") == "unusable router output") or s.get("kind") == "fallback"
        for s in steps
    )


def score(result: dict, answers: list[str], budget_usd: float, s: RewardSettings) -> RewardParts:
    from routeweave.evals.qa.metrics import exact_match, f1

    steps = result.get("steps") or []
    ok = format_ok(steps) and result.get("stop_reason") == "answered"
    cost = min(1.0, float(result.get("cost_usd") or 0.0) / budget_usd) if budget_usd > 0 else 0.0
    if not ok:
        return RewardParts(format=-s.format_penalty, outcome=0.0, cost=cost)
    answer = result.get("answer") or ""
    outcome = exact_match(answer, answers) + s.f1_weight * f1(answer, answers)
    return RewardParts(format=0.0, outcome=outcome, cost=cost)
