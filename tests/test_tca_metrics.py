"""Execution-cost metrics on hand-computed cases and tiny synthetic quote files."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.model import ExecutionReport, Fill, Side
from better_orders.tca.decisions import QuoteFile, decision_times
from better_orders.tca.decomposition import CostDecomposition
from better_orders.tca.evaluate import evaluate_file
from better_orders.tca.metrics import (
    DecisionRecord,
    by_minute,
    decision_record,
    summarize,
)
from better_orders.tca.policies import BUILTIN_POLICIES
from better_orders.venues.sim.replay import ReplayQuotes

#: Tuesday 2024-01-09, 09:30 New York = 14:30 UTC (a regular session, standard time).
OPEN = datetime(2024, 1, 9, 14, 30, tzinfo=UTC)


def write_quotes(
    path: Path, rows: list[tuple[float, str, str, int, int]], symbol: str = "ABC"
) -> Path:
    """A gzip CSV in the shared data schema: (seconds after the open, bid, ask, bid sz, ask sz)."""
    lines = ["ts_utc_ns,symbol,bid_px,ask_px,bid_sz,ask_sz"]
    for seconds, bid, ask, bid_sz, ask_sz in rows:
        ns = int((OPEN + timedelta(seconds=seconds)).timestamp()) * 10**9 + round(
            (seconds % 1) * 10**9
        )
        lines.append(f"{ns},{symbol},{bid},{ask},{bid_sz},{ask_sz}")
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def steady_file(tmp_path: Path, bid: str = "50.00", ask: str = "50.10") -> QuoteFile:
    """The same 10-cent quote every second from the open for five minutes."""
    rows = [(float(s), bid, ask, 500, 500) for s in range(0, 400)]
    return QuoteFile.load(write_quotes(tmp_path / "abc.csv.gz", rows))


def test_market_buy_costs_exactly_half_the_spread_in_bps(tmp_path: Path) -> None:
    qf = steady_file(tmp_path)
    times = [OPEN + timedelta(seconds=10)]
    records = evaluate_file(qf, [BUILTIN_POLICIES["market"]], BetterOrdersConfig(), times)
    buy, sell = records
    mid = (D("50.00") + D("50.10")) / 2
    assert buy.side is Side.BUY and buy.avg_price == D("50.10")
    assert buy.arrival_mid == mid
    assert buy.cost_bps == float((D("50.10") - mid) / mid * 10_000)
    assert sell.avg_price == D("50.00")
    assert sell.cost_bps == float((mid - D("50.00")) / mid * 10_000)
    # Filled at the touch that was there at the decision: no improvement, and the
    # effective spread is twice the half-spread paid.
    assert buy.improvement_bps == 0.0
    assert buy.effective_spread_bps == pytest.approx(2 * buy.cost_bps)
    assert buy.completion == 1.0 and buy.filled_qty == D(100)
    assert buy.time_to_fill_seconds == pytest.approx(0.030)  # submit latency
    assert buy.complete_within(150)


def test_market_order_larger_than_the_touch_walks_the_book(tmp_path: Path) -> None:
    rows = [(float(s), "50.00", "50.10", 40, 40) for s in range(0, 400)]
    qf = QuoteFile.load(write_quotes(tmp_path / "thin.csv.gz", rows))
    record = evaluate_file(
        qf, [BUILTIN_POLICIES["market"]], BetterOrdersConfig(), [OPEN + timedelta(seconds=5)]
    )[0]
    # 40 at the ask, then the depth model: one tick worse per 100 shares (its minimum).
    expected_avg = (40 * D("50.10") + 60 * D("50.11")) / 100
    assert record.avg_price == expected_avg
    mid = D("50.05")
    assert record.cost_bps == float((expected_avg - mid) / mid * 10_000)
    assert record.improvement_bps == float((D("50.10") - expected_avg) / mid * 10_000)


def _record(
    policy: str,
    side: Side,
    cost: float | None,
    ttf: float | None,
    filled: int,
    shortfall: float | None = None,
) -> DecisionRecord:
    """A decision costing ``cost`` bps on its filled shares and ``shortfall`` bps in all
    (unfilled shares valued; ``cost`` when not given)."""
    whole = cost if shortfall is None else shortfall
    parts = None
    if whole is not None:
        notional = D(10_000)
        parts = CostDecomposition(notional, D(str(whole)), D(0), D(0), D(0), D(0))
    report = ExecutionReport(
        symbol="ABC",
        side=side,
        requested_qty=D(100),
        filled_qty=D(filled),
        avg_fill_price=None,
        arrival_bid=None,
        arrival_ask=None,
        arrival_mid=None,
        arrival_time=OPEN,
        started=OPEN,
        finished=OPEN,
        strategy="normal",
        phase="opening",
        spread_class=None,
        relative_spread_class=None,
        routed="better",
    )
    return DecisionRecord(
        file="f",
        symbol="ABC",
        policy=policy,
        side=side,
        decision=OPEN,
        requested_qty=D(100),
        filled_qty=D(filled),
        avg_price=None,
        arrival_bid=None,
        arrival_ask=None,
        arrival_mid=None,
        cost_bps=cost,
        effective_spread_bps=None,
        improvement_bps=None,
        completion=filled / 100,
        time_to_fill_seconds=ttf,
        waited_seconds=0.0,
        repegs=0,
        fallback_used=False,
        fallback_blocked=False,
        attempts=1,
        typical_spread_bps=None,
        error=None,
        unfilled_reason=None,
        report=report,
        decomposition=parts,
    )


def test_summary_statistics_and_ratio_to_market() -> None:
    records = [
        _record("market", Side.BUY, 4.0, 0.03, 100),
        _record("market", Side.SELL, 6.0, 0.03, 100),
        _record("ladder", Side.BUY, 1.0, 10.0, 100),
        _record("ladder", Side.SELL, 3.0, 200.0, 100),  # complete, but too late
        # Nothing filled: its shortfall is the far touch's at the window's end, and counts.
        _record("ladder", Side.BUY, None, None, 0, shortfall=8.0),
    ]
    by_policy = {s.policy: s for s in summarize(records)}
    market, ladder = by_policy["market"], by_policy["ladder"]
    assert market.mean_cost_bps == 5.0 and market.ratio_to_market == 1.0
    assert ladder.mean_cost_bps == 4.0 and ladder.median_cost_bps == 3.0
    assert ladder.p90_cost_bps == pytest.approx(7.0)  # linear interpolation of [1, 3, 8]
    assert ladder.ratio_to_market == pytest.approx(0.8)
    assert ladder.decisions == 3
    assert ladder.completion_rate == pytest.approx(2 / 3)
    assert ladder.complete_within_rate == pytest.approx(1 / 3)
    assert ladder.mean_time_to_fill_seconds == pytest.approx(105.0)


def test_by_minute_groups_decisions_after_the_open() -> None:
    early = _record("ladder", Side.BUY, 1.0, 5.0, 100)
    late = _record("ladder", Side.BUY, 3.0, 5.0, 100)
    late.decision = OPEN + timedelta(seconds=61)
    rows = by_minute([early, late], {"f": OPEN})
    assert [(r.minute, r.mean_cost_bps, r.completion_rate) for r in rows] == [
        (0, 1.0, 1.0),
        (1, 3.0, 1.0),
    ]


def test_effective_spread_uses_the_mid_at_each_fill(tmp_path: Path) -> None:
    path = write_quotes(
        tmp_path / "q.csv.gz",
        [(0.0, "10.00", "10.10", 100, 100), (5.0, "10.20", "10.30", 100, 100)],
    )
    quotes = ReplayQuotes.from_file(path)
    t1 = OPEN + timedelta(seconds=6)
    report = ExecutionReport(
        symbol="ABC",
        side=Side.BUY,
        requested_qty=D(100),
        filled_qty=D(100),
        avg_fill_price=D("10.30"),
        arrival_bid=D("10.00"),
        arrival_ask=D("10.10"),
        arrival_mid=D("10.05"),
        arrival_time=OPEN,
        started=OPEN,
        finished=t1,
        strategy="normal",
        phase="opening",
        spread_class=None,
        relative_spread_class=None,
        routed="better",
        fills=[Fill("x1", "c1", "ABC", Side.BUY, D(100), D("10.30"), t1)],
    )
    record = decision_record(file="q", policy="p", decision=OPEN, report=report, quotes=quotes)
    # Against the mid when it filled (10.25): 2 x 5c; against the arrival mid: 25c paid.
    assert record.effective_spread_bps == pytest.approx(2 * 0.05 / 10.25 * 1e4)
    assert record.cost_bps == pytest.approx(0.25 / 10.05 * 1e4)
    assert record.improvement_bps == pytest.approx(-0.20 / 10.05 * 1e4)
    assert record.time_to_fill_seconds == 6.0


def test_decision_times_follow_the_files_session(tmp_path: Path) -> None:
    qf = steady_file(tmp_path)
    times = decision_times(qf, time(9, 30), time(9, 31), timedelta(seconds=15))
    assert times == [OPEN + timedelta(seconds=s) for s in (0, 15, 30, 45)]
    assert qf.session_open() == OPEN
