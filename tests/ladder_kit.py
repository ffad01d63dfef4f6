"""Helpers for driving one ladder by hand in tests: quotes, updates, a configured ladder."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal as D
from typing import Any
from zoneinfo import ZoneInfo

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import Ladder, ParentOrder, QuoteArrived, Start, SubmitOrder
from better_orders.core.market_calendar import default_calendar
from better_orders.core.model import Fill, OrderStatus, OrderUpdate, Quote, Side
from better_orders.core.patience import NO_PATIENCE

ET = ZoneInfo("America/New_York")
#: ``[patience]`` at 0 s: the ladder crosses at once where it would, as it did before it could
#: rest. Tests that time faults, kills, limits or prices around the first marketable order use
#: it (``crossing_config``, or these variables for a configuration loaded from the
#: environment); ``test_ladder_patience`` and ``test_patience`` drive the rest.
CROSS_AT_ONCE = {"opening_seconds": 0.0, "regular_seconds": 0.0}
CROSS_AT_ONCE_ENV = {
    "BETTER_ORDERS_PATIENCE__OPENING_SECONDS": "0",
    "BETTER_ORDERS_PATIENCE__REGULAR_SECONDS": "0",
}


def crossing_config(**settings: Any) -> BetterOrdersConfig:
    """The default configuration (with ``settings``) but the patient rest: ``CROSS_AT_ONCE``."""
    return BetterOrdersConfig.model_validate({**settings, "patience": CROSS_AT_ONCE})


def et(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ET)


def quote(bid: str, ask: str, ts: datetime, symbol: str = "TQQQ", size: int = 1000) -> Quote:
    return Quote(symbol, D(bid), D(ask), D(size), D(size), ts)


def make(
    qty: str = "100",
    side: Side = Side.BUY,
    symbol: str = "TQQQ",
    config: BetterOrdersConfig | None = None,
    **overrides: object,
) -> Ladder:
    """A ladder for ``qty`` of ``symbol``. It crosses at once where it would (no patient rest
    before the first cross, unless ``patience=`` asks for one): the tests built on it drive
    the aggressive path, and ``test_ladder_patience`` drives the rest."""
    cfg = config or BetterOrdersConfig()
    params = dataclasses.replace(ladder_params(cfg, symbol), patience=NO_PATIENCE)
    if overrides:
        params = dataclasses.replace(params, **overrides)
    return Ladder(ParentOrder(symbol, side, D(qty)), params, default_calendar(), lambda n: f"t-{n}")


def of(actions: list[Any], kind: type) -> list[Any]:
    return [a for a in actions if isinstance(a, kind)]


def submit_of(actions: list[Any]) -> SubmitOrder:
    subs = of(actions, SubmitOrder)
    assert len(subs) == 1, actions
    return subs[0]


def update(
    coid: str,
    status: OrderStatus,
    cum: str,
    ts: datetime,
    price: str | None = None,
    fill_qty: str | None = None,
    n: int = 1,
) -> OrderUpdate:
    fill = None
    if fill_qty is not None and price is not None:
        fill = Fill(f"{coid}-x{n}", coid, "TQQQ", Side.BUY, D(fill_qty), D(price), ts)
    return OrderUpdate(
        client_order_id=coid,
        status=status,
        filled_qty=D(cum),
        ts=ts,
        filled_avg_price=D(price) if price else None,
        fill=fill,
    )


def started(ladder: Ladder, q: Quote, now: datetime) -> list[Any]:
    ladder.handle(QuoteArrived(q, now))
    return ladder.handle(Start(now))
