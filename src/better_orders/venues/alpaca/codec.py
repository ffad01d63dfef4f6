"""Alpaca's JSON (as the REST clients and streams deliver it, ``raw_data=True``) to and
from the core's model types.

Money and quantities stay ``Decimal`` throughout: the REST clients already parse
JSON numbers as ``Decimal`` and strings are read exactly. Anything unreadable is a
``BrokerError`` with code ``bad_response``, never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from better_orders.core.errors import BrokerError
from better_orders.core.model import (
    Account,
    Asset,
    BrokerOrder,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
)

ZERO = Decimal(0)

_TS_RE = re.compile(
    r"^(?P<base>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))?(?P<tz>Z|[+-]\d\d:?\d\d)?$"
)


def parse_timestamp(value: object) -> datetime:
    """RFC 3339 as Alpaca writes it (nanoseconds, ``Z``) or a msgpack timestamp, as aware UTC."""
    to_datetime = getattr(value, "to_datetime", None)
    if callable(to_datetime):
        result = to_datetime()
        if isinstance(result, datetime):
            return result.astimezone(UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    match = _TS_RE.match(str(value).strip())
    if match is None:
        raise BrokerError(f"Alpaca sent an unreadable timestamp {value!r}", code="bad_response")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    tz = match["tz"] or "Z"
    tz = "+00:00" if tz == "Z" else tz
    return datetime.fromisoformat(f"{match['base']}.{frac}{tz}").astimezone(UTC)


def parse_decimal(value: object, what: str) -> Decimal:
    """An exact ``Decimal`` from a JSON number or string (floats through their shortest repr)."""
    if isinstance(value, Decimal):
        return value
    try:
        if isinstance(value, float):
            return Decimal(repr(value))
        if isinstance(value, int | str):
            return Decimal(str(value).strip())
    except InvalidOperation:
        pass
    raise BrokerError(f"Alpaca sent an unreadable {what}: {value!r}", code="bad_response")


def parse_optional_decimal(value: object, what: str) -> Decimal | None:
    if value is None or value == "":
        return None
    return parse_decimal(value, what)


_STATUS: dict[str, OrderStatus] = {s.value: s for s in OrderStatus}
# Alpaca statuses the core does not name, by what they mean for the ladder.
_STATUS.update(
    {
        "pending_review": OrderStatus.PENDING_NEW,
        "accepted_for_bidding": OrderStatus.ACCEPTED,
        "held": OrderStatus.ACCEPTED,
        "stopped": OrderStatus.NEW,
        "suspended": OrderStatus.NEW,
        "calculated": OrderStatus.DONE_FOR_DAY,
    }
)


def parse_status(value: object) -> OrderStatus:
    found = _STATUS.get(str(value))
    if found is None:
        raise BrokerError(f"Alpaca sent an unknown order status {value!r}", code="bad_response")
    return found


def qty_text(value: Decimal) -> str:
    """A quantity as Alpaca takes it (no exponent, no trailing zeros)."""
    text = format(value.normalize(), "f")
    return text


def _price_text(value: Decimal) -> str:
    return format(value, "f")


def order_from_json(raw: dict[str, Any]) -> BrokerOrder:
    """Alpaca's order object as a ``BrokerOrder``.

    Order types the core does not have are folded in: ``stop_limit`` counts as a
    limit (it has a limit price), ``stop`` and ``trailing_stop`` as market.
    """
    kind = str(raw.get("type") or raw.get("order_type") or "market")
    order_type = OrderType.LIMIT if kind in ("limit", "stop_limit") else OrderType.MARKET
    filled = parse_optional_decimal(raw.get("filled_qty"), "filled quantity") or ZERO
    qty = parse_optional_decimal(raw.get("qty"), "quantity")
    submitted = raw.get("submitted_at") or raw.get("created_at")
    return BrokerOrder(
        client_order_id=str(raw["client_order_id"]),
        broker_order_id=str(raw["id"]),
        symbol=str(raw.get("symbol") or ""),
        side=Side.parse(str(raw.get("side") or "buy")),
        qty=qty if qty is not None else filled,  # notional orders have no qty
        order_type=order_type,
        limit_price=(
            parse_optional_decimal(raw.get("limit_price"), "limit price")
            if order_type is OrderType.LIMIT
            else None
        ),
        status=parse_status(raw.get("status")),
        filled_qty=filled,
        filled_avg_price=parse_optional_decimal(raw.get("filled_avg_price"), "average fill price"),
        submitted_at=parse_timestamp(submitted) if submitted else None,
    )


def quote_from_json(symbol: str, raw: dict[str, Any]) -> Quote:
    """A quote in Alpaca's short keys (``bp``, ``ap``, ``bs``, ``as``, ``t``).

    Sizes are taken as shares, as Alpaca's v2 quotes report them.
    """
    return Quote(
        symbol=symbol,
        bid=parse_decimal(raw.get("bp", 0), f"{symbol} bid"),
        ask=parse_decimal(raw.get("ap", 0), f"{symbol} ask"),
        bid_size=parse_decimal(raw.get("bs", 0), f"{symbol} bid size"),
        ask_size=parse_decimal(raw.get("as", 0), f"{symbol} ask size"),
        ts=parse_timestamp(raw.get("t")),
    )


def order_body(request: OrderRequest, *, extended_hours: bool) -> dict[str, Any]:
    """The JSON of ``POST /v2/orders`` for ``request`` (a notional order without ``qty``)."""
    amount = (
        {"qty": qty_text(request.qty)}
        if request.notional is None
        else {"notional": qty_text(request.notional)}
    )
    body: dict[str, Any] = {
        "symbol": request.symbol,
        **amount,
        "side": request.side.value,
        "type": request.order_type.value,
        "time_in_force": request.time_in_force.value,
        "client_order_id": request.client_order_id,
    }
    if request.limit_price is not None:
        body["limit_price"] = _price_text(request.limit_price)
    if extended_hours:
        body["extended_hours"] = True
    return body


def replace_body(
    new_client_order_id: str, qty: Decimal | None, limit_price: Decimal | None
) -> dict[str, Any]:
    """The JSON of ``PATCH /v2/orders/{id}``: only what changes."""
    body: dict[str, Any] = {"client_order_id": new_client_order_id}
    if qty is not None:
        body["qty"] = qty_text(qty)
    if limit_price is not None:
        body["limit_price"] = _price_text(limit_price)
    return body


def positions_from_json(raw: Any) -> list[Position]:
    """``/v2/positions`` as ``Position`` values; a short position has a negative quantity."""
    positions = []
    for item in raw or []:
        qty = parse_decimal(item.get("qty"), "position quantity")
        if item.get("side") == "short" and qty > 0:
            qty = -qty
        positions.append(
            Position(
                symbol=str(item["symbol"]),
                qty=qty,
                avg_entry_price=parse_optional_decimal(item.get("avg_entry_price"), "entry price"),
                market_price=parse_optional_decimal(item.get("current_price"), "current price"),
            )
        )
    return positions


def account_from_json(raw: Any) -> Account:
    return Account(
        cash=parse_decimal(raw.get("cash", 0), "cash"),
        buying_power=parse_decimal(raw.get("buying_power", 0), "buying power"),
        equity=parse_decimal(raw.get("equity", 0), "equity"),
        account_id=str(raw.get("account_number") or raw.get("id") or ""),
        status=str(raw.get("status") or ""),
        currency=str(raw.get("currency") or "USD"),
    )


def asset_from_json(symbol: str, raw: Any) -> Asset:
    return Asset(
        symbol=symbol,
        tradable=bool(raw.get("tradable")) and raw.get("status", "active") == "active",
        fractionable=bool(raw.get("fractionable")),
    )


@dataclass(frozen=True, slots=True)
class MarketClock:
    """Alpaca's ``/v2/clock``."""

    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


def market_clock_from_json(raw: Any) -> MarketClock:
    return MarketClock(
        timestamp=parse_timestamp(raw["timestamp"]),
        is_open=bool(raw["is_open"]),
        next_open=parse_timestamp(raw["next_open"]),
        next_close=parse_timestamp(raw["next_close"]),
    )
