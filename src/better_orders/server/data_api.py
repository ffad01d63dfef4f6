"""The Market Data API v2 routes of the local exchange: latest quotes (no more is modelled)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from better_orders.server.errors import FORBIDDEN, NOT_FOUND, AlpacaError, bad_request
from better_orders.server.http import ServerState, json_response, rest
from better_orders.server.shapes import quote_json
from better_orders.server.venue import PaperVenue


def _check_feed(request: Request) -> None:
    state: ServerState = request.app.state.server
    feed = request.query_params.get("feed") or "iex"
    if feed not in ("iex", "sip", "delayed_sip", "otc"):
        raise bad_request(f"invalid feed {feed!r}")
    if feed == "sip" and not state.config.sip_allowed:
        raise AlpacaError(403, FORBIDDEN, "subscription does not permit querying recent SIP data")


async def latest_quotes(request: Request, venue: PaperVenue) -> Response:
    _check_feed(request)
    names = [s.strip() for s in (request.query_params.get("symbols") or "").split(",")]
    names = [s for s in names if s]
    if not names:
        raise bad_request("missing symbols")
    quotes: dict[str, Any] = {}
    for name in names:
        quote = await venue.latest_quote(name)
        if quote is not None:
            quotes[quote.symbol] = quote_json(quote)
    return json_response({"quotes": quotes})


async def latest_quote(request: Request, venue: PaperVenue) -> Response:
    _check_feed(request)
    symbol = request.path_params["symbol"]
    quote = await venue.latest_quote(symbol)
    if quote is None:
        raise AlpacaError(404, NOT_FOUND, f"no quote for {symbol}")
    return json_response({"symbol": quote.symbol, "quote": quote_json(quote)})


def data_routes() -> list[Route]:
    return [
        Route(
            "/v2/stocks/quotes/latest",
            rest("data", "GET /v2/stocks/quotes/latest", latest_quotes),
            methods=["GET"],
        ),
        Route(
            "/v2/stocks/{symbol}/quotes/latest",
            rest("data", "GET /v2/stocks/{symbol}/quotes/latest", latest_quote),
            methods=["GET"],
        ),
    ]
