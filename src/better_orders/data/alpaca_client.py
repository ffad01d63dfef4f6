"""HTTP to Alpaca's Market Data API v2 for historical quotes and trades (httpx).

``GET /v2/stocks/{symbol}/quotes`` and ``/trades`` answer one page at a time
(``limit`` up to 10,000 rows) with a ``next_page_token`` to pass back as
``page_token``; the fetcher stores that token with every page it keeps, so an
interrupted fetch continues from the page it stopped at. alpaca-py's historical
client pages internally and keeps every row in memory until the last page, and
retries a 429 after a fixed wait: neither fits a resumable fetch that honours
``Retry-After``, hence this small client.

Every request waits its turn (``pacing.RequestPacer``); a 429 is waited out as
the server says and the same request sent again (a GET with the same page token
is safe to repeat); 5xx answers and network failures are retried with
exponential backoff; anything else is a ``MarketDataError`` in one line. The
secret key goes into a header and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from better_orders.core.errors import BrokerError
from better_orders.data.pacing import RequestPacer
from better_orders.data.schema import Kind

#: Alpaca's largest page.
MAX_PAGE_ROWS = 10_000


class MarketDataError(BrokerError):
    """Alpaca (or a server posing as it) refused or failed a market data request."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SecretLike(Protocol):
    def reveal(self) -> str: ...


@dataclass(slots=True)
class ClientStats:
    """What the client did: requests sent, 429s received, other retries, time spent waiting."""

    requests: int = 0
    rate_limited: int = 0
    retried: int = 0
    first_request: float | None = None
    last_request: float | None = None


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    next_token: str | None


class HistoricalClient:
    """One account's historical market data, within its request budget."""

    def __init__(
        self,
        *,
        data_url: str,
        trading_url: str,
        key_id: str,
        secret: SecretLike,
        pacer: RequestPacer | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        max_rate_limited: int = 20,
        transport: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self.data_url = data_url.rstrip("/")
        self.trading_url = trading_url.rstrip("/")
        self.pacer = pacer or RequestPacer()
        self.stats = ClientStats()
        self._max_retries = max_retries
        self._max_rate_limited = max_rate_limited
        self._sleep = sleep
        self._http = httpx.Client(
            headers={"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret.reveal()},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HistoricalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def host(self) -> str:
        return urlsplit(self.data_url).netloc

    # -- endpoints ---------------------------------------------------------------------------

    def asset(self, symbol: str) -> dict[str, Any] | None:
        """The Trading API's asset record of ``symbol``; None when Alpaca lists no such asset."""
        try:
            return self._get(f"{self.trading_url}/v2/assets/{quote(symbol)}", {})
        except MarketDataError as exc:
            if exc.status == 404:
                return None
            raise

    def pages(
        self,
        kind: Kind,
        symbol: str,
        *,
        start: str,
        end: str,
        feed: str,
        limit: int = MAX_PAGE_ROWS,
        page_token: str | None = None,
    ) -> Iterator[Page]:
        """Pages of ``kind`` for ``symbol`` from ``start`` to ``end`` (RFC 3339), oldest first,
        starting at ``page_token`` (None: the first page)."""
        url = f"{self.data_url}/v2/stocks/{quote(symbol)}/{kind}"
        params = {"start": start, "end": end, "limit": limit, "feed": feed, "sort": "asc"}
        token = page_token
        while True:
            body = self._get(url, params | ({"page_token": token} if token else {}))
            rows = body.get(kind)
            next_token = body.get("next_page_token")
            if not isinstance(rows, list | type(None)) or not isinstance(
                next_token, str | type(None)
            ):
                raise MarketDataError(
                    f"{self.host} answered {kind} of {symbol} in an unknown shape"
                )
            yield Page(rows or [], next_token or None)
            if not next_token:
                return
            token = next_token

    # -- one request -------------------------------------------------------------------------

    def _get(self, url: str, params: Mapping[str, Any]) -> dict[str, Any]:
        import httpx

        failures = rate_limited = 0
        while True:
            self.pacer.wait_turn()
            self._count()
            try:
                response = self._http.get(url, params=dict(params))
            except httpx.TransportError as exc:
                failures += 1
                if failures > self._max_retries:
                    raise MarketDataError(
                        f"cannot reach {urlsplit(url).netloc} ({type(exc).__name__}) after "
                        f"{failures} attempts"
                    ) from None
                self._back_off(failures)
                continue
            if response.status_code == 429:
                rate_limited += 1
                self.stats.rate_limited += 1
                if rate_limited > self._max_rate_limited:
                    raise MarketDataError(
                        f"{urlsplit(url).netloc} kept answering 429 (rate limit) "
                        f"{rate_limited} times in a row",
                        status=429,
                    )
                self.pacer.rate_limited(response.headers)
                continue
            self.pacer.observe(response.headers)
            if response.status_code >= 500:
                failures += 1
                if failures > self._max_retries:
                    raise _failure(response)
                self._back_off(failures)
                continue
            if response.status_code >= 400:
                raise _failure(response)
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise MarketDataError(
                    f"{urlsplit(url).netloc} answered HTTP {response.status_code} with a body "
                    "that is not a JSON object"
                )
            return body

    def _count(self) -> None:
        now = time.monotonic()
        self.stats.requests += 1
        if self.stats.first_request is None:
            self.stats.first_request = now
        self.stats.last_request = now

    def _back_off(self, failures: int) -> None:
        self.stats.retried += 1
        self._sleep(min(30.0, 0.5 * 2**failures))


def _failure(response: Any) -> MarketDataError:
    """One line for a refused request: Alpaca's own message, and what to do about it."""
    status = response.status_code
    host = urlsplit(str(response.request.url)).netloc
    try:
        body = response.json()
    except ValueError:
        body = None
    message = ""
    if isinstance(body, dict):
        message = str(body.get("message") or "")
    message = message or (response.text or "").strip()[:200] or response.reason_phrase
    if status in (401, 403) and "subscription" not in message.lower():
        return MarketDataError(
            f"{host} refused the keys (HTTP {status}: {message}): check APCA_API_KEY_ID and "
            "APCA_API_SECRET_KEY (APCA_API_DATA_URL / APCA_API_BASE_URL to point elsewhere)",
            status=status,
        )
    if status == 403:
        return MarketDataError(
            f"{host} refused the request (HTTP 403: {message}): the free plan has no recent "
            "SIP data; try --feed iex",
            status=status,
        )
    return MarketDataError(f"{host} answered HTTP {status}: {message}", status=status)
