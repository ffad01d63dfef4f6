"""The vocabulary of the product: sides, quotes, orders, broker updates, fills, reports.

Money is exact: prices, quantities and cash are ``Decimal``; floats appear only
in statistics (bps figures in reports). Quantities carry at most 9 decimals
(fractional shares), prices are validated against the tick grid in ``ticks``.
Every type here is an immutable value except the report builders, so objects
can be journalled, compared and replayed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import ClassVar

from better_orders.core.errors import InvalidInputError

#: Quantities are rounded (down) to this many decimals: brokers accept 9.
QTY_DECIMALS = 9
QTY_QUANTUM = Decimal(1).scaleb(-QTY_DECIMALS)
#: Whole digits a quantity may have: with its 9 decimals it must fit Decimal's 28 digits.
QTY_MAX_DIGITS = 28 - QTY_DECIMALS
ZERO = Decimal(0)
#: ``Decimal`` operands rather than ints: the same results (an int is converted exactly),
#: without converting it on every call.
TWO = Decimal(2)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @classmethod
    def parse(cls, value: str | Side) -> Side:
        """Accept ``buy``/``BUY``/``Buy`` (and a ``Side``); anything else is an input error."""
        if isinstance(value, Side):
            return value
        text = str(value).strip().lower()
        try:
            return cls(text)
        except ValueError:
            raise InvalidInputError(f"unknown side {value!r}: use buy or sell") from None

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: position change per share filled."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


def to_decimal(value: object, what: str = "value") -> Decimal:
    """Convert user or file input to ``Decimal`` exactly (floats via ``repr``), rejecting junk.

    NaN and infinities are rejected here, with ``what`` named in the message.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a number, not {value!r}")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise InvalidInputError(f"{what} is not a finite number: {value!r}")
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidInputError(f"{what} is not a number: {value!r}") from None
    else:
        raise InvalidInputError(f"{what} must be a number, not {type(value).__name__}")
    if not result.is_finite():
        raise InvalidInputError(f"{what} is not a finite number: {value!r}")
    return result


def parse_quantity(value: object, what: str = "quantity") -> Decimal:
    """A strictly positive quantity with at most 9 decimals (more is an error, not a rounding)."""
    qty = to_decimal(value, what)
    if qty <= 0:
        raise InvalidInputError(f"{what} must be positive, got {qty}")
    if qty.adjusted() >= QTY_MAX_DIGITS:
        raise InvalidInputError(
            f"{what} is too large: {value!r} (at most {QTY_MAX_DIGITS} digits before the point)"
        )
    if qty != qty.quantize(QTY_QUANTUM):
        raise InvalidInputError(f"{what} {qty} has more than {QTY_DECIMALS} decimals")
    return Decimal(int(qty)) if qty == qty.to_integral_value() else qty


def floor_qty(qty: Decimal) -> Decimal:
    """Round a computed quantity down to the 9-decimal grid (never up: never more than asked)."""
    return qty.quantize(QTY_QUANTUM, rounding="ROUND_DOWN")


#: Spellings already checked, and their normal form (a replay checks the same few symbols
#: for every order and quote source it makes).
_SYMBOLS: dict[str, str] = {}


