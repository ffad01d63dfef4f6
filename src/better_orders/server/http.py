"""What every REST request of the local exchange goes through, and its state.

Steps, in order: count it, check the key pair (401), apply the latency and error
faults, apply the request budget (``X-RateLimit-*`` headers on every answer, 429
beyond it), then the handler. Refusals come back in Alpaca's shape
``{"code": 42210000, "message": ...}``; a body that is not JSON, nests too deep or
is over ``MAX_BODY`` bytes is refused (400, 413), and an unexpected failure is a
JSON 500, never a bare traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from better_orders.server.errors import (
    RATE_LIMITED,
    SERVER_ERROR,
    TOO_LARGE,
    UNAUTHORIZED,
    AlpacaError,
    bad_request,
    error_body,
)
from better_orders.server.faults import ServerFaults
from better_orders.server.settings import VenueSettings
from better_orders.server.streams import StreamHub
from better_orders.server.venue import PaperVenue

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


def generate_keys() -> tuple[str, str]:
    """A fresh key pair for one run of the local exchange (nothing is ever baked in)."""
    import secrets

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
        self.venue_or_none: PaperVenue | None = None

    @property
    def venue(self) -> PaperVenue:
        if self.venue_or_none is None:
            raise RuntimeError("the local exchange is not started")
        return self.venue_or_none

    def authorized(self, request: Request) -> bool:
        key = request.headers.get("APCA-API-KEY-ID")
        secret = request.headers.get("APCA-API-SECRET-KEY")
        return key is not None and self.config.keys.get(key) == secret

    def stats(self) -> dict[str, Any]:
        venue = self.venue_or_none
        return {
            "requests": dict(self.requests),
            "responses": dict(self.responses),
            "orders_created": venue.orders.created if venue else 0,
            "orders": len(venue.orders.book.by_id) if venue else 0,
            "stream": {
                "connections": self.hub.connections,
                "open": len(self.hub.kills),
                "refused": self.hub.refused,
                "drops": self.hub.drops,
                "data_connections": self.hub.data_connections,
            },
        }


Handler = Callable[[Request, PaperVenue], Awaitable[Response]]


def json_response(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def error_response(status: int, code: int, message: str) -> JSONResponse:
    return json_response(error_body(code, message), status)


def unauthorized() -> JSONResponse:
    return error_response(401, UNAUTHORIZED, "request is not authorized")


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
    if not state.authorized(request):
        return unauthorized()
    faults = state.faults
    if faults.latency_ms > 0:
        await asyncio.sleep(faults.latency_ms / 1000.0)
    if faults.take("server_errors"):
        return error_response(500, SERVER_ERROR, "internal server error occurred")
    window = state.windows[kind]
    if faults.take("rate_limit_burst"):
        refused = error_response(429, RATE_LIMITED, "rate limit exceeded")
        # An injected burst: the budget itself is not spent, only this answer says wait.
        refused.headers["Retry-After"] = f"{faults.retry_after:g}"
        left, reset_at = window.limit - window.count, window.start + window.seconds
        _rate_headers(refused, window.limit, left, reset_at)
        return refused
    allowed, remaining, reset = window.hit()
    response: Response
    if not allowed:
        response = error_response(429, RATE_LIMITED, "rate limit exceeded")
        response.headers["Retry-After"] = str(max(1, math.ceil(reset - time.time())))
        _rate_headers(response, window.limit, 0, reset)
        return response
    try:
        response = await handler(request, state.venue)
    except AlpacaError as exc:
        response = json_response(exc.body(), exc.status)
    except Exception:
        log.exception("%s %s failed", request.method, request.url.path)
        response = error_response(500, SERVER_ERROR, "internal server error occurred")
    _rate_headers(response, window.limit, remaining, reset)
    return response


async def json_body(request: Request) -> Any:
    """The request's JSON (refused: over ``MAX_BODY``, not JSON, nested too deep)."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise AlpacaError(413, TOO_LARGE, f"request body is larger than {MAX_BODY} bytes")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_request("request body is not valid JSON") from None


def trading_route(path: str, method: str, name: str, handler: Handler) -> Route:
    """A Trading API route; ``name`` is how ``/_stats`` counts its requests."""
    return Route(path, rest("trading", f"{method} {name}", handler), methods=[method])
