"""Replay fast paths make the very fills of the row-by-row replay.

Two of them: ``replay_marketable_orders(fast=True)`` (a vectorised stream of
immediate-or-cancel orders) and the TCA driver's quote skipping (a numpy
pre-screen that drops rows which can neither change a decision, nor fill a
resting order, nor move its place in the queue).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import OrderRequest, OrderType, Quote, Side
from better_orders.tca.decisions import QuoteFile
from better_orders.tca.driver import ReplayDriver
from better_orders.tca.evaluate import ReplayCounters, evaluate_file
from better_orders.tca.marketable import MarketableReplayStats, replay_marketable_orders
from better_orders.tca.metrics import DecisionRecord
from better_orders.tca.policies import BUILTIN_POLICIES, Policy
from better_orders.venues.sim.book import QuoteBook
from better_orders.venues.sim.exchange import Latency, SimExchange
from better_orders.venues.sim.files import TradePrints, to_ns
from better_orders.venues.sim.replay import ReplayQuotes, merge_trades
from better_orders.venues.sim.source import Execution

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


def test_executions_and_prints_do_not_touch_immediate_or_cancel_orders() -> None:
    # The fast path reads no executions: IOC orders never rest, so none can reach them.
    rows = [
        Quote("ABC", D("10.00"), D("10.02"), D(300), D(100), at(0)),
        Quote("ABC", D("10.00"), D("10.02"), D(300), D(40), at(1)),
        Quote("ABC", D("9.99"), D("10.02"), D(200), D(40), at(2)),
    ]
    executions = {1: Execution(D("10.02"), D(60), -1), 2: Execution(D("10.00"), D(300), 1)}
    rq = ReplayQuotes.from_quotes(rows, executions=executions)
    orders = [(at(0.5), Side.BUY, D(250)), (at(1.5), Side.BUY, D(250)), (at(2.5), Side.SELL, D(50))]
    slow, fast = both(rq, orders)
    assert_same(slow, fast)
    assert [(f.qty, f.price) for f in fast.fill_records] == [
        (D(100), D("10.02")),
        (D(40), D("10.02")),
        (D(50), D("9.99")),
    ]


# -- the driver's quote skipping against the queue model ----------------------------------------


def _churning_book(seed: int, *, lobster: bool) -> ReplayQuotes:
    """A book that mostly keeps its prices and churns its sizes, with trades at and through
    the touch: resting orders join queues, move up, lose their place and fill in part."""
    rng = random.Random(seed)
    t, bid, spread, rows = 0.0, 4000, 6, []
    executions: dict[int, Execution] = {}
    bid_sz, ask_sz = 300, 300
    while t < 200:
        t += rng.choice([0.0, 0.001, 0.05, 0.2, 0.6, 1.5])
        roll = rng.random()
        if roll < 0.55:  # same prices, new sizes: cancellations and new orders
            bid_sz = max(0, bid_sz + rng.choice([-200, -100, -50, 50, 100, 300]))
            ask_sz = max(0, ask_sz + rng.choice([-200, -100, -50, 50, 100, 300]))
        else:
            bid += rng.choice([-2, -1, 0, 0, 1, 2])
            spread = rng.choice([1, 1, 2, 3, 6, 12, 25, 40])
            bid_sz, ask_sz = rng.choice([100, 300, 800]), rng.choice([100, 300, 800])
        if lobster and rng.random() < 0.3:
            on_bid = rng.random() < 0.5
            px = bid + (rng.choice([0, 0, -1]) if on_bid else spread + rng.choice([0, 0, 1]))
            executions[len(rows)] = Execution(
                D(px).scaleb(-2), D(rng.choice([50, 100, 300, 700])), 1 if on_bid else -1
            )
        rows.append(
            Quote(
                "ABC",
                D(bid).scaleb(-2),
                D(bid + spread).scaleb(-2),
                D(bid_sz),
                D(ask_sz),
                OPEN + timedelta(seconds=t),
            )
        )
    quotes = ReplayQuotes.from_quotes(rows, executions=executions or None)
    if lobster:
        return quotes
    # Trades-file prints (direction unknown) at, inside and through the touch.
    stamps, prices, sizes = [], [], []
    for row in rows[::3]:
        when = to_ns(row.ts) + rng.choice([0, 1_000_000, 40_000_000])
        cents = int(row.bid * 100) + rng.choice([-1, 0, 0, 1, int(row.spread * 100)])
        stamps.append(when)
        prices.append(cents * 100)
        sizes.append(rng.choice([50, 100, 300, 700]))
    order = sorted(range(len(stamps)), key=stamps.__getitem__)
    prints = TradePrints(
        ts_ns=np.array([stamps[i] for i in order], dtype=np.int64),
        price_e4=np.array([prices[i] for i in order], dtype=np.int64),
        size=np.array([sizes[i] for i in order], dtype=np.int64),
    )
    return merge_trades(quotes, prints)


@st.composite
def resting_books(draw: st.DrawFn) -> tuple[ReplayQuotes, Side, D, D]:
    """Rows 10 ms apart whose touches hover around a resting limit of 10.00, with
    executions (LOBSTER) and prints (direction unknown, on rows repeating the book)."""
    rows: list[Quote] = []
    executions: dict[int, Execution] = {}
    bid, ask = 1000, 1002
    for i in range(draw(st.integers(min_value=2, max_value=30))):
        direction = draw(st.sampled_from([None, None, -1, 0, 1]))
        if direction == 0 and rows:  # a trades-file print row repeats the book in force
            last = rows[-1]
            rows.append(Quote("ABC", last.bid, last.ask, last.bid_size, last.ask_size, at(i / 100)))
        else:
            if not rows or draw(st.booleans()):  # else the same prices with new sizes
                bid = 1000 + draw(st.integers(min_value=-3, max_value=2))
                ask = bid + draw(st.integers(min_value=1, max_value=4))
            sizes = st.sampled_from([0, 100, 200, 500])
            bid_size, ask_size = D(draw(sizes)), D(draw(sizes))
            rows.append(
                Quote("ABC", D(bid).scaleb(-2), D(ask).scaleb(-2), bid_size, ask_size, at(i / 100))
            )
        if direction is not None and i > 0:
            px = D(1000 + draw(st.integers(min_value=-2, max_value=2))).scaleb(-2)
            size = D(draw(st.sampled_from([50, 100, 300, 600])))
            away = direction == 0 and draw(st.booleans())  # a print on another venue
            executions[i] = Execution(px, size, direction, away=away)
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    qty = D(draw(st.sampled_from([100, 300, 1000])))
    return ReplayQuotes.from_quotes(rows, executions=executions or None), side, D("10.00"), qty


@settings(max_examples=200, deadline=None)
@given(resting_books())
def test_the_skip_pre_screen_finds_every_row_that_fills_or_requeues_a_resting_limit(
    case: tuple[ReplayQuotes, Side, D, D],
) -> None:
    rq, side, limit, qty = case
    venue = SimExchange(
        QuoteBook.replay({"ABC": rq.starting_at(None)}),
        latency=Latency(submit=timedelta(milliseconds=1)),
    )
    venue.submit(OrderRequest("o", "ABC", side, qty, OrderType.LIMIT, limit), at(0.001))
    venue.advance(at(0.005))
    driver = ReplayDriver(rq)
    states: list[tuple[D, D | None, bool]] = []  # before each row: filled, ahead, resting
    for i in range(1, len(rq)):
        order = venue.order("o")
        assert order is not None
        states.append((order.filled_qty, venue.queue_ahead("o"), not order.status.is_terminal))
        venue.advance(rq.quote_at(i).ts)
    order = venue.order("o")
    assert order is not None
    states.append((order.filled_qty, venue.queue_ahead("o"), not order.status.is_terminal))
    # states[k] is the state before row k + 1 is processed.
    for i in range(1, len(rq)):
        _, ahead, resting = states[i - 1]
        if not resting:
            break
        changes = [j for j in range(i, len(rq)) if states[j][:2] != states[j - 1][:2]]
        found = driver.first_fill(i, len(rq), side, limit, ahead)
        if changes:
            assert found is not None and found <= changes[0], (i, ahead, changes[0], found)


def _resting_policies() -> list[Policy]:
    """Policies whose orders rest: the default ladder's slice, all of it, the passive walk,
    and patient rests (inside the spread, and joining the touch on a short queue, with the
    volatility bound) that end early when the book turns against them."""
    rest_all = Policy("rest-all", {"timing": {"rest_fraction": 1}})
    patient = Policy("patient", {"patience": {"opening_seconds": 8, "at": D("0.5")}})
    joining = Policy(
        "joining",
        {
            "spread": {"wait_cap_bps": D(100)},
            "patience": {"opening_seconds": 20, "at": D(0), "max_lean": D(0), "drift_k": 2},
        },
    )
    return [BUILTIN_POLICIES["ladder"], BUILTIN_POLICIES["passive"], rest_all, patient, joining]


def _skipping_equals_row_by_row(
    qf: QuoteFile, policies: list[Policy], times: list[datetime], counters: ReplayCounters
) -> list[DecisionRecord]:
    """Both replays of every policy at ``times``, both sides: the same orders, fills and
    costs (everything a record reports). Returns the row-by-row records."""
    fast = evaluate_file(qf, policies, BetterOrdersConfig(), times, counters=counters)
    slow = evaluate_file(qf, policies, BetterOrdersConfig(), times, skip=False)
    assert len(fast) == len(slow) == len(times) * 2 * len(policies)
    for a, b in zip(fast, slow, strict=True):
        _same_orders_and_fills(a, b)
        assert a.as_dict() == b.as_dict()
    return slow


def _same_orders_and_fills(a: DecisionRecord, b: DecisionRecord) -> None:
    assert [(x.kind, x.limit_price, x.qty, x.started) for x in a.report.attempts] == [
        (x.kind, x.limit_price, x.qty, x.started) for x in b.report.attempts
    ]
    assert [(f.price, f.qty, f.ts) for f in a.report.fills] == [
        (f.price, f.qty, f.ts) for f in b.report.fills
    ]


@pytest.mark.parametrize(
    ("seed", "lobster"), [(1, True), (2, True), (5, True), (3, False), (4, False), (6, False)]
)
def test_skipping_quotes_keeps_queue_positions_and_fills(seed: int, lobster: bool) -> None:
    qf = QuoteFile("churn", _churning_book(seed, lobster=lobster))
    times = [OPEN + timedelta(seconds=s) for s in range(0, 100, 7)]
    counters = ReplayCounters()
    slow = _skipping_equals_row_by_row(qf, _resting_policies(), times, counters)
    # The book is busy enough that queues matter, and rows are still skipped.
    partial = [r for r in slow if any(f.qty < r.report.requested_qty for f in r.report.fills)]
    assert partial
    assert counters.rows_skipped > 0


SHARED_FILES = [
    ("lobster_AAPL_20120621_l1.csv.gz", False),  # LOBSTER: executions in the file
    ("taq_XXX_20180102_nyse_bbo.csv.gz", True),  # TAQ quotes with the trades file's prints
]


@pytest.mark.parametrize(("name", "with_trades"), SHARED_FILES)
def test_the_skipping_replay_equals_the_row_by_row_one_on_the_shared_files(
    quotes_dir: Path, name: str, with_trades: bool
) -> None:
    """Orders, fills and costs of every built-in policy, on real books: the fast replay
    (rows skipped, chunked searches) against every row through the venue."""
    path = quotes_dir / name
    if not path.is_file():
        pytest.skip(f"{name} not in the shared data")
    qf = QuoteFile.load(path, find_trades=with_trades)
    opened = qf.session_open()
    # The busy opening minutes (spread waits, re-pegs) and a sample of the day.
    seconds = [*range(0, 300, 23), *range(1800, 23_000, 1800)]
    times = [opened + timedelta(seconds=s) for s in seconds]
    policies = [BUILTIN_POLICIES[n] for n in ("seed-ladder", "ladder", "passive", "walk", "market")]
    counters = ReplayCounters()
    _skipping_equals_row_by_row(qf, policies, times, counters)
    assert counters.rows_skipped > counters.rows_processed


@pytest.mark.parametrize(("name", "with_trades"), SHARED_FILES)
def test_the_one_row_checks_agree_with_the_searches_on_the_shared_files(
    quotes_dir: Path, name: str, with_trades: bool
) -> None:
    """``fills_at`` and ``ends_rest_at`` (the driver's check of the next row before it
    searches) flag a row exactly when the search starting there stops on it."""
    path = quotes_dir / name
    if not path.is_file():
        pytest.skip(f"{name} not in the shared data")
    quotes = QuoteFile.load(path, find_trades=with_trades).quotes
    driver = ReplayDriver(quotes)
    rng = random.Random(7)
    rows = rng.sample(range(len(quotes) - 1), 400)
    for row in rows:
        bid, ask = int(quotes.bid_e4[row]), int(quotes.ask_e4[row])
        shown = int(quotes.bid_sz[row])
        for side in (Side.BUY, Side.SELL):
            for e4 in {bid, ask, bid - 100, ask + 100, (bid + ask) // 200 * 100}:
                limit = D(e4).scaleb(-4)
                for ahead in (None, D(0), D(max(shown, 1)), D(shown + 100)):
                    searched = driver.first_fill(row, row + 1, side, limit, ahead) == row
                    assert driver.fills_at(row, side, limit, ahead) is searched
                for lean in (D(0), D("0.3"), D("-0.5")):
                    searched = driver.first_rest_ender(row, row + 1, side, limit, lean) == row
                    assert driver.ends_rest_at(row, side, limit, lean) is searched
