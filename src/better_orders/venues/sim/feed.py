"""The ``QuoteFeed`` protocol on the simulated venue: the quotes the exchange publishes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from better_orders.core.errors import BrokerError, QuoteError
from better_orders.core.model import Quote
from better_orders.venues.sim.hub import VenueHub


class SimQuoteFeed:
    """The ``QuoteFeed`` protocol on the simulated venue (shares the broker's pump)."""

    name = "sim"

    def __init__(self, hub: VenueHub) -> None:
        self._hub = hub

    @property
    def watched_symbols(self) -> frozenset[str]:
        """Symbols some open ``quotes()`` stream is subscribed to."""
        return self._hub.watched()

    async def latest_quote(self, symbol: str) -> Quote:
        hub = self._hub
        hub.ensure_pump()
        name = hub.check_symbol(symbol)
        now = hub.clock.now()
        hub.exchange.watch(name, now)
        hub.sync()
        quote = hub.exchange.last_quote(name)
        if quote is None:
            raise QuoteError(f"no quote for {name} yet at {now.isoformat()}")
        return quote

    def quotes(self, symbols: list[str]) -> AsyncIterator[Quote]:
        """Quote changes for ``symbols`` from now on (the first may be the one in force)."""
        hub = self._hub
        if "feed" not in hub.open_parts:
            raise BrokerError("the simulated quote feed is closed", code="closed")
        names = frozenset(hub.check_symbol(s) for s in symbols)
        now = hub.clock.now()
        for name in names:
            hub.exchange.watch(name, now)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        hub.quote_queues[queue] = names
        hub.ensure_pump()
        hub.poke()

        def forget() -> None:
            hub.quote_queues.pop(queue, None)

        return hub.iterate(queue, forget)

    async def close(self) -> None:
        await self._hub.close_part("feed")
