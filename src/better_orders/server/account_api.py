"""The account's Trading API v2 routes: the account, its configurations, activities, history."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from better_orders.server.activities import kinds_of
from better_orders.server.http import Handler, json_body, json_response, rest
from better_orders.server.params import Query
from better_orders.server.portfolio import history, read_request
from better_orders.server.venue import PaperVenue


async def get_account(request: Request, venue: PaperVenue) -> Response:
    return json_response(venue.account())


async def get_configurations(request: Request, venue: PaperVenue) -> Response:
    return json_response(venue.rules.config.as_json())


async def patch_configurations(request: Request, venue: PaperVenue) -> Response:
    rules = venue.rules
    rules.config = rules.config.changed(await json_body(request), margin=rules.margin)
    return json_response(rules.config.as_json())


async def list_activities(request: Request, venue: PaperVenue) -> Response:
    query = Query(request.query_params)
    venue.hub.sync()
    return json_response(venue.activities.query(kinds_of(query), query))


async def activities_of_type(request: Request, venue: PaperVenue) -> Response:
    query = Query(request.query_params)
    venue.hub.sync()
    kind = request.path_params["activity_type"].upper()
    return json_response(venue.activities.query([kind], query))


async def portfolio_history(request: Request, venue: PaperVenue) -> Response:
    asked = read_request(Query(request.query_params), venue.now())
    body = history(asked, venue.history(), venue.price_at, venue.sessions, venue.started)
    return json_response(body)


def account_routes() -> list[Route]:
    def route(path: str, method: str, handler: Handler) -> Route:
        return Route(path, rest("trading", f"{method} {path}", handler), methods=[method])

    return [
        route("/v2/account", "GET", get_account),
        route("/v2/account/configurations", "GET", get_configurations),
        route("/v2/account/configurations", "PATCH", patch_configurations),
        route("/v2/account/activities", "GET", list_activities),
        route("/v2/account/activities/{activity_type}", "GET", activities_of_type),
        route("/v2/account/portfolio/history", "GET", portfolio_history),
    ]
