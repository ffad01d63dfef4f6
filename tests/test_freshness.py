"""A quiet quote stream: the runner confirms the book from REST, or from the feed's heartbeat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import ParentOrder
from better_orders.core.market_calendar import default_calendar
from better_orders.core.model import ExecutionReport, Quote, Side
from better_orders.engine.legs import Leg
from better_orders.engine.runner import Runner
from better_orders.store.journal import Journal
from better_orders.venues.base import HeartbeatFeed
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.venue import SimVenue
from feed_wrappers import FeedWrapper

ET = ZoneInfo("America/New_York")
OPEN = datetime(2026, 11, 24, 9, 30, 0, tzinfo=ET)


class StalledFeed(FeedWrapper):
    """The simulated feed whose stream delivers its first quote and then nothing more."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.clock = inner._hub.clock

    async def relay(self, stream: AsyncIterator[Quote]) -> AsyncIterator[Quote]:
        yield await anext(stream)
        await asyncio.Event().wait()


class BeatingFeed(StalledFeed):
    """A stalled stream that still proves itself alive: its heartbeat confirms the book."""

    def last_heartbeat(self) -> datetime | None:
        return self.clock.now()  # type: ignore[no-any-return]


def wide_then_tight() -> dict[str, ReplayQuotes]:
    """A 30-cent spread at the open; it comes in to one cent 10 s later."""
    rows = [
        Quote("TQQQ", D("50.00"), D("50.30"), D(500), D(500), OPEN),
        Quote("TQQQ", D("50.00"), D("50.01"), D(500), D(500), OPEN + timedelta(seconds=10)),
    ]
    return {"TQQQ": ReplayQuotes.from_quotes(rows)}


def run(tmp_path: Path, make_feed: type[StalledFeed]) -> tuple[ExecutionReport, Runner, Any]:
    db = tmp_path / "j.sqlite3"
    cfg = BetterOrdersConfig()

    async def main() -> tuple[ExecutionReport, Runner, Any]:
        venue = SimVenue.create(start=OPEN, seed=7, db_path=db, replay=wide_then_tight())
        feed = make_feed(venue.feed)
        with Journal.open(db) as journal:
            journal.start_run("r1", "order", {}, "sim")
            runner = Runner(
                venue.broker, feed, venue.clock, default_calendar(), run_id="r1", journal=journal
            )
            leg = Leg(1, ParentOrder("TQQQ", Side.BUY, D(100)), ladder_params(cfg, "TQQQ"))
            (report,) = await runner.run([leg])
            await venue.close()
            return report, runner, feed

    return run_virtual(main(), start=OPEN)


def test_a_quiet_stream_is_caught_up_by_a_rest_refresh(tmp_path: Path) -> None:
    report, runner, feed = run(tmp_path, StalledFeed)
    # The stream never showed the spread come in; the refresh did, within a quiet period.
    assert report.filled_qty == D(100) and report.avg_fill_price == D("50.01")
    quiet = runner.books.quiet_after.total_seconds()
    assert quiet == 2.5  # half of the 5 s a quote may be old
    assert 10.0 <= report.waited_seconds <= 10.0 + quiet
    assert feed.rest_calls >= 2  # the ladder's first look, then the refreshes
    assert runner.books.refreshes == feed.rest_calls - 1


def test_a_feed_heartbeat_confirms_the_book_without_rest_calls(tmp_path: Path) -> None:
    assert isinstance(BeatingFeed.__new__(BeatingFeed), HeartbeatFeed)
    report, runner, feed = run(tmp_path, BeatingFeed)
    assert feed.rest_calls == 1  # the ladder's first look only: the heartbeat confirmed the rest
    assert runner.books.refreshes == 0
    # Confirmed within the last quiet period before the end (else a REST refresh was due);
    # a beat due at the very instant the leg ends may come after it.
    confirmed = runner.books.confirmed_at("TQQQ")
    assert confirmed is not None and confirmed >= report.finished - runner.books.quiet_after
