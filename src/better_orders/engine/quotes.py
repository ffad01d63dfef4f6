"""Quotes on their way to the ladders: the stream, REST refreshes of quiet books, one door.

Every quote a ladder sees passes through ``QuoteDesk.arrived``, whether the stream
brought it or a REST refresh of a quiet book did; that is where a quote becomes a
ladder event, and where the time the book was last confirmed will join the event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from better_orders.core.errors import BrokerError, QuoteError
from better_orders.core.ladder import QuoteArrived
from better_orders.core.model import Quote
from better_orders.engine.freshness import BookConfirmations
from better_orders.venues.base import Clock, QuoteFeed

log = logging.getLogger(__name__)


class QuoteDesk:
    """Quotes of a run's symbols to its ladders (see the module docstring).

    ``deliver(event)`` hands a quote event to every unfinished ladder of its symbol;
    ``live(symbols)`` says which symbols still have one.
    """

    def __init__(
        self,
        feed: QuoteFeed,
        clock: Clock,
        books: BookConfirmations,
        deliver: Callable[[QuoteArrived], None],
        live: Callable[[list[str]], list[str]],
    ) -> None:
        self.feed = feed
        self.clock = clock
        self.books = books
        self._deliver = deliver
        self._live = live
        #: REST refreshes that failed (each logged).
        self.refresh_failures = 0

    def arrived(self, quote: Quote) -> None:
        """A quote from the stream or a REST refresh: the book is confirmed as of now.

        Today's ladder measures freshness from the quote's own time, so only a changed
        book is passed on; an unchanged one is only recorded as confirmed
        (``books.confirmed_at``), for the event that will carry it.
        """
        now = self.clock.now()
        if self.books.arrived(quote, now):
            self._deliver(QuoteArrived(quote, now))

    async def stream(self, symbols: list[str]) -> None:
        """Pass on the feed's stream; returns only if the stream ends."""
        async for quote in self.feed.quotes(symbols):
            self.arrived(quote)

    async def refresh_quiet(self, symbols: list[str]) -> None:
        """Refresh from REST every book the stream has left quiet for ``quiet_after``."""
        while True:
            live = self._live(symbols)
            self.books.heartbeat(live)
            for symbol in self.books.quiet(live, self.clock.now()):
                self.books.asking(symbol, self.clock.now())
                try:
                    quote = await self.feed.latest_quote(symbol)
                except (BrokerError, QuoteError) as exc:
                    # Not fatal: the ladder's own staleness rule decides what an old book means.
                    self.refresh_failures += 1
                    log.warning("refreshing the %s quote failed: %s", symbol, exc)
                    continue
                self.arrived(quote)
            await self.clock.sleep_until(self.books.next_due(live, self.clock.now()))
