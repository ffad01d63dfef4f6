"""Positions: list, look up, close one (all, ``qty`` or ``percentage``), close all.

Closing sends a DAY market order for the part closed, through every check an
order takes (so a position held by open orders is refused as Alpaca refuses it:
403 with ``available`` and ``held_for_orders``). ``percentage`` (0-100, exclusive
of 0) closes that share of the position: in whole shares (rounded down) unless the
position is itself fractional, as Alpaca does; a part that rounds to nothing is
refused. ``DELETE /v2/positions`` closes every position and answers Alpaca's 207
list, one ``{"symbol", "status", "body"}`` per position (the order, or the
refusal); with ``cancel_orders=true`` the open orders are canceled first, and the
closing waits until those cancels have landed.
"""

from __future__ import annotations

import asyncio
from decimal import ROUND_DOWN, Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from better_orders.core.model import QTY_QUANTUM
from better_orders.server.errors import AlpacaError, not_found, unprocessable
from better_orders.server.http import json_response, trading_route
from better_orders.server.orders.model import OrderRecord
from better_orders.server.orders.parse import number
from better_orders.server.orders.shape import order_json
from better_orders.server.params import Query
from better_orders.server.venue import PaperVenue

_HUNDRED = Decimal(100)
#: How long ``cancel_orders=true`` waits for the cancels to land before closing.
CANCEL_WAIT = 5.0


def close_qty(held: Decimal, qty_text: str | None, percentage_text: str | None) -> Decimal:
    """The quantity a close of ``held`` (signed) sells or buys back (module docstring)."""
    size = abs(held)
    if qty_text and percentage_text:
        raise unprocessable("qty and percentage cannot both be given")
    if qty_text:
        asked = number(qty_text, "qty")
        if asked is None or asked <= 0 or asked > size:
            raise unprocessable(f"invalid qty {qty_text}: the position holds {size}")
        return asked
    if percentage_text:
        percent = number(percentage_text, "percentage")
        if percent is None or not 0 < percent <= _HUNDRED:
            raise unprocessable("percentage must be more than 0 and at most 100")
        part = size * percent / _HUNDRED
        fractional = size != size.to_integral_value()
        qty = part.quantize(QTY_QUANTUM if fractional else Decimal(1), rounding=ROUND_DOWN)
        if qty <= 0:
            raise unprocessable(f"{percent}% of {size} shares rounds to nothing to close")
        return qty
    return size


async def close(venue: PaperVenue, symbol: str, qty: str | None, pct: str | None) -> OrderRecord:
    name = venue.listed(symbol)
    held = venue.position(name) if name is not None else Decimal(0)
    if name is None or held == 0:
        raise not_found("position does not exist")
    body = {
        "symbol": name,
        "qty": str(close_qty(held, qty, pct)),
        "side": "sell" if held > 0 else "buy",
        "type": "market",
        "time_in_force": "day",
    }
    return await venue.submit(body)


async def _settle_cancels(venue: PaperVenue, pending: list[OrderRecord]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CANCEL_WAIT
    while any(r.is_open for r in pending) and loop.time() < deadline:
        await asyncio.sleep(0.01)
        venue.hub.sync()


async def list_positions(request: Request, venue: PaperVenue) -> Response:
    return json_response(venue.positions())


async def get_position(request: Request, venue: PaperVenue) -> Response:
    return json_response(venue.position_of(request.path_params["symbol"]))


async def close_position(request: Request, venue: PaperVenue) -> Response:
    params = request.query_params
    record = await close(
        venue, request.path_params["symbol"], params.get("qty"), params.get("percentage")
    )
    return json_response(order_json(record))


async def close_all(request: Request, venue: PaperVenue) -> Response:
    if Query(request.query_params).flag("cancel_orders", False):
        pending = [r for r in venue.orders.book.open() if r.parent is None]
        await venue.cancel_all()
        await _settle_cancels(venue, pending)
    results: list[dict[str, Any]] = []
    for symbol in sorted(venue.ledger.positions):
        try:
            record = await close(venue, symbol, None, None)
        except AlpacaError as exc:
            results.append({"symbol": symbol, "status": exc.status, "body": exc.body()})
            continue
        results.append({"symbol": symbol, "status": 200, "body": order_json(record)})
    return json_response(results, 207)


def position_routes() -> list[Route]:
    route = trading_route
    return [
        route("/v2/positions", "GET", "/v2/positions", list_positions),
        route("/v2/positions", "DELETE", "/v2/positions", close_all),
        route("/v2/positions/{symbol}", "GET", "/v2/positions/{symbol}", get_position),
        route("/v2/positions/{symbol}", "DELETE", "/v2/positions/{symbol}", close_position),
    ]