def normalize_symbol(value: str) -> str:
    """Upper-case ticker; letters, digits, '.', '/' and '-' only."""
    known = _SYMBOLS.get(value) if type(value) is str else None
    if known is not None:
        return known
    text = str(value).strip().upper()
    if not text or len(text) > 12 or not all(c.isalnum() or c in "./-" for c in text):
        raise InvalidInputError(f"invalid symbol {value!r}")
    if type(value) is str and len(_SYMBOLS) < 10_000:
        _SYMBOLS[value] = text
    return text


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book at one instant. Built unchecked: ``core.sanity`` judges it."""

    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal
    ts: datetime

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / TWO

    @property
    def spread(self) -> Decimal:
        return self.ask - self.bid

    def far_touch(self, side: Side) -> Decimal:
        """The price a marketable order of ``side`` trades against."""
        return self.ask if side is Side.BUY else self.bid

    def near_touch(self, side: Side) -> Decimal:
        return self.bid if side is Side.BUY else self.ask

    def far_size(self, side: Side) -> Decimal:
        return self.ask_size if side is Side.BUY else self.bid_size


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    DAY = "day"
    IOC = "ioc"


class OrderStatus(StrEnum):
    """Broker order statuses (Alpaca's vocabulary, which covers the simulator's)."""

    PENDING_NEW = "pending_new"
    ACCEPTED = "accepted"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    PENDING_REPLACE = "pending_replace"
    REPLACED = "replaced"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DONE_FOR_DAY = "done_for_day"

    @property
    def is_terminal(self) -> bool:
        """No further fills are expected (though a venue may still report a late one)."""
        return self in TERMINAL_STATUSES


#: ``OrderStatus.is_terminal``, for loops that test many orders.
TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REPLACED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.DONE_FOR_DAY,
    }
)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One child order as sent to a broker. ``client_order_id`` is deterministic.

    A notional order (``notional``: dollars to buy, a market order) leaves the number
    of shares to the broker; its ``qty`` is then what the amount buys at the price it
    was sized at, the figure risk checks and the journal count with.
    """

    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    notional: Decimal | None = None

    def __post_init__(self) -> None:
        if self.qty <= ZERO:
            raise InvalidInputError(f"{self.symbol} order quantity must be positive: {self.qty}")
        order_type, limit = self.order_type, self.limit_price
        if self.notional is not None and (self.notional <= 0 or order_type is not OrderType.MARKET):
            raise InvalidInputError(
                f"{self.symbol} notional order must be a market order for a positive amount, "
                f"got {order_type.value} for {self.notional}"
            )
        if order_type is OrderType.LIMIT:
            if limit is None or limit <= ZERO:
                raise InvalidInputError(
                    f"{self.symbol} limit order needs a positive limit price, got {limit}"
                )
        elif order_type is OrderType.MARKET and limit is not None:
            raise InvalidInputError(f"{self.symbol} market order cannot carry a limit price")


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``exec_id`` is unique per broker and is how duplicates are detected."""

    exec_id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    ts: datetime


#: Marks the execution id of a fill known only from its order's cumulative quantity.
_CUMULATIVE = "-cum-"


def cumulative_exec_id(order_id: str, cumulative: Decimal) -> str:
    """The id of a fill that brings order ``order_id``'s fills to ``cumulative`` in all (a
    broker that told only the order's cumulative quantity): the same whoever derives it."""
    return f"{order_id}{_CUMULATIVE}{format(cumulative.normalize(), 'f')}"


