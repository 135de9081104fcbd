"""The data a routing policy sees and returns: request, constraints, candidates, decision.

All are pydantic models with ``extra="forbid"`` so a typo in a field name is an error, not a silent no-op.
Candidates are built from the pool's experts by the graphs (routeweave.graphs.candidates) or from an
outcome table's models (offline evaluation). Policies never see the pool: what they need is handed to them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(_Model):
    role: Literal["system", "user", "assistant"]
    content: str


class Constraints(_Model):
    """User constraints (Tryage). Every policy's decision goes through the same filter (base.Policy.decide).

    Hard constraints (allowed, blocked, max_cost_usd, max_latency_s, min_quality): if no candidate satisfies
    them the decision is a *refusal* (``refused=True``) whose reason names the constraint that emptied the
    set. routeweave never silently breaks a user's limit to produce an answer."""

    max_cost_usd: float | None = Field(None, ge=0, description="max estimated cost of one call")
    max_latency_s: float | None = Field(None, gt=0, description="max expected latency of one call")
    allowed: list[str] | None = Field(None, description="only these experts (names, case-insensitive)")
    blocked: list[str] = Field(default_factory=list, description="never these experts")
    min_quality: float | None = Field(None, description="min predicted quality (outcome-table units)")

    def allows(self, name: str) -> bool:
        """The allowed/blocked rule, the one every graph and policy applies to an expert's name."""
        key = name.lower()
        if self.allowed is not None and key not in {a.lower() for a in self.allowed}:
            return False
        return key not in {b.lower() for b in self.blocked}


class Request(_Model):
    query: str
    conversation: list[Message] = Field(default_factory=list)
    constraints: Constraints = Field(default_factory=Constraints)
    knob: float | None = Field(
        None, description="per-request override of the policy's trade-off knob (see Policy.knob_doc)"
    )
    signals: dict[str, float] = Field(
        default_factory=dict, description="run-time signals, e.g. cascade's 'confidence' of the last answer"
    )
    seed: int | None = Field(None, description="seed for randomised policies (default: policy seed + query)")
    features: dict[str, list[float]] = Field(
        default_factory=dict,
        description="precomputed model features of this request by feature name, e.g. the router model's "
        "pooled hidden state for causal_llm (policies never call models for them)",
    )

    def text(self) -> str:
        """The text a policy embeds: the query, prefixed by the previous user turn if there is one."""
        prev = [m.content for m in self.conversation if m.role == "user"]
        return f"{prev[-1]}\n{self.query}" if prev else self.query


class Candidate(_Model):
    """One expert a policy may pick. ``model_key`` ties it to an outcome-table model (defaults to ``name``);
    several candidates with the same ``model_key`` are replicas of one model."""

    name: str
    model_key: str | None = None
    cost_usd: float = Field(0.0, ge=0, description="estimated cost of one call")
    latency_s: float | None = Field(None, ge=0, description="expected latency; None = unknown (fails max_latency_s)")
    quality_prior: float | None = Field(None, description="prior quality if no policy estimate exists")
    description: str = ""

    @property
    def key(self) -> str:
        return self.model_key or self.name


class Decision(_Model):
    policy: str
    experts: list[str] = Field(default_factory=list, description="chosen experts, first = primary")
    scores: dict[str, float] = Field(default_factory=dict, description="per-candidate score of this policy")
    reason: str = Field(..., max_length=500)
    refused: bool = False
    safe_reply: str | None = Field(None, description="what to answer instead when refused")
    escalation: list[str] = Field(default_factory=list, description="cascade: experts to try next, in order")
    escalate_below: float | None = Field(None, description="cascade: escalate if answer confidence < this")
    knob: float | None = None
