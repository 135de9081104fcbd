"""Per-session caps, validated once for every entry point (Python, CLI, HTTP, chat UI).

A session may lower the pool's budget, rounds and token cap, never raise them, and may narrow the experts
to a subset of the enabled ones (passed to the graph as `constraints.allowed`, which every graph and
policy honours)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..agents.pool import Pool
from ..policies import Constraints

PositiveNumber = Annotated[float, Field(gt=0, strict=True)]
PositiveInt = Annotated[int, Field(gt=0, strict=True)]


class SessionCaps(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    budget_usd: PositiveNumber | None = None
    max_rounds: PositiveInt | None = None
    max_tokens: PositiveInt | None = None
    experts: list[str] | None = Field(None, min_length=1, description="a subset of the pool's enabled experts")

    @classmethod
    def parse(cls, values: dict[str, Any], *, prefix: str = "") -> "SessionCaps":
        """Validate, or raise ValueError naming the option and what it must be."""
        try:
            return cls.model_validate({k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = prefix + ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                raise ValueError(f"unknown option '{where}'; known: {', '.join(sorted(cls.model_fields))}") from None
            raise ValueError(f"'{where}' {err['msg'].lower()}, got {err.get('input')!r}") from None

    def limits(self, pool: Pool) -> dict[str, Any]:
        """The caps in force: each the lower of the session's and the pool's."""
        mine = {"budget_usd": self.budget_usd, "max_rounds": self.max_rounds, "max_tokens": self.max_tokens}
        return {k: min(v, getattr(pool.limits, k)) for k, v in mine.items() if v is not None}

    def constraints(self, pool: Pool, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """`experts` as constraints.allowed (only when it narrows the pool), merged with other constraints."""
        if extra is not None and not isinstance(extra, dict):
            raise ValueError(f"constraints must be an object like {{'blocked': ['SmolLM2']}}, got {type(extra).__name__}")
        try:
            merged = Constraints.model_validate(extra or {})
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                raise ValueError(f"unknown constraint '{where}'; known: {', '.join(Constraints.model_fields)}") from None
            raise ValueError(f"constraint '{where}' {err['msg'].lower()}, got {err.get('input')!r}") from None
        known = {e.name.lower(): e.name for e in pool.enabled}
        named = [*(self.experts or []), *(merged.allowed or [])]  # a typo there would narrow the set unseen; an
        if unknown := [n for n in named if n.lower() not in known]:  # unknown name in `blocked` blocks nothing here
            raise ValueError(f"unknown or disabled expert(s): {', '.join(unknown)}; enabled: {', '.join(known.values())}")
        if self.experts is not None:
            chosen = {known[n.lower()] for n in self.experts}
            if merged.allowed is not None:  # both given: only experts both allow
                chosen &= {known[n.lower()] for n in merged.allowed}
            if chosen != set(known.values()):
                merged = merged.model_copy(update={"allowed": sorted(chosen)})
        return merged.model_dump(exclude_defaults=True)

    def capped(self, pool: Pool) -> dict[str, Any]:
        """The options asked above the pool's caps -> the value applied instead (lowered, never raised)."""
        limits = self.limits(pool)
        return {k: v for k, v in limits.items() if getattr(self, k) != v}

    def budget(self, pool: Pool) -> float:
        return self.limits(pool).get("budget_usd", pool.limits.budget_usd)
