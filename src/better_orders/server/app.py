"""A local, Alpaca-compatible paper exchange (``better-orders serve``).

It serves the part of Alpaca's Trading API v2 and Market Data API v2 that Better
Orders uses, over HTTP and websockets, backed by the simulated exchange running
on the wall clock. Unmodified alpaca-py clients work against it with
``url_override``; the Alpaca adapter's integration tests run against it over
real sockets on 127.0.0.1.

Every ``/v2`` REST request goes through the same steps: count it, check the key
pair (401), apply the latency and error faults, apply the request budget
(``X-RateLimit-*`` headers on every answer, 429 beyond it), then the handler,
whose refusals come back in Alpaca's shape ``{"code": 42210000, "message": ...}``.

Test-only endpoints without authentication: ``GET /_stats`` (request counts by
route, answers by status, orders created, stream connections) and
``GET/POST /_faults`` (read or set the switches of ``faults.ServerFaults``;
``{"drop_stream": true}`` drops every ``trade_updates`` connection now and
``{"reset": true}`` clears every switch).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from better_orders.core.errors import InvalidInputError
from better_orders.core.timing import MarketPhase, default_calendar
from better_orders.server import market_data, shapes
from better_orders.server.errors import AlpacaError
from better_orders.server.faults import ServerFaults
from better_orders.server.settings import VenueSettings
from better_orders.server.streams import StreamHub, data_stream, trading_stream
from better_orders.server.venue import PaperVenue


def generate_keys() -> tuple[str, str]:
    """A fresh key pair for one run of the local exchange (nothing is ever baked in)."""
    return f"PKLOCAL{secrets.token_hex(7).upper()}", secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    keys: Mapping[str, str] = field(default_factory=lambda: dict([generate_keys()]))
    venue: VenueSettings = field(default_factory=VenueSettings)
    faults: Mapping[str, Any] = field(default_factory=dict)
    sip_allowed: bool = True
    rate_limit_per_minute: int = 200
    rate_window_seconds: float = 60.0
    #: Files served only as history (``market_data``), beside the venue's quote files.
    history: tuple[tuple[str | None, Path], ...] = ()


class _Window:
    """A fixed-window request counter, like Alpaca's per-minute budget."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.start = time.time()
        self.count = 0

    def hit(self) -> tuple[bool, int, float]:
        """(allowed, remaining after this request, reset as epoch seconds)."""
        now = time.time()
        if now >= self.start + self.seconds:
            self.start, self.count = now, 0
        reset = self.start + self.seconds
        if self.count >= self.limit:
            return False, 0, reset
        self.count += 1
        return True, self.limit - self.count, reset


class ServerState:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.faults = ServerFaults()
        self.faults.update(dict(config.faults))
        self.hub = StreamHub()
        self.requests: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.windows = {
            kind: _Window(config.rate_limit_per_minute, config.rate_window_seconds)
            for kind in ("trading", "data")
        }
        self._venue: PaperVenue | None = None
        self.ready: list[Callable[[], None]] = []

    @property
    def venue(self) -> PaperVenue:
        if self._venue is None:
            raise RuntimeError("the local exchange is not started")
        return self._venue

    def stats(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "responses": dict(self.responses),
            "orders_created": self._venue.orders_created if self._venue else 0,
            "orders": len(self._venue.orders) if self._venue else 0,
            "stream": {
                "connections": self.hub.connections,
                "open": len(self.hub.kills),
                "refused": self.hub.refused,
                "drops": self.hub.drops,
                "data_connections": self.hub.data_connections,
            },
        }


Handler = Callable[[Request, PaperVenue], Awaitable[Response]]


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _error(status: int, code: int, message: str) -> JSONResponse:
    return _json(shapes.error_body(code, message), status)


def _rate_headers(response: Response, limit: int, remaining: int, reset: float) -> None:
    response.headers["X-RateLimit-Limit"] = str(limit)
    response.headers["X-RateLimit-Remaining"] = str(max(0, remaining))
    response.headers["X-RateLimit-Reset"] = str(math.ceil(reset))


