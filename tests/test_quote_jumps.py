"""Quote jumps: a quote whose mid leaps far from the book is held until later quotes confirm it;
nothing is priced off it meanwhile, live or in replay, and skipping replay rows changes nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import (
    LadderParams,
    ParentOrder,
    QuoteArrived,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.model import OrderStatus, Quote, Side
from better_orders.core.quote_jumps import JumpRule, JumpWatch
from better_orders.tca.decisions import QuoteFile
from better_orders.tca.driver import ReplayDriver
from better_orders.tca.evaluate import evaluate_file
from better_orders.tca.policies import BUILTIN_POLICIES
from better_orders.venues.sim.replay import ReplayQuotes
from ladder_kit import et, make, of, quote, started, submit_of, update

OPEN = datetime(2024, 1, 9, 14, 30, tzinfo=UTC)  # 09:30 New York
RULE = JumpRule(min_bps=D(300), spreads=D(10), confirm_quotes=2)
T0 = et("2026-11-24T10:00:00")


def q(bid: str, ask: str, s: float = 0.0) -> Quote:
    return Quote("ABC", D(bid), D(ask), D(500), D(500), OPEN + timedelta(seconds=s))


def test_a_spike_is_held_and_dropped_when_the_book_returns() -> None:
    watch = JumpWatch(RULE)
    assert not watch.see(q("50.00", "50.02")).held
    news = watch.see(q("500.00", "500.20"))
    assert news.held and watch.holding and news.moved_bps == pytest.approx(90_000, rel=1e-3)
    back = watch.see(q("50.01", "50.03"))
    assert back.dropped and not watch.holding
    assert watch.reference == q("50.01", "50.03")


def test_a_jump_that_persists_is_confirmed_by_two_later_quotes() -> None:
    watch = JumpWatch(RULE)
    watch.see(q("50.00", "50.02"))
    assert watch.see(q("53.00", "53.02")).held  # 6%: beyond 3% and 10 spreads
    assert not watch.see(q("53.01", "53.03")).confirmed and watch.holding
    assert watch.see(q("53.02", "53.04")).confirmed and not watch.holding


def test_moves_within_the_rule_are_never_held() -> None:
    watch = JumpWatch(RULE)
    watch.see(q("50.00", "50.02"))
    for bid in ("50.50", "51.50", "51.20", "50.00"):  # each within 3% of the one before
        assert not watch.see(q(bid, str(D(bid) + D("0.02")))).held
    # A wide quote's own spread widens what counts as a move.
    wide = JumpWatch(RULE)
    wide.see(q("10.00", "11.00"))
    assert not wide.see(q("18.00", "18.10")).held  # 7.5 < 10 x 1.00


def test_a_spike_is_not_priced_off_and_the_report_says_it_was_held() -> None:
    lad = make(max_repegs=1)
    submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    t1 = T0 + timedelta(seconds=3)
    lad.handle(QuoteArrived(quote("500.00", "500.10", t1), t1))  # a one-row 10x spike
    lad.handle(TimerFired(t1))
    assert of(lad.handle(update("t-1", OrderStatus.CANCELED, "0", t1)), SubmitOrder) == []
    t2 = t1 + timedelta(milliseconds=200)
    repeg = submit_of(lad.handle(QuoteArrived(quote("50.01", "50.02", t2), t2)))
    assert repeg.request.limit_price == D("50.03")  # off the book, not the spike
    notes = " | ".join(lad.notes)
    assert "quote held: TQQQ mid jumped" in notes and "held quote dropped" in notes


def _params(jumps: bool = True) -> LadderParams:
    config = BetterOrdersConfig.model_validate(
        {"spread": {"jump_confirm_quotes": 2 if jumps else 0}}
    )
    return ladder_params(BUILTIN_POLICIES["ladder"].config(config), "ABC")


def _spiky(spike_at: float, level: str = "500.00", rows: int = 3) -> ReplayQuotes:
    """50.00 x 50.02 every second; at ``spike_at`` ``rows`` quotes at ``level``, then back."""
    out, t = [], 0.0
    while t < 200:
        if spike_at <= t < spike_at + rows * 0.1:
            out.append(q(level, str(D(level) + D("0.20")), t))
            t += 0.1
            continue
        out.append(q("50.00", "50.02", t))
        t += 1.0 if t >= spike_at + rows * 0.1 or t + 1 <= spike_at else spike_at - t
    return ReplayQuotes.from_quotes(out)


def test_a_one_row_spike_in_a_replay_is_not_traded_on_nor_called_cheap() -> None:
    # A sell decided at the spike: without the hold its arrival mid is 500.10 and the
    # fill at 50.00 "costs" -9,000 bps; with it, the spike is the reference of nothing.
    driver = ReplayDriver(_spiky(10.0, rows=1))
    decision = OPEN + timedelta(seconds=10)
    held = driver.run(ParentOrder("ABC", Side.SELL, D(100)), _params(), decision).report
    assert held.quotes_held == 1 and held.filled_qty == D(100)
    assert held.arrival_mid == D("50.01")
    assert held.cost_bps is not None and 0 <= held.cost_bps < 5
    assert all(a.limit_price is None or a.limit_price < 60 for a in held.attempts)
    naive = driver.run(ParentOrder("ABC", Side.SELL, D(100)), _params(False), decision).report
    assert naive.arrival_mid == D("500.10")  # what the hold prevents


def test_a_jump_that_persists_in_a_replay_is_traded_on_once_confirmed() -> None:
    # The book moves to 53 and stays: the ladder sells there once two quotes confirmed it.
    rows = [q("50.00", "50.02", 0.0), q("50.00", "50.02", 9.0)]
    rows += [q("53.00", "53.02", 10.0 + 0.1 * k) for k in range(200)]
    driver = ReplayDriver(ReplayQuotes.from_quotes(rows))
    decision = OPEN + timedelta(seconds=10)
    report = driver.run(ParentOrder("ABC", Side.SELL, D(100)), _params(), decision).report
    assert report.quotes_held == 1 and report.filled_qty == D(100)
    assert report.arrival_mid == D("53.01")
    assert report.arrival_time == decision + timedelta(seconds=0.2)
    assert any("confirmed by later quotes" in n for n in report.notes)


def _bursty_spikes(seed: int) -> ReplayQuotes:
    """A random walk with flickering spreads, bursts, locked rows and one-row spikes."""
    rng = random.Random(seed)
    t, mid, rows = 0.0, 10_000, []
    while t < 240:
        t += rng.choice([0.0, 0.0, 0.002, 0.05, 0.3, 1.2])
        mid += rng.choice([-2, -1, 0, 0, 1, 2])
        spread = rng.choice([0, 1, 2, 3, 8, 12, 20, 30])
        bid = mid - spread // 2
        if rng.random() < 0.03:
            bid *= rng.choice([10, 2])  # a spike, sometimes repeated by the next rows
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


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_skipping_quotes_changes_nothing_when_quotes_jump(seed: int) -> None:
    qf = QuoteFile("spiky", _bursty_spikes(seed))
    times = [OPEN + timedelta(seconds=s) for s in range(0, 120, 7)]
    policies = [BUILTIN_POLICIES[n] for n in ("ladder", "seed-ladder", "passive")]
    fast = evaluate_file(qf, policies, BetterOrdersConfig(), times, skip=True)
    slow = evaluate_file(qf, policies, BetterOrdersConfig(), times, skip=False)
    assert any(d.report.quotes_held for d in slow)
    for a, b in zip(fast, slow, strict=True):
        assert [(x.kind, x.limit_price, x.started) for x in a.report.attempts] == [
            (x.kind, x.limit_price, x.started) for x in b.report.attempts
        ]
        assert [(f.price, f.qty, f.ts) for f in a.report.fills] == [
            (f.price, f.qty, f.ts) for f in b.report.fills
        ]
        assert a.report.quotes_held == b.report.quotes_held
