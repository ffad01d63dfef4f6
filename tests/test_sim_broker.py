"""The simulated broker end to end on virtual time, and the paper account behind it."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from better_orders.core.errors import BrokerError, InvalidInputError, JournalError, QuoteError
from better_orders.core.model import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
)
from better_orders.venues.base import Broker, Clock, QuoteFeed
from better_orders.venues.sim.account import DEFAULT_CASH, PaperAccount
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.faults import FaultPlan
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.venue import SimVenue

D = Decimal
START = datetime(2026, 3, 2, 14, 40, tzinfo=UTC)  # Monday 09:40 New York time


def limit_buy(coid: str, symbol: str, qty: int, price: Decimal) -> OrderRequest:
    return OrderRequest(coid, symbol, Side.BUY, D(qty), OrderType.LIMIT, price)


async def next_update(stream: AsyncIterator[OrderUpdate], timeout: float = 30) -> OrderUpdate:
    return await asyncio.wait_for(anext(stream), timeout)


async def until_terminal(stream: AsyncIterator[OrderUpdate], coid: str) -> list[OrderUpdate]:
    seen: list[OrderUpdate] = []
    while not seen or not seen[-1].status.is_terminal:
        update = await next_update(stream)
        if update.client_order_id == coid:
            seen.append(update)
    return seen


# -- end to end ------------------------------------------------------------------------------


def test_marketable_buy_end_to_end(tmp_path: Path) -> None:
    async def main() -> None:
        venue = SimVenue.create(start=START, seed=1, db_path=tmp_path / "bo.db")
        broker, feed = venue.broker, venue.feed
        assert isinstance(broker, Broker) and isinstance(feed, QuoteFeed)
        assert isinstance(venue.clock, Clock)
        stream = broker.order_updates()
        quote = await feed.latest_quote("TQQQ")
        assert quote.symbol == "TQQQ" and quote.ts <= START and quote.bid < quote.ask
        before = await broker.get_account()
        assert before.cash == DEFAULT_CASH

        ack = await broker.submit_order(limit_buy("e2e-1", "TQQQ", 50, quote.ask + D("0.05")))
        assert ack.status is OrderStatus.PENDING_NEW and ack.broker_order_id
        seen = await until_terminal(stream, "e2e-1")
        assert seen[0].status is OrderStatus.NEW
        assert seen[0].ts == START + timedelta(milliseconds=30)
        assert venue.clock.now() >= START + timedelta(milliseconds=35)
        assert seen[-1].status is OrderStatus.FILLED and seen[-1].filled_qty == 50
        fills = [u.fill for u in seen if u.fill is not None]
        assert sum(f.qty for f in fills) == 50
        assert all(f.price <= quote.ask + D("0.05") for f in fills)

        after = await broker.get_account()
        assert before.cash - after.cash == sum(f.qty * f.price for f in fills)
        positions = await broker.get_positions()
        assert [(p.symbol, p.qty) for p in positions] == [("TQQQ", 50)]
        assert positions[0].avg_entry_price == seen[-1].filled_avg_price
        order = await broker.get_order("e2e-1")
        assert order is not None and order.status is OrderStatus.FILLED
        assert await broker.list_open_orders() == []
        await venue.close()

    run_virtual(main(), START)


def test_market_sell_after_buy_round_trips_the_cash() -> None:
    async def main() -> None:
        venue = SimVenue.create(start=START, seed=2, db_path=None)
        broker = venue.broker
        stream = broker.order_updates()
        await broker.submit_order(OrderRequest("b", "SPY", Side.BUY, D(10), OrderType.MARKET))
        bought = await until_terminal(stream, "b")
        await broker.submit_order(OrderRequest("s", "SPY", Side.SELL, D(10), OrderType.MARKET))
        sold = await until_terminal(stream, "s")
        paid = sum(u.fill.qty * u.fill.price for u in bought if u.fill)
        got = sum(u.fill.qty * u.fill.price for u in sold if u.fill)
        account = await broker.get_account()
        assert account.cash == DEFAULT_CASH - paid + got
        assert await broker.get_positions() == []
        await venue.close()

    run_virtual(main(), START)


def test_pump_wakes_early_for_an_order_between_sparse_quotes() -> None:
    rows = [
        Quote("TQQQ", D("75.00"), D("75.02"), D(500), D(500), START),
        Quote("TQQQ", D("74.95"), D("74.97"), D(500), D(500), START + timedelta(seconds=10)),
        Quote("TQQQ", D("74.90"), D("74.92"), D(500), D(500), START + timedelta(seconds=20)),
    ]

    async def main() -> None:
        venue = SimVenue.create(start=START, replay={"TQQQ": ReplayQuotes.from_quotes(rows)})
        stream = venue.broker.order_updates()
        quotes = venue.feed.quotes(["TQQQ"])
        assert (await asyncio.wait_for(anext(quotes), 1)) == rows[0]
        await asyncio.sleep(1)
        await venue.broker.submit_order(limit_buy("p", "TQQQ", 100, D("74.98")))
        new = await next_update(stream)
        assert new.status is OrderStatus.NEW
        assert venue.clock.now() == START + timedelta(seconds=1, milliseconds=35)
        filled = await next_update(stream)
        assert filled.status is OrderStatus.FILLED and filled.fill is not None
        assert filled.fill.price == D("74.98")  # resting: crossed by the 10 s quote, at its limit
        assert venue.clock.now() == START + timedelta(seconds=10, milliseconds=5)
        assert (await asyncio.wait_for(anext(quotes), 30)) == rows[1]
        assert (await asyncio.wait_for(anext(quotes), 30)) == rows[2]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(quotes), 60)  # the file has ended
        await venue.close()
        with pytest.raises(StopAsyncIteration):
            await anext(stream)

    run_virtual(main(), START)


def test_quote_stream_only_carries_the_symbols_asked_for() -> None:
    async def main() -> None:
        venue = SimVenue.create(start=START, seed=4)
        stream = venue.feed.quotes(["SOXL"])
        seen = [await asyncio.wait_for(anext(stream), 5) for _ in range(20)]
        assert {q.symbol for q in seen} == {"SOXL"}
        assert all(a.ts < b.ts for a, b in itertools.pairwise(seen))
        other = venue.feed.quotes(["SQQQ"])
        assert venue.feed.watched_symbols == {"SOXL", "SQQQ"}
        await other.aclose()  # unsubscribes at once, even before the first quote
        assert venue.feed.watched_symbols == {"SOXL"}
        with pytest.raises(StopAsyncIteration):
            await anext(other)
        await stream.aclose()
        assert venue.feed.watched_symbols == frozenset()
        await venue.close()

    run_virtual(main(), START)


# -- account checks --------------------------------------------------------------------------


def test_insufficient_buying_power_is_refused_before_the_venue() -> None:
    async def main() -> None:
        venue = SimVenue.create(start=START, seed=1, starting_cash=D(1000))
        quote = await venue.feed.latest_quote("TQQQ")
        with pytest.raises(BrokerError) as err:
            await venue.broker.submit_order(limit_buy("big", "TQQQ", 100, quote.ask))
        assert err.value.code == "insufficient_buying_power"
        assert f"needs ${100 * quote.ask:,.2f}" in str(err.value)
        assert "available $1,000.00" in str(err.value)
        assert venue.exchange.order("big") is None
        await venue.close()

    run_virtual(main(), START)


def test_two_orders_cannot_spend_the_same_cash() -> None:
    async def main() -> None:
        venue = SimVenue.create(start=START, seed=1, starting_cash=D(10_000))
        broker = venue.broker
        stream = broker.order_updates()
        quote = await venue.feed.latest_quote("TQQQ")
        passive = quote.bid - D("5.00")  # rests: far below the market
        await broker.submit_order(limit_buy("one", "TQQQ", 100, passive))
        account = await broker.get_account()
        assert account.cash == D(10_000)
        assert account.buying_power == D(10_000) - 100 * passive
        with pytest.raises(BrokerError) as err:
            await broker.submit_order(limit_buy("two", "TQQQ", 100, passive))
        assert err.value.code == "insufficient_buying_power"
        assert "held for open buy orders" in str(err.value)
        await broker.cancel_order("one")
        assert (await until_terminal(stream, "one"))[-1].status is OrderStatus.CANCELED
        await broker.submit_order(limit_buy("two", "TQQQ", 100, passive))
        await venue.close()

    run_virtual(main(), START)


def test_market_buy_reserves_the_ask_with_a_cushion() -> None:
    async def main() -> None:
        venue = SimVenue.create(start=START, seed=1, starting_cash=D(10_000))
        quote = await venue.feed.latest_quote("TQQQ")
        affordable = int(D(10_000) / quote.ask)
        with pytest.raises(BrokerError) as err:
            # Affordable at the ask, but not with the 5% cushion a market order holds.
            await venue.broker.submit_order(
                OrderRequest("m", "TQQQ", Side.BUY, D(affordable), OrderType.MARKET)
            )
        assert err.value.code == "insufficient_buying_power"
        await venue.close()

    run_virtual(main(), START)


def test_selling_more_than_held_is_refused() -> None:
    async def main() -> None:
        venue = SimVenue.create(start=START, seed=1)
        with pytest.raises(BrokerError) as err:
            await venue.broker.submit_order(
                OrderRequest("s", "TQQQ", Side.SELL, D(10), OrderType.MARKET)
            )
        assert err.value.code == "insufficient_qty" and "holding 0" in str(err.value)
        await venue.close()

    run_virtual(main(), START)


def test_assets_unknown_and_untradable_symbols() -> None:
    async def main() -> None:
        venue = SimVenue.create(
            start=START, seed=1, unknown_symbols=["GONE"], untradable_symbols=["HALT"]
        )
        broker = venue.broker
        asset = await broker.get_asset("tqqq")
        assert (asset.symbol, asset.tradable, asset.fractionable) == ("TQQQ", True, True)
        assert (await broker.get_asset("HALT")).tradable is False
        for bad in ("GONE", "not a symbol"):
            with pytest.raises(BrokerError) as err:
                await broker.get_asset(bad)
            assert err.value.code == "unknown_symbol"
        with pytest.raises(BrokerError) as err:
            await broker.submit_order(limit_buy("h", "HALT", 1, D("10.00")))
        assert err.value.code == "asset_not_tradable"
        with pytest.raises(BrokerError) as err:
            await broker.submit_order(limit_buy("g", "GONE", 1, D("10.00")))
        assert err.value.code == "unknown_symbol"
        with pytest.raises(BrokerError) as err:
            await venue.feed.latest_quote("GONE")
        assert err.value.code == "unknown_symbol"
        await venue.close()

    run_virtual(main(), START)


def test_replay_venue_before_the_first_quote_has_none() -> None:
    rows = [Quote("SPY", D("660.00"), D("660.01"), D(100), D(100), START + timedelta(minutes=1))]

    async def main() -> None:
        venue = SimVenue.create(start=START, replay={"spy": ReplayQuotes.from_quotes(rows)})
        with pytest.raises(QuoteError, match="no quote for SPY yet"):
            await venue.feed.latest_quote("SPY")
        await asyncio.sleep(60)
        assert await venue.feed.latest_quote("SPY") == rows[0]
        with pytest.raises(BrokerError):
            await venue.feed.latest_quote("QQQ")
        await venue.close()

    run_virtual(main(), START)


# -- faults through the broker -----------------------------------------------------------------


def test_lost_submit_response_is_resolved_by_looking_the_order_up() -> None:
    async def main() -> None:
        venue = SimVenue.create(start=START, seed=1, faults=FaultPlan().lose_submit_response("t-1"))
        broker = venue.broker
        stream = broker.order_updates()
        quote = await venue.feed.latest_quote("TQQQ")
        with pytest.raises(BrokerError) as err:
            await broker.submit_order(limit_buy("t-1", "TQQQ", 10, quote.ask + D("0.05")))
        assert err.value.code == "timeout" and err.value.retryable
        found = await broker.get_order("t-1")
        assert found is not None
        assert (await until_terminal(stream, "t-1"))[-1].status is OrderStatus.FILLED
        assert [(p.symbol, p.qty) for p in await broker.get_positions()] == [("TQQQ", 10)]
        await venue.close()

    run_virtual(main(), START)


def test_account_follows_the_venue_when_the_fill_update_is_dropped() -> None:
    async def main() -> None:
        plan = FaultPlan().drop_updates(statuses=["filled", "partially_filled"], count=None)
        venue = SimVenue.create(start=START, seed=1, faults=plan)
        broker = venue.broker
        stream = broker.order_updates()
        quote = await venue.feed.latest_quote("TQQQ")
        await broker.submit_order(limit_buy("d", "TQQQ", 10, quote.ask + D("0.05")))
        assert (await next_update(stream)).status is OrderStatus.NEW
        with pytest.raises(TimeoutError):
            await next_update(stream, timeout=5)
        order = await broker.get_order("d")
        assert order is not None and order.status is OrderStatus.FILLED
        assert [(p.symbol, p.qty) for p in await broker.get_positions()] == [("TQQQ", 10)]
        account = await broker.get_account()
        assert account.cash == DEFAULT_CASH - 10 * order.filled_avg_price  # type: ignore[operator]
        assert plan.injected["drop"] >= 1
        await venue.close()

    run_virtual(main(), START)


def test_a_failing_venue_surfaces_the_error_to_subscribers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def main() -> None:
        venue = SimVenue.create(start=START, seed=1)
        stream = venue.broker.order_updates()
        quote = await venue.feed.latest_quote("TQQQ")
        await venue.broker.submit_order(limit_buy("f", "TQQQ", 1, quote.bid))

        def broken(until: datetime) -> list[object]:
            raise RuntimeError("matching engine crashed")

        monkeypatch.setattr(venue.exchange, "advance", broken)
        with pytest.raises(RuntimeError, match="matching engine crashed"):
            await next_update(stream)
        with pytest.raises(RuntimeError, match="matching engine crashed"):
            await next_update(stream)
        with pytest.raises(BrokerError) as err:
            await venue.broker.submit_order(limit_buy("g", "TQQQ", 1, quote.bid))
        assert err.value.code == "venue_failed"
        monkeypatch.undo()
        await venue.close()

    run_virtual(main(), START)


def test_closed_broker_refuses_orders() -> None:
    async def main() -> None:
        venue = SimVenue.create(start=START, seed=1)
        await venue.close()
        with pytest.raises(BrokerError) as err:
            await venue.broker.submit_order(limit_buy("x", "TQQQ", 1, D("10.00")))
        assert err.value.code == "closed"

    run_virtual(main(), START)


# -- persistence -------------------------------------------------------------------------------


def test_account_persists_across_venues_on_the_same_file(tmp_path: Path) -> None:
    db = tmp_path / "better-orders.db"
    with sqlite3.connect(db) as conn:  # the journal's own tables live in the same file
        conn.execute("CREATE TABLE runs (id TEXT PRIMARY KEY)")
        conn.execute("INSERT INTO runs VALUES ('r1')")
    conn.close()

    async def first() -> tuple[Decimal, list[OrderUpdate]]:
        venue = SimVenue.create(start=START, seed=1, db_path=db)
        stream = venue.broker.order_updates()
        await venue.broker.submit_order(
            OrderRequest("p-1", "SPY", Side.BUY, D(20), OrderType.MARKET)
        )
        seen = await until_terminal(stream, "p-1")
        cash = (await venue.broker.get_account()).cash
        await venue.close()
        return cash, seen

    cash, seen = run_virtual(first(), START)
    assert cash == DEFAULT_CASH - sum(u.fill.qty * u.fill.price for u in seen if u.fill)

    async def second() -> None:
        venue = SimVenue.create(start=START + timedelta(days=1), seed=2, db_path=db)
        assert (await venue.broker.get_account()).cash == cash
        positions = await venue.broker.get_positions()
        assert [(p.symbol, p.qty) for p in positions] == [("SPY", 20)]
        assert positions[0].avg_entry_price == seen[-1].filled_avg_price
        await venue.close()

    run_virtual(second(), START + timedelta(days=1))
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT id FROM runs").fetchall() == [("r1",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    account = PaperAccount.load(db)
    account.reset(D(5000))
    reloaded = PaperAccount.load(db)
    assert reloaded.cash == D(5000) and reloaded.positions == {}


# -- the paper account ---------------------------------------------------------------------------


def fill(side: Side, qty: str, price: str, n: int = 1) -> Fill:
    return Fill(f"x-{n}", "c", "TQQQ", side, D(qty), D(price), START)


def test_apply_fill_tracks_cash_and_average_entry() -> None:
    account = PaperAccount(D(10_000))
    account.apply_fill(fill(Side.BUY, "10", "50.00"))
    account.apply_fill(fill(Side.BUY, "30", "54.00", 2))
    position = account.positions["TQQQ"]
    assert position.qty == 40 and position.avg_entry_price == D("53.00")
    assert account.cash == D(10_000) - D(500) - D(1620)
    account.apply_fill(fill(Side.SELL, "15", "60.00", 3))
    assert account.positions["TQQQ"].avg_entry_price == D("53.00")
    assert account.qty("TQQQ") == 25
    assert account.equity({"TQQQ": D("61.00")}) == account.cash + 25 * D("61.00")
    account.apply_fill(fill(Side.SELL, "25", "61.00", 4))
    assert account.positions == {} and account.cash == D(10_000) - 2120 + 900 + 1525


def test_account_checks_and_errors(tmp_path: Path) -> None:
    account = PaperAccount(D(1000))
    account.check_buy("TQQQ", D(10), D("50.00"), reserved=D(0))
    with pytest.raises(BrokerError, match=r"\$200\.00 held for open buy orders"):
        account.check_buy("TQQQ", D(10), D("90.00"), reserved=D(200))
    with pytest.raises(InvalidInputError):
        PaperAccount(D(-1))
    with pytest.raises(InvalidInputError, match="no file"):
        account.save()
    assert PaperAccount.load(tmp_path / "new.db").cash == DEFAULT_CASH
    bad = tmp_path / "bad.db"
    PaperAccount(D(1)).save(bad)
    with sqlite3.connect(bad) as conn:
        conn.execute("UPDATE paper_account SET cash = 'lots'")
    conn.close()
    with pytest.raises(JournalError, match="corrupt paper account"):
        PaperAccount.load(bad)


def test_fills_move_the_saved_account_and_two_stale_views_lose_none(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    PaperAccount(D(10_000)).save(db)
    # Two processes' views of one file, each loaded before the other traded.
    first, second = PaperAccount.load(db), PaperAccount.load(db)
    first.record(fills=[fill(Side.BUY, "10", "50.00", 1)])
    second.record(fills=[fill(Side.BUY, "30", "54.00", 2)])
    assert second.qty("TQQQ") == 40 and second.cash == D(10_000) - 500 - 1620
    first.record(fills=[fill(Side.BUY, "10", "50.00", 1)])  # seen again: moves nothing
    saved = PaperAccount.load(db)
    assert saved.positions == first.positions == second.positions
    assert saved.positions["TQQQ"].avg_entry_price == D("53.00")
    assert saved.cash == first.cash == D(10_000) - 500 - 1620
    with pytest.raises(InvalidInputError, match="no file"):
        PaperAccount(D(1)).record(fills=[fill(Side.BUY, "1", "1.00")])


def test_the_first_fill_on_a_new_file_starts_from_the_accounts_own_cash(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite3"
    account = PaperAccount.load(db, default_cash=D(5000))
    account.record(fills=[fill(Side.BUY, "10", "50.00")])
    assert PaperAccount.load(db).cash == D(4500)
    assert account.cash == D(4500) and account.qty("TQQQ") == 10


def test_a_venue_writes_nothing_when_it_closes_and_a_read_only_one_writes_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.sqlite3"
    PaperAccount(D(7000)).save(db)

    async def open_and_close(persist: bool) -> None:
        venue = SimVenue.create(start=START, seed=1, db_path=db, persist=persist)
        await venue.broker.get_account()
        # Meanwhile another process traded the account.
        PaperAccount.load(db).record(fills=[fill(Side.BUY, "10", "50.00")])
        await venue.close()

    run_virtual(open_and_close(persist=True), START)
    run_virtual(open_and_close(persist=False), START + timedelta(days=1))
    saved = PaperAccount.load(db)
    assert saved.cash == D(6500) and saved.qty("TQQQ") == 10  # neither close overwrote it
