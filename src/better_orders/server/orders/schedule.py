"""What the session rules do to orders: where a new order goes, and each boundary's work.

At submit (``placement``): an order that may trade now works at once; otherwise
it is ``accepted`` and queued for its session (market, limit and stop orders
outside the regular session wait for the next open; extended-hours DAY limits
outside 04:00-20:00 wait for 04:00; opg and cls orders wait for their auction, or
are refused in the windows ``sessions`` describes).

At the boundaries (``on_boundary``), in this order:

- 04:00 pre-market: queued extended-hours orders start working; opg and cls
  orders of the session become ``new``.
- Open: the opening auction fills opg orders at the mid of the session's first
  quote (a limit only if that price is within it; what does not fill is canceled);
  queued orders start working; gtc orders parked over the night go back to work.
- Close (13:00 on early-close days): the closing auction fills cls orders at the
  mid of the last quote before the close; DAY orders (held legs and queued ones
  included) expire with an ``expired`` event; gtc orders are parked (still
  ``new``); the account's day numbers roll over.
- 20:00: extended-hours DAY orders expire.

A child order at the venue stops trading at the very instant its order's hours end
(``ExchangeSessions.trading_until``): the venue expires it then, so no quote after
the close can fill it while the boundary's work catches up.

An auction fills the whole order at one price: no imbalance, no partial auction
fills (not modelled).
"""

from __future__ import annotations

import datetime as dt

from better_orders.core.model import Quote
from better_orders.server.errors import unprocessable
from better_orders.server.orders.manager import OrderManager
from better_orders.server.orders.model import OrderRecord, OrderSpec, Status, Tif
from better_orders.server.orders.triggers import reference_price
from better_orders.server.sessions import (
    Boundary,
    BoundaryKind,
    ExchangeSessions,
    extended_end,
    extended_start,
)

_WORKING = (Status.NEW, Status.PARTIALLY_FILLED)


def placement(
    spec: OrderSpec, sessions: ExchangeSessions, now: dt.datetime
) -> tuple[dt.date, bool]:
    """The session an order belongs to, and whether it works now (module docstring)."""
    if spec.tif is Tif.OPG:
        session = sessions.opg_session(now)
        if session is None:
            raise unprocessable(
                "opg orders are accepted until 9:28 am ET and after 7:00 pm ET for the next open"
            )
        return session.date, now >= extended_start(session)
    if spec.tif is Tif.CLS:
        session = sessions.cls_session(now)
        if session is None:
            raise unprocessable(
                "cls orders are accepted until 10 minutes before the close and after 7:00 pm "
                "ET for the next close"
            )
        return session.date, now >= extended_start(session)
    if spec.extended_hours:
        session = sessions.extended_current_or_next(now)
        return session.date, extended_start(session) <= now < extended_end(session)
    regular = sessions.regular(now)
    if regular is not None:
        return regular.date, True
    return sessions.next_session(now).date, False


def _due(record: OrderRecord, day: dt.date) -> bool:
    return record.session is not None and record.session <= day


async def on_boundary(manager: OrderManager, boundary: Boundary) -> None:
    day = boundary.session.date
    kind = boundary.kind
    if kind is BoundaryKind.PRE_MARKET:
        for record in manager.records([Status.ACCEPTED]):
            if not _due(record, day):
                continue
            if record.tif in (Tif.OPG, Tif.CLS):
                manager.mark_new(record)
            elif record.extended_hours:
                await manager.work(record)
    elif kind is BoundaryKind.OPEN:
        await _open(manager, boundary)
    elif kind is BoundaryKind.CLOSE:
        await _close(manager, boundary)
    else:
        for record in manager.book.open():
            if record.tif is Tif.DAY and record.extended_hours and _due(record, day):
                await manager.end(record, "expire")


async def _open(manager: OrderManager, boundary: Boundary) -> None:
    day = boundary.session.date
    for record in manager.book.open():
        if record.tif is Tif.OPG and _due(record, day):
            quote = manager.market.first_quote_from(record.symbol, boundary.at)
            await _auction(manager, record, quote)
    for record in manager.records([Status.ACCEPTED]):
        if _due(record, day) and record.tif not in (Tif.OPG, Tif.CLS):
            await manager.work(record)
        elif _due(record, day):
            manager.mark_new(record)
    for record in manager.records(_WORKING):
        parked = record.child is None and (not record.kind.is_stop or record.triggered)
        if record.tif is Tif.GTC and parked:
            await manager.work(record)


async def _close(manager: OrderManager, boundary: Boundary) -> None:
    day = boundary.session.date
    market = manager.market
    for record in manager.book.open():
        if record.tif is Tif.CLS and _due(record, day):
            await _auction(manager, record, market.quote(record.symbol))
    for record in manager.book.open():
        if record.tif is Tif.DAY and not record.extended_hours and _due(record, day):
            await manager.end(record, "expire")
        elif record.tif is Tif.GTC:
            await manager.park(record)
    manager.rules.close_day(market.marks())


async def _auction(manager: OrderManager, record: OrderRecord, quote: Quote | None) -> None:
    """Fill the whole order at the auction price (a quote's mid), or cancel it."""
    price = reference_price(quote)
    limit = record.limit_price
    if price is not None and limit is not None:
        within = price <= limit if record.side.value == "buy" else price >= limit
        if not within:
            price = None
    if price is None:
        await manager.end(record, "cancel")
        return
    await manager.fill_here(record, record.remaining, price, "auction")
