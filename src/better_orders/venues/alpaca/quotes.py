"""The ``QuoteFeed`` protocol on Alpaca market data (``iex`` or ``sip``).

Quotes come from the data websocket; while it is down they are polled from REST, so
a ladder is never blind. Repeats of the last quote of a symbol are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator
from typing import Any, Literal

from better_orders.core.errors import BrokerError, InvalidInputError
from better_orders.core.model import Quote, normalize_symbol
from better_orders.venues.alpaca.codec import quote_from_json
from better_orders.venues.alpaca.credentials import Credentials
from better_orders.venues.alpaca.errors import AlpacaHTTPError, to_broker_error
from better_orders.venues.alpaca.http import AlpacaREST, request_budget
from better_orders.venues.alpaca.streams import AlpacaStream, quote_stream
from better_orders.venues.base import Clock
from better_orders.venues.clock import WallClock
from better_orders.venues.rate_limit import RateLimiter
from better_orders.venues.tasks import cancel_and_wait

log = logging.getLogger(__name__)

FeedName = Literal["iex", "sip"]
FEEDS: tuple[FeedName, ...] = ("iex", "sip")

_END = object()


class AlpacaQuoteFeed:
    """The ``QuoteFeed`` protocol on Alpaca market data.

    ``feed_name`` says which: IEX quotes come from one venue and are wider than
    the NBBO that SIP carries, which matters when reading a report's costs.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        feed: FeedName = "iex",
        clock: Clock | None = None,
        budget: RateLimiter | None = None,
        request_timeout: float = 10.0,
        poll_interval: float = 1.0,
    ) -> None:
        if feed not in FEEDS:
            raise InvalidInputError(f"unknown Alpaca data feed {feed!r}: use iex or sip")
        self.credentials = credentials
        self.feed_name: FeedName = feed
        self.name = f"alpaca-{feed}"
        self.clock: Clock = clock or WallClock()
        self.budget = budget or request_budget(self.clock)
        self.poll_interval = poll_interval
        self._client = AlpacaREST(
            credentials.market_data_url, credentials, self.budget, request_timeout
        )
        self._streams: set[AlpacaStream] = set()
        self._connected: set[object] = set()
        self._closed = False

    async def latest_quotes(self, symbols: list[str]) -> dict[str, Quote]:
        names = [normalize_symbol(s) for s in symbols]
        params = {"symbols": ",".join(names), "feed": self.feed_name}
        try:
            raw = await self._client.request("GET", "/stocks/quotes/latest", params=params)
        except AlpacaHTTPError as failure:
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

        stream = quote_stream(self.credentials, self.feed_name, symbols, on_state, on_quote)
        self._streams.add(stream)
        task = stream.start()
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
            await stream.stop()
            await cancel_and_wait(poller)
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
                # asyncio.timeout, not wait_for: on 3.11 wait_for may swallow a cancel that
                # lands as the event is set, and this loop would then poll forever.
                async with asyncio.timeout(self.poll_interval):
                    await changed.wait()

    async def close(self) -> None:
        self._closed = True
        for stream in list(self._streams):
            await stream.stop()
        await self._client.aclose()


async def resolve_feed(
    credentials: Credentials, feed: str = "auto", *, budget: RateLimiter | None = None
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
    finally:
        await probe.close()
    return "sip"