def cumulative_of(exec_id: str) -> Decimal | None:
    """What a ``cumulative_exec_id`` brings its order's fills to; None for any other id."""
    _, mark, tail = exec_id.rpartition(_CUMULATIVE)
    if not mark:
        return None
    try:
        value = Decimal(tail)
    except ArithmeticError:
        return None
    return value if value.is_finite() and value > 0 else None


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A broker event for one child order.

    ``filled_qty`` is cumulative for the order (as Alpaca reports it) so a lost
    or duplicated event cannot corrupt the total; ``fill`` is the execution that
    caused this event, when there was one.
    """

    client_order_id: str
    status: OrderStatus
    filled_qty: Decimal
    ts: datetime
    filled_avg_price: Decimal | None = None
    broker_order_id: str | None = None
    fill: Fill | None = None
    reason: str | None = None


class AttemptKind(StrEnum):
    AGGRESSIVE = "aggressive"
    PASSIVE = "passive"
    #: The whole order resting briefly at or inside the touch before it crosses.
    PATIENT = "patient"
    MARKET = "market"
    REPEG = "repeg"
    STANDARD = "standard"
    FALLBACK_MARKET = "fallback_market"
    FALLBACK_LIMIT = "fallback_limit"


@dataclass(slots=True)
class Attempt:
    """One child order of a parent, as the report shows it."""

    client_order_id: str
    kind: AttemptKind
    order_type: OrderType
    qty: Decimal
    limit_price: Decimal | None
    started: datetime
    quote_bid: Decimal
    quote_ask: Decimal
    filled_qty: Decimal = ZERO
    filled_avg_price: Decimal | None = None
    ended: datetime | None = None
    end_reason: str | None = None
    status: OrderStatus | None = None


@dataclass(slots=True)
class ExecutionReport:
    """Everything a user needs to know about one parent order, and what it cost."""

    symbol: str
    side: Side
    requested_qty: Decimal
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    arrival_bid: Decimal | None
    arrival_ask: Decimal | None
    arrival_mid: Decimal | None
    arrival_time: datetime | None
    started: datetime
    finished: datetime
    strategy: str
    phase: str
    spread_class: str | None
    relative_spread_class: str | None
    routed: str  # "better" or "standard"
    attempts: list[Attempt] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    quotes_seen: int = 0
    waited_seconds: float = 0.0
    wait_reason: str | None = None
    repegs_used: int = 0
    fallback_used: bool = False
    fallback_blocked: bool = False
    unfilled_qty: Decimal = ZERO
    unfilled_reason: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    #: The slippage budget every child was held to (bps of the arrival mid).
    budget_bps: Decimal | None = None
    #: How far the far touch ran from the arrival mid (bps) when the budget stopped a
    #: price; None if it never did.
    budget_ran_bps: float | None = None
    #: Quotes held as suspect jumps (nothing was priced off them unconfirmed).
    quotes_held: int = 0

    __json_properties__: ClassVar[tuple[str, ...]] = (
        "cost_bps",
        "cost_dollars",
        "time_to_fill_seconds",
        "client_order_ids",
        "complete",
    )

    @property
    def client_order_ids(self) -> list[str]:
        return [a.client_order_id for a in self.attempts]

    @property
    def cost_bps(self) -> float | None:
        """Implementation shortfall vs the arrival mid, positive = paid (a cost)."""
        if self.avg_fill_price is None or not self.arrival_mid:
            return None
        signed = (self.avg_fill_price - self.arrival_mid) * self.side.sign
        return float(signed / self.arrival_mid * 10_000)

    @property
    def cost_dollars(self) -> Decimal | None:
        if self.avg_fill_price is None or self.arrival_mid is None:
            return None
        return (self.avg_fill_price - self.arrival_mid) * self.side.sign * self.filled_qty

    @property
    def time_to_fill_seconds(self) -> float | None:
        """From the arrival (decision) to the last fill."""
        if not self.fills or self.arrival_time is None:
            return None
        return (max(f.ts for f in self.fills) - self.arrival_time).total_seconds()

    @property
    def complete(self) -> bool:
        return self.filled_qty == self.requested_qty


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """A broker's view of one order (what ``get_order`` and ``list_open_orders`` return)."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    status: OrderStatus
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    submitted_at: datetime | None = None

    def as_update(self, ts: datetime) -> OrderUpdate:
        return OrderUpdate(
            client_order_id=self.client_order_id,
            status=self.status,
            filled_qty=self.filled_qty,
            ts=ts,
            filled_avg_price=self.filled_avg_price,
            broker_order_id=self.broker_order_id,
        )


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    qty: Decimal  # negative = short
    avg_entry_price: Decimal | None = None
    market_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Account:
    cash: Decimal
    buying_power: Decimal
    equity: Decimal
    account_id: str = "sim"
    status: str = "ACTIVE"
    currency: str = "USD"


@dataclass(frozen=True, slots=True)
class Asset:
    symbol: str
    tradable: bool = True
    fractionable: bool = True
