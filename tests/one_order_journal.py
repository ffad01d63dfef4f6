"""Hand-made journals of one run with one child order, for the TCA and calibration tests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from better_orders.core.model import OrderRequest, OrderStatus, OrderUpdate
from better_orders.store.journal import Journal


def send_one_order(journal: Journal, request: OrderRequest, sent: datetime) -> None:
    """Run ``r1``, its leg 1 for ``request``'s symbol, side and quantity, and ``request``
    as its first child order, answered (pending) at ``sent``."""
    journal.start_run("r1", "order", {}, "alpaca")
    journal.record_intent("r1", 1, request.symbol, request.side, request.qty)
    journal.record_order_pending(request, "r1", 1, 1)
    update = OrderUpdate(request.client_order_id, OrderStatus.PENDING_NEW, Decimal(0), sent)
    journal.record_order_ack(update)
