"""HTTP to Alpaca: one request at a time, inside the account's request budget.

* REST goes through alpaca-py's ``TradingClient`` and ``StockHistoricalDataClient``
  (synchronous, so every call runs in a worker thread). Both are subclassed at one
  point, ``_one_request``, for four reasons: alpaca-py's own retry of POSTs on
  429/504 is switched off (a blind retry of a submit is what this adapter must
  never do; the broker retries itself, by client order id); JSON numbers are parsed
  as ``Decimal``; the ``X-RateLimit-*`` headers are read (alpaca-py returns the body
  only); and every failure becomes one ``AlpacaHTTPError`` carrying status,
  Alpaca's code and message, and ``Retry-After``.
* Requests respect Alpaca's budget (200/min): ``RequestBudget`` keeps its own count
  per minute, slows down when ``X-RateLimit-Remaining`` is nearly spent until
  ``X-RateLimit-Reset``, and waits out a 429's ``Retry-After`` before the one retry
  layer here (``request_within_budget``) tries again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient

from better_orders.core.errors import InvalidInputError
from better_orders.data.pacing import retry_delay
from better_orders.venues.alpaca.credentials import Credentials
from better_orders.venues.alpaca.errors import AlpacaHTTPError

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


class RequestBudget:
    """Client-side view of Alpaca's request budget; shared by every call of one client.

    ``observe`` (from worker threads) reads ``X-RateLimit-*`` headers; ``acquire``
    (on the event loop) waits when a request now would exceed the per-minute count,
    spend the last ``reserve`` requests the server says are left before its reset,
    or land inside a 429's ``Retry-After``.
    """

    def __init__(self, per_minute: int = REQUESTS_PER_MINUTE, reserve: int = 5) -> None:
        if per_minute < 1:
            raise InvalidInputError(f"request budget must be at least 1 per minute: {per_minute}")
        self.per_minute = per_minute
        self.reserve = max(0, reserve)
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self._limit: int | None = None
        self._remaining: int | None = None
        self._reset_at: float | None = None
        self._blocked_until = 0.0
        self.waited_seconds = 0.0
        self.throttled = 0

    def observe(self, headers: Any) -> None:
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
        with self._lock:
            if limit is not None:
                self._limit = int(limit)
            if remaining is not None:
                self._remaining = int(remaining)
            if reset is not None:
                self._reset_at = reset

    def back_off(self, seconds: float | None) -> None:
        """A 429 arrived: no request before ``seconds`` from now (1 s when unknown)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, time.time() + (seconds or 1.0))
            self.throttled += 1

    @property
    def remaining(self) -> int | None:
        return self._remaining

    def delay(self) -> float:
        """Seconds to wait before the next request may go out (0 = now)."""
        now, mono = time.time(), time.monotonic()
        with self._lock:
            while self._sent and self._sent[0] <= mono - 60.0:
                self._sent.popleft()
            wait = 0.0
            if len(self._sent) >= self.per_minute:
                wait = self._sent[0] + 60.0 - mono
            reserve = self.reserve
            if self._limit is not None:
                reserve = min(reserve, self._limit // 4)
            if (
                self._remaining is not None
                and self._reset_at is not None
                and self._remaining <= reserve
                and self._reset_at > now
            ):
                wait = max(wait, self._reset_at - now)
            if self._blocked_until > now:
                wait = max(wait, self._blocked_until - now)
            return wait

    async def acquire(self) -> None:
        while (wait := self.delay()) > 0:
            self.waited_seconds += wait
            await asyncio.sleep(wait)
        with self._lock:
            self._sent.append(time.monotonic())
            if self._remaining is not None:
                # Optimistic: concurrent callers must not all see the same "remaining".
                self._remaining -= 1


class _ExactRequests:
    """The ``_one_request`` both clients use (see the module docstring)."""

    _session: requests.Session
    _bo_budget: RequestBudget
    _bo_timeout: float

    def _setup_requests(self, budget: RequestBudget, timeout: float) -> None:
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
        self._bo_budget.observe(response.headers)
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

    def __init__(self, credentials: Credentials, budget: RequestBudget, timeout: float) -> None:
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

    def __init__(self, credentials: Credentials, budget: RequestBudget, timeout: float) -> None:
        StockHistoricalDataClient.__init__(
            self,
            api_key=credentials.key_id,
            secret_key=credentials.secret_key.reveal(),
            raw_data=True,
            url_override=credentials.market_data_url,
        )
        self._setup_requests(budget, timeout)


async def request_within_budget(
    budget: RequestBudget, fn: Callable[..., Any], *args: Any, rate_limit_retries: int
) -> Any:
    """One call in a worker thread, inside the budget; 429s are waited out and retried."""
    attempt = 0
    while True:
        await budget.acquire()
        try:
            return await asyncio.to_thread(fn, *args)
        except AlpacaHTTPError as failure:
            if failure.status == 429 and attempt < rate_limit_retries:
                attempt += 1
                budget.back_off(failure.retry_after)
                log.info("Alpaca rate limit hit; waiting %.2fs", failure.retry_after or 1.0)
                continue
            raise
