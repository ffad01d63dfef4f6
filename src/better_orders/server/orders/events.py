"""The ``trade_updates`` stream: every order event, in Alpaca's message shape, to every listener.

Events are sent as the order handling changes a record, so the order in each
message is the order as it stood right after that event. Fill events carry the
execution (``execution_id``, ``qty``, ``price``) and the position after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from better_orders.core.model import Fill
from better_orders.server.orders.model import OrderRecord
from better_orders.server.orders.shape import order_json
from better_orders.server.shapes import execution_id, num, ts


class TradeUpdates:
    """Listeners of the ``trade_updates`` stream (one queue per websocket)."""

    def __init__(self, now: Callable[[], datetime], position: Callable[[str], Decimal]) -> None:
        self._now = now
        self._position = position
        self.listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self.sent: list[str] = []

    def send(self, event: str, record: OrderRecord, *, fill: Fill | None = None) -> None:
        data: dict[str, Any] = {
            "event": event,
            "timestamp": ts(fill.ts if fill is not None else self._now()),
            "order": order_json(record),
        }
        if fill is not None:
            data.update(
                execution_id=execution_id(fill.exec_id),
                qty=num(fill.qty),
                price=num(fill.price),
                position_qty=num(self._position(record.symbol)),
            )
        message = {"stream": "trade_updates", "data": data}
        self.sent.append(event)
        for queue in self.listeners:
            queue.put_nowait(message)
