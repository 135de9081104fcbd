"""A query-level policy re-decided on the recorded questions, as the single-shot graph would decide on the
new pool (the same `Policy.decide` over the same candidates: the pool's enabled experts at its prices),
and scored from the recorded outcomes. A policy that judges answers (`verifier`) is replayed as the
cascade graph runs it: the first expert's recorded answer is judged, and each escalation pays for the
calls before it; the answer kept is scored.

An outcome of expert E on a question is a recorded single-shot session of an `eval qa` run in which E
answered it (its row's score, and its cost re-priced at the new prices). A choice with no such outcome is
*unknown*: counted and named, never scored. `eval qa` runs of each expert on the same questions (the
runs `routeweave fit` reads) cover every choice."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from routeweave.graphs.answering import candidates
from routeweave.policies import Policy, Request
from routeweave.serving import Pool, resolve_policy

from .recorded import ReplayError
from .reprice import Repriced


@dataclass
class PolicyReplay:
    name: str
    questions: int = 0
    scored: int = 0
    refused: int = 0  # the policy refused to route: answered with a safe reply, scored 0 at no cost
    quality_sum: float = 0.0
    cost_usd: float = 0.0  # of the scored and refused questions, at the new prices
    choices: Counter = field(default_factory=Counter)
    unknown: Counter = field(default_factory=Counter)  # chosen expert -> questions without its outcome
    by_dataset: dict[str, PolicyReplay] = field(default_factory=dict)
    # question key -> (the expert whose answer is kept, or None when refused; (score, cost) or None: unknown)
    decided: dict[tuple[str, str], tuple[str | None, tuple[float, float] | None]] = field(default_factory=dict)

    def session(self, key: tuple[str, str]) -> tuple[float, float] | None:
        """(score, cost) of the policy's path for a recorded session of this question; None: unknown."""
        expert, outcome = self.decided[key]
        return (0.0, 0.0) if expert is None else outcome

    @property
    def quality(self) -> float | None:
        n = self.scored + self.refused
        return self.quality_sum / n if n else None

    @property
    def cost_usd_per_question(self) -> float | None:
        n = self.scored + self.refused
        return self.cost_usd / n if n else None

    def add(self, expert: str | None, outcome: tuple[float, float] | None) -> None:
        self.questions += 1
        if expert is None:
            self.refused += 1
            return
        self.choices[expert] += 1
        if outcome is None:
            self.unknown[expert] += 1
            return
        self.scored += 1
        self.quality_sum += outcome[0]
        self.cost_usd += outcome[1]


def load_policy_for(pool: Pool, spec: str) -> Policy:
    """The policy the single-shot graph would route with on this pool (resolve_policy: a learned policy
    must be fitted for the pool's enabled experts, else it is refused naming both lists)."""
    policy = resolve_policy(pool, Path(spec) if Path(spec).is_dir() else spec)
    assert policy is not None
    if getattr(policy, "feature_kind", "") == "router-llm" or "causal_llm" in getattr(policy, "members", []):
        raise ReplayError(f"the '{policy.name}' policy reads the router model's hidden states: replay calls no model, "
                          "so it cannot re-decide with it; pick a policy that routes from the question text")
    return policy


def _one_expert(replayed: list[Repriced]):
    """(repriced session, its one answering expert) for each recorded single-shot session of an eval qa run
    whose row did not fail and in which exactly one known expert was asked."""
    for r in replayed:
        rec = r.recorded
        if rec.run is None or rec.graph != "single-shot" or rec.row_error:
            continue
        asked = {s.get("expert") for s in rec.steps or [] if s.get("kind") == "route"}
        if len(asked) == 1 and None not in asked and "" not in asked:
            yield r, asked.pop()


def outcomes(replayed: list[Repriced]) -> dict[tuple[tuple[str, str], str], tuple[float, float]]:
    """(question key, expert) -> (mean score, mean cost at the new prices) of those sessions whose score and
    cost are known."""
    found: dict[tuple[tuple[str, str], str], list[tuple[float, float]]] = {}
    for r, expert in _one_expert(replayed):
        if r.recorded.quality is not None and r.cost_usd is not None:
            found.setdefault((r.recorded.key, expert), []).append((r.recorded.quality, r.cost_usd))
    return {k: (float(np.mean([q for q, _ in v])), float(np.mean([c for _, c in v]))) for k, v in found.items()}


def recorded_answers(replayed: list[Repriced]) -> dict[tuple[tuple[str, str], str], str]:
    """(question key, expert) -> the answer of one of those sessions (its last answer step)."""
    found: dict[tuple[tuple[str, str], str], str] = {}
    for r, expert in _one_expert(replayed):
        final = [s.get("text") for s in r.recorded.steps or [] if s.get("kind") == "answer"]
        if final and final[-1]:
            found.setdefault((r.recorded.key, expert), final[-1])
    return found


def _cascade(policy: Policy, decision, rec, table, answers, cands) -> tuple[str | None, tuple[float, float] | None]:
    """The cascade graph's walk down the decision's chain over recorded outcomes: (the expert whose answer is
    kept, (its score, the cost of every call made)); an expert without a recorded outcome ends it unknown."""
    by_name = {c.name: c for c in cands}
    chain = [decision.experts[0], *[e for e in decision.escalation if e != decision.experts[0]]]
    threshold = decision.escalate_below if decision.escalate_below is not None else 0.0
    paid = 0.0
    for i, expert in enumerate(chain):
        outcome = table.get((rec.key, expert))
        if outcome is None:
            return expert, None
        paid += outcome[1]
        answer = answers.get((rec.key, expert))
        judged = None if answer is None else policy.answer_confidence(Request(query=rec.question), by_name[expert], answer)
        if i == len(chain) - 1 or judged is None or judged >= threshold:
            return expert, (outcome[0], paid)
    raise AssertionError("unreachable: the chain's last expert always ends it")


def redecide(replayed: list[Repriced], pool: Pool, policy: Policy) -> PolicyReplay:
    """Each distinct recorded question decided once by the policy, in recorded order."""
    table = outcomes(replayed)
    answers = recorded_answers(replayed) if policy.reads_answers else {}
    cands = candidates(pool)
    total = PolicyReplay(policy.name)
    seen: set[tuple[str, str]] = set()
    for r in replayed:
        rec = r.recorded
        if rec.key in seen:
            continue
        seen.add(rec.key)
        try:
            decision = policy.decide(Request(query=rec.question), cands)
        except Exception as exc:  # noqa: BLE001 - a policy that cannot decide offline is the user's to change
            raise ReplayError(f"the '{policy.name}' policy could not decide offline on '{rec.question[:80]}': "
                              f"{type(exc).__name__}: {exc}") from None
        expert = None if decision.refused or not decision.experts else decision.experts[0]
        if expert is not None and policy.reads_answers:
            expert, outcome = _cascade(policy, decision, rec, table, answers, cands)
        else:
            outcome = (0.0, 0.0) if expert is None else table.get((rec.key, expert))
        total.decided[rec.key] = (expert, outcome)
        dataset = total.by_dataset.setdefault(rec.dataset or "(sessions)", PolicyReplay(policy.name, decided=total.decided))
        for acc in (total, dataset):
            acc.add(expert, outcome)
    return total
