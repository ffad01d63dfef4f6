"""A failure anywhere in a run cancels every order of the run and ends it with one clear error.

Each test breaks one part on cue (a broker that cannot answer a query, an order-update
stream that drops, a quote feed that fails, a kill-switch poll that fails, a journal
write that fails) while two legs have orders working at the simulated venue, and then
checks what a user relies on: nothing of the run is open at the venue or in the
journal, every leg is journalled as failed with the error, and the error is one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from better_orders.core.errors import BrokerError, JournalError, QuoteError, RunFailedError
from better_orders.core.model import OrderStatus, OrderUpdate, Quote
from better_orders.engine.execution import OrderSpec, execute
from better_orders.engine.legs import LadderEvent
from better_orders.engine.risk import KillSwitch
from better_orders.store.journal import Journal
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.faults import FaultPlan
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.venue import SimVenue
from cli_runner import run_cli
from feed_wrappers import FeedWrapper
from ladder_kit import crossing_config

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=ET)


def script(rows: list[tuple[float, str, str, int]], symbol: str) -> ReplayQuotes:
    """Quotes at T0 + seconds (bid, ask, size); the last one repeats every second."""
    last_s, b, a, n = rows[-1]
    tail = [(last_s + k, b, a, n) for k in range(1, 121)]
    return ReplayQuotes.from_quotes(
        [
            Quote(symbol, D(b), D(a), D(n), D(n), T0 + timedelta(seconds=s))
            for s, b, a, n in rows + tail
        ]
    )


def resting() -> dict[str, ReplayQuotes]:
    """A little is offered at the touch, then the offer runs away: the rest of a buy rests."""
    return {
        "TQQQ": script([(0, "50.00", "50.01", 30), (0.5, "50.10", "50.20", 30)], "TQQQ"),
        "SPY": script([(0, "600.00", "600.01", 2), (0.5, "600.20", "600.30", 2)], "SPY"),
    }


class Cue:
    """Armed once both legs have an order resting (a partial fill each)."""

    def __init__(self) -> None:
        self.resting: set[str] = set()

    @property
    def armed(self) -> bool:
        return self.resting == {"TQQQ", "SPY"}

    def observer(self, ev: LadderEvent) -> None:
        item = ev.item
        if isinstance(item, OrderUpdate) and item.status is OrderStatus.PARTIALLY_FILLED:
            self.resting.add(ev.symbol)


class FlakyBroker:
    """The simulated broker, with failures on cue."""

    def __init__(self, inner: Any, cue: Cue) -> None:
        self.inner = inner
        self.cue = cue
        self.name = inner.name
        #: The next this many ``get_order`` calls fail (retryably).
        self.failing_queries = 0
        #: The next this many cancels are refused as if the order had ended (it has not).
        self.refused_cancels = 0
        #: The order-update stream drops once the cue is armed.
        self.drop_stream = False

    async def submit_order(self, request: Any) -> Any:
        return await self.inner.submit_order(request)

    async def cancel_order(self, client_order_id: str) -> None:
        if self.refused_cancels > 0:
            self.refused_cancels -= 1
            raise BrokerError(f"order {client_order_id} is not cancelable", code="not_cancelable")
        await self.inner.cancel_order(client_order_id)

    async def get_order(self, client_order_id: str) -> Any:
        if self.failing_queries > 0:
            self.failing_queries -= 1
            raise BrokerError(
                "internal server error (500) at the simulated venue, retry later",
                code="server_error",
                retryable=True,
            )
        return await self.inner.get_order(client_order_id)

    async def get_fills(self, client_order_id: str) -> Any:
        return await self.inner.get_fills(client_order_id)

    async def list_open_orders(self) -> Any:
        return await self.inner.list_open_orders()

    async def get_positions(self) -> Any:
        return await self.inner.get_positions()

    async def get_account(self) -> Any:
        return await self.inner.get_account()

    async def get_asset(self, symbol: str) -> Any:
        return await self.inner.get_asset(symbol)

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._updates()

    async def _updates(self) -> AsyncIterator[OrderUpdate]:
        stream = self.inner.order_updates()
        try:
            async for update in stream:
                if self.drop_stream and self.cue.armed:
                    raise BrokerError("trade updates stream: connection reset", code="stream")
                yield update
        finally:
            await stream.aclose()

    async def close(self) -> None:
        await self.inner.close()


class FlakyFeed(FeedWrapper):
    """The simulated quote feed; its stream fails once the cue is armed."""

    def __init__(self, inner: Any, cue: Cue) -> None:
        super().__init__(inner)
        self.cue = cue

    async def relay(self, stream: AsyncIterator[Quote]) -> AsyncIterator[Quote]:
        async for quote in stream:
            if self.cue.armed:
                raise QuoteError("quote stream lost: no data for 30 s")
            yield quote


class FlakyJournal:
    """A journal whose write of an event fails once, when the cue is armed."""

    def __init__(self, inner: Journal, cue: Cue) -> None:
        self._inner = inner
        self.cue = cue
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def record_event(self, update: OrderUpdate) -> None:
        if self.cue.armed and not self.failed:
            self.failed = True
            raise JournalError(f"cannot write to journal {self._inner.path}: disk I/O error")
        self._inner.record_event(update)


@dataclass
class Outcome:
    error: RunFailedError
    open_at_venue: list[Any]
    open_in_journal: list[Any]
    orders: list[Any]
    intents: list[Any]


def fail_a_run(
    tmp_path: Path,
    *,
    broker: Callable[[Any, Cue], Any] | None = None,
    feed: Callable[[Any, Cue], Any] | None = None,
    journal: Callable[[Journal, Cue], Any] | None = None,
    faults: FaultPlan | None = None,
) -> Outcome:
    db = tmp_path / "j.sqlite3"
    cue = Cue()

    async def main() -> Outcome:
        venue = SimVenue.create(start=T0, seed=3, db_path=db, replay=resting(), faults=faults)
        with Journal.open(db) as real:
            real.start_run("r1", "order", {}, "sim")
            with pytest.raises(RunFailedError) as failed:
                await execute(
                    [OrderSpec.parse("TQQQ", "100", "buy"), OrderSpec.parse("SPY", "10", "buy")],
                    broker=broker(venue.broker, cue) if broker else venue.broker,
                    feed=feed(venue.feed, cue) if feed else venue.feed,
                    clock=venue.clock,
                    journal=journal(real, cue) if journal else real,
                    config=crossing_config(),
                    run_id="r1",
                    observer=cue.observer,
                )
            await asyncio.sleep(5)  # any late event lands before looking
            outcome = Outcome(
                failed.value,
                await venue.broker.list_open_orders(),
                real.orders(run_id="r1", open_only=True),
                real.orders(run_id="r1"),
                real.intents("r1"),
            )
        await venue.close()
        return outcome

    return run_virtual(main(), start=T0)


def assert_contained(out: Outcome, what: str) -> None:
    message = str(out.error)
    assert "\n" not in message
    assert message.startswith("run r1 stopped: ") and what in message, message
    assert out.open_at_venue == [] and out.open_in_journal == []
    assert "none left open" in message
    assert [i.status for i in out.intents] == ["failed", "failed"]
    for intent in out.intents:
        assert intent.report is not None and intent.report["run_error"] == message


def test_a_query_that_outlives_its_retries_stops_the_run_and_cancels_the_other_leg(
    tmp_path: Path,
) -> None:
    # Leg 1's cancel is refused, so its ladder asks for the order's state; the broker
    # cannot answer within the retry budget. Both orders are in fact still working.
    flaky: list[FlakyBroker] = []

    def wrap(inner: Any, cue: Cue) -> FlakyBroker:
        broker = FlakyBroker(inner, cue)
        broker.refused_cancels = 1
        broker.failing_queries = 4
        flaky.append(broker)
        return broker

    out = fail_a_run(tmp_path, broker=wrap)
    assert_contained(out, "failed: internal server error (500)")
    assert out.error.exit_code == BrokerError.exit_code
    assert isinstance(out.error.__cause__, BrokerError)
    assert flaky[0].failing_queries == 0
    # leg 1's order, still working when its ladder failed, was cancelled by the clean-up
    tqqq = next(o for o in out.orders if o.client_order_id == "bo-r1-1-1")
    assert tqqq.status == "canceled" and tqqq.filled_qty == 30
    assert "working order" in str(out.error) and " 0 working" not in str(out.error)


def test_an_order_update_stream_that_drops_stops_the_run(tmp_path: Path) -> None:
    def wrap(inner: Any, cue: Cue) -> FlakyBroker:
        broker = FlakyBroker(inner, cue)
        broker.drop_stream = True
        return broker

    out = fail_a_run(tmp_path, broker=wrap)
    assert_contained(out, "the broker's order update stream failed: trade updates stream")
    assert sum(1 for o in out.orders if o.status == "canceled") >= 1


def test_a_quote_feed_that_fails_stops_the_run(tmp_path: Path) -> None:
    out = fail_a_run(tmp_path, feed=FlakyFeed)
    assert_contained(out, "the quote feed failed: quote stream lost")
    assert out.error.exit_code == QuoteError.exit_code
    assert "2 working orders cancelled" in str(out.error)
    assert [o.status for o in out.orders] == ["canceled", "canceled"]


def test_a_journal_write_that_fails_stops_the_run(tmp_path: Path) -> None:
    out = fail_a_run(tmp_path, journal=FlakyJournal)
    assert_contained(out, "disk I/O error")
    assert out.error.exit_code == JournalError.exit_code
    assert "2 working orders cancelled" in str(out.error)


def test_a_kill_switch_poll_that_fails_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BETTER_ORDERS_KILL_SWITCH", str(tmp_path / "STOP"))
    cue = Cue()
    original = KillSwitch.reason

    def reason(self: KillSwitch) -> str | None:
        if cue.armed:
            raise PermissionError(13, "Permission denied", str(self.path))
        return original(self)

    monkeypatch.setattr(KillSwitch, "reason", reason)

    def keep(inner: Any, shared: Cue) -> Any:
        shared.resting = cue.resting  # one cue for the switch and the run
        return inner

    out = fail_a_run(tmp_path, broker=keep)
    assert_contained(out, "the kill switch watch failed: PermissionError: ")
    assert out.error.exit_code == 1
    assert "2 working orders cancelled" in str(out.error)


def test_the_command_line_ends_a_failed_run_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from better_orders.venues.sim.feed import SimQuoteFeed

    real_quotes = SimQuoteFeed.quotes

    async def dropping(self: SimQuoteFeed, symbols: list[str]) -> AsyncIterator[Quote]:
        stream = real_quotes(self, symbols)
        try:
            async for quote in stream:
                yield quote
                raise QuoteError("quote stream lost: no data for 30 s")
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    monkeypatch.setattr(SimQuoteFeed, "quotes", dropping)
    db = tmp_path / "j.sqlite3"
    code, out, err = run_cli(
        ["order", "buy", "TQQQ", "25", "--at", "2026-11-24T10:00:00", "--db", str(db)], capsys
    )
    assert code == QuoteError.exit_code
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: run "), err
    assert "the quote feed failed: quote stream lost" in lines[0]
    assert "Traceback" not in out + err
    with Journal.open(db) as journal:
        run = journal.latest_run("order")
        assert run is not None and run.status.value == "failed"
        assert journal.orders(open_only=True) == []
        (intent,) = journal.intents(run.run_id)
        assert intent.status == "failed" and "quote stream lost" in intent.report["run_error"]
