"""HTTP to Alpaca: one request at a time, inside the account's request budget.

* REST goes through alpaca-py's ``TradingClient`` and ``StockHistoricalDataClient``
  (synchronous, so every call runs in a worker thread). Both are subclassed at one
  point, ``_one_request``, for four reasons: alpaca-py's own retry of POSTs on
  429/504 is switched off (a blind retry of a submit is what this adapter must
  never do); JSON numbers are parsed as ``Decimal``; the ``X-RateLimit-*`` headers
  are read (alpaca-py returns the body only); and every failure becomes one
  ``AlpacaHTTPError`` carrying status, Alpaca's code and message, and ``Retry-After``.
* Every request spends a token of the account's budget (``venues.rate_limit``,
  200/min), which also hears the server's count and its 429s. Nothing is retried
  here: a failed request raises, and the one retry layer above (``engine.retry``)
  decides what to do about it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient

from better_orders.data.pacing import retry_delay
from better_orders.venues.alpaca.credentials import Credentials
from better_orders.venues.alpaca.errors import AlpacaHTTPError
from better_orders.venues.base import Clock
from better_orders.venues.rate_limit import Priority, RateLimiter

log = logging.getLogger(__name__)

#: Alpaca's documented request budget for the Trading API.
REQUESTS_PER_MINUTE = 200


def _failure_from_response(response: requests.Response) -> AlpacaHTTPError:
    status = response.status_code
    code: int | None = None
    message = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        raw_code = body.get("code")
        if isinstance(raw_code, int):
            code = raw_code
        message = str(body.get("message") or "")
    if not message:
        message = (response.text or response.reason or "").strip()[:200] or f"HTTP {status}"
    return AlpacaHTTPError(
        message, status=status, code=code, retry_after=retry_delay(response.headers, time.time())
    )


def request_budget(clock: Clock, per_minute: int = REQUESTS_PER_MINUTE) -> RateLimiter:
    """The budget of one Alpaca API: a burst may use the whole minute's count (as Alpaca
    allows), and the last 5 requests before the server's reset are kept for cancels."""
    return RateLimiter(clock, per_minute, per_minute, reserve=5)


def _server_count(budget: RateLimiter, headers: Any) -> None:
    """Tell the budget what ``X-RateLimit-*`` says (limit, remaining, reset epoch)."""

    def number(name: str) -> float | None:
        raw = headers.get(name)
        if raw is None:
            return None
        try:
            return float(raw)
        except ValueError:
            return None

    limit, remaining, reset = (
        number("X-RateLimit-Limit"),
        number("X-RateLimit-Remaining"),
        number("X-RateLimit-Reset"),
    )
    budget.observe(
        limit=None if limit is None else int(limit),
        remaining=None if remaining is None else int(remaining),
        reset_at=None if reset is None else datetime.fromtimestamp(reset, UTC),
    )


class _ExactRequests:
    """The ``_one_request`` both clients use (see the module docstring)."""

    _session: requests.Session
    _bo_budget: RateLimiter
    _bo_timeout: float

    def _setup_requests(self, budget: RateLimiter, timeout: float) -> None:
        self._bo_budget = budget
        self._bo_timeout = timeout
        # alpaca-py retries on these codes inside ``_request``; we never let it.
        self._retry: int = 0
        self._retry_codes: list[int] = []

    def _one_request(self, method: str, url: str, opts: dict[str, Any], retry: int) -> Any:
        host = urlsplit(url).netloc
        options = dict(opts)
        options.setdefault("timeout", self._bo_timeout)
        try:
            response = self._session.request(method, url, **options)
        except requests.Timeout:
            raise AlpacaHTTPError(
                f"no answer from {host} within {self._bo_timeout:g}s", kind="timeout"
            ) from None
        except requests.ConnectionError as exc:
            raise AlpacaHTTPError(
                f"cannot reach {host} ({type(exc).__name__})", kind="connection"
            ) from None
        _server_count(self._bo_budget, response.headers)
        if response.status_code >= 400:
            raise _failure_from_response(response)
        if not response.text:
            return None
        try:
            return response.json(parse_float=Decimal)
        except ValueError:
            raise AlpacaHTTPError(
                f"{host} answered HTTP {response.status_code} with a body that is not JSON",
                status=response.status_code,
                kind="bad_response",
            ) from None


class TradingRestClient(_ExactRequests, TradingClient):
    """alpaca-py's Trading API client with this module's ``_one_request``."""

    def __init__(self, credentials: Credentials, budget: RateLimiter, timeout: float) -> None:
        TradingClient.__init__(
            self,
            api_key=credentials.key_id,
            secret_key=credentials.secret_key.reveal(),
            paper=credentials.paper,
            raw_data=True,
            url_override=credentials.trading_url,
        )
        self._setup_requests(budget, timeout)


class DataRestClient(_ExactRequests, StockHistoricalDataClient):
    """alpaca-py's Market Data API client with this module's ``_one_request``."""

    def __init__(self, credentials: Credentials, budget: RateLimiter, timeout: float) -> None:
        StockHistoricalDataClient.__init__(
            self,
            api_key=credentials.key_id,
            secret_key=credentials.secret_key.reveal(),
            raw_data=True,
            url_override=credentials.market_data_url,
        )
        self._setup_requests(budget, timeout)


async def request_within_budget(
    budget: RateLimiter,
    fn: Callable[..., Any],
    *args: Any,
    priority: Priority = Priority.QUERY,
) -> Any:
    """One call in a worker thread, after taking a token; a 429 holds the budget back."""
    await budget.acquire(priority)
    try:
        return await asyncio.to_thread(fn, *args)
    except AlpacaHTTPError as failure:
        if failure.status == 429:
            budget.back_off(failure.retry_after)
            log.info(
                "Alpaca rate limit hit; holding requests for %.2fs", failure.retry_after or 1.0
            )
        raise
