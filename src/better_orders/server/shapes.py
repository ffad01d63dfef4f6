"""Alpaca's JSON conventions, and the shapes of positions, the clock and quotes.

Field names and types are the ones Alpaca documents and alpaca-py's models parse
(money and quantities as strings in the Trading API, numbers in Market Data;
ids as UUIDs; RFC 3339 timestamps), so unmodified clients work against the
local exchange. Orders, the account and assets have their own modules.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from better_orders.core.market_calendar import NEW_YORK
from better_orders.core.model import Position, Quote
from better_orders.venues.assets import AssetInfo

_NAMESPACE = uuid.UUID("6f1c1f43-3f1b-4c56-9a55-6a8f3c0b5e21")
ACCOUNT_ID = str(uuid.uuid5(_NAMESPACE, "account"))
ACCOUNT_NUMBER = "PALOCAL0001"
_CENT = Decimal("0.01")
_BASIS = Decimal("0.0001")
_PLPC = Decimal("0.000001")


def execution_id(exec_id: str) -> str:
    """Alpaca's execution ids are UUIDs; the venue's are not, so map them stably."""
    return str(uuid.uuid5(_NAMESPACE, "exec:" + exec_id))


def ts(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with microseconds and ``Z``, as Alpaca writes order timestamps."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def num(value: Decimal | None) -> str | None:
    """A quantity or price as Alpaca's string (no exponent)."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def money(value: Decimal) -> str:
    """Dollars with cents (more decimals only when the value has them, up to 4)."""
    if value == value.quantize(_CENT):
        return format(value.quantize(_CENT), "f")
    return format(value.quantize(_BASIS), "f")


def position_json(
    position: Position,
    asset: AssetInfo,
    qty_available: Decimal,
    lastday_price: Decimal | None,
    *,
    opened_today: bool = False,
) -> dict[str, Any]:
    """Alpaca's position; a position ``opened_today`` has made its day's P/L since its
    entry, not since yesterday's close (``lastday_price``, still shown)."""
    qty = position.qty
    entry = position.avg_entry_price or Decimal(0)
    price = position.market_price if position.market_price is not None else entry
    last = lastday_price if lastday_price is not None else price
    cost = qty * entry
    value = qty * price
    pl = value - cost
    plpc = (pl / abs(cost)) if cost else Decimal(0)
    basis = entry if opened_today else last
    intraday = value - qty * basis
    intraday_pc = (intraday / abs(qty * basis)) if qty * basis else Decimal(0)
    change = ((price - last) / last) if last else Decimal(0)
    return {
        "asset_id": asset.id,
        "symbol": position.symbol,
        "exchange": asset.exchange,
        "asset_class": "us_equity",
        "asset_marginable": asset.marginable,
        "avg_entry_price": money(entry),
        "qty": num(qty),
        "qty_available": num(qty_available),
        "side": "long" if qty >= 0 else "short",
        "market_value": money(value),
        "cost_basis": money(cost),
        "unrealized_pl": money(pl),
        "unrealized_plpc": format(plpc.quantize(_PLPC), "f"),
        "unrealized_intraday_pl": money(intraday),
        "unrealized_intraday_plpc": format(intraday_pc.quantize(_PLPC), "f"),
        "current_price": money(price),
        "lastday_price": money(last),
        "change_today": format(change.quantize(_PLPC), "f"),
    }


def clock_json(
    now: datetime, is_open: bool, next_open: datetime, next_close: datetime
) -> dict[str, Any]:
    def et(value: datetime) -> str:
        return value.astimezone(NEW_YORK).isoformat()

    return {
        "timestamp": et(now),
        "is_open": is_open,
        "next_open": et(next_open),
        "next_close": et(next_close),
    }


def quote_json(quote: Quote) -> dict[str, Any]:
    """Market Data's short keys; prices and sizes as JSON numbers."""
    return {
        "t": ts(quote.ts),
        "ax": "V",
        "ap": float(quote.ask),
        "as": int(quote.ask_size),
        "bx": "V",
        "bp": float(quote.bid),
        "bs": int(quote.bid_size),
        "c": ["R"],
        "z": "B",
    }
