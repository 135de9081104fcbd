"""The one way a graph pays for a call: reserve the most it may cost, make it, settle the real cost.

    meter = session_meter(pool, state)
    record = await meter.call(expert.name, expert.reservation(query), lambda: expert.ask(query))

Parallel calls hold their reservations first (`hold`), then run together (`run`): together they can never
promise more than the budget has left. A call the budget can't cover is not made; a client that raises is
reported as the call's error, never as the session's crash."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..agents.records import CallRecord, Cost
from .budget import Ledger, Reservation

NOT_AFFORDABLE = "not called: it could cost more than the budget has left"


class Meter:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def hold(self, cost: Cost) -> Reservation | None:
        """Reserve `cost`, or None if the budget can't cover it."""
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
        self.ledger.settle(hold, record.cost_usd, record.tokens)
        return record

    async def call(self, who: str, cost: Cost, call: Callable[[], Awaitable[CallRecord]]) -> CallRecord:
        """Hold, run and settle one call; a call the budget can't cover comes back as an error, not made."""
        hold = self.hold(cost)
        if hold is None:
            return CallRecord(who=who, error=NOT_AFFORDABLE)
        return await self.run(who, hold, call)

    @property
    def left_usd(self) -> float:
        return self.ledger.left_usd

    def spent(self) -> dict[str, float | int]:
        """The state update that carries the spend to the next node."""
        return {"spent_usd": self.ledger.spent_usd, "spent_tokens": self.ledger.spent_tokens}
