"""The synchronous replay driver: hand-computed fills, agreement with the asyncio runner,
and skipping quotes changes nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.core.ladder import LadderParams, ParentOrder
from better_orders.core.market_calendar import default_calendar
from better_orders.core.model import AttemptKind, ExecutionReport, OrderStatus, Quote, Side
from better_orders.engine.legs import Leg
from better_orders.engine.runner import Runner
from better_orders.tca.decisions import QuoteFile
from better_orders.tca.driver import ReplayDriver
from better_orders.tca.evaluate import evaluate_file
from better_orders.tca.marketable import replay_marketable_orders
from better_orders.tca.policies import BUILTIN_POLICIES, Policy
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.venue import SimVenue

OPEN = datetime(2024, 1, 9, 14, 30, tzinfo=UTC)  # 09:30 New York


def quotes(
    rows: list[tuple[float, str, str]], symbol: str = "ABC", size: int = 500
) -> ReplayQuotes:
    """(seconds after the open, bid, ask); each row repeated every second until the next."""
    out: list[Quote] = []
    for k, (at, bid, ask) in enumerate(rows):
        until = rows[k + 1][0] if k + 1 < len(rows) else at + 120
        t = at
        while t < until:
            out.append(Quote(symbol, D(bid), D(ask), D(size), D(size), OPEN + timedelta(seconds=t)))
            t += 1
    return ReplayQuotes.from_quotes(out)


#: 40c wide at the open (80 bps: worth waiting out), 2c at 09:30:20.
SCENARIO = [(0.0, "50.00", "50.40"), (20.0, "50.10", "50.12")]


def params(config: BetterOrdersConfig | None = None) -> LadderParams:
    cfg = BUILTIN_POLICIES["ladder"].config(config or BetterOrdersConfig())
    return ladder_params(cfg, "ABC")


def test_driver_waits_out_the_wide_spread_then_fills_at_the_ask() -> None:
    driver = ReplayDriver(quotes(SCENARIO))
    idle = params(BetterOrdersConfig.model_validate({"timing": {"rest_fraction": 0}}))
    outcome = driver.run(ParentOrder("ABC", Side.BUY, D(100)), idle, OPEN)
    report = outcome.report
    assert report.arrival_mid == D("50.20")
    assert [a.kind for a in report.attempts] == [AttemptKind.AGGRESSIVE]
    assert report.attempts[0].limit_price == D("50.13")  # ask + 1 tick
    assert report.attempts[0].started == OPEN + timedelta(seconds=20)
    assert [(f.price, f.qty) for f in report.fills] == [(D("50.12"), D(100))]
    # The order reaches the venue 30 ms after the quote that ended the wait.
    assert report.fills[0].ts == OPEN + timedelta(seconds=20, milliseconds=30)
    assert report.waited_seconds == pytest.approx(20.0)
    assert report.cost_bps == pytest.approx(float((D("50.12") - D("50.20")) / D("50.20") * 10_000))
    assert outcome.rows_skipped > 0  # the 19 wide quotes in between were never looked at


def test_by_default_a_quarter_rests_through_the_wait_and_the_rest_crosses_when_it_comes_in() -> (
    None
):
    driver = ReplayDriver(quotes(SCENARIO))
    report = driver.run(ParentOrder("ABC", Side.BUY, D(100)), params(), OPEN).report
    rest, cross, left = report.attempts
    # 25 one tick inside the bid from the open; nothing trades there, so it never fills.
    assert (rest.kind, rest.qty, rest.limit_price, rest.filled_qty) == (
        AttemptKind.PASSIVE,
        D(25),
        D("50.01"),
        D(0),
    )
    assert rest.started == OPEN
    # The other 75 cross with the cancel, and the 25 once the cancel is confirmed.
    assert (cross.kind, cross.qty, cross.limit_price) == (AttemptKind.AGGRESSIVE, D(75), D("50.13"))
    assert cross.started == OPEN + timedelta(seconds=20)
    assert (left.qty, left.limit_price) == (D(25), D("50.13"))
    assert report.filled_qty == D(100) and report.avg_fill_price == D("50.12")
    assert report.waited_seconds == pytest.approx(20.0)


def _runner_report(
    rq: ReplayQuotes, parent: ParentOrder, p: LadderParams, tmp: Path
) -> ExecutionReport:
    async def main() -> ExecutionReport:
        venue = SimVenue.create(start=OPEN, replay={"ABC": rq}, db_path=tmp / "paper.sqlite3")
        try:
            runner = Runner(venue.broker, venue.feed, venue.clock, default_calendar(), run_id="r1")
            (report,) = await runner.run([Leg(1, parent, p)])
            return report
        finally:
            await venue.close()

    return run_virtual(main(), start=OPEN)


@pytest.mark.parametrize("qty", [100, 300])
def test_driver_and_asyncio_runner_make_the_same_orders_and_fills(qty: int, tmp_path: Path) -> None:
    # 200 shown at the touch: 300 fills partly, rests, re-waits when the spread widens
    # again, and completes when it comes back in. (Buys: the paper account holds cash.)
    rows = [*SCENARIO, (20.5, "50.05", "50.45"), (40.0, "50.20", "50.23")]
    parent = ParentOrder("ABC", Side.BUY, D(qty))
    p = params()
    replayed = ReplayDriver(quotes(rows, size=200)).run(parent, p, OPEN).report
    live = _runner_report(quotes(rows, size=200), parent, p, tmp_path)

    def orders(r: ExecutionReport) -> list[tuple[AttemptKind, D | None, D, datetime]]:
        return [(a.kind, a.limit_price, a.qty, a.started) for a in r.attempts]

    def fills(r: ExecutionReport) -> list[tuple[D, D, datetime]]:
        return [(f.price, f.qty, f.ts) for f in r.fills]

    assert orders(replayed) == orders(live)
    assert fills(replayed) == fills(live)
    assert replayed.filled_qty == live.filled_qty == D(qty)
    assert replayed.avg_fill_price == live.avg_fill_price


def _bursty_quotes(seed: int) -> ReplayQuotes:
    """A random walk with spreads that flicker, in bursts of same-instant updates."""
    rng = random.Random(seed)
    t, mid, rows = 0.0, 10_000, []
    while t < 240:
        t += rng.choice([0.0, 0.0, 0.002, 0.05, 0.3, 1.2])
        mid += rng.choice([-2, -1, 0, 0, 1, 2])
        spread = rng.choice([1, 2, 3, 8, 12, 20, 30])
        bid = mid - spread // 2
        rows.append(
            Quote(
                "ABC",
                D(bid).scaleb(-2),
                D(bid + spread).scaleb(-2),
                D(rng.choice([30, 100, 300])),
                D(rng.choice([30, 100, 300])),
                OPEN + timedelta(seconds=t),
            )
        )
    return ReplayQuotes.from_quotes(rows)


@pytest.mark.parametrize("seed", [1, 2])
def test_skipping_quotes_changes_no_order_and_no_fill(seed: int) -> None:
    rq = _bursty_quotes(seed)
    qf = QuoteFile("bursty", rq)
    times = [OPEN + timedelta(seconds=s) for s in range(0, 120, 9)]
    policies = [BUILTIN_POLICIES[n] for n in ("ladder", "seed-ladder", "passive", "market")]
    # Waits (the spread's and the patient rest) that the budget's urgency may end early.
    urgent = Policy("urgent", {"patience": {"budget_urgency": D("0.3")}})
    policies.append(urgent)
    fast = evaluate_file(qf, policies, BetterOrdersConfig(), times, skip=True)
    slow = evaluate_file(qf, policies, BetterOrdersConfig(), times, skip=False)
    assert len(fast) == len(slow) == len(times) * 2 * len(policies)
    for a, b in zip(fast, slow, strict=True):
        assert [(x.kind, x.limit_price, x.started) for x in a.report.attempts] == [
            (x.kind, x.limit_price, x.started) for x in b.report.attempts
        ]
        assert [(f.price, f.qty, f.ts) for f in a.report.fills] == [
            (f.price, f.qty, f.ts) for f in b.report.fills
        ]


@pytest.mark.parametrize("skip", [True, False], ids=["skipping", "every_row"])
def test_a_decision_still_working_at_the_close_ends_there_without_a_fill(skip: bool) -> None:
    # From 10 s before the close the ask runs beyond the 5 bps budget; 50 ms after the
    # close it comes back through the limit the ladder rests at its bound.
    close = 6.5 * 3600
    rows = [(close - 10, "100.00", "100.02"), (close - 9, "100.50", "100.52")]
    driver = ReplayDriver(quotes([*rows, (close + 0.05, "99.98", "100.00")]), skip=skip)
    tight = params(BetterOrdersConfig.model_validate({"max_slippage_bps": 5}))
    decision = OPEN + timedelta(seconds=close - 10)
    report = driver.run(ParentOrder("ABC", Side.BUY, D(100)), tight, decision).report
    assert report.fills == [] and report.filled_qty == 0
    assert report.attempts[-1].status is OrderStatus.EXPIRED
    assert report.unfilled_reason is not None
    assert report.unfilled_reason.startswith("market closed at 2024-01-09 16:00:00 ET")


def test_replay_refuses_a_parent_for_another_symbol() -> None:
    with pytest.raises(InvalidInputError, match="cannot trade XYZ"):
        ReplayDriver(quotes(SCENARIO)).run(ParentOrder("XYZ", Side.BUY, D(1)), params(), OPEN)


def test_marketable_order_stream_fills_at_the_touch() -> None:
    rq = quotes(SCENARIO, size=150)
    orders = [
        (OPEN + timedelta(seconds=1), Side.BUY, D(100)),
        (OPEN + timedelta(seconds=2), Side.SELL, D(100)),
        (OPEN + timedelta(seconds=21), Side.BUY, D(200)),  # only 150 shown: IOC fills 150
    ]
    stats = replay_marketable_orders(rq, orders)
    assert stats.orders == 3
    assert stats.fills == 3
    assert stats.filled_qty == D(350)
    # Every row from the first order to the last order plus one second was processed.
    assert stats.quotes_processed == 22
    assert stats.wall_seconds > 0


@pytest.mark.parametrize("after_open", [10.0, 3600.0])
def test_the_seed_ladder_crosses_at_once_as_the_original_design_did(after_open: float) -> None:
    """No patient rest and no budget urgency: those came after it, and it is the baseline."""
    at = OPEN + timedelta(seconds=after_open)
    driver = ReplayDriver(quotes([(0.0, "50.10", "50.12"), (after_open + 300, "50.10", "50.12")]))
    seed = ladder_params(BUILTIN_POLICIES["seed-ladder"].config(BetterOrdersConfig()), "ABC")
    report = driver.run(ParentOrder("ABC", Side.BUY, D(100)), seed, at).report
    [attempt] = report.attempts
    assert attempt.kind is AttemptKind.AGGRESSIVE
    assert attempt.limit_price == D("50.13")  # the ask and one tick
    assert (report.filled_qty, report.avg_fill_price) == (D(100), D("50.12"))
    assert report.fills[0].ts == at + timedelta(milliseconds=30)  # on arrival
