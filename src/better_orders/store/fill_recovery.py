"""Recovering fills the broker has and the journal lacks.

When the broker lists an order's executions (:class:`FillHistory`), the ones the journal
lacks are recorded by execution id, so a fill counts once however often it is recovered.
When it does not, the difference between the broker's cumulative filled quantity and the
journal's fills is recorded as one execution whose id is derived from the order and that
cumulative quantity (``recovered-{coid}-{qty}``), so recovering the same difference twice
still records it once (and the journal refuses a real execution turning up later that
those shares already account for).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol, runtime_checkable

from better_orders.core.errors import BrokerError
from better_orders.core.model import ZERO, BrokerOrder, Fill
from better_orders.store.ids import RECOVERED_PREFIX
from better_orders.venues.base import Broker

#: Price grid of a recovered fill's derived average price.
_PRICE_QUANTUM = Decimal("0.0001")


@runtime_checkable
class FillHistory(Protocol):
    """A broker that can list one order's executions (each with its execution id)."""

    async def get_fills(self, client_order_id: str) -> list[Fill]: ...


def cumulative_gap(
    client_order_id: str, known: Sequence[Fill], broker: BrokerOrder, now: datetime
) -> list[Fill]:
    """One fill for what the broker's cumulative quantity has beyond the known fills.

    Its price makes the order's notional match the broker's average price (rounded to
    $0.0001); its execution id is deterministic, so the same gap is recorded once.
    """
    known_qty = sum((f.qty for f in known), ZERO)
    gap = broker.filled_qty - known_qty
    if gap <= 0:
        return []
    avg = broker.filled_avg_price
    if avg is None:
        price = known[-1].price if known else ZERO
    else:
        known_notional = sum((f.qty * f.price for f in known), ZERO)
        price = ((avg * broker.filled_qty - known_notional) / gap).quantize(
            _PRICE_QUANTUM, ROUND_HALF_EVEN
        )
    if price <= 0:
        return []  # no price to record it at; the position check will report it
    return [
        Fill(
            exec_id=f"{RECOVERED_PREFIX}{client_order_id}-{broker.filled_qty}",
            client_order_id=client_order_id,
            symbol=broker.symbol,
            side=broker.side,
            qty=gap,
            price=price,
            ts=now,
        )
    ]


async def executions_at_broker(
    broker: Broker, client_order_id: str
) -> list[Fill] | BrokerOrder | None:
    """What the broker knows of an ended order's executions: their list when it keeps
    one (``FillHistory``), else the order with its cumulative quantity; None when it
    cannot say now (the next reconciliation will ask again) or the order is not over."""
    try:
        if isinstance(broker, FillHistory):
            return await broker.get_fills(client_order_id)
        order = await broker.get_order(client_order_id)
    except BrokerError:
        return None
    if order is None or not order.status.is_terminal:
        return None
    return order


def record_missing_fills(
    journal: Any, client_order_id: str, at_broker: list[Fill] | BrokerOrder, now: datetime
) -> list[Fill]:
    """Record what ``at_broker`` has beyond the journal's fills; returns the fills added.

    One synchronous call, so the journal's fills cannot change between reading them and
    recording the difference (run it on the journal's writer thread). ``journal`` needs
    ``fills(client_order_id=...)`` and ``record_fill``.
    """
    known: list[Fill] = journal.fills(client_order_id=client_order_id)
    if isinstance(at_broker, BrokerOrder):
        missing = cumulative_gap(client_order_id, known, at_broker, now)
    else:
        seen = {f.exec_id for f in known}
        missing = [f for f in at_broker if f.exec_id not in seen]
    return [fill for fill in missing if journal.record_fill(fill, None)]
