"""The run's quote stream: a cancelled stream unsubscribes from the feed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from better_orders.engine.freshness import BookConfirmations
from better_orders.engine.quotes import QuoteDesk
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.venue import SimVenue

START = datetime(2026, 12, 2, 14, 30, tzinfo=UTC)


def test_a_cancelled_quote_stream_leaves_no_subscription_queueing_quotes() -> None:
    async def main() -> list[tuple[int, int]]:
        venue = SimVenue.create(start=START, seed=1)
        hub = venue.broker._hub
        books = BookConfirmations(venue.feed, timedelta(seconds=2))
        desk = QuoteDesk(venue.feed, venue.clock, books, lambda e: None, lambda s: s)
        stream = asyncio.create_task(desk.stream(["SPY"]))
        await venue.clock.sleep_until(START + timedelta(seconds=5))
        assert len(hub.quote_queues) == 1  # subscribed while the run lasts
        stream.cancel()  # the run ends
        await asyncio.gather(stream, return_exceptions=True)
        seen = []
        for minutes in (1, 10):
            await venue.clock.sleep_until(START + timedelta(minutes=minutes))
            seen.append((len(hub.quote_queues), sum(q.qsize() for q in hub.quote_queues)))
        await venue.close()
        return seen

    assert run_virtual(main(), start=START) == [(0, 0), (0, 0)]
