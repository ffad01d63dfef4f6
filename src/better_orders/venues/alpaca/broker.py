"""The ``Broker`` and ``QuoteFeed`` protocols on Alpaca (alpaca-py), paper by default.

Theory of operation.

* REST goes through alpaca-py's ``TradingClient`` and ``StockHistoricalDataClient``
  (synchronous, so every call runs in a worker thread). Both are subclassed at one
  point, ``_one_request``, for four reasons: alpaca-py's own retry of POSTs on
  429/504 is switched off (a blind retry of a submit is what this adapter must
  never do; it retries itself, by client order id); JSON numbers are parsed as
  ``Decimal``; the ``X-RateLimit-*`` headers are read (alpaca-py returns the body
  only); and every failure becomes one exception carrying status, Alpaca's code
  and message, and ``Retry-After``.
* Order events come from ``TradingStream`` (``trade_updates``) on the caller's
  event loop. While the stream is down (and once after it comes back), the
  adapter polls the orders it knows are open and turns changes of the cumulative
  ``filled_qty`` into ``OrderUpdate`` values, so the runner sees the same events
  either way.
* Fills are counted exactly once. Alpaca's ``filled_qty`` is cumulative; the
  adapter remembers, per order, how much it has already reported as ``Fill``s
  and their execution ids. A stream fill whose execution id was seen is a
  duplicate; a fill already covered by a REST-derived fill only updates the
  status; a quantity seen only through REST becomes a synthetic fill with the
  deterministic id ``{order_id}-cum-{filled_qty}``. The sum of the fills reported
  for an order therefore always equals its cumulative ``filled_qty``.
* Submits carry the request's deterministic ``client_order_id``. On an ambiguous
  failure (timeout, 5xx, or Alpaca's 422 "client_order_id must be unique") the
  order is looked up by that id and returned if it exists; only if it does not
  is the submit sent again, so a retry can never create a second order.
* Requests respect Alpaca's budget (200/min): the adapter keeps its own count per
  minute, slows down when ``X-RateLimit-Remaining`` is nearly spent until
  ``X-RateLimit-Reset``, and waits out a 429's ``Retry-After`` before retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from alpaca.data.enums import DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.trading.client import TradingClient
from alpaca.trading.stream import TradingStream

from better_orders.core.errors import BrokerError, InvalidInputError
from better_orders.core.model import (
    Account,
    Asset,
    BrokerOrder,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Quote,
    Side,
    TimeInForce,
    normalize_symbol,
)
from better_orders.core.ticks import is_on_grid, tick_size
from better_orders.venues.alpaca.credentials import Credentials
from better_orders.venues.base import Clock
from better_orders.venues.clock import WallClock

log = logging.getLogger(__name__)

FeedName = Literal["iex", "sip"]
FEEDS: tuple[FeedName, ...] = ("iex", "sip")

#: Alpaca's documented request budget for the Trading API.
REQUESTS_PER_MINUTE = 200
ZERO = Decimal(0)
_PRICE_QUANTUM = Decimal("0.0001")
_END = object()

# -- wire helpers ------------------------------------------------------------------------------


class AlpacaHTTPError(Exception):
    """One failed request: HTTP status (None when no answer came), Alpaca's code and message."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        kind: str = "http",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.kind = kind  # "http", "timeout", "connection", "bad_response"
        self.retry_after = retry_after


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds), else from ``X-RateLimit-Reset`` (epoch)."""
    raw = headers.get("Retry-After")
    if raw:
        with contextlib.suppress(ValueError):
            return max(0.0, float(raw))
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        with contextlib.suppress(ValueError):
            return max(0.0, float(reset) - time.time())
    return None


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
        message, status=status, code=code, retry_after=_retry_after(response.headers)
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
    """The ``_one_request`` every client here uses (see the module docstring)."""

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


class _TradingClient(_ExactRequests, TradingClient):
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


class _DataClient(_ExactRequests, StockHistoricalDataClient):
    def __init__(self, credentials: Credentials, budget: RequestBudget, timeout: float) -> None:
        StockHistoricalDataClient.__init__(
            self,
            api_key=credentials.key_id,
            secret_key=credentials.secret_key.reveal(),
            raw_data=True,
            url_override=credentials.market_data_url,
        )
        self._setup_requests(budget, timeout)


class _ReportingStream:
    """Mixin for alpaca-py's streams: says when the connection comes up and goes down.

    A refused authentication stops the stream (alpaca-py would retry the same keys
    forever) and leaves the reason in ``refusal``; the broker then falls back to REST.
    """

    _refused_what = "stream refused"
    _fallback = "using REST"

    def __init__(self, on_state: Callable[[bool], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_state = on_state
        self.refusal: str | None = None

    async def _start_ws(self) -> None:
        try:
            await super()._start_ws()  # type: ignore[misc]
        except ValueError as exc:
            self.refusal = f"{self._refused_what} ({exc})"
            log.error("%s; %s", self.refusal, self._fallback)
            await self.stop_ws()  # type: ignore[attr-defined]
            return
        self._on_state(True)

    async def close(self) -> None:
        try:
            await super().close()  # type: ignore[misc]
        finally:
            self._on_state(False)


class _TradingStream(_ReportingStream, TradingStream):
    _refused_what = "trade_updates stream refused the keys"
    _fallback = "following orders by polling"


class _QuoteStream(_ReportingStream, StockDataStream):
    _refused_what = "quote stream refused"
    _fallback = "using REST quotes"


_WS_PARAMS = {"ping_interval": 10, "ping_timeout": 20, "max_queue": 1024}

# -- parsing -----------------------------------------------------------------------------------

_TS_RE = re.compile(
    r"^(?P<base>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))?(?P<tz>Z|[+-]\d\d:?\d\d)?$"
)


def parse_timestamp(value: object) -> datetime:
    """RFC 3339 as Alpaca writes it (nanoseconds, ``Z``) or a msgpack timestamp, as aware UTC."""
    to_datetime = getattr(value, "to_datetime", None)
    if callable(to_datetime):
        result = to_datetime()
        if isinstance(result, datetime):
            return result.astimezone(UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    match = _TS_RE.match(str(value).strip())
    if match is None:
        raise BrokerError(f"Alpaca sent an unreadable timestamp {value!r}", code="bad_response")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    tz = match["tz"] or "Z"
    tz = "+00:00" if tz == "Z" else tz
    return datetime.fromisoformat(f"{match['base']}.{frac}{tz}").astimezone(UTC)


def _dec(value: object, what: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    try:
        if isinstance(value, float):
            return Decimal(repr(value))
        if isinstance(value, int | str):
            return Decimal(str(value).strip())
    except InvalidOperation:
        pass
    raise BrokerError(f"Alpaca sent an unreadable {what}: {value!r}", code="bad_response")


def _opt_dec(value: object, what: str) -> Decimal | None:
    if value is None or value == "":
        return None
    return _dec(value, what)


_STATUS: dict[str, OrderStatus] = {s.value: s for s in OrderStatus}
# Alpaca statuses the core does not name, by what they mean for the ladder.
_STATUS.update(
    {
        "pending_review": OrderStatus.PENDING_NEW,
        "accepted_for_bidding": OrderStatus.ACCEPTED,
        "held": OrderStatus.ACCEPTED,
        "stopped": OrderStatus.NEW,
        "suspended": OrderStatus.NEW,
        "calculated": OrderStatus.DONE_FOR_DAY,
    }
)


def parse_status(value: object) -> OrderStatus:
    found = _STATUS.get(str(value))
    if found is None:
        raise BrokerError(f"Alpaca sent an unknown order status {value!r}", code="bad_response")
    return found


def _qty_text(value: Decimal) -> str:
    """A quantity as Alpaca takes it (no exponent, no trailing zeros)."""
    text = format(value.normalize(), "f")
    return text


def _price_text(value: Decimal) -> str:
    return format(value, "f")


def order_from_json(raw: dict[str, Any]) -> BrokerOrder:
    """Alpaca's order object as a ``BrokerOrder``.

    Order types the core does not have are folded in: ``stop_limit`` counts as a
    limit (it has a limit price), ``stop`` and ``trailing_stop`` as market.
    """
    kind = str(raw.get("type") or raw.get("order_type") or "market")
    order_type = OrderType.LIMIT if kind in ("limit", "stop_limit") else OrderType.MARKET
    filled = _opt_dec(raw.get("filled_qty"), "filled quantity") or ZERO
    qty = _opt_dec(raw.get("qty"), "quantity")
    submitted = raw.get("submitted_at") or raw.get("created_at")
    return BrokerOrder(
        client_order_id=str(raw["client_order_id"]),
        broker_order_id=str(raw["id"]),
        symbol=str(raw.get("symbol") or ""),
        side=Side.parse(str(raw.get("side") or "buy")),
        qty=qty if qty is not None else filled,  # notional orders have no qty
        order_type=order_type,
        limit_price=(
            _opt_dec(raw.get("limit_price"), "limit price")
            if order_type is OrderType.LIMIT
            else None
        ),
        status=parse_status(raw.get("status")),
        filled_qty=filled,
        filled_avg_price=_opt_dec(raw.get("filled_avg_price"), "average fill price"),
        submitted_at=parse_timestamp(submitted) if submitted else None,
    )


def quote_from_json(symbol: str, raw: dict[str, Any]) -> Quote:
    """A quote in Alpaca's short keys (``bp``, ``ap``, ``bs``, ``as``, ``t``).

    Sizes are taken as shares, as Alpaca's v2 quotes report them.
    """
    return Quote(
        symbol=symbol,
        bid=_dec(raw.get("bp", 0), f"{symbol} bid"),
        ask=_dec(raw.get("ap", 0), f"{symbol} ask"),
        bid_size=_dec(raw.get("bs", 0), f"{symbol} bid size"),
        ask_size=_dec(raw.get("as", 0), f"{symbol} ask size"),
        ts=parse_timestamp(raw.get("t")),
    )


def describe_request(request: OrderRequest) -> str:
    price = f" @ {request.limit_price}" if request.limit_price is not None else " at market"
    return f"{request.side.value} {request.qty} {request.symbol}{price} ({request.client_order_id})"


# -- errors ------------------------------------------------------------------------------------


def classify(failure: AlpacaHTTPError, *, op: str) -> tuple[str, bool]:
    """``(BrokerError code, retryable)`` for a failed request of kind ``op``.

    ``op`` is one of submit, replace, cancel, get, list, data: the same HTTP status
    means different things for different requests (a 422 on a cancel is "not
    cancelable", on a replace "not replaceable").
    """
    if failure.kind == "timeout":
        return "timeout", True
    if failure.kind == "connection":
        return "server_error", True
    if failure.kind == "bad_response":
        return "bad_response", False
    status = failure.status or 0
    text = failure.message.lower()
    if status == 429:
        return "rate_limited", True
    if status == 504:
        # The gateway gave up waiting: the request may or may not have been carried out.
        return "timeout", True
    if "subscription does not permit" in text or ("sip" in text and status == 403):
        return "feed_not_permitted", False
    if status == 401 or (
        status == 403
        and any(w in text for w in ("forbidden", "not authorized", "unauthorized", "access key"))
    ):
        return "unauthorized", False
    rules = (
        ("buying power", "insufficient_buying_power"),
        ("wash trade", "wash_trade"),
        ("insufficient qty", "insufficient_qty"),
        ("insufficient quantity", "insufficient_qty"),
        ("sub-penny", "invalid_price"),
        ("pricing criteria", "invalid_price"),
        ("market is closed", "market_closed"),
        ("market closed", "market_closed"),
        ("outside of market hours", "market_closed"),
        ("client_order_id must be unique", "duplicate_client_order_id"),
        ("not fractionable", "not_fractionable"),
        ("fractional", "not_fractionable"),
        ("not tradable", "not_tradable"),
        ("not tradeable", "not_tradable"),
        ("invalid symbol", "unknown_symbol"),
        ("could not find asset", "unknown_symbol"),
    )
    for needle, code in rules:
        if needle in text:
            return code, False
    if "asset" in text and "not found" in text:
        return "unknown_symbol", False
    if op == "cancel" and status == 422:
        return "not_cancelable", False
    if op == "replace" and status == 422:
        return "not_replaceable", False
    if status == 404:
        return "not_found", False
    if status >= 500:
        return "server_error", True
    if status == 403:
        return "forbidden", False
    return "rejected", False


def to_broker_error(failure: AlpacaHTTPError, what: str, *, op: str) -> BrokerError:
    """A ``BrokerError`` about ``what`` ("buy 10 TQQQ @ 51.02 (bo-...)") with Alpaca's message."""
    code, retryable = classify(failure, op=op)
    if failure.status is None:
        detail = failure.message
    else:
        alpaca_code = f", code {failure.code}" if failure.code is not None else ""
        detail = f"{failure.message} (Alpaca HTTP {failure.status}{alpaca_code})"
    error = BrokerError(f"{what}: {detail}", code=code, retryable=retryable)
    error.retry_after = failure.retry_after  # type: ignore[attr-defined]
    error.http_status = failure.status  # type: ignore[attr-defined]
    return error


# -- order tracking ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Track:
    """What the adapter has told its listeners about one order."""

    client_order_id: str
    symbol: str
    side: Side
    order_id: str | None = None
    status: OrderStatus = OrderStatus.PENDING_NEW
    reported_qty: Decimal = ZERO  # sum of the Fills emitted
    reported_notional: Decimal = ZERO
    exec_ids: set[str] = field(default_factory=set)

    def fill(self, exec_id: str, qty: Decimal, price: Decimal, ts: datetime) -> Fill:
        self.reported_qty += qty
        self.reported_notional += qty * price
        self.exec_ids.add(exec_id)
        return Fill(exec_id, self.client_order_id, self.symbol, self.side, qty, price, ts)


def _derived_price(total_notional: Decimal, known_notional: Decimal, qty: Decimal) -> Decimal:
    """Price of ``qty`` shares whose notional is the total minus what is known.

    Alpaca's average price is rounded, so the result is rounded to $0.0001.
    """
    price = (total_notional - known_notional) / qty
    return price.quantize(_PRICE_QUANTUM) if price != price.quantize(_PRICE_QUANTUM) else price


def _synthetic_exec_id(order_id: str, cumulative: Decimal) -> str:
    return f"{order_id}-cum-{_qty_text(cumulative)}"


@dataclass(frozen=True, slots=True)
class MarketClock:
    """Alpaca's ``/v2/clock``."""

    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


class _Fanout:
    """Broadcast to every open iterator; items that arrive with none open wait for the first."""

    def __init__(self, hold: int = 10_000) -> None:
        self._queues: list[asyncio.Queue[Any]] = []
        self._held: deque[Any] = deque(maxlen=hold)
        self.closed = False

    def publish(self, item: Any) -> None:
        if not self._queues:
            self._held.append(item)
            return
        for queue in self._queues:
            queue.put_nowait(item)

    def close(self) -> None:
        self.closed = True
        for queue in self._queues:
            queue.put_nowait(_END)

    async def iterate(self) -> AsyncIterator[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        for item in self._held:
            queue.put_nowait(item)
        self._held.clear()
        if self.closed:
            queue.put_nowait(_END)
        self._queues.append(queue)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                yield item
        finally:
            if queue in self._queues:
                self._queues.remove(queue)


# -- the broker --------------------------------------------------------------------------------


class AlpacaBroker:
    """The ``Broker`` protocol on Alpaca's Trading API (see the module docstring).

    Call ``start()`` (``open_alpaca`` does) to connect the ``trade_updates`` stream;
    without it, or while it is down, order events come from polling.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        clock: Clock | None = None,
        budget: RequestBudget | None = None,
        request_timeout: float = 10.0,
        poll_interval: float = 1.0,
        submit_attempts: int = 3,
        max_rate_limit_retries: int = 5,
        extended_hours: bool = False,
        use_stream: bool = True,
    ) -> None:
        self.credentials = credentials
        self.name = "alpaca-paper" if credentials.paper else "alpaca-live"
        self.clock: Clock = clock or WallClock()
        self.budget = budget or RequestBudget()
        self.poll_interval = poll_interval
        self.submit_attempts = max(1, submit_attempts)
        self.max_rate_limit_retries = max(0, max_rate_limit_retries)
        self.extended_hours = extended_hours
        self.use_stream = use_stream
        self._client = _TradingClient(credentials, self.budget, request_timeout)
        self._tracks: dict[str, _Track] = {}
        self._by_order_id: dict[str, str] = {}
        self._assets: dict[str, Asset] = {}
        self._updates = _Fanout()
        self._stream: _TradingStream | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._poll_task: asyncio.Task[None] | None = None
        self._stream_up = False
        self._reconcile = False
        self._state_changed: asyncio.Event | None = None
        self._closed = False
        #: Counters for reports and tests.
        self.stream_connects = 0
        self.stream_drops = 0
        self.polls = 0
        self.synthetic_fills = 0
        self.duplicate_events = 0

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def stream_connected(self) -> bool:
        return self._stream_up

    @property
    def stream_refusal(self) -> str | None:
        """Why the ``trade_updates`` stream gave up (refused keys), if it did."""
        return self._stream.refusal if self._stream is not None else None

    async def start(self, connect_timeout: float = 5.0) -> None:
        """Connect ``trade_updates`` (waiting up to ``connect_timeout``) and start the poller."""
        if self._poll_task is not None:
            return
        self._state_changed = asyncio.Event()
        self._poll_task = asyncio.create_task(self._poll_loop(), name="alpaca-order-poll")
        if not self.use_stream:
            return
        stream = _TradingStream(
            self._on_stream_state,
            api_key=self.credentials.key_id,
            secret_key=self.credentials.secret_key.reveal(),
            paper=self.credentials.paper,
            raw_data=True,
            url_override=self.credentials.trading_stream_url,
            websocket_params=dict(_WS_PARAMS),
        )
        stream.subscribe_trade_updates(self._on_trade_update)
        self._stream = stream
        self._stream_task = asyncio.create_task(
            stream._run_forever(),  # type: ignore[no-untyped-call]
            name="alpaca-trade-updates",
        )
        deadline = time.monotonic() + connect_timeout
        while not self._stream_up and time.monotonic() < deadline:
            if self._stream_task.done() or stream.refusal is not None:
                break
            await asyncio.sleep(0.02)
        if not self._stream_up and stream.refusal is None:
            log.warning(
                "trade_updates stream not connected after %.1fs; polling orders until it is",
                connect_timeout,
            )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        stream, task = self._stream, self._stream_task
        if stream is not None:
            with contextlib.suppress(Exception):
                await stream.stop_ws()
        for pending in (task, self._poll_task):
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending
        if stream is not None:
            with contextlib.suppress(Exception):
                await stream.close()
        self._updates.close()

    def _on_stream_state(self, up: bool) -> None:
        if up == self._stream_up:
            return
        self._stream_up = up
        if up:
            self.stream_connects += 1
            # Anything that happened while we were away is only visible through REST.
            self._reconcile = True
            log.info("trade_updates stream connected")
        else:
            if not self._closed:
                self.stream_drops += 1
                log.warning("trade_updates stream lost; polling open orders until it is back")
        if self._state_changed is not None:
            self._state_changed.set()

    # -- REST plumbing -------------------------------------------------------------------------

    async def _rest(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One call in a worker thread, inside the budget; 429s are waited out and retried."""
        attempt = 0
        while True:
            await self.budget.acquire()
            try:
                return await asyncio.to_thread(fn, *args)
            except AlpacaHTTPError as failure:
                if failure.status == 429 and attempt < self.max_rate_limit_retries:
                    attempt += 1
                    self.budget.back_off(failure.retry_after)
                    log.info("Alpaca rate limit hit; waiting %.2fs", failure.retry_after or 1.0)
                    continue
                raise

    async def _find_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        """The order with this client order id, or None if Alpaca has none (or cannot say)."""
        try:
            raw = await self._rest(
                self._client.get, "/orders:by_client_order_id", {"client_order_id": client_order_id}
            )
        except AlpacaHTTPError as failure:
            if failure.status == 404:
                return None
            raise
        return raw if isinstance(raw, dict) else None

    def _remember(self, order: BrokerOrder) -> _Track:
        track = self._tracks.get(order.client_order_id)
        if track is None:
            track = _Track(order.client_order_id, order.symbol, order.side)
            self._tracks[order.client_order_id] = track
        if track.order_id is None:
            track.order_id = order.broker_order_id
            self._by_order_id[order.broker_order_id] = order.client_order_id
        return track

    def _ack(self, raw: Any) -> OrderUpdate:
        if not isinstance(raw, dict):
            raise BrokerError(f"Alpaca answered an order request with {raw!r}", code="bad_response")
        order = order_from_json(raw)
        track = self._remember(order)
        if not track.status.is_terminal:
            track.status = order.status
        self._wake_poller()
        return order.as_update(self.clock.now())

    async def _order_id(self, client_order_id: str, what: str) -> str:
        track = self._tracks.get(client_order_id)
        if track is not None and track.order_id is not None:
            return track.order_id
        try:
            raw = await self._find_by_client_id(client_order_id)
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, what, op="get") from None
        if raw is None:
            raise BrokerError(
                f"{what}: Alpaca has no order with client order id {client_order_id}",
                code="not_found",
            )
        return self._remember(order_from_json(raw)).order_id or str(raw["id"])

    # -- validation before the wire ------------------------------------------------------------

    def _check_price(self, symbol: str, price: Decimal | None, what: str) -> None:
        if price is None:
            return
        if not is_on_grid(price):
            places = "2 decimals at or above $1.00" if price >= 1 else "4 decimals below $1.00"
            raise BrokerError(
                f"{symbol} limit price {price} is not a valid Alpaca price "
                f"(tick {tick_size(price) if price > 0 else '?'}: at most {places}); "
                f"{what} not sent",
                code="invalid_price",
            )

    async def _validate(self, request: OrderRequest) -> None:
        symbol = request.symbol
        self._check_price(symbol, request.limit_price, "no order")
        fractional = request.qty != request.qty.to_integral_value()
        if fractional:
            market_day = (
                request.order_type is OrderType.MARKET and request.time_in_force is TimeInForce.DAY
            )
            if not market_day:
                raise BrokerError(
                    f"{symbol}: fractional quantity {request.qty} is only accepted on market DAY "
                    f"orders at Alpaca (this is a {request.order_type.value} "
                    f"{request.time_in_force.value} order); no order sent",
                    code="not_fractionable",
                )
            asset = await self.get_asset(symbol)
            if not asset.fractionable:
                raise BrokerError(
                    f"{symbol} is not fractionable at Alpaca: quantity {request.qty} must be "
                    "whole shares; no order sent",
                    code="not_fractionable",
                )
        if self.extended_hours and not (
            request.order_type is OrderType.LIMIT and request.time_in_force is TimeInForce.DAY
        ):
            raise BrokerError(
                f"{symbol}: extended-hours orders must be DAY limit orders at Alpaca "
                f"(got {request.order_type.value} {request.time_in_force.value}); no order sent",
                code="invalid_order",
            )

    def _order_body(self, request: OrderRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "symbol": request.symbol,
            "qty": _qty_text(request.qty),
            "side": request.side.value,
            "type": request.order_type.value,
            "time_in_force": request.time_in_force.value,
            "client_order_id": request.client_order_id,
        }
        if request.limit_price is not None:
            body["limit_price"] = _price_text(request.limit_price)
        if self.extended_hours:
            body["extended_hours"] = True
        return body

    # -- Broker protocol -----------------------------------------------------------------------

    async def submit_order(self, request: OrderRequest) -> OrderUpdate:
        """Send ``request``; on an ambiguous failure, return the order if Alpaca has it."""
        await self._validate(request)
        what = describe_request(request)
        coid = request.client_order_id
        body = self._order_body(request)
        error: BrokerError | None = None
        for attempt in range(self.submit_attempts):
            try:
                raw = await self._rest(self._client.post, "/orders", body)
            except AlpacaHTTPError as failure:
                error = to_broker_error(failure, what, op="submit")
                if not error.retryable and error.code != "duplicate_client_order_id":
                    raise error from None
                existing = await self._lookup_quietly(coid)
                if existing is not None:
                    log.info("submit of %s was ambiguous (%s); found it", coid, error.code)
                    return self._ack(existing)
                if error.code == "duplicate_client_order_id":
                    raise error from None
                if attempt + 1 < self.submit_attempts:
                    await asyncio.sleep(min(2.0, 0.25 * 2**attempt))
                continue
            return self._ack(raw)
        assert error is not None
        raise error

    async def _lookup_quietly(self, client_order_id: str) -> dict[str, Any] | None:
        try:
            return await self._find_by_client_id(client_order_id)
        except AlpacaHTTPError as failure:
            log.warning("looking up %s failed: %s", client_order_id, failure.message)
            return None

    async def replace_order(
        self,
        client_order_id: str,
        *,
        qty: Decimal | None = None,
        limit_price: Decimal | None = None,
        new_client_order_id: str,
    ) -> OrderUpdate:
        """Replace an open order (Alpaca's PATCH): returns the acknowledgement of the NEW order.

        ``qty`` is the new order's quantity (Alpaca defaults it to the old one's). The
        replacement has its own order id and ``new_client_order_id``. A 200 here is not
        the end of it: if the old order fills before the replace reaches the venue,
        Alpaca sends ``order_replace_rejected`` for the old order and rejects the new
        one, and both arrive as ``OrderUpdate`` values. Refused (``not_replaceable``,
        retryable) while the old order is still ``pending_new``/``accepted``.
        """
        track = self._tracks.get(client_order_id)
        symbol = track.symbol if track is not None else "order"
        what = f"replace {symbol} {client_order_id} with {new_client_order_id}"
        if not new_client_order_id or new_client_order_id == client_order_id:
            raise InvalidInputError(f"{what}: the replacement needs its own client order id")
        if qty is not None and qty <= 0:
            raise InvalidInputError(f"{what}: quantity must be positive, got {qty}")
        self._check_price(symbol, limit_price, "replace")
        if track is not None and track.status in (OrderStatus.PENDING_NEW, OrderStatus.ACCEPTED):
            raise BrokerError(
                f"{what}: the order is still {track.status.value} at Alpaca and cannot be "
                "replaced yet; retry once it is new",
                code="not_replaceable",
                retryable=True,
            )
        if track is not None and track.status.is_terminal:
            raise BrokerError(
                f"{what}: the order is already {track.status.value}", code="not_replaceable"
            )
        order_id = await self._order_id(client_order_id, what)
        body: dict[str, Any] = {"client_order_id": new_client_order_id}
        if qty is not None:
            body["qty"] = _qty_text(qty)
        if limit_price is not None:
            body["limit_price"] = _price_text(limit_price)
        try:
            raw = await self._rest(self._client.patch, f"/orders/{order_id}", body)
        except AlpacaHTTPError as failure:
            error = to_broker_error(failure, what, op="replace")
            if error.retryable:
                existing = await self._lookup_quietly(new_client_order_id)
                if existing is not None:
                    return self._ack(existing)
            raise error from None
        return self._ack(raw)

    async def cancel_order(self, client_order_id: str) -> None:
        """Ask Alpaca to cancel; the outcome (canceled, or a fill) arrives as an update."""
        track = self._tracks.get(client_order_id)
        what = f"cancel {track.symbol if track else 'order'} {client_order_id}"
        order_id = await self._order_id(client_order_id, what)
        try:
            await self._rest(self._client.delete, f"/orders/{order_id}")
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, what, op="cancel") from None
        self._wake_poller()

    async def get_order(self, client_order_id: str) -> BrokerOrder | None:
        try:
            raw = await self._find_by_client_id(client_order_id)
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, f"look up order {client_order_id}", op="get") from None
        if raw is None:
            return None
        order = order_from_json(raw)
        self._remember(order)
        return order

    async def list_open_orders(self) -> list[BrokerOrder]:
        params = {"status": "open", "limit": 500, "direction": "asc"}
        try:
            raw = await self._rest(self._client.get, "/orders", params)
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, "list open orders", op="list") from None
        return [order_from_json(item) for item in raw or []]

    async def get_positions(self) -> list[Position]:
        try:
            raw = await self._rest(self._client.get, "/positions")
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, "list positions", op="list") from None
        positions = []
        for item in raw or []:
            qty = _dec(item.get("qty"), "position quantity")
            if item.get("side") == "short" and qty > 0:
                qty = -qty
            positions.append(
                Position(
                    symbol=str(item["symbol"]),
                    qty=qty,
                    avg_entry_price=_opt_dec(item.get("avg_entry_price"), "entry price"),
                    market_price=_opt_dec(item.get("current_price"), "current price"),
                )
            )
        return positions

    async def get_account(self) -> Account:
        try:
            raw = await self._rest(self._client.get, "/account")
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, "read the account", op="get") from None
        return Account(
            cash=_dec(raw.get("cash", 0), "cash"),
            buying_power=_dec(raw.get("buying_power", 0), "buying power"),
            equity=_dec(raw.get("equity", 0), "equity"),
            account_id=str(raw.get("account_number") or raw.get("id") or ""),
            status=str(raw.get("status") or ""),
            currency=str(raw.get("currency") or "USD"),
        )

    async def get_account_raw(self) -> dict[str, Any]:
        """The account object as Alpaca sends it (``trading_blocked`` and friends)."""
        try:
            raw = await self._rest(self._client.get, "/account")
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, "read the account", op="get") from None
        return dict(raw)

    async def get_asset(self, symbol: str) -> Asset:
        name = normalize_symbol(symbol)
        cached = self._assets.get(name)
        if cached is not None:
            return cached
        try:
            raw = await self._rest(self._client.get, f"/assets/{name}")
        except AlpacaHTTPError as failure:
            if failure.status == 404:
                raise BrokerError(
                    f"unknown symbol {name}: Alpaca has no such asset ({failure.message})",
                    code="unknown_symbol",
                ) from None
            raise to_broker_error(failure, f"look up asset {name}", op="get") from None
        asset = Asset(
            symbol=name,
            tradable=bool(raw.get("tradable")) and raw.get("status", "active") == "active",
            fractionable=bool(raw.get("fractionable")),
        )
        self._assets[name] = asset
        return asset

    async def get_market_clock(self) -> MarketClock:
        try:
            raw = await self._rest(self._client.get, "/clock")
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, "read the market clock", op="get") from None
        return MarketClock(
            timestamp=parse_timestamp(raw["timestamp"]),
            is_open=bool(raw["is_open"]),
            next_open=parse_timestamp(raw["next_open"]),
            next_close=parse_timestamp(raw["next_close"]),
        )

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._updates.iterate()

    # -- events --------------------------------------------------------------------------------

    def _publish(self, updates: list[OrderUpdate]) -> None:
        for update in updates:
            self._updates.publish(update)

    async def _on_trade_update(self, message: Any) -> None:
        try:
            self._publish(self._handle_trade_update(message))
        except BrokerError as exc:
            # Surfaced in the log; the poller still reconciles the order from REST.
            log.error("unreadable trade update: %s", exc)

    def _handle_trade_update(self, message: Any) -> list[OrderUpdate]:
        data = message.get("data", message) if isinstance(message, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("order"), dict):
            raise BrokerError(
                f"trade update without an order: {message!r}"[:300], code="bad_response"
            )
        event = str(data.get("event") or "")
        order = order_from_json(data["order"])
        track = self._remember(order)
        now = self.clock.now()
        reason = event if event in ("order_replace_rejected", "order_cancel_rejected") else None
        if event in ("fill", "partial_fill"):
            exec_id = str(data.get("execution_id") or "")
            qty = _dec(data.get("qty"), "fill quantity")
            price = _dec(data.get("price"), "fill price")
            ts = parse_timestamp(data.get("timestamp") or now)
            if exec_id and exec_id in track.exec_ids:
                self.duplicate_events += 1
                return []
            return self._reconcile_order(track, order, now, event_fill=(exec_id, qty, price, ts))
        return self._reconcile_order(track, order, now, reason=reason)

    def _reconcile_order(
        self,
        track: _Track,
        order: BrokerOrder,
        now: datetime,
        *,
        event_fill: tuple[str, Decimal, Decimal, datetime] | None = None,
        reason: str | None = None,
    ) -> list[OrderUpdate]:
        """Updates that bring listeners from what they were told to ``order`` (see module doc)."""
        out: list[OrderUpdate] = []
        target = order.filled_qty
        avg = order.filled_avg_price
        order_id = order.broker_order_id

        def update(
            status: OrderStatus, filled: Decimal, fill: Fill | None, why: str | None
        ) -> None:
            out.append(
                OrderUpdate(
                    client_order_id=track.client_order_id,
                    status=status,
                    filled_qty=filled,
                    ts=now,
                    filled_avg_price=avg if filled == target else None,
                    broker_order_id=order_id,
                    fill=fill,
                    reason=why,
                )
            )

        def synthetic(upto: Decimal, known_after: Decimal, status: OrderStatus) -> None:
            # Shares filled between what was reported and ``upto``, seen only through REST.
            gap = upto - track.reported_qty
            total = (avg * target) if avg is not None else None
            if total is None:
                price = ZERO
            else:
                price = _derived_price(total - known_after, track.reported_notional, gap)
            fill = track.fill(_synthetic_exec_id(order_id, upto), gap, price, now)
            self.synthetic_fills += 1
            update(status, upto, fill, None)

        if event_fill is not None:
            exec_id, qty, price, ts = event_fill
            before = target - qty  # cumulative before this execution
            if before > track.reported_qty:
                synthetic(before, qty * price, OrderStatus.PARTIALLY_FILLED)
            take = min(qty, target - track.reported_qty)
            if take > 0:
                fill = track.fill(exec_id or _synthetic_exec_id(order_id, target), take, price, ts)
                update(order.status, target, fill, reason)
            else:
                track.exec_ids.add(exec_id)
                update(order.status, target, None, reason)
        elif target > track.reported_qty:
            synthetic(target, ZERO, order.status)
        elif order.status is not track.status or reason is not None:
            if track.status.is_terminal and not order.status.is_terminal:
                return out  # a late, stale event: never undo a terminal status
            update(order.status, target, None, reason)
        if not (track.status.is_terminal and not order.status.is_terminal):
            track.status = order.status
        return out

    # -- polling fallback ----------------------------------------------------------------------

    def _wake_poller(self) -> None:
        if self._state_changed is not None:
            self._state_changed.set()

    def _open_tracks(self) -> list[_Track]:
        return [t for t in self._tracks.values() if not t.status.is_terminal]

    async def _poll_loop(self) -> None:
        assert self._state_changed is not None
        changed = self._state_changed
        while not self._closed:
            streaming = self._stream_up
            if streaming and not self._reconcile:
                changed.clear()
                await changed.wait()
                continue
            self._reconcile = False
            if self._open_tracks():
                await self.poll_once()
            if not self._stream_up:
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=self.poll_interval)

    async def poll_once(self) -> list[OrderUpdate]:
        """Read every order believed open from REST and publish what changed."""
        self.polls += 1
        published: list[OrderUpdate] = []
        for track in self._open_tracks():
            try:
                if track.order_id is not None:
                    raw = await self._rest(self._client.get, f"/orders/{track.order_id}")
                else:
                    raw = await self._find_by_client_id(track.client_order_id)
            except AlpacaHTTPError as failure:
                log.warning("polling %s failed: %s", track.client_order_id, failure.message)
                continue
            if not isinstance(raw, dict):
                continue
            updates = self._reconcile_order(track, order_from_json(raw), self.clock.now())
            self._publish(updates)
            published.extend(updates)
        return published


