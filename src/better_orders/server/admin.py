"""Test and demo routes of the local exchange (the key pair required, no request budget).

``GET /_stats``: request counts by route, answers by status, orders created,
stream connections. ``GET/POST /_faults``: read or set the switches of
``faults.ServerFaults`` (``{"drop_stream": true}`` drops every ``trade_updates``
connection now, ``{"reset": true}`` clears every switch). ``GET/POST /_clock``:
the exchange's time; ``{"advance": SECONDS}`` moves it forward (``venue.advance``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from better_orders.core.errors import InvalidInputError
from better_orders.server.errors import AlpacaError
from better_orders.server.http import ServerState, json_body, json_response, unauthorized
from better_orders.server.orders.parse import number
from better_orders.server.shapes import ts


async def get_stats(request: Request) -> Response:
    state: ServerState = request.app.state.server
    if not state.authorized(request):
        return unauthorized()
    return json_response(state.stats())


async def faults_endpoint(request: Request) -> Response:
    state: ServerState = request.app.state.server
    if not state.authorized(request):
        return unauthorized()
    if request.method == "GET":
        return json_response(state.faults.as_dict())
    try:
        body = await json_body(request)
    except AlpacaError as exc:
        return json_response(exc.body(), exc.status)
    if not isinstance(body, dict):
        return json_response({"message": "body must be a JSON object"}, 400)
    try:
        if body.pop("reset", False):
            state.faults.reset()
        drop = body.pop("drop_stream", False)
        state.faults.update(body)
    except InvalidInputError as exc:
        return json_response({"message": str(exc)}, 400)
    dropped = state.hub.drop_all(state.faults.stream_down_seconds) if drop else 0
    return json_response({**state.faults.as_dict(), "dropped": dropped})


async def clock_endpoint(request: Request) -> Response:
    state: ServerState = request.app.state.server
    if not state.authorized(request):
        return unauthorized()
    venue = state.venue
    if request.method == "POST":
        try:
            body = await json_body(request)
            seconds = number(body.get("advance") if isinstance(body, dict) else None, "advance")
            if seconds is None:
                return json_response({"message": 'give {"advance": SECONDS}'}, 400)
            await venue.advance(float(seconds))
        except AlpacaError as exc:
            return json_response(exc.body(), exc.status)
    return json_response({"now": ts(venue.now())})


def admin_routes() -> list[Route]:
    return [
        Route("/_stats", get_stats, methods=["GET"]),
        Route("/_faults", faults_endpoint, methods=["GET", "POST"]),
        Route("/_clock", clock_endpoint, methods=["GET", "POST"]),
    ]
