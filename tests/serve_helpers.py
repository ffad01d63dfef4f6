"""Shared pieces of the ``serve`` conformance tests: times, alpaca-py requests, quote files."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from alpaca_server import LocalAlpaca
from better_orders.server import ServerConfig, VenueSettings

ET = ZoneInfo("America/New_York")


def at(day: int, hour: int, minute: int, second: int = 0, micro: int = 0) -> datetime:
    """New York time in November 2026 (the 24th a Tuesday, the 27th an early close)."""
    return datetime(2026, 11, day, hour, minute, second, micro, tzinfo=ET)


def trading(local: LocalAlpaca) -> TradingClient:
    return TradingClient(local.key_id, local.secret_key, url_override=local.base_url)


def market(
    symbol: str, qty: float, side: OrderSide = OrderSide.BUY, **extra: Any
) -> MarketOrderRequest:
    tif = extra.pop("time_in_force", TimeInForce.DAY)
    return MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=tif, **extra)


def limit(
    symbol: str, qty: float, price: float, side: OrderSide = OrderSide.BUY, **extra: Any
) -> LimitOrderRequest:
    tif = extra.pop("time_in_force", TimeInForce.DAY)
    return LimitOrderRequest(
        symbol=symbol, qty=qty, side=side, time_in_force=tif, limit_price=price, **extra
    )


def post_order(local: LocalAlpaca, body: dict[str, Any]) -> requests.Response:
    """A raw ``POST /v2/orders`` (for bodies alpaca-py would not build)."""
    return requests.post(local.base_url + "/v2/orders", json=body, headers=local.headers, timeout=5)


def quote_file(
    path: Path, rows: list[tuple[datetime, str, str]], symbol: str = "SPY", size: int = 500
) -> Path:
    """A quote file with these (time, bid, ask) rows, ``size`` x ``size`` shares each."""
    lines = ["ts_utc_ns,symbol,bid_px,ask_px,bid_sz,ask_sz"]
    for when, bid, ask in rows:
        ns = int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
        lines.append(f"{ns},{symbol},{bid},{ask},{size},{size}")
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    return path


def replayed(path: Path, start: datetime, **settings: Any) -> ServerConfig:
    """The exchange replaying ``path`` as SPY, its clock and the file's time both at ``start``."""
    venue = VenueSettings(
        quote_files=(("SPY", path),), replay_from=start, clock_start=start, **settings
    )
    return ServerConfig(venue=venue)
