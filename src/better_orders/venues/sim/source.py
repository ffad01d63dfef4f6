"""What a quote source is: one symbol's top of book in time order, and the rows it yields.

Every source keeps one rule: a source added or restarted at instant T first
yields the quote *in force* at T (its timestamp may be earlier than T), then
every later change. A decision taken at T therefore always sees the book as it
stood at T.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple, Protocol, runtime_checkable

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote, Side


def require_aware(value: datetime, what: str) -> datetime:
    """``value`` in UTC; a typed error naming ``what`` when it has no time zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{what} {value.isoformat()} has no time zone: give an aware time")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Execution:
    """A real trade on the row that carries it (LOBSTER types 4/5, or a trades-file print).

    ``direction`` follows LOBSTER: +1 = a resting *buy* order was executed (a seller
    hit the bid), -1 = a resting sell order was executed (a buyer lifted the offer),
    0 = a consolidated print whose aggressor is unknown (see ``replay.merge_trades``).
    ``away``: a print on another venue than the single venue the quotes show.
    """

    price: Decimal
    size: Decimal
    direction: int
    hidden: bool = False
    away: bool = False

    @property
    def resting_side(self) -> Side | None:
        """The side of the resting orders this execution traded against (None: unknown)."""
        if self.direction == 0:
            return None
        return Side.BUY if self.direction > 0 else Side.SELL

    @property
    def is_print(self) -> bool:
        """A print from a trades file: any venue, direction unknown."""
        return self.direction == 0


class MarketEvent(NamedTuple):
    """One row of a source: the quote, and the execution that caused it, if any."""

    quote: Quote
    execution: Execution | None


@runtime_checkable
class QuoteSource(Protocol):
    """One symbol's top of book in time order (see the module docstring for the start rule)."""

    symbol: str

    def peek_time(self) -> datetime | None:
        """Time of the next row, or None when the source is exhausted."""
        ...

    def pop(self) -> Quote:
        """The next row's quote (its execution, if any, is then ``last_execution``)."""
        ...

    @property
    def last_execution(self) -> Execution | None: ...

    def skip_to(self, when: datetime) -> None:
        """Discard rows so the next one is the quote in force at ``when`` (or the first after)."""
        ...
