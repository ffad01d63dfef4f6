"""What the journal holds, as values: runs, intents (parent orders), child orders, events,
and the quotes marked around fills.

Also the one rule for an order's status as events arrive (:func:`merge_status`): facts
only move forward, so an event arriving late or out of order cannot undo what is known.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import (
    Fill,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
    TimeInForce,
)
from better_orders.store.encoding import dec_or_none, json_or_none, opt_ts, parse_ts

#: Status of an order recorded but not yet acknowledged: its fate at the broker is unknown.
PENDING_SUBMIT = "pending_submit"

#: Order statuses after which an order can no longer trade.
TERMINAL_VALUES = frozenset(s.value for s in OrderStatus if s.is_terminal)

# Non-terminal statuses in the order an order passes through them: an event carrying an
# earlier stage than the one recorded arrived late and does not move the status back.
_STAGE = {
    PENDING_SUBMIT: 0,
    OrderStatus.PENDING_NEW.value: 1,
    OrderStatus.ACCEPTED.value: 1,
    OrderStatus.NEW.value: 1,
    OrderStatus.PARTIALLY_FILLED.value: 2,
    OrderStatus.PENDING_CANCEL.value: 2,
    OrderStatus.PENDING_REPLACE.value: 2,
}


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclasses.dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    kind: str
    params: dict[str, Any]
    params_hash: str
    broker: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    report: dict[str, Any] | None

    def traded_on(self, venue: str) -> bool:
        """Whether this run's orders are ``venue``'s (``sim``, ``alpaca-paper PA1234``...).

        An Alpaca venue is its kind and its account number, so that two accounts of one
        kind can share a journal. A run journalled before accounts were numbered records
        its kind alone (``alpaca-paper``) and counts as the account's at hand.
        """
        return self.broker == venue or venue.startswith(f"{self.broker} ")


@dataclasses.dataclass(frozen=True, slots=True)
class IntentRecord:
    """One parent order (a rebalance leg) as the run meant it."""

    run_id: str
    leg: int
    symbol: str
    side: Side
    qty: Decimal
    status: str
    report: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    #: The quantity its ladder started with (buys are sized when they start); None before.
    sized_qty: Decimal | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class OrderRecord:
    """One child order; ``status`` is ``pending_submit`` or an ``OrderStatus`` value."""

    client_order_id: str
    run_id: str
    leg: int
    attempt: int
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    time_in_force: TimeInForce
    status: str
    broker_order_id: str | None
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    reason: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def pending_submit(self) -> bool:
        """Recorded but never acknowledged: it may or may not be at the broker."""
        return self.status == PENDING_SUBMIT

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_VALUES

    @property
    def remaining_qty(self) -> Decimal:
        return self.qty - self.filled_qty


@dataclasses.dataclass(frozen=True, slots=True)
class EventRecord:
    """A broker event as received, with the journal's sequence number and arrival time."""

    id: int
    update: OrderUpdate
    recorded_at: datetime


class MarkKind(StrEnum):
    """Which quote around a parent's fills a mark holds."""

    #: The parent's arrival (decision) quote, the benchmark of its shortfall.
    ARRIVAL = "arrival"
    #: The quote in force when a fill happened (its time at the venue).
    FILL = "fill"
    #: The quote in force ``after_ms`` after a fill (for the realized spread).
    AFTER = "after"


@dataclasses.dataclass(frozen=True, slots=True)
class QuoteMark:
    """A quote the runner marked around a parent's fills (``quote_marks`` table).

    ``exec_id`` names the fill (empty for the arrival); ``taken_at`` is when the runner
    took it on its own clock (for a fill mark: when the fill reached the runner).
    """

    run_id: str
    leg: int
    exec_id: str
    kind: MarkKind
    after_ms: int
    quote: Quote
    taken_at: datetime


