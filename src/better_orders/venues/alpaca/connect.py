"""Opening Alpaca: broker, quote feed and clock together, connected and closed as one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from better_orders.venues.alpaca.broker import AlpacaBroker
from better_orders.venues.alpaca.credentials import Credentials
from better_orders.venues.alpaca.http import request_budget
from better_orders.venues.alpaca.quotes import AlpacaQuoteFeed, resolve_feed
from better_orders.venues.base import Clock
from better_orders.venues.clock import WallClock


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
    account_number: str = "",
) -> AsyncIterator[AlpacaSession]:
    """Broker, quote feed and wall clock on Alpaca, closed on exit.

    ``credentials`` default to ``Credentials.from_env()`` (paper). ``url_override`` /
    ``data_url_override`` point the Trading / Market Data APIs elsewhere (the local
    server of ``better-orders serve``). ``feed`` is ``iex``, ``sip`` or ``auto``.
    ``account_number`` (read by the caller) names the broker's venue with its account.
    """
    creds = credentials or Credentials.from_env()
    if url_override or data_url_override:
        creds = creds.with_urls(base_url=url_override, data_url=data_url_override)
    wall = clock or WallClock()
    budget = request_budget(wall)
    data_budget = request_budget(wall)
    feed_name = await resolve_feed(creds, feed, budget=data_budget)
    broker = AlpacaBroker(
        creds,
        clock=wall,
        budget=budget,
        request_timeout=request_timeout,
        poll_interval=poll_interval,
        extended_hours=extended_hours,
        use_stream=use_stream,
        account_number=account_number,
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
