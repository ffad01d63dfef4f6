"""The ``Broker`` protocol on Alpaca's Trading API, paper by default.

Theory of operation.

* REST calls go through ``http`` (httpx on the caller's loop, one token of the
  account's budget each: cancels at the front of the queue); failures become ``BrokerError``s
  through ``errors``, JSON becomes model types through ``codec``. Nothing is
  retried here: that is the one retry layer's job (``engine.retry``).
* Order events come from the ``trade_updates`` stream on the caller's event loop.
  While the stream is down (and once after it comes back), the broker polls the
  orders it knows are open, so the runner sees the same events either way;
  ``tracking`` turns both into ``OrderUpdate`` values with every fill counted once.
* Submits carry the request's deterministic ``client_order_id`` and are sent once;
  an ambiguous failure (timeout, 5xx) is raised as retryable, and Alpaca's 422
  "client_order_id must be unique" as ``duplicate_client_order_id``, so the caller
  looks the order up by that id before anything is sent again.
* What Alpaca would refuse (a price off the tick grid, a fractional or notional
  order it does not take: ``order_rules``) is refused here, before a request is
  spent on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

from better_orders.core.errors import BrokerError, InvalidInputError
from better_orders.core.model import (
    Account,
    Asset,
    BrokerOrder,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    normalize_symbol,
)
from better_orders.venues.alpaca.codec import (
    MarketClock,
    account_from_json,
    asset_from_json,
    market_clock_from_json,
    order_body,
    order_from_json,
    positions_from_json,
    replace_body,
)
from better_orders.venues.alpaca.credentials import Credentials
from better_orders.venues.alpaca.errors import AlpacaHTTPError, to_broker_error
from better_orders.venues.alpaca.fanout import Fanout
from better_orders.venues.alpaca.http import AlpacaREST, request_budget
from better_orders.venues.alpaca.order_rules import check_order, check_price
from better_orders.venues.alpaca.streams import AlpacaStream, trade_updates_stream
from better_orders.venues.alpaca.tracking import OrderTracker
from better_orders.venues.base import Clock
from better_orders.venues.clock import WallClock
from better_orders.venues.rate_limit import Priority, RateLimiter
from better_orders.venues.tasks import cancel_and_wait

log = logging.getLogger(__name__)


def describe_request(request: OrderRequest) -> str:
    """``buy 10 TQQQ @ 51.02 (bo-...)``: how error messages name an order."""
    price = f" @ {request.limit_price}" if request.limit_price is not None else " at market"
    return f"{request.side.value} {request.qty} {request.symbol}{price} ({request.client_order_id})"


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
        budget: RateLimiter | None = None,
        request_timeout: float = 10.0,
        poll_interval: float = 1.0,
        extended_hours: bool = False,
        use_stream: bool = True,
        account_number: str = "",
    ) -> None:
        self.credentials = credentials
        kind = "alpaca-paper" if credentials.paper else "alpaca-live"
        #: The venue as runs record it: the kind and, when known, the account's number.
        self.name = f"{kind} {account_number}" if account_number else kind
        self.clock: Clock = clock or WallClock()
        #: The account's request budget, spent on every request (``MeteredBroker``).
        self.budget = budget or request_budget(self.clock)
        self.poll_interval = poll_interval
        self.extended_hours = extended_hours
        self.use_stream = use_stream
        self._client = AlpacaREST(
            credentials.trading_url, credentials, self.budget, request_timeout
        )
        self._orders = OrderTracker()
        self._assets: dict[str, Asset] = {}
        self._updates = Fanout()
        self._stream: AlpacaStream | None = None
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

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def stream_connected(self) -> bool:
        return self._stream_up

    @property
    def synthetic_fills(self) -> int:
        """Fills made up from REST because no stream event reported them."""
        return self._orders.synthetic_fills

    @property
    def duplicate_events(self) -> int:
        return self._orders.duplicate_events

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
        stream = trade_updates_stream(
            self.credentials, self._on_stream_state, self._on_trade_update
        )
        self._stream = stream
        self._stream_task = stream.start()
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
        if self._stream is not None:
            await self._stream.stop()
        if self._poll_task is not None:
            await cancel_and_wait(self._poll_task)
        await self._client.aclose()
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

    async def _find_by_client_id(
        self, client_order_id: str, priority: Priority = Priority.QUERY
    ) -> dict[str, Any] | None:
        """The order with this client order id, or None if Alpaca has none (or cannot say)."""
        try:
            raw = await self._client.request(
                "GET",
                "/orders:by_client_order_id",
                params={"client_order_id": client_order_id},
                priority=priority,
            )
        except AlpacaHTTPError as failure:
            if failure.status == 404:
                return None
            raise
        return raw if isinstance(raw, dict) else None

    def _ack(self, raw: Any) -> OrderUpdate:
        if not isinstance(raw, dict):
            raise BrokerError(f"Alpaca answered an order request with {raw!r}", code="bad_response")
        order = order_from_json(raw)
        self._orders.acknowledged(order)
        self._wake_poller()
        return order.as_update(self.clock.now())

    async def _order_id(
        self, client_order_id: str, what: str, priority: Priority = Priority.QUERY
    ) -> str:
        track = self._orders.get(client_order_id)
        if track is not None and track.order_id is not None:
            return track.order_id
        try:
            raw = await self._find_by_client_id(client_order_id, priority)
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, what, op="get") from None
        if raw is None:
            raise BrokerError(
                f"{what}: Alpaca has no order with client order id {client_order_id}",
                code="not_found",
            )
        return self._orders.remember(order_from_json(raw)).order_id or str(raw["id"])

    # -- Broker protocol -----------------------------------------------------------------------

    async def submit_order(self, request: OrderRequest) -> OrderUpdate:
        """Send ``request`` once; an ambiguous failure is raised for the caller to resolve."""
        await check_order(request, extended_hours=self.extended_hours, get_asset=self.get_asset)
        body = order_body(request, extended_hours=self.extended_hours)
        try:
            raw = await self._client.request("POST", "/orders", body=body, priority=Priority.SUBMIT)
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, describe_request(request), op="submit") from None
        return self._ack(raw)

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
        track = self._orders.get(client_order_id)
        symbol = track.symbol if track is not None else "order"
        what = f"replace {symbol} {client_order_id} with {new_client_order_id}"
        if not new_client_order_id or new_client_order_id == client_order_id:
            raise InvalidInputError(f"{what}: the replacement needs its own client order id")
        if qty is not None and qty <= 0:
            raise InvalidInputError(f"{what}: quantity must be positive, got {qty}")
        check_price(symbol, limit_price, "replace")
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
        body = replace_body(new_client_order_id, qty, limit_price)
        try:
            raw = await self._client.request("PATCH", f"/orders/{order_id}", body=body)
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
        track = self._orders.get(client_order_id)
        what = f"cancel {track.symbol if track else 'order'} {client_order_id}"
        order_id = await self._order_id(client_order_id, what, Priority.CANCEL)
        try:
            await self._client.request("DELETE", f"/orders/{order_id}", priority=Priority.CANCEL)
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
        self._orders.remember(order)
        return order

    async def list_open_orders(self) -> list[BrokerOrder]:
        params = {"status": "open", "limit": 500, "direction": "asc"}
        try:
            raw = await self._client.request("GET", "/orders", params=params)
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, "list open orders", op="list") from None
        return [order_from_json(item) for item in raw or []]

    async def get_positions(self) -> list[Position]:
        try:
            raw = await self._client.request("GET", "/positions")
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, "list positions", op="list") from None
        return positions_from_json(raw)

    async def get_account(self) -> Account:
        try:
            raw = await self._client.request("GET", "/account")
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, "read the account", op="get") from None
        return account_from_json(raw)

    async def get_account_raw(self) -> dict[str, Any]:
        """The account object as Alpaca sends it (``trading_blocked`` and friends)."""
        try:
            raw = await self._client.request("GET", "/account")
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, "read the account", op="get") from None
        return dict(raw)

    async def get_asset(self, symbol: str) -> Asset:
        name = normalize_symbol(symbol)
        cached = self._assets.get(name)
        if cached is not None:
            return cached
        try:
            raw = await self._client.request("GET", f"/assets/{name}")
        except AlpacaHTTPError as failure:
            if failure.status == 404:
                raise BrokerError(
                    f"unknown symbol {name}: Alpaca has no such asset ({failure.message})",
                    code="unknown_symbol",
                ) from None
            raise to_broker_error(failure, f"look up asset {name}", op="get") from None
        asset = asset_from_json(name, raw)
        self._assets[name] = asset
        return asset

    async def get_market_clock(self) -> MarketClock:
        try:
            raw = await self._client.request("GET", "/clock")
        except AlpacaHTTPError as failure:
            raise to_broker_error(failure, "read the market clock", op="get") from None
        return market_clock_from_json(raw)

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._updates.iterate()

    # -- events --------------------------------------------------------------------------------

    def _publish(self, updates: list[OrderUpdate]) -> None:
        for update in updates:
            self._updates.publish(update)

    async def _on_trade_update(self, message: Any) -> None:
        try:
            self._publish(self._orders.on_trade_update(message, self.clock.now()))
        except BrokerError as exc:
            # Surfaced in the log; the poller still reconciles the order from REST.
            log.error("unreadable trade update: %s", exc)

    # -- polling fallback ----------------------------------------------------------------------

    def _wake_poller(self) -> None:
        if self._state_changed is not None:
            self._state_changed.set()

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
            if self._orders.open():
                await self.poll_once()
            if not self._stream_up:
                changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval):  # (see AlpacaQuoteFeed)
                        await changed.wait()

    async def poll_once(self) -> list[OrderUpdate]:
        """Read every order believed open from REST and publish what changed."""
        self.polls += 1
        published: list[OrderUpdate] = []
        for track in self._orders.open():
            try:
                if track.order_id is not None:
                    raw = await self._client.request("GET", f"/orders/{track.order_id}")
                else:
                    raw = await self._find_by_client_id(track.client_order_id)
            except AlpacaHTTPError as failure:
                log.warning("polling %s failed: %s", track.client_order_id, failure.message)
                continue
            if not isinstance(raw, dict):
                continue
            updates = self._orders.reconcile(track, order_from_json(raw), self.clock.now())
            self._publish(updates)
            published.extend(updates)
        return published