def merge_status(current: str, new: OrderStatus) -> str:
    """The order status after an event, however late the event arrived."""
    if current in TERMINAL_VALUES:
        # A late non-terminal event cannot reopen an order. Between terminal statuses the
        # latest wins (a venue may fill an order it reported canceled), except that a
        # filled order stays filled.
        if new.is_terminal and current != OrderStatus.FILLED.value:
            return new.value
        return current
    if new.is_terminal or _STAGE.get(new.value, 1) >= _STAGE.get(current, 0):
        return new.value
    return current


def parse_run_status(value: RunStatus | str) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        choices = ", ".join(s.value for s in RunStatus)
        raise InvalidInputError(f"unknown run status {value!r}: use one of {choices}") from None


# --------------------------------------------------------------------------- from rows


def run_from_row(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        kind=row["kind"],
        params=json.loads(row["params_json"]),
        params_hash=row["params_hash"],
        broker=row["broker"],
        status=RunStatus(row["status"]),
        started_at=parse_ts(row["started_at"]),
        finished_at=opt_ts(row["finished_at"]),
        report=json_or_none(row["report_json"]),
    )


def intent_from_row(row: sqlite3.Row) -> IntentRecord:
    return IntentRecord(
        run_id=row["run_id"],
        leg=row["leg"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=Decimal(row["qty"]),
        status=row["status"],
        report=json_or_none(row["report_json"]),
        created_at=parse_ts(row["created_at"]),
        updated_at=parse_ts(row["updated_at"]),
        sized_qty=None if row["sized_qty"] is None else Decimal(row["sized_qty"]),
    )


def order_from_row(row: sqlite3.Row) -> OrderRecord:
    return OrderRecord(
        client_order_id=row["client_order_id"],
        run_id=row["run_id"],
        leg=row["leg"],
        attempt=row["attempt"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=Decimal(row["qty"]),
        order_type=OrderType(row["order_type"]),
        limit_price=dec_or_none(row["limit_price"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        status=row["status"],
        broker_order_id=row["broker_order_id"],
        filled_qty=Decimal(row["filled_qty"]),
        filled_avg_price=dec_or_none(row["filled_avg_price"]),
        reason=row["reason"],
        created_at=parse_ts(row["created_at"]),
        updated_at=parse_ts(row["updated_at"]),
    )


def event_from_row(row: sqlite3.Row) -> EventRecord:
    return EventRecord(
        id=row["id"],
        update=_update_from_json(json.loads(row["payload_json"])),
        recorded_at=parse_ts(row["recorded_at"]),
    )


def fill_from_row(row: sqlite3.Row | Mapping[str, Any]) -> Fill:
    """A fill from a ``fills`` row or from the JSON of an event that carried it."""
    return Fill(
        exec_id=row["exec_id"],
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=Decimal(row["qty"]),
        price=Decimal(row["price"]),
        ts=parse_ts(row["ts"]),
    )


def quote_mark_from_row(row: sqlite3.Row) -> QuoteMark:
    return QuoteMark(
        run_id=row["run_id"],
        leg=row["leg"],
        exec_id=row["exec_id"],
        kind=MarkKind(row["kind"]),
        after_ms=row["after_ms"],
        quote=Quote(
            symbol=row["symbol"],
            bid=Decimal(row["bid"]),
            ask=Decimal(row["ask"]),
            bid_size=Decimal(row["bid_size"]),
            ask_size=Decimal(row["ask_size"]),
            ts=parse_ts(row["quote_ts"]),
        ),
        taken_at=parse_ts(row["taken_at"]),
    )


def _update_from_json(data: Mapping[str, Any]) -> OrderUpdate:
    return OrderUpdate(
        client_order_id=data["client_order_id"],
        status=OrderStatus(data["status"]),
        filled_qty=Decimal(data["filled_qty"]),
        ts=parse_ts(data["ts"]),
        filled_avg_price=dec_or_none(data.get("filled_avg_price")),
        broker_order_id=data.get("broker_order_id"),
        fill=None if data.get("fill") is None else fill_from_row(data["fill"]),
        reason=data.get("reason"),
    )
