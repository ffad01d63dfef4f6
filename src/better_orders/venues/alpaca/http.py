"""HTTP to Alpaca's Trading and Market Data APIs: one request at a time, inside the
account's request budget, with httpx on the caller's event loop.

Why not alpaca-py's REST clients. Their public API (``TradingClient``,
``StockHistoricalDataClient``, 0.40 to 0.44) cannot give what this adapter needs:

* a timeout on every request: their ``requests`` session has none, so a lost answer
  would hang the call, and with it the order being worked;
* no retry of their own: they retry 429s and 504s inside the call, sleeping, and a
  retried submit is exactly what must be decided above (``engine.retry``, which
  looks the order up by its client order id first);
* the ``X-RateLimit-*`` headers of every answer (they return the body only), which
  let the budget slow down before the server says 429;
* JSON numbers as exact ``Decimal``.

The adapter used to get these by overriding alpaca-py internals (``_one_request``,
``_retry``), which any release could break. The REST API itself is small and
documented; speaking it directly is less code than the workaround. Answers become
typed values at the boundary (``codec``: ``BrokerOrder``, ``Position``, ``Account``,
``Asset``, ``Quote``), so nothing past it handles raw JSON.

Every request spends a token of the account's budget (``venues.rate_limit``,
200/min), which also hears the server's count and its 429s. Nothing is retried
here: a failed request raises ``AlpacaHTTPError``, and the one retry layer above
decides what to do about it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx

from better_orders.data.pacing import retry_delay
from better_orders.venues.alpaca.credentials import Credentials
from better_orders.venues.alpaca.errors import AlpacaHTTPError
from better_orders.venues.base import Clock
from better_orders.venues.rate_limit import Priority, RateLimiter

log = logging.getLogger(__name__)

#: Alpaca's documented request budget for the Trading API.
REQUESTS_PER_MINUTE = 200
USER_AGENT = "better-orders"


def request_budget(clock: Clock, per_minute: int = REQUESTS_PER_MINUTE) -> RateLimiter:
    """The budget of one Alpaca API: a burst may use the whole minute's count (as Alpaca
    allows), and the last 5 requests before the server's reset are kept for cancels."""
    return RateLimiter(clock, per_minute, per_minute, reserve=5)


def auth_headers(credentials: Credentials) -> dict[str, str]:
    """Alpaca's key headers (the secret revealed here only, for the wire)."""
    return {
        "APCA-API-KEY-ID": credentials.key_id,
        "APCA-API-SECRET-KEY": credentials.secret_key.reveal(),
    }


#: Alpaca's rate limit window, in seconds: no reset is further away than this.
RESET_WINDOW = 60.0


def _server_count(budget: RateLimiter, headers: httpx.Headers) -> None:
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
        # An epoch on the server's wall clock: as a delay from this machine's, at most a
        # window (a clock far apart must not hold requests back for days).
        reset_in=None if reset is None else min(max(reset - time.time(), 0.0), RESET_WINDOW),
    )


def _failure(response: httpx.Response) -> AlpacaHTTPError:
    """One ``AlpacaHTTPError`` with the status, Alpaca's code and message, and Retry-After."""
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
        message = (response.text or response.reason_phrase or "").strip()[:200] or f"HTTP {status}"
    return AlpacaHTTPError(
        message, status=status, code=code, retry_after=retry_delay(response.headers, time.time())
    )


class AlpacaREST:
    """The ``/v2`` REST API under ``root`` (the trading or the market data host).

    The httpx client is made on first use, on the running event loop, and closed by
    ``aclose()``; a later loop (a second ``asyncio.run``) gets a client of its own.
    """

    def __init__(
        self, root: str, credentials: Credentials, budget: RateLimiter, timeout: float
    ) -> None:
        self.base_url = root.rstrip("/") + "/v2"
        self.host = urlsplit(root).netloc or root
        self.budget = budget
        self.timeout = timeout
        self._credentials = credentials
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers={**auth_headers(self._credentials), "User-Agent": USER_AGENT},
                timeout=httpx.Timeout(self.timeout),
                # A redirect of an order request is a misconfigured URL, never followed.
                follow_redirects=False,
            )
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        priority: Priority = Priority.QUERY,
    ) -> Any:
        """One request after taking a token; the JSON answer (numbers as ``Decimal``).

        A 429 holds the whole budget back for the server's ``Retry-After``.
        """
        await self.budget.acquire(priority)
        try:
            response = await self._http().request(method, path, params=params, json=body)
        except httpx.TimeoutException:
            raise AlpacaHTTPError(
                f"no answer from {self.host} within {self.timeout:g}s", kind="timeout"
            ) from None
        except httpx.TransportError as exc:
            raise AlpacaHTTPError(
                f"cannot reach {self.host} ({type(exc).__name__})", kind="connection"
            ) from None
        _server_count(self.budget, response.headers)
        if response.status_code >= 300:
            failure = _failure(response)
            if failure.status == 429:
                self.budget.back_off(failure.retry_after)
                log.info(
                    "Alpaca rate limit hit; holding requests for %.2fs", failure.retry_after or 1.0
                )
            raise failure
        if not response.content:
            return None
        try:
            return json.loads(response.text, parse_float=Decimal)
        except ValueError:
            raise AlpacaHTTPError(
                f"{self.host} answered HTTP {response.status_code} with a body that is not JSON",
                status=response.status_code,
                kind="bad_response",
            ) from None
