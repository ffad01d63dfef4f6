"""The fast path of ``replay_marketable_orders`` makes the very fills of the row-by-row replay."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote, Side
from better_orders.tca.marketable import MarketableReplayStats, replay_marketable_orders
from better_orders.venues.sim.exchange import Latency
from better_orders.venues.sim.replay import ReplayQuotes

OPEN = datetime(2024, 1, 9, 14, 30, tzinfo=UTC)  # 09:30 New York
Orders = list[tuple[datetime, Side, D]]


def both(
    rq: ReplayQuotes, orders: Orders, latency: Latency = Latency(), ticks: int = 1
) -> tuple[MarketableReplayStats, MarketableReplayStats]:
    slow = replay_marketable_orders(rq, orders, latency=latency, ticks=ticks)
    fast = replay_marketable_orders(rq, orders, latency=latency, ticks=ticks, fast=True)
    return slow, fast


def assert_same(slow: MarketableReplayStats, fast: MarketableReplayStats) -> None:
    assert fast.fill_records == slow.fill_records
    assert (fast.orders, fast.fills, fast.filled_qty, fast.quotes_processed) == (
        slow.orders,
        slow.fills,
        slow.filled_qty,
        slow.quotes_processed,
    )


def at(seconds: float) -> datetime:
    return OPEN + timedelta(seconds=seconds)


def book(rows: list[tuple[float, str, str, int, int]]) -> ReplayQuotes:
    """(seconds after the open, bid, ask, bid size, ask size) per row."""
    return ReplayQuotes.from_quotes(
        Quote("ABC", D(bid), D(ask), D(bs), D(az), at(t)) for t, bid, ask, bs, az in rows
    )


def test_two_orders_on_one_top_share_its_displayed_size() -> None:
    rq = book([(0, "10.00", "10.02", 300, 150), (5, "10.01", "10.03", 80, 400)])
    orders = [
        (at(1), Side.BUY, D(100)),
        (at(1.01), Side.BUY, D(100)),  # same top: only 50 of the 150 offered are left
        (at(5.5), Side.SELL, D(100)),  # a new row: its own 80 bid, at 10.01
    ]
    slow, fast = both(rq, orders)
    assert_same(slow, fast)
    assert [(f.client_order_id, f.qty, f.price) for f in fast.fill_records] == [
        ("mkt-1", D(100), D("10.02")),
        ("mkt-2", D(50), D("10.02")),
        ("mkt-3", D(80), D("10.01")),
    ]
    # Each fill is stamped when the order reached the venue (30 ms after it was sent).
    assert [f.ts for f in fast.fill_records] == [at(1.03), at(1.04), at(5.53)]
    assert fast.rows_read == 2 and slow.rows_read is None


def test_order_arriving_after_the_book_moved_fills_at_the_new_touch_or_not_at_all() -> None:
    # Priced off 10.02; 30 ms later the ask is 10.03 (still within ask + 1 tick), then 10.10.
    rq = book(
        [
            (0, "10.00", "10.02", 100, 100),
            (1.01, "10.01", "10.03", 100, 100),
            (2.01, "10.08", "10.10", 100, 100),
        ]
    )
    orders = [(at(1), Side.BUY, D(100)), (at(2), Side.BUY, D(100))]
    slow, fast = both(rq, orders)
    assert_same(slow, fast)
    assert [(f.client_order_id, f.price) for f in fast.fill_records] == [("mkt-1", D("10.03"))]


def test_orders_before_the_first_quote_send_nothing() -> None:
    rq = book([(10, "5.00", "5.01", 100, 100)])
    orders = [(at(1), Side.BUY, D(10)), (at(11), Side.SELL, D(10))]
    slow, fast = both(rq, orders)
    assert_same(slow, fast)
    assert [(f.client_order_id, f.price, f.qty) for f in fast.fill_records] == [
        ("mkt-2", D("5.00"), D(10))
    ]


def test_a_sell_priced_below_zero_fails_the_same_way() -> None:
    rq = book([(0, "0.0001", "0.0003", 100, 100)])
    orders = [(at(1), Side.SELL, D(10))]
    for fast in (False, True):
        with pytest.raises(InvalidInputError, match="at or below zero"):
            replay_marketable_orders(rq, orders, fast=fast)


def test_market_data_latency_falls_back_to_the_row_by_row_replay() -> None:
    rq = book([(0, "10.00", "10.02", 100, 100), (1.005, "10.03", "10.05", 100, 100)])
    orders = [(at(1.01), Side.BUY, D(100))]
    latency = Latency(market_data=timedelta(milliseconds=10))
    slow, fast = both(rq, orders, latency=latency)
    assert_same(slow, fast)
    assert fast.rows_read is None
    # Priced off the 0 s quote (the 1.005 row is published only at 1.015): a 10.03 limit
    # that no longer reaches the 10.05 ask when it arrives.
    assert fast.fills == 0


prices = st.integers(min_value=1, max_value=400)  # in ticks of the grid below


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[ReplayQuotes, Orders, Latency, int]:
    cheap = draw(st.booleans())  # below $1 the grid is $0.0001
    tick, base = (D("0.0001"), D("0.5")) if cheap else (D("0.01"), D(20))
    n = draw(st.integers(min_value=1, max_value=40))
    t, rows = 0.0, []
    for _ in range(n):
        t += draw(st.sampled_from([0.0, 0.001, 0.01, 0.03, 0.2, 1.0]))  # repeats, bursts
        bid = base + tick * draw(prices)
        ask = bid + tick * draw(st.integers(min_value=0, max_value=5))  # locked rows too
        sizes = draw(st.tuples(st.integers(0, 500), st.integers(0, 500)))
        rows.append(Quote("ABC", bid, ask, D(sizes[0]), D(sizes[1]), at(t)))
    m = draw(st.integers(min_value=1, max_value=30))
    orders = [
        (
            at(round(draw(st.floats(min_value=-0.5, max_value=t + 1.0)), 3)),
            draw(st.sampled_from([Side.BUY, Side.SELL])),
            D(draw(st.sampled_from(["1", "50", "100", "250", "0.5"]))),
        )
        for _ in range(m)
    ]
    submit = draw(st.sampled_from([0, 1, 30, 500]))
    latency = Latency(submit=timedelta(milliseconds=submit))
    return ReplayQuotes.from_quotes(rows), orders, latency, draw(st.integers(0, 3))


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_fast_path_fills_equal_row_by_row_on_synthetic_books(
    case: tuple[ReplayQuotes, Orders, Latency, int],
) -> None:
    rq, orders, latency, ticks = case
    slow, fast = both(rq, orders, latency=latency, ticks=ticks)
    assert_same(slow, fast)


def test_fast_path_fills_equal_row_by_row_on_real_quotes(quotes_dir: Path) -> None:
    rq = ReplayQuotes.from_file(quotes_dir / "lobster_AAPL_20120621_l1.csv.gz")
    opened = datetime(2012, 6, 21, 13, 30, tzinfo=UTC)
    rng = random.Random(7)
    # The busy first minutes, with orders close enough to share tops and overlap in flight.
    orders = [
        (opened + timedelta(milliseconds=rng.randrange(0, 300_000)), rng.choice(list(Side)), q)
        for q in (D(rng.choice([100, 200, 1000])) for _ in range(3000))
    ]
    # And a sparse stream over the whole session.
    orders += [
        (opened + timedelta(seconds=5 + 60 * k), Side.BUY if k % 2 else Side.SELL, D(100))
        for k in range(390)
    ]
    slow, fast = both(rq, orders)
    assert_same(slow, fast)
    # Every branch is exercised: full fills, fills cut to the size shown, and no fill.
    asked = {f"mkt-{n}": q for n, (_, _, q) in enumerate(sorted(orders, key=lambda o: o[0]), 1)}
    partial = [f for f in slow.fill_records if f.qty < asked[f.client_order_id]]
    assert 1000 < slow.fills < len(orders)
    assert 0 < len(partial) < slow.fills
    assert fast.rows_read is not None and fast.rows_read < fast.quotes_processed / 10
