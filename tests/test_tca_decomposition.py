"""The cost decomposition: hand-computed parts, and parts that always sum to the total."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from better_orders.config.loader import load_config
from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import ParentOrder
from better_orders.core.model import (
    Attempt,
    AttemptKind,
    ExecutionReport,
    Fill,
    OrderType,
    Quote,
    Side,
)
from better_orders.tca.decisions import QuoteFile
from better_orders.tca.decomposition import COMPONENTS, FeeSchedule, decompose
from better_orders.tca.driver import ReplayDriver
from better_orders.tca.evaluate import evaluate_file
from better_orders.tca.policies import BUILTIN_POLICIES
from better_orders.venues.sim.replay import ReplayQuotes
from test_tca_metrics import write_quotes

OPEN = datetime(2024, 1, 9, 14, 30, tzinfo=UTC)  # 09:30 New York
LATENCY = timedelta(milliseconds=30)


def at(seconds: float) -> datetime:
    return OPEN + timedelta(seconds=seconds)


def book() -> ReplayQuotes:
    rows = [(0, "50.00", "50.10"), (5, "50.02", "50.12"), (100, "50.20", "50.30")]
    return ReplayQuotes.from_quotes(
        [Quote("ABC", D(b), D(a), D(500), D(500), at(t)) for t, b, a in rows]
    )


def attempt(coid: str, kind: AttemptKind, order_type: OrderType, started: float) -> Attempt:
    limit = D("50.08") if order_type is OrderType.LIMIT else None
    return Attempt(coid, kind, order_type, D(100), limit, at(started), D("50.00"), D("50.10"))


def sell_report() -> ExecutionReport:
    """Sell 100 at arrival mid 50.05: 30 rest and fill at 50.08, 50 cross at 50.02, 20 left."""
    fills = [
        Fill("e1", "c1", "ABC", Side.SELL, D(30), D("50.08"), at(5.5)),
        Fill("e2", "c2", "ABC", Side.SELL, D(50), D("50.02"), at(6) + LATENCY),
    ]
    return ExecutionReport(
        symbol="ABC",
        side=Side.SELL,
        requested_qty=D(100),
        filled_qty=D(80),
        avg_fill_price=(30 * D("50.08") + 50 * D("50.02")) / 80,
        arrival_bid=D("50.00"),
        arrival_ask=D("50.10"),
        arrival_mid=D("50.05"),
        arrival_time=OPEN,
        started=OPEN,
        finished=at(7),
        strategy="normal",
        phase="opening",
        spread_class=None,
        relative_spread_class=None,
        routed="better",
        attempts=[
            attempt("c1", AttemptKind.PASSIVE, OrderType.LIMIT, 0),
            attempt("c2", AttemptKind.MARKET, OrderType.MARKET, 6),
        ],
        fills=fills,
    )


def test_a_sell_decomposed_by_hand() -> None:
    parts = decompose(
        sell_report(), book(), window_end=at(150), submit_latency=LATENCY, fees=FeeSchedule()
    )
    assert parts is not None
    assert parts.notional == D(100) * D("50.05")
    # The crossing 50 paid 5c under the mid then (50.07); the resting 30 earned 1c over it.
    assert parts.spread == D("2.50")
    assert parts.passive == D("-0.30")
    # The mid rose 2c from arrival before both fills: good for a seller.
    assert parts.timing == D("-1.60")
    # 20 left, worth the bid when the window closed (50.20), 15c over the arrival mid.
    assert parts.opportunity == D("-3.00")
    sec = (30 * D("50.08") + 50 * D("50.02")) * D("27.80") / 1_000_000
    taf = 80 * D("0.000166")
    assert parts.fees == sec + taf
    # Exactly: filled shortfall + unfilled at the far touch + fees.
    filled = -(30 * (D("50.08") - D("50.05")) + 50 * (D("50.02") - D("50.05")))
    assert parts.total == filled + D("-3.00") + sec + taf
    assert parts.total == sum(parts.dollars(c) for c in COMPONENTS)
    assert parts.bps("total") == pytest.approx(float(parts.total / parts.notional * 10_000))


def test_a_limit_filled_on_arrival_took_liquidity_and_buys_pay_no_fees() -> None:
    report = sell_report()
    report.side = Side.BUY
    report.fills = [Fill("e1", "c1", "ABC", Side.BUY, D(100), D("50.10"), at(0) + LATENCY)]
    report.filled_qty = D(100)
    parts = decompose(
        report, book(), window_end=at(150), submit_latency=LATENCY, fees=FeeSchedule()
    )
    assert parts is not None
    assert (parts.spread, parts.passive, parts.timing) == (D("5.00"), D(0), D(0))
    assert (parts.opportunity, parts.fees) == (D(0), D(0))


def test_an_order_sent_after_its_attempt_began_took_liquidity_on_its_own_arrival() -> None:
    # Sent in answer to an order update: the attempt is stamped with the update's venue time
    # (0 s), the order left when the update came back (5 ms on) and crossed on arrival.
    report = sell_report()
    report.side = Side.BUY
    arrived = at(0) + timedelta(milliseconds=5) + LATENCY
    report.fills = [Fill("e1", "c1", "ABC", Side.BUY, D(100), D("50.10"), arrived)]
    report.filled_qty = D(100)
    sent = {"c1": at(0) + timedelta(milliseconds=5)}
    parts = decompose(
        report, book(), window_end=at(150), submit_latency=LATENCY, fees=FeeSchedule(), sent=sent
    )
    assert parts is not None
    assert (parts.spread, parts.passive) == (D("5.00"), D(0))
    # Without knowing when it left, the fill looks 5 ms late: a resting fill.
    parts = decompose(
        report, book(), window_end=at(150), submit_latency=LATENCY, fees=FeeSchedule()
    )
    assert parts is not None
    assert (parts.spread, parts.passive) == (D(0), D("5.00"))


def test_a_replay_knows_when_each_child_left_and_splits_its_fills_by_it(tmp_path: Path) -> None:
    # A spread that opens and closes: the passive walk cancels and re-prices in answer to
    # its cancels' confirmations, and some of those orders cross on arrival.
    rows = [(float(s), "50.00", "50.30" if s % 20 < 12 else "50.02", 300, 300) for s in range(300)]
    quotes = QuoteFile.load(write_quotes(tmp_path / "abc.csv.gz", rows)).quotes
    driver = ReplayDriver(quotes)
    config = BUILTIN_POLICIES["passive"].config(BetterOrdersConfig())
    params = ladder_params(config, "ABC")
    answered = 0
    for start in range(0, 100, 9):
        for side in (Side.BUY, Side.SELL):
            outcome = driver.run(ParentOrder("ABC", side, D(100)), params, at(start))
            report = outcome.report
            started = {a.client_order_id: a.started for a in report.attempts}
            assert set(outcome.sent) <= set(started)
            assert all(outcome.sent[c] >= started[c] for c in outcome.sent)
            answered += sum(outcome.sent[c] > started[c] for c in outcome.sent)
            parts = decompose(
                report,
                quotes,
                window_end=at(start + 150),
                submit_latency=driver.latency.submit,
                fees=FeeSchedule(),
                sent=outcome.sent,
            )
            assert parts is not None
            # Resting fills are exactly those after their order's arrival at the venue.
            sign = D(side.sign)
            resting = D(0)
            for f in report.fills:
                if f.ts > outcome.sent[f.client_order_id] + driver.latency.submit:
                    q = quotes.quote_at(quotes.index_at(f.ts))
                    resting += sign * f.qty * (f.price - (q.bid + q.ask) / 2)
            assert parts.passive == resting
    assert answered > 0


def test_the_taf_is_capped_per_trade_and_rates_come_from_the_configuration(tmp_path: Path) -> None:
    fees = FeeSchedule(D("0"), D("0.000166"), D("8.30"))
    assert fees.on_sale(D(100_000), D(10)) == D("8.30")
    path = tmp_path / "c.toml"
    path.write_text("[tca]\nsec_fee_per_million = 20.6\nfinra_taf_per_share = 0.0002\n")
    schedule = FeeSchedule.from_settings(load_config(path, env={}).config.tca)
    assert schedule == FeeSchedule(D("20.6"), D("0.0002"), D("8.30"))
    assert FeeSchedule.from_settings(BetterOrdersConfig().tca) == FeeSchedule()


def test_no_arrival_mid_no_decomposition() -> None:
    report = sell_report()
    report.arrival_mid = None
    assert (
        decompose(report, book(), window_end=at(1), submit_latency=LATENCY, fees=FeeSchedule())
        is None
    )


@pytest.mark.parametrize("policy", ["market", "ladder", "seed-ladder", "passive", "walk"])
def test_parts_sum_to_the_total_on_every_replayed_decision(tmp_path: Path, policy: str) -> None:
    """A drifting, widening and narrowing book: every kind of fill and leftover happens."""
    rows = []
    for s in range(0, 400):
        base = D("50.00") + D("0.01") * (s // 7) - D("0.02") * (s // 41)
        width = D("0.30") if s % 20 < 12 else D("0.02")
        rows.append((float(s), str(base), str(base + width), 60 + s % 90, 40 + s % 70))
    qf = QuoteFile.load(write_quotes(tmp_path / "abc.csv.gz", rows))
    times = [at(t) for t in range(0, 120, 7)]
    records = evaluate_file(qf, [BUILTIN_POLICIES[policy]], BetterOrdersConfig(), times)
    assert records
    for r in records:
        parts = r.decomposition
        assert parts is not None
        assert parts.total == sum(parts.dollars(c) for c in COMPONENTS)
        assert parts.execution == parts.total - parts.fees
        assert sum(parts.bps(c) for c in COMPONENTS) == pytest.approx(parts.bps("total"))
        if r.filled_qty == r.requested_qty:
            assert parts.opportunity == 0
            assert r.shortfall_bps == pytest.approx(r.cost_bps)
        if r.side is Side.BUY:
            assert parts.fees == 0
        else:
            assert parts.fees > 0 or r.filled_qty == 0
