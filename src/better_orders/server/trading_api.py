"""The Trading API v2 routes of the local exchange: clock, calendar, assets and orders.

The account's routes are ``account_api``'s, the positions' ``positions``', the
watchlists' ``watchlists``'.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from better_orders.server.assets import asset_json, filtered
from better_orders.server.calendar import get_calendar
from better_orders.server.errors import not_found, unprocessable
from better_orders.server.http import json_body, json_response, trading_route
from better_orders.server.orders.model import OrderRecord
from better_orders.server.orders.shape import order_json
from better_orders.server.params import Query
from better_orders.server.shapes import clock_json
from better_orders.server.venue import PaperVenue


async def get_clock(request: Request, venue: PaperVenue) -> Response:
    now = venue.now()
    sessions = venue.sessions
    regular = sessions.regular(now)
    next_open = sessions.calendar.next_open(now)
    next_close = regular.close if regular is not None else sessions.next_session(now).close
    return json_response(clock_json(now, regular is not None, next_open, next_close))


async def list_assets(request: Request, venue: PaperVenue) -> Response:
    assets = filtered(venue.assets, Query(request.query_params))
    return json_response([asset_json(asset) for asset in assets])


async def get_asset(request: Request, venue: PaperVenue) -> Response:
    symbol = request.path_params["symbol"]
    asset = venue.asset(symbol)
    if asset is None:
        raise not_found(f"asset not found for {symbol}")
    return json_response(asset_json(asset))


async def post_order(request: Request, venue: PaperVenue) -> Response:
    record = await venue.submit(await json_body(request))
    if venue.faults.take("lost_responses"):
        # The order exists; the answer is lost on the way (the "504 after create" case).
        return json_response({"code": 50400000, "message": "gateway timeout"}, 504)
    return json_response(order_json(record))


def _listed(record: OrderRecord, status: str) -> bool:
    if status == "open":
        return record.is_open
    if status == "closed":
        return not record.is_open
    return True


async def list_orders(request: Request, venue: PaperVenue) -> Response:
    """Alpaca's filters; ``after`` and ``until`` are exclusive bounds on ``submitted_at``.

    Alpaca's paging recipe (ask again with ``until``, or ``after`` in ascending
    order, set to the last order's ``submitted_at``) therefore ends.
    """
    query = Query(request.query_params)
    status = query.choice("status", ("open", "closed", "all"), "open")
    direction = query.choice("direction", ("asc", "desc"), "desc")
    limit = query.whole("limit", 50, 1, 500)
    nested = query.flag("nested", False)
    after, until = query.instant("after"), query.instant("until")
    symbols = set(query.names())
    side = query.choice("side", ("buy", "sell"), "")
    records = [
        r
        for r in venue.orders.book
        if _listed(r, status)
        and (not symbols or r.symbol in symbols)
        and (not side or r.side.value == side)
        and (not nested or r.parent is None)
        and (after is None or r.created_at > after)
        and (until is None or r.created_at < until)
    ]
    records.sort(key=lambda r: r.created_at, reverse=direction != "asc")
    return json_response([order_json(r, nested=nested) for r in records[:limit]])


async def cancel_all_orders(request: Request, venue: PaperVenue) -> Response:
    return json_response(await venue.cancel_all(), 207)


async def get_order_by_client_id(request: Request, venue: PaperVenue) -> Response:
    coid = request.query_params.get("client_order_id")
    if not coid:
        raise unprocessable("client_order_id is required")
    return json_response(order_json(venue.record_by_client_id(coid)))


async def get_order(request: Request, venue: PaperVenue) -> Response:
    return json_response(order_json(venue.record(request.path_params["order_id"])))


async def patch_order(request: Request, venue: PaperVenue) -> Response:
    old = venue.record(request.path_params["order_id"])
    new = await venue.orders.replace(old, await json_body(request))
    return json_response(order_json(new))


async def delete_order(request: Request, venue: PaperVenue) -> Response:
    await venue.orders.cancel(venue.record(request.path_params["order_id"]))
    return Response(status_code=204)


def trading_routes() -> list[Route]:
    route = trading_route
    return [
        route("/v2/clock", "GET", "/v2/clock", get_clock),
        route("/v2/calendar", "GET", "/v2/calendar", get_calendar),
        route("/v2/assets", "GET", "/v2/assets:list", list_assets),
        route("/v2/assets/{symbol}", "GET", "/v2/assets", get_asset),
        route(
            "/v2/orders:by_client_order_id",
            "GET",
            "/v2/orders:by_client_order_id",
            get_order_by_client_id,
        ),
        route("/v2/orders", "POST", "/v2/orders", post_order),
        route("/v2/orders", "GET", "/v2/orders", list_orders),
        route("/v2/orders", "DELETE", "/v2/orders", cancel_all_orders),
        route("/v2/orders/{order_id}", "GET", "/v2/orders/{id}", get_order),
        route("/v2/orders/{order_id}", "PATCH", "/v2/orders/{id}", patch_order),
        route("/v2/orders/{order_id}", "DELETE", "/v2/orders/{id}", delete_order),
    ]
