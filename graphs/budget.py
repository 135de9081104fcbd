"""Budget arithmetic: reserve the most a call may cost before it starts, settle the real cost after.

Concurrent calls each hold a reservation, so together they can never promise more than is left.
The ledger is plain data, rebuilt from the graph state in each node (no reservation outlives a node)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count


class BudgetExceeded(Exception):
    pass


@dataclass(frozen=True)
class Reservation:
    id: int
    usd: float
    tokens: int


@dataclass
class Ledger:
    budget_usd: float
    max_tokens: int
    spent_usd: float = 0.0
    spent_tokens: int = 0
    blocked: bool = False  # after an overspend no new call may start
    _open: dict[int, Reservation] = field(default_factory=dict)
    _ids: count = field(default_factory=count)

    @property
    def reserved_usd(self) -> float:
        return sum(r.usd for r in self._open.values())

    @property
    def reserved_tokens(self) -> int:
        return sum(r.tokens for r in self._open.values())

    @property
    def left_usd(self) -> float:
        return max(0.0, self.budget_usd - self.spent_usd - self.reserved_usd)

    @property
    def left_tokens(self) -> int:
        return max(0, self.max_tokens - self.spent_tokens - self.reserved_tokens)

    def can_afford(self, usd: float, tokens: int) -> bool:
        return not self.blocked and usd <= self.left_usd + 1e-15 and tokens <= self.left_tokens

    def reserve(self, usd: float, tokens: int) -> Reservation:
        if usd < 0 or tokens < 0:
            raise ValueError("a reservation cannot be negative")
        if not self.can_afford(usd, tokens):
            raise BudgetExceeded(
                f"needs ${usd:.6f} and {tokens} tokens; ${self.left_usd:.6f} and {self.left_tokens} tokens are left"
            )
        reservation = Reservation(next(self._ids), usd, tokens)
        self._open[reservation.id] = reservation
        return reservation

    def settle(self, reservation: Reservation, usd: float, tokens: int) -> bool:
        """Release the reservation and charge the real cost. A provider that honours max_tokens costs at most
        the reservation; one that bills beyond it overspends: the excess is charged (it was spent), no new
        call may start, and True says so."""
        self._open.pop(reservation.id)
        self.spent_usd += usd
        self.spent_tokens += tokens
        over = usd > reservation.usd * (1 + 1e-9) + 1e-15 or tokens > reservation.tokens
        self.blocked = self.blocked or over
        return over

    def charge(self, usd: float, tokens: int, *, overspent: bool = False) -> None:
        """Charge a call whose reservation was held in an earlier node (parallel calls settle this way)."""
        self.spent_usd += usd
        self.spent_tokens += tokens
        self.blocked = self.blocked or overspent

    def release(self, reservation: Reservation) -> None:
        self._open.pop(reservation.id, None)
