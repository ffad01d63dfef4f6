"""``PATCH /v2/orders/{id}`` bodies, and the quantity a replacement gets.

Alpaca's replace is a new order (new id, ``replaces`` the old one) whose fields
are the old order's except those the body gives: ``qty``, ``limit_price``,
``stop_price``, ``trail`` (the trailing amount, in the unit the order trails by),
``time_in_force`` and ``client_order_id``.

The quantity, precisely. At Alpaca the replacement is for ``qty`` if given, else
for the old order's ``qty``, and it starts with nothing filled: what the old order
filled stays on the old order (now ``replaced``) and is not subtracted. Replacing a
partially filled 10-share order (4 filled) without a ``qty`` therefore puts up a
new 10-share order, and the two can fill 14 in all; a client that wants 10 in all
must send ``qty`` 6. That is the default here. With ``remainder`` (the server's
``--replace-remainder`` switch) ``qty`` (or, when absent, the old ``qty``) is
taken as the total the two orders should fill, and the replacement is for that
total less what the old order filled (refused when nothing would be left).

Notional orders cannot be replaced, the quantity of a fractional order cannot be
changed, and ``qty`` takes whole shares only (Alpaca's documented limits).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from better_orders.server.errors import bad_request, unprocessable
from better_orders.server.orders.model import Kind, OrderRecord, Status, Tif
from better_orders.server.orders.parse import number, price

_REPLACE_TIFS = (Tif.DAY, Tif.GTC)


@dataclass(frozen=True, slots=True)
class Replacement:
    """What the replacement order differs in."""

    qty: Decimal
    client_order_id: str | None
    tif: Tif
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    trail_percent: Decimal | None


def parse_replace(old: OrderRecord, body: object, *, remainder: bool) -> Replacement:
    """The replacement of ``old`` that ``body`` asks for (module docstring for ``qty``)."""
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    if old.notional is not None:
        raise unprocessable("notional orders cannot be replaced")
    asked = number(body.get("qty"), "qty")
    assert old.qty is not None
    if asked is not None:
        if asked <= 0 or asked != asked.to_integral_value():
            raise unprocessable("qty must be a whole number of shares > 0")
        if old.qty != old.qty.to_integral_value():
            raise unprocessable("qty of a fractional order cannot be changed")
    total = asked if asked is not None else old.qty
    qty = total - old.filled_qty if remainder else total
    if qty <= 0:
        raise unprocessable(
            f"qty {total} leaves nothing to replace: {old.filled_qty} already filled"
        )
    limit = price(body.get("limit_price"), "limit_price")
    if limit is not None and not old.kind.has_limit:
        raise unprocessable(f"{old.kind.value} orders must not have limit_price")
    stop = price(body.get("stop_price"), "stop_price")
    if stop is not None and old.kind not in (Kind.STOP, Kind.STOP_LIMIT):
        raise unprocessable(f"{old.kind.value} orders must not have stop_price")
    trail = number(body.get("trail"), "trail")
    trail_price, trail_percent = old.trail_price, old.trail_percent
    if trail is not None:
        if old.kind is not Kind.TRAILING_STOP:
            raise unprocessable(f"{old.kind.value} orders must not have trail")
        if trail <= 0 or (trail_percent is not None and trail >= 100):
            raise unprocessable(f"invalid trail {trail}")
        if trail_percent is not None:
            trail_percent = trail
        else:
            trail_price = trail
    tif = old.tif
    raw_tif = body.get("time_in_force")
    if raw_tif is not None:
        if raw_tif not in _REPLACE_TIFS:
            raise unprocessable(f"time_in_force {raw_tif!r} cannot be set by a replace")
        tif = Tif(raw_tif)
        if tif is not Tif.DAY and old.qty != old.qty.to_integral_value():
            raise unprocessable("fractional orders must be DAY orders")
    coid = body.get("client_order_id")
    if coid is not None and (not isinstance(coid, str) or not 0 < len(coid) <= 128):
        raise unprocessable("client_order_id must be a string of 1-128 characters")
    return Replacement(
        qty=qty,
        client_order_id=coid,
        tif=tif,
        limit_price=limit if limit is not None else old.limit_price,
        stop_price=stop if stop is not None else old.stop_price,
        trail_price=trail_price,
        trail_percent=trail_percent,
    )


def replacement(
    old: OrderRecord, change: Replacement, order_id: str, client_order_id: str, now: dt.datetime
) -> OrderRecord:
    """The new order of a replace: ``old`` with ``change``, in ``old``'s place in its class."""
    same_trail = (change.trail_price, change.trail_percent) == (old.trail_price, old.trail_percent)
    return OrderRecord(
        id=order_id,
        client_order_id=client_order_id,
        asset=old.asset,
        side=old.side,
        kind=old.kind,
        tif=change.tif,
        qty=change.qty,
        created_at=now,
        updated_at=now,
        limit_price=change.limit_price,
        stop_price=change.stop_price,
        trail_price=change.trail_price,
        trail_percent=change.trail_percent,
        hwm=old.hwm if same_trail else None,
        extended_hours=old.extended_hours,
        order_class=old.order_class,
        position_intent=old.position_intent,
        status=Status.HELD if old.status is Status.HELD else Status.PENDING_NEW,
        replaces=old.id,
        parent=old.parent,
        role=old.role,
        legs=old.legs,
        session=old.session,
        armed=old.armed,
        reserve=old.reserve * change.qty / old.qty if old.qty else old.reserve,
    )
