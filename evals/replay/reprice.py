"""Every recorded step priced at another pool's prices. A step records the tokens it was billed and the
model that really answered it (`answered_by`: the router, an expert, or the fallback that took over), so
re-pricing is exact: the same pool reproduces the recorded cost to the last bit.

A step is *unknown*, never priced at zero, when its price cannot be known: the pool has no model of
that name, the provider reported no usage (the call was charged its reservation, not its tokens), or a
billed step does not record who answered it (a failed call that was still billed, or a trace written before
routeweave stored `answered_by`: guessing from the step's expert would miss the fallbacks). A step nobody was billed for (a notice, a
skipped call, a policy's decision) is free in any pool."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from routeweave.agents.settings import Endpoint
from routeweave.graphs.metering import NOT_AFFORDABLE
from routeweave.serving import Pool

from .recorded import Recorded

ROUTER = "router"
NOT_IN_POOL = "not in the pool"
USAGE_MISSING = "usage missing (charged its reservation, not its tokens)"
WHO_UNKNOWN = "billed, but the model that answered is not recorded (a failed call, or a trace older than answered_by)"
NO_TRACE = "trace missing"
BUDGET_STOPS = ("budget", "overspent")


@dataclass
class Unknown:
    who: str
    reason: str
    cost_usd_recorded: float


@dataclass
class Repriced:
    """One session at the new prices. `cost_usd` is None when some step is unknown (`known_usd` is the
    sum of the others); `budget_shaped`: the budget stopped, skipped or cut something in this session;
    `router_decided`: an LLM router chose its path (re-priced, not re-decided)."""

    recorded: Recorded
    cost_usd_recorded: float
    known_usd: float
    unknown: list[Unknown] = field(default_factory=list)
    budget_shaped: bool = False
    router_decided: bool = False

    @property
    def cost_usd(self) -> float | None:
        return None if self.unknown else self.known_usd


def billed(step: dict[str, Any]) -> bool:
    return bool(step.get("prompt_tokens") or step.get("completion_tokens") or (step.get("cost_usd") or 0.0) > 0)


def price_of(who: str, step: dict[str, Any], pool: Pool) -> float | None:
    """What the pool charges `who` for this step's tokens (None: the pool has no such model)."""
    prompt, completion = int(step.get("prompt_tokens") or 0), int(step.get("completion_tokens") or 0)
    if who == ROUTER:
        return pool.router.price.cost_usd(prompt, completion)
    try:
        expert = pool.expert(who)
    except KeyError:
        return None
    if isinstance(expert, Endpoint):
        return expert.price.cost_usd(prompt, completion)
    return expert.typical_cost_usd()  # kinds priced per call (python) or free (retrieval)


def _usage_missing(steps: list[dict[str, Any]], i: int) -> bool:
    """The graphs follow a call whose provider reported no usage with a 'usage missing' notice."""
    nxt = steps[i + 1] if i + 1 < len(steps) else None
    return bool(nxt and nxt.get("kind") == "notice" and nxt.get("error") == "usage missing")


def budget_shaped(rec: Recorded) -> bool:
    """The budget decided something: the session stopped for it (or an overspend), or a call was skipped."""
    if rec.stop_reason in BUDGET_STOPS:
        return True
    for s in rec.steps or []:
        text = s.get("text") or ""
        if s.get("error") in (NOT_AFFORDABLE, "overspent") or text.startswith(("budget:", "Stopped (budget")):
            return True
    return False


def reprice(rec: Recorded, pool: Pool) -> Repriced:
    steps = rec.steps
    out = Repriced(rec, rec.cost_usd, 0.0, budget_shaped=budget_shaped(rec),
                   router_decided=any(s.get("kind") == "think" for s in steps or []))
    if steps is None:
        out.unknown.append(Unknown("", NO_TRACE, 0.0))  # its recorded cost is unknown too
        return out
    for i, step in enumerate(steps):
        if not billed(step):
            continue
        recorded, who = float(step.get("cost_usd") or 0.0), step.get("answered_by")
        if not who:
            out.unknown.append(Unknown(step.get("expert") or "?", WHO_UNKNOWN, recorded))
        elif _usage_missing(steps, i):
            out.unknown.append(Unknown(who, USAGE_MISSING, recorded))
        elif (usd := price_of(who, step, pool)) is None:
            out.unknown.append(Unknown(who, NOT_IN_POOL, recorded))
        else:
            out.known_usd += usd
    return out
