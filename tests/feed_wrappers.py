"""A quote feed around the simulator's, whose stream a test can stall or break."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from better_orders.core.model import Quote


class FeedWrapper:
    """The simulated feed; its stream passes through ``relay`` (override it) and REST
    calls are counted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.rest_calls = 0

    async def latest_quote(self, symbol: str) -> Quote:
        self.rest_calls += 1
        quote: Quote = await self.inner.latest_quote(symbol)
        return quote

    def quotes(self, symbols: list[str]) -> AsyncIterator[Quote]:
        return self._quotes(symbols)

    async def _quotes(self, symbols: list[str]) -> AsyncIterator[Quote]:
        stream = self.inner.quotes(symbols)
        try:
            async for quote in self.relay(stream):
                yield quote
        finally:
            await stream.aclose()

    async def relay(self, stream: AsyncIterator[Quote]) -> AsyncIterator[Quote]:
        async for quote in stream:
            yield quote

    async def close(self) -> None:
        await self.inner.close()
