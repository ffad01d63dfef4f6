"""What the broker has told its listeners about each order, and the updates that bring
them to what Alpaca now says (from a ``trade_updates`` event or a REST read).

No I/O here: messages, orders and the time arrive as arguments, so the same code
serves the stream, the poller and tests.

Fills are counted exactly once. Alpaca's ``filled_qty`` is cumulative; the tracker
remembers, per order, how much it has already reported as ``Fill``s and their
execution ids. A stream fill whose execution id was seen is a duplicate; a fill
already covered by a REST-derived fill only updates the status; a quantity seen only
through REST becomes a synthetic fill with the deterministic id
``{order_id}-cum-{filled_qty}`` (``core.model.cumulative_exec_id``; the journal
records such a fill only for the shares it has not yet got for the order, so a new
process, whose tracker starts from nothing, cannot count them twice). The sum of the
fills reported for an order therefore always equals its cumulative ``filled_qty``. A
terminal status is never undone by a late, stale event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from better_orders.core.errors import BrokerError
from better_orders.core.model import (
    BrokerOrder,
    Fill,
    OrderStatus,
    OrderUpdate,
    Side,
    cumulative_exec_id,
)
from better_orders.venues.alpaca.codec import (
    ZERO,
    order_from_json,
    parse_decimal,
    parse_timestamp,
)

_PRICE_QUANTUM = Decimal("0.0001")


@dataclass(slots=True)
class Track:
    """What the broker has told its listeners about one order."""

    client_order_id: str
    symbol: str
    side: Side
    order_id: str | None = None
    status: OrderStatus = OrderStatus.PENDING_NEW
    reported_qty: Decimal = ZERO  # sum of the Fills emitted
    reported_notional: Decimal = ZERO
    exec_ids: set[str] = field(default_factory=set)

    def fill(self, exec_id: str, qty: Decimal, price: Decimal, ts: datetime) -> Fill:
        self.reported_qty += qty
        self.reported_notional += qty * price
        self.exec_ids.add(exec_id)
        return Fill(exec_id, self.client_order_id, self.symbol, self.side, qty, price, ts)


def _derived_price(total_notional: Decimal, known_notional: Decimal, qty: Decimal) -> Decimal:
    """Price of ``qty`` shares whose notional is the total minus what is known.

    Alpaca's average price is rounded, so the result is rounded to $0.0001.
    """
    price = (total_notional - known_notional) / qty
    return price.quantize(_PRICE_QUANTUM) if price != price.quantize(_PRICE_QUANTUM) else price


class OrderTracker:
    """Every order the broker has seen, by client order id."""

    def __init__(self) -> None:
        self._tracks: dict[str, Track] = {}
        #: Counters for reports and tests.
        self.synthetic_fills = 0
        self.duplicate_events = 0

    def get(self, client_order_id: str) -> Track | None:
        return self._tracks.get(client_order_id)

    def open(self) -> list[Track]:
        """Orders not yet known to be terminal: the ones polling has to follow."""
        return [t for t in self._tracks.values() if not t.status.is_terminal]

    def remember(self, order: BrokerOrder) -> Track:
        track = self._tracks.get(order.client_order_id)
        if track is None:
            track = Track(order.client_order_id, order.symbol, order.side)
            self._tracks[order.client_order_id] = track
        if track.order_id is None:
            track.order_id = order.broker_order_id
        return track

    def acknowledged(self, order: BrokerOrder) -> None:
        """Alpaca answered a submit or replace with ``order``."""
        track = self.remember(order)
        if not track.status.is_terminal:
            track.status = order.status

    def on_trade_update(self, message: Any, now: datetime) -> list[OrderUpdate]:
        """Updates for one ``trade_updates`` message; [] for a duplicate fill."""
        data = message.get("data", message) if isinstance(message, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("order"), dict):
            raise BrokerError(
                f"trade update without an order: {message!r}"[:300], code="bad_response"
            )
        event = str(data.get("event") or "")
        order = order_from_json(data["order"])
        track = self.remember(order)
        reason = event if event in ("order_replace_rejected", "order_cancel_rejected") else None
        if event in ("fill", "partial_fill"):
            exec_id = str(data.get("execution_id") or "")
            qty = parse_decimal(data.get("qty"), "fill quantity")
            price = parse_decimal(data.get("price"), "fill price")
            ts = parse_timestamp(data.get("timestamp") or now)
            if exec_id and exec_id in track.exec_ids:
                self.duplicate_events += 1
                return []
            return self.reconcile(track, order, now, event_fill=(exec_id, qty, price, ts))
        return self.reconcile(track, order, now, reason=reason)

    def reconcile(
        self,
        track: Track,
        order: BrokerOrder,
        now: datetime,
        *,
        event_fill: tuple[str, Decimal, Decimal, datetime] | None = None,
        reason: str | None = None,
    ) -> list[OrderUpdate]:
        """Updates that bring listeners from what they were told to ``order`` (module doc)."""
        out: list[OrderUpdate] = []
        target = order.filled_qty
        avg = order.filled_avg_price
        order_id = order.broker_order_id

        def update(
            status: OrderStatus, filled: Decimal, fill: Fill | None, why: str | None
        ) -> None:
            out.append(
                OrderUpdate(
                    client_order_id=track.client_order_id,
                    status=status,
                    filled_qty=filled,
                    ts=now,
                    filled_avg_price=avg if filled == target else None,
                    broker_order_id=order_id,
                    fill=fill,
                    reason=why,
                )
            )

        def synthetic(upto: Decimal, known_after: Decimal, status: OrderStatus) -> None:
            # Shares filled between what was reported and ``upto``, seen only through REST.
            gap = upto - track.reported_qty
            total = (avg * target) if avg is not None else None
            if total is None:
                price = ZERO
            else:
                price = _derived_price(total - known_after, track.reported_notional, gap)
            fill = track.fill(cumulative_exec_id(order_id, upto), gap, price, now)
            self.synthetic_fills += 1
            update(status, upto, fill, None)

        if event_fill is not None:
            exec_id, qty, price, ts = event_fill
            before = target - qty  # cumulative before this execution
            if before > track.reported_qty:
                synthetic(before, qty * price, OrderStatus.PARTIALLY_FILLED)
            take = min(qty, target - track.reported_qty)
            if take > 0:
                fill = track.fill(exec_id or cumulative_exec_id(order_id, target), take, price, ts)
                update(order.status, target, fill, reason)
            else:
                track.exec_ids.add(exec_id)
                update(order.status, target, None, reason)
        elif target > track.reported_qty:
            synthetic(target, ZERO, order.status)
        elif order.status is not track.status or reason is not None:
            if track.status.is_terminal and not order.status.is_terminal:
                return out  # a late, stale event: never undo a terminal status
            update(order.status, target, None, reason)
        if not (track.status.is_terminal and not order.status.is_terminal):
            track.status = order.status
        return out