def rest(kind: str, name: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap ``handler`` in the steps every REST request takes (see the module docstring)."""

    async def endpoint(request: Request) -> Response:
        state: ServerState = request.app.state.server
        state.requests[name] += 1
        response = await _answer(state, request, kind, handler)
        state.responses[str(response.status_code)] += 1
        return response

    return endpoint


async def _answer(state: ServerState, request: Request, kind: str, handler: Handler) -> Response:
    key = request.headers.get("APCA-API-KEY-ID")
    secret = request.headers.get("APCA-API-SECRET-KEY")
    if key is None or state.config.keys.get(key) != secret:
        return _error(401, shapes.UNAUTHORIZED, "request is not authorized")
    faults = state.faults
    if faults.latency_ms > 0:
        await asyncio.sleep(faults.latency_ms / 1000.0)
    if faults.take("server_errors"):
        return _error(500, shapes.SERVER_ERROR, "internal server error occurred")
    window = state.windows[kind]
    if faults.take("rate_limit_burst"):
        refused = _error(429, shapes.RATE_LIMITED, "rate limit exceeded")
        # An injected burst: the budget itself is not spent, only this answer says wait.
        refused.headers["Retry-After"] = f"{faults.retry_after:g}"
        left, reset_at = window.limit - window.count, window.start + window.seconds
        _rate_headers(refused, window.limit, left, reset_at)
        return refused
    allowed, remaining, reset = window.hit()
    response: Response
    if not allowed:
        response = _error(429, shapes.RATE_LIMITED, "rate limit exceeded")
        response.headers["Retry-After"] = str(max(1, math.ceil(reset - time.time())))
        _rate_headers(response, window.limit, 0, reset)
        return response
    try:
        response = await handler(request, state.venue)
    except AlpacaError as exc:
        response = _json(exc.body(), exc.status)
    _rate_headers(response, window.limit, remaining, reset)
    return response


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise AlpacaError(400, shapes.BAD_REQUEST, "request body is not valid JSON") from None


# -- Trading API ------------------------------------------------------------------------------


async def get_account(request: Request, venue: PaperVenue) -> Response:
    return _json(await venue.account())


async def get_clock(request: Request, venue: PaperVenue) -> Response:
    now = venue.now()
    if venue.settings.always_open:
        return _json(
            shapes.clock_json(now, True, now + timedelta(days=1), now + timedelta(hours=6))
        )
    calendar = default_calendar()
    phase = calendar.phase_at(now)
    is_open = phase in (MarketPhase.OPENING, MarketPhase.EARLY, MarketPhase.REGULAR)
    next_open = calendar.next_open(now)
    session = calendar.session_at(now) if is_open else calendar.session_at(next_open)
    next_close = session.close if session is not None else next_open + timedelta(hours=6.5)
    return _json(shapes.clock_json(now, is_open, next_open, next_close))


async def get_asset(request: Request, venue: PaperVenue) -> Response:
    return _json(venue.asset(request.path_params["symbol"]))


async def post_order(request: Request, venue: PaperVenue) -> Response:
    order, lost = await venue.submit(await _body(request))
    if lost:
        # The order exists; the answer is lost on the way (the "504 after create" case).
        return _json({"code": 50400000, "message": "gateway timeout"}, 504)
    return _json(order)


async def list_orders(request: Request, venue: PaperVenue) -> Response:
    params = request.query_params
    try:
        limit = int(params.get("limit") or 50)
    except ValueError:
        raise AlpacaError(400, shapes.BAD_REQUEST, "invalid limit") from None
    symbols = {s.strip().upper() for s in (params.get("symbols") or "").split(",") if s.strip()}
    return _json(
        await venue.list_orders(
            params.get("status") or "open",
            limit,
            params.get("direction") or "desc",
            symbols or None,
            params.get("side"),
        )
    )


async def cancel_all_orders(request: Request, venue: PaperVenue) -> Response:
    return _json(await venue.cancel_all(), 207)


async def get_order_by_client_id(request: Request, venue: PaperVenue) -> Response:
    coid = request.query_params.get("client_order_id")
    if not coid:
        raise AlpacaError(422, shapes.UNPROCESSABLE, "client_order_id is required")
    return _json(shapes.order_json(await venue.record_by_client_id(coid)))


async def get_order(request: Request, venue: PaperVenue) -> Response:
    return _json(shapes.order_json(await venue.record_by_id(request.path_params["order_id"])))


async def patch_order(request: Request, venue: PaperVenue) -> Response:
    return _json(await venue.replace(request.path_params["order_id"], await _body(request)))


async def delete_order(request: Request, venue: PaperVenue) -> Response:
    await venue.cancel(request.path_params["order_id"])
    return Response(status_code=204)


async def list_positions(request: Request, venue: PaperVenue) -> Response:
    return _json(await venue.positions())


async def get_position(request: Request, venue: PaperVenue) -> Response:
    return _json(await venue.position(request.path_params["symbol"]))


async def close_position(request: Request, venue: PaperVenue) -> Response:
    return _json(
        await venue.close_position(request.path_params["symbol"], request.query_params.get("qty"))
    )


# -- Market Data API ----------------------------------------------------------------------------


def _check_feed(request: Request) -> None:
    state: ServerState = request.app.state.server
    feed = request.query_params.get("feed") or "iex"
    if feed not in ("iex", "sip", "delayed_sip", "otc"):
        raise AlpacaError(400, shapes.BAD_REQUEST, f"invalid feed {feed!r}")
    if feed == "sip" and not state.config.sip_allowed:
        raise AlpacaError(
            403, shapes.FORBIDDEN, "subscription does not permit querying recent SIP data"
        )


async def latest_quotes(request: Request, venue: PaperVenue) -> Response:
    _check_feed(request)
    names = [s.strip() for s in (request.query_params.get("symbols") or "").split(",")]
    names = [s for s in names if s]
    if not names:
        raise AlpacaError(400, shapes.BAD_REQUEST, "missing symbols")
    quotes: dict[str, Any] = {}
    for name in names:
        quote = await venue.latest_quote(name)
        if quote is not None:
            quotes[quote.symbol] = shapes.quote_json(quote)
    return _json({"quotes": quotes})


async def latest_quote(request: Request, venue: PaperVenue) -> Response:
    _check_feed(request)
    symbol = request.path_params["symbol"]
    quote = await venue.latest_quote(symbol)
    if quote is None:
        raise AlpacaError(404, shapes.NOT_FOUND, f"no quote for {symbol}")
    return _json({"symbol": quote.symbol, "quote": shapes.quote_json(quote)})


# -- websockets -----------------------------------------------------------------------------------


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


# -- test-only administration -------------------------------------------------------------------


async def get_stats(request: Request) -> Response:
    state: ServerState = request.app.state.server
    return _json(state.stats())


async def faults_endpoint(request: Request) -> Response:
    state: ServerState = request.app.state.server
    if request.method == "POST":
        try:
            body = await request.json()
        except ValueError:
            return _json({"message": "body must be a JSON object"}, 400)
        if not isinstance(body, dict):
            return _json({"message": "body must be a JSON object"}, 400)
        dropped = 0
        try:
            if body.pop("reset", False):
                state.faults.reset()
            drop = body.pop("drop_stream", False)
            state.faults.update(body)
        except InvalidInputError as exc:
            return _json({"message": str(exc)}, 400)
        if drop:
            dropped = state.hub.drop_all(state.faults.stream_down_seconds)
        return _json({**state.faults.as_dict(), "dropped": dropped})
    return _json(state.faults.as_dict())


# -- the app --------------------------------------------------------------------------------------


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
        state._venue = venue
        dropper = asyncio.create_task(_periodic_drops(state), name="stream-drops")
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            dropper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dropper
            state.hub.drop_all()
            await venue.close()
            state._venue = None

    trading = "trading"
    data = "data"
    routes = [
        Route("/v2/account", rest(trading, "GET /v2/account", get_account)),
        Route("/v2/clock", rest(trading, "GET /v2/clock", get_clock)),
        Route("/v2/assets/{symbol}", rest(trading, "GET /v2/assets", get_asset)),
        Route(
            "/v2/orders:by_client_order_id",
            rest(trading, "GET /v2/orders:by_client_order_id", get_order_by_client_id),
        ),
        Route("/v2/orders", rest(trading, "POST /v2/orders", post_order), methods=["POST"]),
        Route("/v2/orders", rest(trading, "GET /v2/orders", list_orders), methods=["GET"]),
        Route(
            "/v2/orders",
            rest(trading, "DELETE /v2/orders", cancel_all_orders),
            methods=["DELETE"],
        ),
        Route(
            "/v2/orders/{order_id}",
            rest(trading, "GET /v2/orders/{id}", get_order),
            methods=["GET"],
        ),
        Route(
            "/v2/orders/{order_id}",
            rest(trading, "PATCH /v2/orders/{id}", patch_order),
            methods=["PATCH"],
        ),
        Route(
            "/v2/orders/{order_id}",
            rest(trading, "DELETE /v2/orders/{id}", delete_order),
            methods=["DELETE"],
        ),
        Route("/v2/positions", rest(trading, "GET /v2/positions", list_positions)),
        Route(
            "/v2/positions/{symbol}",
            rest(trading, "GET /v2/positions/{symbol}", get_position),
            methods=["GET"],
        ),
        Route(
            "/v2/positions/{symbol}",
            rest(trading, "DELETE /v2/positions/{symbol}", close_position),
            methods=["DELETE"],
        ),
        Route(
            "/v2/stocks/quotes/latest",
            rest(data, "GET /v2/stocks/quotes/latest", latest_quotes),
        ),
        Route(
            "/v2/stocks/{symbol}/quotes/latest",
            rest(data, "GET /v2/stocks/{symbol}/quotes/latest", latest_quote),
        ),
        *market_data.routes(rest, _check_feed),
        WebSocketRoute("/stream", trading_ws),
        WebSocketRoute("/v2/{feed}", data_ws),
        Route("/_stats", get_stats),
        Route("/_faults", faults_endpoint, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.server = state
    app.state.history = market_data.HistoryStore(config.venue.quote_files + config.history)
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
