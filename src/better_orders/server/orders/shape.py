"""Alpaca's order object for an ``OrderRecord`` (legs nested, as Alpaca nests them)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from better_orders.server.orders.model import OrderClass, OrderRecord, Status
from better_orders.server.shapes import num, ts


def order_json(
    record: OrderRecord,
    *,
    status: Status | None = None,
    filled_qty: Decimal | None = None,
    filled_avg_price: Decimal | None = None,
    nested: bool = True,
) -> dict[str, Any]:
    """The order as Alpaca shows it; the keyword arguments give its state at an event.

    ``nested``: the legs of a bracket, oco or oto order inside it (as Alpaca's
    ``nested=true``); listed flat, every order has ``legs`` null.
    """
    filled = record.filled_qty if filled_qty is None else filled_qty
    avg = record.avg_price if filled_qty is None else filled_avg_price
    kind = record.kind.value
    order_class = "" if record.order_class is OrderClass.SIMPLE else record.order_class.value
    return {
        "id": record.id,
        "client_order_id": record.client_order_id,
        "created_at": ts(record.created_at),
        "updated_at": ts(record.updated_at or record.created_at),
        "submitted_at": ts(record.created_at),
        "filled_at": ts(record.filled_at),
        "expired_at": ts(record.expired_at),
        "expires_at": None,
        "canceled_at": ts(record.canceled_at),
        "failed_at": ts(record.failed_at),
        "replaced_at": ts(record.replaced_at),
        "replaced_by": record.replaced_by,
        "replaces": record.replaces,
        "asset_id": record.asset.id,
        "symbol": record.symbol,
        "asset_class": "us_equity",
        "notional": num(record.notional),
        "qty": num(record.qty),
        "filled_qty": num(filled),
        "filled_avg_price": num(avg),
        "order_class": order_class,
        "order_type": kind,
        "type": kind,
        "side": record.side.value,
        "position_intent": record.position_intent,
        "time_in_force": record.tif.value,
        "limit_price": num(record.limit_price),
        "stop_price": num(record.stop_price),
        "status": (status or record.effective_status).value,
        "extended_hours": record.extended_hours,
        "legs": [order_json(leg) for leg in record.legs] if nested and record.legs else None,
        "trail_percent": num(record.trail_percent),
        "trail_price": num(record.trail_price),
        "hwm": num(record.hwm),
    }
