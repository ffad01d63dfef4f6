"""Alpaca's order request bodies (POST and PATCH ``/v2/orders``) checked and parsed.

Amounts come as strings or JSON numbers; anything the local exchange does not
model is refused with Alpaca's 422 rather than approximated.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Container
from decimal import Decimal, InvalidOperation
from typing import Any

from better_orders.core.model import (
    QTY_QUANTUM,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)
from better_orders.core.ticks import is_on_grid
from better_orders.server import shapes
from better_orders.server.errors import AlpacaError, unprocessable
from better_orders.server.shapes import OrderRecord


def parse_order(
    body: dict[str, Any],
    listed: Callable[[str], str | None],
    *,
    non_fractionable: Container[str],
    untradable: Container[str],
) -> tuple[OrderRequest, bool]:
    """Alpaca's order request (strings or numbers) as an ``OrderRequest`` + extended hours.

    ``listed`` gives the normalised symbol the venue lists, or None.
    """
    if not isinstance(body, dict):
        raise AlpacaError(400, shapes.BAD_REQUEST, "request body must be a JSON object")
    symbol_text = str(body.get("symbol") or "")
    symbol = listed(symbol_text)
    if symbol is None:
        raise unprocessable(f'asset "{symbol_text}" not found')
    if body.get("notional") is not None:
        raise unprocessable("notional orders are not supported by the local paper exchange")
    qty = parse_decimal(body.get("qty"), "qty")
    if qty is None or qty <= 0:
        raise unprocessable("qty must be > 0")
    if qty != qty.quantize(QTY_QUANTUM):
        raise unprocessable("qty must have at most 9 decimal places")
    side_text = str(body.get("side") or "")
    if side_text not in ("buy", "sell"):
        raise unprocessable(f"invalid side {side_text!r}")
    kind = str(body.get("type") or body.get("order_type") or "")
    if kind not in ("market", "limit"):
        raise unprocessable(
            f"order type {kind!r} is not supported by the local paper exchange "
            "(market and limit only)"
        )
    tif = str(body.get("time_in_force") or "")
    if tif not in ("day", "ioc"):
        raise unprocessable(
            f"time_in_force {tif!r} is not supported by the local paper exchange (day, ioc)"
        )
    limit = parse_decimal(body.get("limit_price"), "limit_price")
    if kind == "limit":
        if limit is None or limit <= 0:
            raise unprocessable("limit_price is required for limit orders")
        _require_on_grid(limit)
    elif limit is not None:
        raise unprocessable("limit_price must not be given for market orders")
    extended = bool(body.get("extended_hours") or False)
    if extended and not (kind == "limit" and tif == "day"):
        raise unprocessable("extended hours order must be DAY limit orders")
    if qty != qty.to_integral_value():
        if kind != "market" or tif != "day":
            raise unprocessable("fractional orders must be market orders with day time_in_force")
        if symbol in non_fractionable:
            raise unprocessable(f"asset {symbol} is not fractionable")
    if symbol in untradable:
        raise unprocessable(f"asset {symbol} is not tradable")
    coid = str(body.get("client_order_id") or uuid.uuid4())
    if len(coid) > 128:
        raise unprocessable("client_order_id must be at most 128 characters")
    request = OrderRequest(
        client_order_id=coid,
        symbol=symbol,
        side=Side(side_text),
        qty=qty,
        order_type=OrderType(kind),
        limit_price=limit,
        time_in_force=TimeInForce(tif),
    )
    return request, extended


def parse_replace(old: OrderRecord, body: dict[str, Any], taken: Container[str]) -> OrderRequest:
    """A PATCH of ``old`` as the replacement's ``OrderRequest``; what is not given is kept.

    ``taken`` holds the client order ids already in use.
    """
    if not isinstance(body, dict):
        raise AlpacaError(400, shapes.BAD_REQUEST, "request body must be a JSON object")
    qty = parse_decimal(body.get("qty"), "qty")
    if qty is None:
        qty = old.qty - old.filled_qty
    if qty <= 0 or qty != qty.quantize(QTY_QUANTUM):
        raise unprocessable(f"invalid qty {qty}")
    limit = parse_decimal(body.get("limit_price"), "limit_price")
    if old.order_type is OrderType.MARKET and limit is not None:
        raise unprocessable("limit_price cannot be set on a market order")
    if limit is None:
        limit = old.limit_price
    else:
        _require_on_grid(limit)
    tif_text = str(body.get("time_in_force") or old.time_in_force.value)
    if tif_text not in ("day", "ioc"):
        raise unprocessable(f"time_in_force {tif_text!r} is not supported")
    new_coid = str(body.get("client_order_id") or uuid.uuid4())
    if new_coid in taken:
        raise unprocessable("client_order_id must be unique")
    return OrderRequest(
        client_order_id=new_coid,
        symbol=old.symbol,
        side=old.side,
        qty=qty,
        order_type=old.order_type,
        limit_price=limit,
        time_in_force=TimeInForce(tif_text),
    )


def _require_on_grid(limit: Decimal) -> None:
    if not is_on_grid(limit):
        raise unprocessable(
            f"invalid limit_price {limit}. sub-penny increment does not fulfill "
            "minimum pricing criteria"
        )


def parse_decimal(value: object, what: str) -> Decimal | None:
    """A number given as a string or in JSON; None when absent or empty."""
    if value is None or value == "":
        return None
    try:
        text = repr(value) if isinstance(value, float) else str(value).strip()
        result = Decimal(text)
    except InvalidOperation:
        raise unprocessable(f"invalid {what}: {value!r}") from None
    if not result.is_finite():
        raise unprocessable(f"invalid {what}: {value!r}")
    return result
