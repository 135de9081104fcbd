"""What every expert kind shares: its settings' common fields, the client protocol every graph calls, and
the registration record that joins a kind's settings and client (see __init__.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Protocol

from pydantic import Field

from ..records import CallRecord, Cost
from ..settings import Strict

READER_HELP = "'router' (the router model reads) or the name of an llm expert"
ExpertName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,39}$")]
TYPICAL_PROMPT_TOKENS = 300  # what a policy assumes a call's prompt to be when it compares prices
REPLY_CHARS = 700  # of each reply shown to a small router, by default: its context is small


class ExpertSettings(Strict):
    """Fields every kind has. A kind subclasses this with `kind: Literal["its-name"]` and its own fields."""

    kind: str
    name: ExpertName
    description: str = Field(..., min_length=1, max_length=300)
    enabled: bool = True
    reply_chars: int = Field(REPLY_CHARS, ge=100, le=32_000, description="characters of each of its replies that the "
                             "router reads (the rest is cut): small for a small router's context, larger for a big router")
    latency_s: float | None = Field(None, gt=0, description="expected seconds of one call: what a request's "
                                    "max_latency_s constraint compares (unset: unknown, so such a request skips it)")

    @property
    def answers(self) -> bool:
        """True: its reply answers the question. False: its reply is evidence that a reader must read."""
        return True

    def read_by(self) -> str | None:
        """Who turns this expert's evidence into an answer ('router' or an llm expert); None if it answers."""
        return None

    def typical_cost_usd(self, prompt_tokens: int = TYPICAL_PROMPT_TOKENS) -> float:
        """The price of one ordinary call, for policies comparing experts (not a budget reservation)."""
        return 0.0

    def price_label(self) -> str:
        """The price as the router's prompt states it."""
        return "free"


class ExpertClient(Protocol):
    """A started expert. `reservation` says up front the most a call may cost, so the budget can reserve it;
    `ask` never raises for the expert's own fault: the CallRecord's `error` says what went wrong."""

    name: str
    settings: ExpertSettings

    def reservation(self, query: str) -> Cost: ...

    async def ask(self, query: str, *, question: str = "") -> CallRecord:
        """Answer `query`; `question` is the session's question that the query serves (a kind may use it
        to rank its evidence, as the retrieval kind's `rank_by_question` does; most ignore it)."""
        ...


class ExpertContext(Protocol):
    """What building a client may need from the running pool (agents.runtime.Runtime provides it)."""

    cache_dir: Path

    def target(self, endpoint: Any, who: str | None = None) -> Any: ...


@dataclass(frozen=True)
class ExpertKind:
    """One registered kind: its pool `kind` value, settings model and client factory, a one-line summary,
    a minimal working `[[experts]]` entry (docs and the contract test over every kind use it), and the query
    that the contract test (tests/test_expert_kinds.py) asks the example expert, which must answer it without
    an error: a kind that cannot answer the default (a calculator) gives one it can, e.g. "2 + 3". `check`,
    optional: a quick look at what the settings name (a module, a file), run before any model server starts,
    raising ValueError / OSError / ConfigError with what is wrong."""

    name: str
    settings: type[ExpertSettings]
    client: Callable[[Any, ExpertContext], ExpertClient]
    summary: str
    example: dict[str, Any]
    contract_query: str = "Who wrote Dracula?"
    check: Callable[[Any], None] | None = None
