"""What a model or tool call costs and returns, as plain data (no client library imported here)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class Cost:
    """The most a call may cost before it is made (a budget reservation): dollars and tokens."""

    usd: float = 0.0
    tokens: int = 0


EMPTY_REPLY = "empty reply"  # the error of a call the model answered with nothing


class CallRecord(BaseModel):
    """One metered call to an expert or the router."""

    model_config = ConfigDict(extra="forbid")

    who: str
    text: str = ""
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    cost_usd: float = Field(0.0, ge=0)
    cost_units: float = Field(0.0, ge=0, description="Router-R1 unit: completion tokens x output $/1M")
    latency_s: float = Field(0.0, ge=0)
    error: str | None = None
    confidence: float | None = Field(None, ge=0, le=1, description="exp(mean token logprob), when asked and given")
    deployment: str | None = Field(None, description="which replica answered, e.g. 'SmolLM2#1'")
    usage_missing: bool = Field(False, description="the provider reported no token usage (charged its reservation)")
    overspent_usd: float = Field(0.0, ge=0, description="dollars charged beyond its reservation")
    overspent_tokens: int = Field(0, ge=0, description="tokens charged beyond its reservation")
    truncated: bool = Field(False, description="the reply was cut at max_tokens (finish_reason 'length')")

    @property
    def replied(self) -> bool:
        """The model answered, if only with nothing usable: not a down server, a refused request, a timeout."""
        return self.error is None or self.error == EMPTY_REPLY

    @property
    def overspent(self) -> bool:
        return self.overspent_usd > 0 or self.overspent_tokens > 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
