"""``POST /v2/orders`` bodies checked the way Alpaca checks them, as an ``OrderSpec``.

Amounts come as strings or JSON numbers and become exact Decimals; a value of the
wrong type, out of range or off the price grid is refused with Alpaca's 422 (400
for a body that is not an object, or ``qty`` together with ``notional``), never
approximated. Rules that depend on the time, the account or the quote (sessions,
buying power, bracket prices against the market) are the order handling's.

What the local exchange does not model is refused here too, loudly: order classes
other than simple, bracket, oco and oto (``mleg``), time-in-force values a type
does not take (stops and trailing stops are DAY or GTC), extended hours for
anything but a simple DAY limit order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from better_orders.core.model import QTY_QUANTUM, Side
from better_orders.core.ticks import is_on_grid
from better_orders.server.errors import bad_request, unprocessable
from better_orders.server.orders.model import (
    Kind,
    LegRole,
    LegSpec,
    OrderClass,
    OrderSpec,
    Tif,
)
from better_orders.venues.assets import AssetInfo

MAX_CLIENT_ORDER_ID = 128
INTENTS = ("buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close")
#: Numbers beyond 10**12 (or finer than 10**-9) are refused before any arithmetic.
_MAX_ADJUSTED = 12
_STOP_TIFS = (Tif.DAY, Tif.GTC)
_COMPLEX_TIFS = (Tif.DAY, Tif.GTC)

Resolve = Callable[[str], AssetInfo | None]


def parse_order(body: object, resolve: Resolve) -> OrderSpec:
    """The checked order of ``body``; ``resolve`` finds an asset by symbol or asset id."""
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    symbol_text = body.get("symbol")
    if not isinstance(symbol_text, str) or not symbol_text.strip():
        raise unprocessable("symbol is required")
    asset = resolve(symbol_text)
    if asset is None:
        raise unprocessable(f'asset "{symbol_text.strip()}" not found')
    side = Side(_choice(body.get("side"), "side", ("buy", "sell")))
    kind = Kind(_choice(body.get("type", body.get("order_type")), "order type", tuple(Kind)))
    tif = Tif(_choice(body.get("time_in_force"), "time_in_force", tuple(Tif)))
    order_class = _order_class(body.get("order_class"))
    extended = _flag(body.get("extended_hours"), "extended_hours")
    qty = number(body.get("qty"), "qty")
    notional = number(body.get("notional"), "notional")
    if qty is not None and notional is not None:
        raise bad_request("qty and notional cannot both be given")
    if qty is None and notional is None:
        raise unprocessable("qty or notional is required")
    for value, what in ((qty, "qty"), (notional, "notional")):
        if value is not None and (value <= 0 or value != value.quantize(QTY_QUANTUM)):
            raise unprocessable(f"{what} must be > 0 with at most 9 decimal places")
    prices = _prices(body, kind)
    legs = _legs(body, order_class)
    if order_class is OrderClass.OCO:
        prices["limit_price"] = _oco_limit(prices.get("limit_price"), legs)
    spec = OrderSpec(
        asset=asset,
        side=side,
        kind=kind,
        tif=tif,
        client_order_id=_client_order_id(body.get("client_order_id")),
        qty=qty,
        notional=notional,
        extended_hours=extended,
        order_class=order_class,
        legs=legs,
        position_intent=_intent(body.get("position_intent")),
        **prices,
    )
    _check_combination(spec)
    if "legs" in body and body["legs"] is not None:
        raise unprocessable("legs are for multi-leg option orders, which are not modelled")
    return spec


def _check_combination(spec: OrderSpec) -> None:
    kind, tif = spec.kind, spec.tif
    if tif in (Tif.OPG, Tif.CLS, Tif.IOC, Tif.FOK) and kind not in (Kind.MARKET, Kind.LIMIT):
        raise unprocessable(f"{tif.value} orders must be market or limit orders")
    if kind.is_stop and tif not in _STOP_TIFS:
        raise unprocessable(f"{kind.value} orders must have time_in_force day or gtc")
    if spec.extended_hours and not (
        kind is Kind.LIMIT and tif is Tif.DAY and spec.order_class is OrderClass.SIMPLE
    ):
        raise unprocessable("extended hours order must be DAY limit orders")
    if spec.notional is not None:
        if kind is not Kind.MARKET or tif is not Tif.DAY:
            raise unprocessable("notional orders must be market orders with day time_in_force")
        if spec.order_class is not OrderClass.SIMPLE:
            raise unprocessable("notional orders must be simple orders")
        if not spec.asset.fractionable:
            raise unprocessable("requested asset is not fractionable")
    qty = spec.qty
    if qty is not None and qty != qty.to_integral_value():
        if kind not in (Kind.MARKET, Kind.LIMIT):
            raise unprocessable("fractional orders must be market or limit orders")
        if tif is not Tif.DAY:
            raise unprocessable("fractional orders must be DAY orders")
        if spec.order_class is not OrderClass.SIMPLE:
            raise unprocessable("fractional orders must be simple orders")
        if not spec.asset.fractionable:
            raise unprocessable("requested asset is not fractionable")
    if spec.order_class is OrderClass.SIMPLE:
        return
    if tif not in _COMPLEX_TIFS:
        raise unprocessable(f"{spec.order_class.value} orders must have time_in_force day or gtc")
    if spec.order_class is OrderClass.OCO:
        if kind is not Kind.LIMIT:
            raise unprocessable("oco orders must be limit orders")
    elif kind not in (Kind.MARKET, Kind.LIMIT):
        raise unprocessable(f"{spec.order_class.value} orders must be market or limit orders")


def _prices(body: Mapping[str, Any], kind: Kind) -> dict[str, Decimal | None]:
    limit = price(body.get("limit_price"), "limit_price")
    stop = price(body.get("stop_price"), "stop_price")
    trail_price = number(body.get("trail_price"), "trail_price")
    trail_percent = number(body.get("trail_percent"), "trail_percent")
    if (
        kind.has_limit
        and limit is None
        and not (kind is Kind.LIMIT and body.get("order_class") == "oco")
    ):
        raise unprocessable(f"limit_price is required for {kind.value} orders")
    if not kind.has_limit and limit is not None:
        raise unprocessable(f"{kind.value} orders must not have limit_price")
    if kind in (Kind.STOP, Kind.STOP_LIMIT) and stop is None:
        raise unprocessable(f"stop_price is required for {kind.value} orders")
    if kind not in (Kind.STOP, Kind.STOP_LIMIT) and stop is not None:
        raise unprocessable(f"{kind.value} orders must not have stop_price")
    if kind is Kind.TRAILING_STOP:
        if (trail_price is None) == (trail_percent is None):
            raise unprocessable("trailing_stop orders need one of trail_price or trail_percent")
        if trail_price is not None and trail_price <= 0:
            raise unprocessable("trail_price must be > 0")
        if trail_percent is not None and not 0 < trail_percent < 100:
            raise unprocessable("trail_percent must be between 0 and 100")
    elif trail_price is not None or trail_percent is not None:
        raise unprocessable(f"{kind.value} orders must not have trail_price or trail_percent")
    return {
        "limit_price": limit,
        "stop_price": stop,
        "trail_price": trail_price,
        "trail_percent": trail_percent,
    }


def _legs(body: Mapping[str, Any], order_class: OrderClass) -> tuple[LegSpec, ...]:
    raw_tp, raw_sl = body.get("take_profit"), body.get("stop_loss")
    if order_class is OrderClass.SIMPLE:
        if raw_tp is not None or raw_sl is not None:
            raise unprocessable("take_profit and stop_loss need order_class bracket, oco or oto")
        return ()
    legs = []
    if raw_tp is not None:
        tp = _object(raw_tp, "take_profit")
        limit = price(tp.get("limit_price"), "take_profit.limit_price")
        if limit is None:
            raise unprocessable("take_profit.limit_price is required")
        legs.append(LegSpec(LegRole.TAKE_PROFIT, limit_price=limit))
    if raw_sl is not None:
        sl = _object(raw_sl, "stop_loss")
        stop = price(sl.get("stop_price"), "stop_loss.stop_price")
        if stop is None:
            raise unprocessable("stop_loss.stop_price is required")
        limit = price(sl.get("limit_price"), "stop_loss.limit_price")
        legs.append(LegSpec(LegRole.STOP_LOSS, limit_price=limit, stop_price=stop))
    roles = {leg.role for leg in legs}
    if order_class in (OrderClass.BRACKET, OrderClass.OCO) and len(roles) != 2:
        raise unprocessable(
            f"{order_class.value} orders require take_profit.limit_price and stop_loss.stop_price"
        )
    if order_class is OrderClass.OTO and len(roles) != 1:
        raise unprocessable("oto orders require exactly one of take_profit or stop_loss")
    return tuple(legs)


def _oco_limit(limit: Decimal | None, legs: tuple[LegSpec, ...]) -> Decimal:
    """An oco order is its take-profit limit (the top-level limit_price may repeat it)."""
    take_profit = next(leg.limit_price for leg in legs if leg.role is LegRole.TAKE_PROFIT)
    assert take_profit is not None
    if limit is not None and limit != take_profit:
        raise unprocessable("oco limit_price must equal take_profit.limit_price")
    return take_profit


def _order_class(value: object) -> OrderClass:
    if value is None or value == "":
        return OrderClass.SIMPLE
    if value == "mleg":
        raise unprocessable("order class mleg (multi-leg options) is not modelled")
    return OrderClass(_choice(value, "order_class", tuple(OrderClass)))


def _intent(value: object) -> str | None:
    if value is None or value == "":
        return None
    return _choice(value, "position_intent", INTENTS)


def _client_order_id(value: object) -> str:
    if value is None or value == "":
        return str(uuid.uuid4())
    if not isinstance(value, str):
        raise unprocessable("client_order_id must be a string")
    if len(value) > MAX_CLIENT_ORDER_ID:
        raise unprocessable(f"client_order_id must be at most {MAX_CLIENT_ORDER_ID} characters")
    return value


def _choice(value: object, what: str, allowed: tuple[str, ...]) -> str:
    if isinstance(value, str) and value in allowed:
        return value
    raise unprocessable(f"invalid {what} {value!r}: use one of {', '.join(allowed)}")


def _flag(value: object, what: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise unprocessable(f"{what} must be a JSON boolean (true or false), got {value!r}")


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise unprocessable(f"{what} must be an object")
    return value


def number(value: object, what: str) -> Decimal | None:
    """A number given as a string or in JSON, exact; None when absent or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise unprocessable(f"invalid {what}: {value!r}")
    try:
        text = repr(value) if isinstance(value, float) else str(value).strip()
        result = Decimal(text)
    except (InvalidOperation, ValueError):
        raise unprocessable(f"invalid {what}: {value!r}") from None
    if not result.is_finite():
        raise unprocessable(f"invalid {what}: {value!r}")
    if result and not -_MAX_ADJUSTED <= result.adjusted() <= _MAX_ADJUSTED:
        raise unprocessable(f"{what} {value!r} is out of range")
    return result


def price(value: object, what: str) -> Decimal | None:
    """A price: positive, on Alpaca's tick grid ($0.01 from $1, $0.0001 below)."""
    result = number(value, what)
    if result is None:
        return None
    if result <= 0:
        raise unprocessable(f"{what} must be > 0")
    if not is_on_grid(result):
        raise unprocessable(
            f"invalid {what} {result}. sub-penny increment does not fulfill minimum pricing "
            "criteria"
        )
    return result
