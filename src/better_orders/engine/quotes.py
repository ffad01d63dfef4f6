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
        #: REST refreshes that failed.
        self.refresh_failures = 0
        #: Per symbol, the kind of failure its refreshes keep meeting and how many so far:
        #: a book that stays empty (before the open, a quiet name) fails every few seconds,
        #: and one line says as much as hundreds.
        self._failing: dict[str, tuple[type[Exception], int]] = {}

    def arrived(self, quote: Quote) -> None:
        """A quote from the stream or a REST refresh: the book is confirmed as of now.

        The ladder measures freshness from the confirmation a quote event carries
        (``QuoteArrived.confirmed_at``, ``QuoteConfirmed``). Only a changed book is
        passed on so far; an unchanged one is only recorded as confirmed
        (``books.confirmed_at``): the simulator's REST answer would go on confirming
        a replayed file's last row long after the file ended.
        """
        now = self.clock.now()
        if self.books.arrived(quote, now):
            self._deliver(QuoteArrived(quote, now, confirmed_at=now))

    async def stream(self, symbols: list[str]) -> None:
        """Pass on the feed's stream; returns only if the stream ends."""
        stream = self.feed.quotes(symbols)
        try:
            async for quote in stream:
                self.arrived(quote)
        finally:
            # Unsubscribe (when cancelled too): a subscription left open keeps queueing
            # every later quote.
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()

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
                    self._failed(symbol, exc)
                    continue
                self._worked(symbol)
                self.arrived(quote)
            await self.clock.sleep_until(self.books.next_due(live, self.clock.now()))

    def _failed(self, symbol: str, exc: Exception) -> None:
        """Log the first failure of a run of failures of one kind; count them all."""
        self.refresh_failures += 1
        kind, count = self._failing.get(symbol, (type(exc), 0))
        if count == 0 or kind is not type(exc):
            log.warning(
                "refreshing the %s quote failed: %s (retried quietly until it works)", symbol, exc
            )
            kind, count = type(exc), 0
        self._failing[symbol] = (kind, count + 1)

    def _worked(self, symbol: str) -> None:
        failed = self._failing.pop(symbol, None)
        if failed is not None and failed[1] > 1:
            log.info("refreshing the %s quote works again after %d failures", symbol, failed[1])
