"""A local, Alpaca-compatible paper exchange (``better-orders serve``).

It serves Alpaca's Trading API v2 (orders, assets, the account, positions,
calendar, activities, portfolio history, watchlists), the stock endpoints of the
Market Data API v2 (latest quotes, trades and bars, bars, snapshots) and the
``trade_updates`` and market data websockets, backed by the simulated exchange
under Alpaca's order handling on the exchange's clock. Unmodified alpaca-py
clients work against it with ``url_override``; the Alpaca adapter's integration
tests run against it over real sockets on 127.0.0.1. What it models, what it
refuses and what it leaves out is listed in the README.

Routes: ``trading_api``, ``account_api``, ``positions``, ``watchlists``,
``data_api`` and ``market_data`` (historical quotes and trades), each REST request
through ``http.rest``; ``streams`` (``/stream``, and ``/stream/`` as the legacy
alpaca-trade-api SDK spells it) and ``data_stream`` (``/v2/{feed}``) for the
websockets; ``admin`` (``/_stats``, ``/_faults``, ``/_clock``). Any other path answers a JSON
404 (a JSON 405 for a wrong method), as Alpaca's do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from better_orders.server.account_api import account_routes
from better_orders.server.admin import admin_routes
from better_orders.server.data_api import data_routes
from better_orders.server.data_stream import data_stream
from better_orders.server.errors import METHOD_NOT_ALLOWED, NOT_FOUND, SERVER_ERROR
from better_orders.server.http import ServerConfig, ServerState, error_response
from better_orders.server.market_data import HistoryStore, market_data_routes
from better_orders.server.positions import position_routes
from better_orders.server.streams import trading_stream
from better_orders.server.trading_api import trading_routes
from better_orders.server.venue import PaperVenue
from better_orders.server.watchlists import Watchlists, watchlist_routes
from better_orders.venues.tasks import cancel_and_wait


async def trading_ws(ws: WebSocket) -> None:
    state: ServerState = ws.app.state.server
    await trading_stream(ws, state.venue, state.hub, state.config.keys)


async def data_ws(ws: WebSocket) -> None:
    state: ServerState = ws.app.state.server
    await data_stream(
        ws,
        state.venue,
        state.hub,
        state.config.keys,
        feed=ws.path_params["feed"],
        sip_allowed=state.config.sip_allowed,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return error_response(404, NOT_FOUND, "endpoint not found")
    if status == 405:
        return error_response(405, METHOD_NOT_ALLOWED, "method not allowed")
    return error_response(status, status * 100_000 + 10_000, str(getattr(exc, "detail", "")))


async def _server_error(request: Request, exc: Exception) -> Response:
    return error_response(500, SERVER_ERROR, "internal server error occurred")


async def _periodic_drops(state: ServerState) -> None:
    while True:
        every = state.faults.drop_stream_every
        await asyncio.sleep(every if every > 0 else 1.0)
        if state.faults.drop_stream_every > 0:
            state.hub.drop_all(state.faults.stream_down_seconds)


def create_app(config: ServerConfig, *, on_ready: Callable[[], None] | None = None) -> Starlette:
    """The Starlette app of the local exchange (the venue is built when it starts)."""
    state = ServerState(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        venue = PaperVenue(config.venue, state.faults)
        venue.start()
        state.venue_or_none = venue
        dropper = asyncio.create_task(_periodic_drops(state), name="stream-drops")
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            await cancel_and_wait(dropper, report=True)
            state.hub.drop_all()
            await venue.close()
            state.venue_or_none = None

    routes = [
        *trading_routes(),
        *account_routes(),
        *position_routes(),
        *watchlist_routes(),
        *data_routes(),
        *market_data_routes(),
        WebSocketRoute("/stream", trading_ws),
        WebSocketRoute("/stream/", trading_ws),
        WebSocketRoute("/v2/{feed}", data_ws),
        *admin_routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.server = state
    app.state.watchlists = Watchlists()
    app.state.history = HistoryStore(config.venue.quote_files + config.history)
    return app


def serve(config: ServerConfig, *, on_ready: Callable[[], None] | None = None) -> None:
    """Run the exchange with uvicorn until interrupted."""
    import uvicorn

    app = create_app(config, on_ready=on_ready)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level="warning",
            timeout_graceful_shutdown=3,
        )
    )
    server.run()
