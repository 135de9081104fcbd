"""The one way a graph pays for a call: reserve the most it may cost, make it, settle what it really cost.

    meter = session_meter(pool, state)
    record = await meter.call(expert.name, expert.reservation(query), lambda: expert.ask(query))

Parallel calls hold their reservations first (`hold`) and run together (`run`, or as separate LangGraph
tasks that `settle_call` and a later node `charge`s): together they can never promise more than the
budget has left. A call the budget can't cover is not made; a client that raises is reported as that
call's error, never as the session's crash.

Providers are not trusted to bill what they were asked to: `settle_call` charges a reply that reports no
usage its whole reservation (flagged), and records any excess over the reservation as an overspend. After
an overspend no new call starts and the session ends with stop_reason "overspent"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..agents.records import CallRecord, Cost
from .budget import Ledger, Reservation
from .state import NOT_CALLED

NOT_AFFORDABLE = f"{NOT_CALLED}: it could cost more than the budget has left"
EPSILON_USD = 1e-12


def settle_call(record: CallRecord, allowance: Cost | Reservation) -> CallRecord:
    """What a finished call is charged, against the reservation it was made under."""
    if record.usage_missing and record.error is None:
        record = record.model_copy(update={"cost_usd": allowance.usd, "prompt_tokens": allowance.tokens,
                                           "completion_tokens": 0, "cost_units": 0.0})
    over_usd = record.cost_usd - allowance.usd
    over_tokens = record.tokens - allowance.tokens
    if over_usd > EPSILON_USD + allowance.usd * 1e-9 or over_tokens > 0:
        record = record.model_copy(update={"overspent_usd": max(0.0, over_usd), "overspent_tokens": max(0, over_tokens)})
    return record


class Meter:
    def __init__(self, ledger: Ledger, overspent_usd: float = 0.0):
        self.ledger = ledger
        self.overspent_usd = overspent_usd

    def hold(self, cost: Cost) -> Reservation | None:
        """Reserve `cost`, or None if the budget can't cover it (or an overspend has closed the session)."""
        if not self.ledger.can_afford(cost.usd, cost.tokens):
            return None
        return self.ledger.reserve(cost.usd, cost.tokens)

    async def run(self, who: str, hold: Reservation, call: Callable[[], Awaitable[CallRecord]]) -> CallRecord:
        """Make a call under a reservation and settle what it really cost."""
        try:
            record = await call()
        except Exception as exc:  # a client bug is this call's failure, not the session's
            record = CallRecord(who=who, error=f"{type(exc).__name__}: {exc}")
        except BaseException:
            self.ledger.release(hold)
            raise
        record = settle_call(record, hold)
        self.ledger.settle(hold, record.cost_usd, record.tokens)
        self.overspent_usd += record.overspent_usd
        return record

    async def call(self, who: str, cost: Cost, call: Callable[[], Awaitable[CallRecord]]) -> CallRecord:
        """Hold, run and settle one call; a call the budget can't cover comes back as an error, not made."""
        hold = self.hold(cost)
        if hold is None:
            return CallRecord(who=who, error=NOT_AFFORDABLE)
        return await self.run(who, hold, call)

    def charge(self, record: CallRecord) -> None:
        """Charge a call settled elsewhere (a parallel task) against this meter's ledger."""
        self.ledger.charge(record.cost_usd, record.tokens, overspent=record.overspent)
        self.overspent_usd += record.overspent_usd

    @property
    def left_usd(self) -> float:
        return self.ledger.left_usd

    @property
    def overspent(self) -> bool:
        return self.ledger.blocked

    def spent(self) -> dict[str, float | int | bool]:
        """The state update that carries the spend to the next node."""
        return {"spent_usd": self.ledger.spent_usd, "spent_tokens": self.ledger.spent_tokens,
                "overspent_usd": self.overspent_usd, "overspent": self.ledger.blocked}
