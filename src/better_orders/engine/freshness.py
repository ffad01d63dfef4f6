"""When each symbol's book was last confirmed, and which books need a REST refresh.

A quote's age is not the age of the book: a quiet symbol's book may not change for
seconds and still be exactly right. The book counts as confirmed when a quote
arrives on the stream, when the feed's heartbeat shows the stream alive
(``HeartbeatFeed``), or when a REST ``latest_quote`` answers. A symbol with none of
these for ``quiet_after`` is refreshed from REST by the runner.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from better_orders.core.model import Quote
from better_orders.venues.base import HeartbeatFeed, QuoteFeed


class BookConfirmations:
    """Per symbol: the last quote and when its book was last confirmed."""

    def __init__(self, feed: QuoteFeed, quiet_after: timedelta) -> None:
        self.quiet_after = quiet_after
        self._feed = feed
        self._quote: dict[str, Quote] = {}
        self._confirmed: dict[str, datetime] = {}
        self._asked: dict[str, datetime] = {}
        #: REST refreshes made, and those that found the book changed.
        self.refreshes = 0
        self.refreshes_changed = 0

    def quote(self, symbol: str) -> Quote | None:
        return self._quote.get(symbol)

    def confirmed_at(self, symbol: str) -> datetime | None:
        return self._confirmed.get(symbol)

    def watch(self, symbol: str, since: datetime) -> None:
        """Start counting the symbol's quiet time from ``since``."""
        self._confirmed.setdefault(symbol, since)

    def arrived(self, quote: Quote, at: datetime) -> bool:
        """A quote from the stream or from REST, received ``at``; True if the book changed."""
        before = self._quote.get(quote.symbol)
        changed = before is None or (quote != before and quote.ts >= before.ts)
        if changed:
            self._quote[quote.symbol] = quote
        self._confirm(quote.symbol, at)
        return changed

    def heartbeat(self, symbols: Iterable[str]) -> None:
        """The feed's heartbeat, where it has one, confirms every book on the stream."""
        if not isinstance(self._feed, HeartbeatFeed):
            return
        beat = self._feed.last_heartbeat()
        if beat is None:
            return
        for symbol in symbols:
            self._confirm(symbol, beat)

    def quiet(self, symbols: Iterable[str], now: datetime) -> list[str]:
        """Symbols unconfirmed for ``quiet_after`` and not asked about within it."""
        return [s for s in symbols if now - self._last(s, now) >= self.quiet_after]

    def asking(self, symbol: str, now: datetime) -> None:
        """A refresh is on its way (a failed one is not asked again before ``quiet_after``)."""
        self._asked[symbol] = now
        self.refreshes += 1

    def next_due(self, symbols: Iterable[str], now: datetime) -> datetime:
        """When the next symbol turns quiet (``now + quiet_after`` when none is watched)."""
        return min((self._last(s, now) for s in symbols), default=now) + self.quiet_after

    def _last(self, symbol: str, now: datetime) -> datetime:
        times = [t for t in (self._confirmed.get(symbol), self._asked.get(symbol)) if t]
        return max(times, default=now)

    def _confirm(self, symbol: str, at: datetime) -> None:
        last = self._confirmed.get(symbol)
        if last is None or at > last:
            self._confirmed[symbol] = at
