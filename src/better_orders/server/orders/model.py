"""Alpaca's orders as the local exchange keeps them: vocabulary, a checked request, a record.

``OrderSpec`` is a POST body after every check (``parse``); ``OrderRecord`` is an
accepted order with Alpaca's ids, timestamps and status, plus what the order
handling needs to work it (its session, the venue child working it now, a stop's
trigger state, a replace in flight).

Statuses are Alpaca's, ``held`` included (the legs of bracket, oco and oto orders
waiting for their turn). The simulated venue only ever sees plain market and limit
"child" orders; everything else (queuing, triggers, legs, auctions, expiry) is the
order handling's, as it is Alpaca's order management's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from better_orders.core.model import Side
from better_orders.venues.assets import AssetInfo

ZERO = Decimal(0)


class Status(StrEnum):
    PENDING_NEW = "pending_new"
    ACCEPTED = "accepted"
    NEW = "new"
    HELD = "held"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    PENDING_REPLACE = "pending_replace"
    REPLACED = "replaced"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {Status.FILLED, Status.CANCELED, Status.REPLACED, Status.REJECTED, Status.EXPIRED}
)


class Kind(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"

    @property
    def has_limit(self) -> bool:
        return self in (Kind.LIMIT, Kind.STOP_LIMIT)

    @property
    def is_stop(self) -> bool:
        return self in (Kind.STOP, Kind.STOP_LIMIT, Kind.TRAILING_STOP)


class Tif(StrEnum):
    DAY = "day"
    GTC = "gtc"
    OPG = "opg"
    CLS = "cls"
    IOC = "ioc"
    FOK = "fok"


class OrderClass(StrEnum):
    SIMPLE = "simple"
    BRACKET = "bracket"
    OCO = "oco"
    OTO = "oto"


class LegRole(StrEnum):
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"


@dataclass(frozen=True, slots=True)
class LegSpec:
    """A take-profit (limit) or stop-loss (stop, or stop-limit) leg of a complex order."""

    role: LegRole
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """A checked order request (quantities and prices exact)."""

    asset: AssetInfo
    side: Side
    kind: Kind
    tif: Tif
    client_order_id: str
    qty: Decimal | None = None
    notional: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    order_class: OrderClass = OrderClass.SIMPLE
    legs: tuple[LegSpec, ...] = ()
    #: As the client gave it (checked against the position when the order is accepted).
    position_intent: str | None = None

    @property
    def symbol(self) -> str:
        return self.asset.symbol


@dataclass(slots=True)
class OrderRecord:
    """One Alpaca order at the local exchange."""

    id: str
    client_order_id: str
    asset: AssetInfo
    side: Side
    kind: Kind
    tif: Tif
    qty: Decimal | None
    created_at: dt.datetime
    notional: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    hwm: Decimal | None = None
    extended_hours: bool = False
    order_class: OrderClass = OrderClass.SIMPLE
    position_intent: str = "buy_to_open"
    status: Status = Status.PENDING_NEW
    filled_qty: Decimal = ZERO
    filled_notional: Decimal = ZERO
    updated_at: dt.datetime | None = None
    filled_at: dt.datetime | None = None
    expired_at: dt.datetime | None = None
    canceled_at: dt.datetime | None = None
    failed_at: dt.datetime | None = None
    replaced_at: dt.datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    #: Bracket, oco and oto: the legs (on the parent) and the parent (on a leg).
    legs: list[OrderRecord] = field(default_factory=list)
    parent: OrderRecord | None = None
    role: LegRole | None = None
    #: The session a DAY, opg or cls order belongs to (its date), once known.
    session: dt.date | None = None
    #: The venue order working this one now, and how many have been sent.
    child: str | None = None
    children: int = 0
    #: Why the live child is being canceled: cancel, replace, expire or session.
    pulling: str | None = None
    #: A stop (or stop leg) whose stop price was reached.
    triggered: bool = False
    #: A stop-loss leg watching its stop price (armed when its entry filled).
    armed: bool = False
    #: The replacement, while a replace of this order is in flight.
    replacing: OrderRecord | None = None
    #: Buying power the order holds while open (opening orders only).
    reserve: Decimal = ZERO
    #: The shares worked: ``qty``, or a notional order's amount at the price it met.
    work_qty: Decimal | None = None
    exec_ids: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.work_qty is None:
            self.work_qty = self.qty

    @classmethod
    def from_spec(
        cls, spec: OrderSpec, order_id: str, now: dt.datetime, session: dt.date
    ) -> OrderRecord:
        return cls(
            id=order_id,
            client_order_id=spec.client_order_id,
            asset=spec.asset,
            side=spec.side,
            kind=spec.kind,
            tif=spec.tif,
            qty=spec.qty,
            created_at=now,
            updated_at=now,
            notional=spec.notional,
            limit_price=spec.limit_price,
            stop_price=spec.stop_price,
            trail_price=spec.trail_price,
            trail_percent=spec.trail_percent,
            extended_hours=spec.extended_hours,
            order_class=spec.order_class,
            session=session,
        )

    @property
    def symbol(self) -> str:
        return self.asset.symbol

    @property
    def remaining(self) -> Decimal:
        return (self.work_qty or ZERO) - self.filled_qty

    @property
    def avg_price(self) -> Decimal | None:
        return self.filled_notional / self.filled_qty if self.filled_qty else None

    @property
    def effective_status(self) -> Status:
        if self.replacing is not None and not self.status.is_terminal:
            return Status.PENDING_REPLACE
        return self.status

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal

    @property
    def working(self) -> bool:
        """Open and not a held leg: counts against the position and buying power."""
        return self.is_open and self.status is not Status.HELD
