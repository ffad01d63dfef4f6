"""Alpaca's JSON shapes: orders, trade updates, account, positions, assets, clock, quotes, errors.

Field names and types are the ones Alpaca documents and alpaca-py's models parse
(money and quantities as strings in the Trading API, numbers in Market Data;
ids as UUIDs; RFC 3339 timestamps), so unmodified clients work against the
local exchange.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from better_orders.core.model import (
    Account,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    TimeInForce,
)

_NAMESPACE = uuid.UUID("6f1c1f43-3f1b-4c56-9a55-6a8f3c0b5e21")
ACCOUNT_ID = str(uuid.uuid5(_NAMESPACE, "account"))
ACCOUNT_NUMBER = "PALOCAL0001"

# Alpaca's error codes: HTTP status followed by a sub-code.
BAD_REQUEST = 40010000
UNAUTHORIZED = 40110000
FORBIDDEN = 40310000
NOT_FOUND = 40410000
UNPROCESSABLE = 42210000
RATE_LIMITED = 42910000
SERVER_ERROR = 50010000


def error_body(code: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def asset_id(symbol: str) -> str:
    """A stable UUID per symbol, as Alpaca gives every asset one."""
    return str(uuid.uuid5(_NAMESPACE, "asset:" + symbol))


def execution_id(exec_id: str) -> str:
    """Alpaca's execution ids are UUIDs; the simulator's are not, so map them stably."""
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


_CENT = Decimal("0.01")
_BASIS = Decimal("0.0001")


def money(value: Decimal) -> str:
    """Dollars with cents (more decimals only when the value has them, up to 4)."""
    if value == value.quantize(_CENT):
        return format(value.quantize(_CENT), "f")
    return format(value.quantize(_BASIS), "f")


@dataclass(slots=True)
class OrderRecord:
    """The exchange's Alpaca-side record of one order (ids, times, replace links)."""

    id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    time_in_force: TimeInForce
    limit_price: Decimal | None
    extended_hours: bool
    created_at: datetime
    status: OrderStatus = OrderStatus.PENDING_NEW
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    updated_at: datetime | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    failed_at: datetime | None = None
    replaced_at: datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    #: While a replace of this order is in flight: the replacement's client order id.
    replacing: str | None = None
    #: Statuses the venue does not know (pending_replace, replaced, a replacement rejected).
    override: OrderStatus | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def effective_status(self) -> OrderStatus:
        if self.override is not None:
            return self.override
        if self.replacing is not None and not self.status.is_terminal:
            return OrderStatus.PENDING_REPLACE
        return self.status


def order_json(
    record: OrderRecord,
    *,
    status: OrderStatus | None = None,
    filled_qty: Decimal | None = None,
    filled_avg_price: Decimal | None = None,
) -> dict[str, Any]:
    """Alpaca's order object; the keyword arguments give the state at an event's instant."""
    filled = record.filled_qty if filled_qty is None else filled_qty
    avg = record.filled_avg_price if filled_qty is None else filled_avg_price
    kind = record.order_type.value
    return {
        "id": record.id,
        "client_order_id": record.client_order_id,
        "created_at": ts(record.created_at),
        "updated_at": ts(record.updated_at or record.created_at),
        "submitted_at": ts(record.created_at),
        "filled_at": ts(record.filled_at),
        "expired_at": None,
        "canceled_at": ts(record.canceled_at),
        "failed_at": ts(record.failed_at),
        "replaced_at": ts(record.replaced_at),
        "replaced_by": record.replaced_by,
        "replaces": record.replaces,
        "asset_id": asset_id(record.symbol),
        "symbol": record.symbol,
        "asset_class": "us_equity",
        "notional": None,
        "qty": num(record.qty),
        "filled_qty": num(filled),
        "filled_avg_price": num(avg) if avg is not None else None,
        "order_class": "",
        "order_type": kind,
        "type": kind,
        "side": record.side.value,
        "position_intent": ("buy_to_open" if record.side is Side.BUY else "sell_to_close"),
        "time_in_force": record.time_in_force.value,
        "limit_price": num(record.limit_price),
        "stop_price": None,
        "status": (status or record.effective_status).value,
        "extended_hours": record.extended_hours,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
        "expires_at": None,
    }


def account_json(account: Account, created_at: datetime) -> dict[str, Any]:
    long_value = account.equity - account.cash
    return {
        "id": ACCOUNT_ID,
        "account_number": ACCOUNT_NUMBER,
        "status": "ACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "buying_power": money(account.buying_power),
        "regt_buying_power": money(account.buying_power),
        "daytrading_buying_power": "0",
        "non_marginable_buying_power": money(account.buying_power),
        "options_buying_power": money(account.buying_power),
        "cash": money(account.cash),
        "accrued_fees": "0",
        "pending_transfer_in": "0",
        "portfolio_value": money(account.equity),
        "pattern_day_trader": False,
        "trading_blocked": False,
        "transfers_blocked": False,
        "account_blocked": False,
        "created_at": ts(created_at),
        "trade_suspended_by_user": False,
        "multiplier": "1",
        "shorting_enabled": False,
        "equity": money(account.equity),
        "last_equity": money(account.equity),
        "long_market_value": money(long_value),
        "short_market_value": "0",
        "position_market_value": money(long_value),
        "initial_margin": "0",
        "maintenance_margin": "0",
        "last_maintenance_margin": "0",
        "sma": "0",
        "daytrade_count": 0,
        "options_approved_level": 0,
        "options_trading_level": 0,
    }


def position_json(position: Position, exchange: str) -> dict[str, Any]:
    qty = position.qty
    entry = position.avg_entry_price or Decimal(0)
    price = position.market_price if position.market_price is not None else entry
    cost = abs(qty) * entry
    value = qty * price
    pl = value - qty * entry
    plpc = (pl / cost) if cost else Decimal(0)
    return {
        "asset_id": asset_id(position.symbol),
        "symbol": position.symbol,
        "exchange": exchange,
        "asset_class": "us_equity",
        "asset_marginable": False,
        "avg_entry_price": money(entry),
        "qty": num(qty),
        "qty_available": num(qty),
        "side": "long" if qty >= 0 else "short",
        "market_value": money(value),
        "cost_basis": money(cost),
        "unrealized_pl": money(pl),
        "unrealized_plpc": format(plpc.quantize(Decimal("0.000001")), "f"),
        "unrealized_intraday_pl": money(pl),
        "unrealized_intraday_plpc": format(plpc.quantize(Decimal("0.000001")), "f"),
        "current_price": money(price),
        "lastday_price": money(price),
        "change_today": "0",
    }


def asset_json(symbol: str, *, exchange: str, tradable: bool, fractionable: bool) -> dict[str, Any]:
    return {
        "id": asset_id(symbol),
        "class": "us_equity",
        "exchange": exchange,
        "symbol": symbol,
        "name": f"{symbol} (local paper exchange)",
        "status": "active",
        "tradable": tradable,
        "marginable": False,
        "maintenance_margin_requirement": 100,
        "shortable": False,
        "easy_to_borrow": False,
        "fractionable": fractionable,
        "attributes": [],
    }


def clock_json(
    now: datetime, is_open: bool, next_open: datetime, next_close: datetime
) -> dict[str, Any]:
    from better_orders.core.timing import NEW_YORK

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
