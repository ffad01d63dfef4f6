"""The Trading API v2 routes of the local exchange: account, clock, assets, orders, positions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from better_orders.server.assets import asset_json
from better_orders.server.errors import bad_request, not_found, unprocessable
from better_orders.server.http import Handler, json_body, json_response, rest
from better_orders.server.orders.model import OrderRecord
from better_orders.server.orders.shape import order_json
from better_orders.server.shapes import clock_json
from better_orders.server.venue import PaperVenue


async def get_account(request: Request, venue: PaperVenue) -> Response:
    return json_response(venue.account())


async def get_clock(request: Request, venue: PaperVenue) -> Response:
    now = venue.now()
    sessions = venue.sessions
    regular = sessions.regular(now)
    next_open = sessions.calendar.next_open(now)
    next_close = regular.close if regular is not None else sessions.next_session(now).close
    return json_response(clock_json(now, regular is not None, next_open, next_close))


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
    params = request.query_params
    for unmodelled in ("after", "until"):
        if params.get(unmodelled):
            raise unprocessable(f"the {unmodelled} filter is not modelled by the local exchange")
    status = params.get("status") or "open"
    if status not in ("open", "closed", "all"):
        raise bad_request(f"invalid status {status!r}")
    direction = params.get("direction") or "desc"
    if direction not in ("asc", "desc"):
        raise bad_request(f"invalid direction {direction!r}")
    try:
        limit = int(params.get("limit") or 50)
    except ValueError:
        raise bad_request("invalid limit") from None
    nested = (params.get("nested") or "false").lower() == "true"
    symbols = {s.strip().upper() for s in (params.get("symbols") or "").split(",") if s.strip()}
    side = params.get("side")
    records = [
        r
        for r in venue.orders.book
        if _listed(r, status)
        and (not symbols or r.symbol in symbols)
        and (not side or r.side.value == side)
        and (not nested or r.parent is None)
    ]
    records.sort(key=lambda r: r.created_at, reverse=direction != "asc")
    chosen = records[: max(1, min(limit, 500))]
    return json_response([order_json(r, nested=nested) for r in chosen])


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


async def list_positions(request: Request, venue: PaperVenue) -> Response:
    return json_response(venue.positions())


async def get_position(request: Request, venue: PaperVenue) -> Response:
    return json_response(venue.position_of(request.path_params["symbol"]))


async def close_position(request: Request, venue: PaperVenue) -> Response:
    params = request.query_params
    if params.get("percentage"):
        raise unprocessable("closing by percentage is not modelled by the local exchange")
    record = await venue.close_position(request.path_params["symbol"], params.get("qty"))
    return json_response(order_json(record))


def trading_routes() -> list[Route]:
    def route(path: str, method: str, name: str, handler: Handler) -> Route:
        return Route(path, rest("trading", f"{method} {name}", handler), methods=[method])

    return [
        route("/v2/account", "GET", "/v2/account", get_account),
        route("/v2/clock", "GET", "/v2/clock", get_clock),
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
        route("/v2/positions", "GET", "/v2/positions", list_positions),
        route("/v2/positions/{symbol}", "GET", "/v2/positions/{symbol}", get_position),
        route("/v2/positions/{symbol}", "DELETE", "/v2/positions/{symbol}", close_position),
    ]
