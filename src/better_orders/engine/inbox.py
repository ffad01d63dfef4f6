"""What waits for one ladder: its broker events in order, and only the latest quote.

Broker events (acknowledgements, fills, refusals) are facts about the ladder's own
orders: every one is kept and handed over in arrival order. Quotes are not: a ladder
that fell behind only needs the newest, so a new quote replaces the one waiting.
The inbox is therefore bounded by the ladder's own orders, whatever the feed's rate.
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import datetime

from better_orders.core.ladder import Event, QuoteArrived
from better_orders.venues.base import Clock


class Inbox:
    """One ladder's pending events (see the module docstring)."""

    def __init__(self) -> None:
        self._events: deque[Event] = deque()
        self._quote: QuoteArrived | None = None
        self._ready = asyncio.Event()
        #: Quotes replaced before the ladder saw them.
        self.quotes_skipped = 0

    def put(self, event: Event) -> None:
        """A broker event (or a refusal, a halt): kept until taken, in order."""
        self._events.append(event)
        self._ready.set()

    def put_quote(self, event: QuoteArrived) -> None:
        """The latest quote: replaces one not yet taken."""
        if self._quote is not None:
            self.quotes_skipped += 1
        self._quote = event
        self._ready.set()

    def empty(self) -> bool:
        return not self._events and self._quote is None

    def take(self) -> Event | None:
        """The next event without waiting: broker events first, then the quote."""
        if self._events:
            return self._events.popleft()
        quote, self._quote = self._quote, None
        return quote

    async def wait(self, clock: Clock, until: datetime | None) -> Event | None:
        """The next event, or None once ``until`` has come (on ``clock``) with none."""
        while self.empty():
            self._ready.clear()
            if until is None:
                await self._ready.wait()
                continue
            delay = (until - clock.now()).total_seconds()
            if delay <= 0:
                return None
            try:
                # Not wait_for: on 3.11 it may swallow a cancel that lands with the event.
                async with asyncio.timeout(delay):
                    await self._ready.wait()
            except TimeoutError:
                if clock.now() >= until:
                    return None
        return self.take()