# -- quotes ------------------------------------------------------------------------------------


class AlpacaQuoteFeed:
    """The ``QuoteFeed`` protocol on Alpaca market data (``iex`` or ``sip``).

    ``feed_name`` says which: IEX quotes come from one venue and are wider than
    the NBBO that SIP carries, which matters when reading a report's costs.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        feed: FeedName = "iex",
        clock: Clock | None = None,
        budget: RequestBudget | None = None,
        request_timeout: float = 10.0,
        poll_interval: float = 1.0,
    ) -> None:
        if feed not in FEEDS:
            raise InvalidInputError(f"unknown Alpaca data feed {feed!r}: use iex or sip")
        self.credentials = credentials
        self.feed_name: FeedName = feed
        self.name = f"alpaca-{feed}"
        self.clock: Clock = clock or WallClock()
        self.budget = budget or RequestBudget()
        self.poll_interval = poll_interval
        self._client = _DataClient(credentials, self.budget, request_timeout)
        self._streams: set[_QuoteStream] = set()
        self._connected: set[object] = set()
        self._closed = False

    async def latest_quotes(self, symbols: list[str]) -> dict[str, Quote]:
        names = [normalize_symbol(s) for s in symbols]
        params = {"symbols": ",".join(names), "feed": self.feed_name}
        attempt = 0
        while True:
            await self.budget.acquire()
            try:
                raw = await asyncio.to_thread(self._client.get, "/stocks/quotes/latest", params)
                break
            except AlpacaHTTPError as failure:
                if failure.status == 429 and attempt < 5:
                    attempt += 1
                    self.budget.back_off(failure.retry_after)
                    continue
                raise to_broker_error(
                    failure, f"latest {self.feed_name} quote for {', '.join(names)}", op="data"
                ) from None
        quotes = raw.get("quotes") if isinstance(raw, dict) else None
        quotes = quotes if isinstance(quotes, dict) else {}
        return {s: quote_from_json(s, q) for s, q in quotes.items() if isinstance(q, dict)}

    async def latest_quote(self, symbol: str) -> Quote:
        name = normalize_symbol(symbol)
        found = (await self.latest_quotes([name])).get(name)
        if found is None:
            raise BrokerError(
                f"no {self.feed_name} quote for {name} at Alpaca (unknown symbol or no data)",
                code="no_quote",
            )
        return found

    def quotes(
        self, symbols: list[str], *, rest_fallback: bool = True
    ) -> AsyncGenerator[Quote, None]:
        """Quotes from the websocket; while it is down, from REST (unless ``rest_fallback``
        is False, which ``doctor`` uses to test the websocket alone)."""
        return self._quotes([normalize_symbol(s) for s in symbols], rest_fallback)

    @property
    def stream_connected(self) -> bool:
        """True while at least one quote websocket is connected."""
        return bool(self._connected)

    async def _quotes(self, symbols: list[str], rest_fallback: bool) -> AsyncGenerator[Quote, None]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        changed = asyncio.Event()
        state = {"up": False}
        token = object()

        def on_state(up: bool) -> None:
            state["up"] = up
            if up:
                self._connected.add(token)
            else:
                self._connected.discard(token)
            changed.set()

        async def on_quote(message: Any) -> None:
            try:
                symbol = str(message.get("S"))
                queue.put_nowait(quote_from_json(symbol, message))
            except (BrokerError, AttributeError) as exc:
                log.error("unreadable quote message: %s", exc)

        stream = _QuoteStream(
            on_state,
            api_key=self.credentials.key_id,
            secret_key=self.credentials.secret_key.reveal(),
            raw_data=True,
            feed=DataFeed(self.feed_name),
            url_override=self.credentials.data_stream_url(self.feed_name),
            websocket_params=dict(_WS_PARAMS),
        )
        stream.subscribe_quotes(on_quote, *symbols)
        self._streams.add(stream)
        task = asyncio.create_task(stream._run_forever(), name="alpaca-quotes")
        # The stream only ends when stopped: by ``close()``, or after refusing the keys/feed.
        task.add_done_callback(lambda _task: queue.put_nowait(_END))
        poller = asyncio.create_task(
            self._poll_while_down(symbols, queue, changed, state)
            if rest_fallback
            else asyncio.Event().wait()
        )
        last: dict[str, Quote] = {}
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    if stream.refusal is None or self._closed:
                        return
                    if not rest_fallback:
                        code = (
                            "feed_not_permitted"
                            if "subscription" in stream.refusal
                            else ("unauthorized")
                        )
                        raise BrokerError(f"{self.name}: {stream.refusal}", code=code)
                    continue  # the REST poller carries on alone
                previous = last.get(item.symbol)
                if previous is not None and previous == item:
                    continue
                last[item.symbol] = item
                yield item
        finally:
            with contextlib.suppress(Exception):
                await stream.stop_ws()
            for pending in (task, poller):
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending
            with contextlib.suppress(Exception):
                await stream.close()
            self._streams.discard(stream)
            self._connected.discard(token)

    async def _poll_while_down(
        self,
        symbols: list[str],
        queue: asyncio.Queue[Any],
        changed: asyncio.Event,
        state: dict[str, bool],
    ) -> None:
        """REST quotes while the quote stream is not connected (so a ladder is never blind)."""
        while True:
            if state["up"]:
                changed.clear()
                await changed.wait()
                continue
            try:
                for quote in (await self.latest_quotes(symbols)).values():
                    queue.put_nowait(quote)
            except BrokerError as exc:
                log.warning("polling quotes failed: %s", exc)
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=self.poll_interval)

    async def close(self) -> None:
        self._closed = True
        for stream in list(self._streams):
            with contextlib.suppress(Exception):
                await stream.stop_ws()


async def resolve_feed(
    credentials: Credentials, feed: str = "auto", *, budget: RequestBudget | None = None
) -> FeedName:
    """``iex`` or ``sip`` as asked; ``auto`` picks SIP when the account may use it, else IEX."""
    if feed in FEEDS:
        return "iex" if feed == "iex" else "sip"
    if feed != "auto":
        raise InvalidInputError(f"unknown Alpaca data feed {feed!r}: use iex, sip or auto")
    probe = AlpacaQuoteFeed(credentials, feed="sip", budget=budget)
    try:
        await probe.latest_quotes(["SPY"])
    except BrokerError as exc:
        if exc.code in ("feed_not_permitted", "forbidden"):
            return "iex"
        raise
    return "sip"


# -- opening a session -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlpacaSession:
    """What ``open_alpaca`` yields; unpacks as ``broker, feed, clock``."""

    broker: AlpacaBroker
    feed: AlpacaQuoteFeed
    clock: Clock

    def __iter__(self) -> Iterator[Any]:
        return iter((self.broker, self.feed, self.clock))


@asynccontextmanager
async def open_alpaca(
    credentials: Credentials | None = None,
    *,
    feed: str = "auto",
    url_override: str | None = None,
    data_url_override: str | None = None,
    clock: Clock | None = None,
    extended_hours: bool = False,
    poll_interval: float = 1.0,
    request_timeout: float = 10.0,
    use_stream: bool = True,
    connect_timeout: float = 5.0,
) -> AsyncIterator[AlpacaSession]:
    """Broker, quote feed and wall clock on Alpaca, closed on exit.

    ``credentials`` default to ``Credentials.from_env()`` (paper). ``url_override`` /
    ``data_url_override`` point the Trading / Market Data APIs elsewhere (the local
    server of ``better-orders serve``). ``feed`` is ``iex``, ``sip`` or ``auto``.
    """
    creds = credentials or Credentials.from_env()
    if url_override or data_url_override:
        creds = creds.with_urls(base_url=url_override, data_url=data_url_override)
    wall = clock or WallClock()
    budget = RequestBudget()
    data_budget = RequestBudget()
    feed_name = await resolve_feed(creds, feed, budget=data_budget)
    broker = AlpacaBroker(
        creds,
        clock=wall,
        budget=budget,
        request_timeout=request_timeout,
        poll_interval=poll_interval,
        extended_hours=extended_hours,
        use_stream=use_stream,
    )
    quotes = AlpacaQuoteFeed(
        creds,
        feed=feed_name,
        clock=wall,
        budget=data_budget,
        request_timeout=request_timeout,
        poll_interval=poll_interval,
    )
    try:
        await broker.start(connect_timeout=connect_timeout)
        yield AlpacaSession(broker, quotes, wall)
    finally:
        await quotes.close()
        await broker.close()


__all__ = [
    "FEEDS",
    "AlpacaBroker",
    "AlpacaHTTPError",
    "AlpacaQuoteFeed",
    "AlpacaSession",
    "MarketClock",
    "RequestBudget",
    "classify",
    "open_alpaca",
    "order_from_json",
    "parse_timestamp",
    "resolve_feed",
    "to_broker_error",
]
