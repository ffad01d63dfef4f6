"""The slippage budget binds every child of a parent: first limit, re-pegs, resting slices,
the fallback and standard orders; past it the ladder stops (or, by choice, finishes at market)."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from pydantic import ValidationError

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.core.ladder import CancelOrder, Finished, QuoteArrived, SubmitOrder, TimerFired
from better_orders.core.ladder.prices import rest_order
from better_orders.core.model import AttemptKind, OrderStatus, OrderType, Side
from better_orders.core.pricing import budget_bound, cap_to_budget
from better_orders.engine.execution import OrderSpec
from better_orders.engine.rebalance import plan_settings_for
from ladder_kit import et, make, of, quote, started, submit_of, update

T0 = et("2026-11-24T10:00:00")


def _time_out(lad, coid: str, at, q=None):  # type: ignore[no-untyped-def]
    """The working child times out unfilled (with ``q`` as the book meanwhile)."""
    if q is not None:
        lad.handle(QuoteArrived(q, at))
    assert of(lad.handle(TimerFired(at)), CancelOrder) == [CancelOrder(coid)]
    return lad.handle(update(coid, OrderStatus.CANCELED, "0", at))


def test_cap_to_budget_keeps_buys_below_and_sells_above_the_bound() -> None:
    assert cap_to_budget(Side.BUY, D("50.12"), D("50.10")) == D("50.10")
    assert cap_to_budget(Side.BUY, D("50.02"), D("50.10")) == D("50.02")
    assert cap_to_budget(Side.SELL, D("49.80"), D("49.90")) == D("49.90")
    assert cap_to_budget(Side.SELL, D("49.95"), D("49.90")) == D("49.95")


@pytest.mark.parametrize(
    ("side", "bound", "first"),
    [(Side.BUY, D("50.01"), D("50.01")), (Side.SELL, D("50.00"), D("50.00"))],
)
def test_the_first_limit_is_capped_at_the_bound(side: Side, bound: D, first: D) -> None:
    # 2 bps of 50.005 is 1 cent: ask + 1 tick (50.02) and bid - 1 tick (49.99) are beyond.
    lad = make(side=side, budget_bps=D(2))
    sub = submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    assert lad.budget_bound == bound == budget_bound(side, D("50.005"), D(2))
    assert sub.kind is AttemptKind.AGGRESSIVE and sub.request.limit_price == first


def test_every_repeg_is_capped_at_the_bound_and_the_report_says_how_far_the_market_ran() -> None:
    lad = make(budget_bps=D(5))  # bound 50.005 x 1.0005 = 50.03
    submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    limits = []
    now = T0
    for n in (1, 2):
        now += timedelta(seconds=3)
        nxt = submit_of(_time_out(lad, f"t-{n}", now, quote("50.20", "50.22", now)))
        limits.append((nxt.kind, nxt.request.limit_price))
    assert limits == [(AttemptKind.REPEG, D("50.03")), (AttemptKind.REPEG, D("50.03"))]
    now += timedelta(seconds=3)
    fallback = submit_of(_time_out(lad, "t-3", now, quote("50.20", "50.22", now)))
    assert fallback.kind is AttemptKind.FALLBACK_LIMIT and fallback.request.limit_price == D(
        "50.03"
    )
    later = now + timedelta(seconds=10)
    lad.handle(TimerFired(later))
    done = lad.handle(update("t-4", OrderStatus.CANCELED, "0", later))
    report = of(done, Finished)[0].report
    assert report.unfilled_qty == D(100) and report.fallback_blocked
    assert report.budget_bps == D(5)
    assert report.budget_ran_bps == pytest.approx(42.99, abs=0.01)  # ask 50.22 vs 50.005
    assert "the market ran 43.0 bps from arrival mid 50.005" in (report.unfilled_reason or "")


def test_the_fallback_is_a_marketable_limit_at_the_bound_not_a_market_order() -> None:
    lad = make(max_repegs=0)
    submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    fallback = submit_of(_time_out(lad, "t-1", T0 + timedelta(seconds=3)))
    assert fallback.kind is AttemptKind.FALLBACK_MARKET
    assert fallback.request.order_type is OrderType.LIMIT
    assert fallback.request.limit_price == D("50.10")  # 20 bps over 50.005, rounded down
    assert any("marketable limit at the budget's bound 50.10" in n for n in lad.notes)


def test_a_budget_of_100_percent_or_more_sets_no_bound_on_the_fallback() -> None:
    lad = make(max_repegs=0, budget_bps=D(10_000))
    submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    fallback = submit_of(_time_out(lad, "t-1", T0 + timedelta(seconds=3)))
    assert fallback.kind is AttemptKind.FALLBACK_MARKET
    assert fallback.request.order_type is OrderType.MARKET


def test_a_fallback_limit_that_leaves_some_reports_it_within_the_budget() -> None:
    lad = make(max_repegs=0)
    submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    fallback = submit_of(_time_out(lad, "t-1", T0 + timedelta(seconds=3)))
    coid = fallback.request.client_order_id
    t = T0 + timedelta(seconds=4)
    lad.handle(update(coid, OrderStatus.PARTIALLY_FILLED, "40", t, "50.05", "40"))
    lad.handle(TimerFired(T0 + timedelta(seconds=8)))
    done = lad.handle(update(coid, OrderStatus.CANCELED, "40", T0 + timedelta(seconds=8)))
    report = of(done, Finished)[0].report
    assert report.unfilled_qty == D(60)
    assert "the marketable limit at the slippage budget's bound 50.10 left 60" in (
        report.unfilled_reason or ""
    )


def test_on_budget_finish_completes_at_market_once_the_bound_is_exhausted() -> None:
    cfg = BetterOrdersConfig(ladder={"on_budget": "finish", "max_repegs": 0})
    lad = make(config=cfg)
    submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    t1 = T0 + timedelta(seconds=3)
    # The market runs 1% away: the budget's limit rests, then the rest goes at market.
    blocked = submit_of(_time_out(lad, "t-1", t1, quote("50.49", "50.51", t1)))
    assert blocked.kind is AttemptKind.MARKET and blocked.request.order_type is OrderType.MARKET
    assert any("on_budget = finish" in n for n in lad.notes)


def test_on_budget_finish_after_a_bound_limit_left_some() -> None:
    cfg = BetterOrdersConfig(ladder={"on_budget": "finish", "max_repegs": 0})
    lad = make(config=cfg)
    submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    fallback = submit_of(_time_out(lad, "t-1", T0 + timedelta(seconds=3)))
    assert fallback.request.order_type is OrderType.LIMIT
    t = T0 + timedelta(seconds=4)
    lad.handle(update("t-2", OrderStatus.PARTIALLY_FILLED, "40", t, "50.05", "40"))
    lad.handle(TimerFired(T0 + timedelta(seconds=8)))
    rest = submit_of(lad.handle(update("t-2", OrderStatus.CANCELED, "40", t)))
    assert rest.kind is AttemptKind.MARKET and rest.request.qty == D(60)


def test_stop_protection_says_how_far_the_market_ran_and_what_is_left() -> None:
    cfg = BetterOrdersConfig(ladder={"protection": "stop", "max_repegs": 0})
    lad = make(config=cfg, side=Side.SELL)
    submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    t1 = T0 + timedelta(seconds=3)
    done = _time_out(lad, "t-1", t1, quote("49.00", "49.02", t1))
    assert of(done, SubmitOrder) == []
    report = of(done, Finished)[0].report
    assert report.budget_ran_bps == pytest.approx(200.9, abs=0.1)  # bid 49.00 vs 50.005
    assert report.unfilled_reason == (
        "the market ran 201.0 bps from arrival mid 50.005 (far touch 49.00), beyond the "
        "20 bps budget; market order blocked: stopped with 100 unfilled"
    )


def test_standard_orders_are_held_to_the_budget_too() -> None:
    lad = make(config=BetterOrdersConfig(mode="off"), budget_bps=D(2))
    sub = submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    assert sub.kind is AttemptKind.STANDARD and sub.request.limit_price == D("50.01")


def test_a_resting_slice_never_rests_past_the_bound() -> None:
    params = ladder_params(BetterOrdersConfig(), "TQQQ")
    wide = quote("50.30", "50.60", T0)
    assert rest_order(params, Side.BUY, wide, D("50.11"), D(100)) is None  # cannot reach
    assert rest_order(params, Side.BUY, wide, D("50.40"), D(100)) == (D(25), D("50.31"))
    sell = rest_order(params, Side.SELL, quote("49.40", "49.70", T0), D("49.65"), D(100))
    assert sell == (D(25), D("49.69"))


@pytest.mark.parametrize("budget", ["0", "-1", "0.0"])
def test_a_budget_of_zero_or_less_is_refused(budget: str) -> None:
    with pytest.raises(InvalidInputError, match="max_slippage_bps must be > 0"):
        OrderSpec.parse("TQQQ", "5", "buy", budget)


@pytest.mark.parametrize(
    "settings",
    [
        {"max_slippage_bps": 0},
        {"leveraged_etf_bps": 0},
        {"other_stock_bps": "0"},
        {"symbols": {"TQQQ": {"max_slippage_bps": 0}}},
    ],
)
def test_a_configured_budget_of_zero_is_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="a slippage budget must be above 0 bps"):
        BetterOrdersConfig.model_validate(settings)


def test_rebalance_margin_covers_every_buy_at_its_budget_bound() -> None:
    cfg = BetterOrdersConfig(symbols={"IBM": {"max_slippage_bps": 40}})
    symbols = ["TQQQ", "SPY", "IBM"]
    margin = plan_settings_for(cfg, symbols, fractional=True).buying_power_margin
    for symbol in symbols:
        budget = cfg.slippage_budget_bps(symbol) / D(10_000)
        # Buys sized at the mid within (1 - margin) of buying power still fit at the bound.
        assert (1 - margin) * (1 + budget) <= 1


def test_order_never_fills_beyond_a_5_bps_budget(tmp_path: Path) -> None:
    """``order buy TQQQ 811 --max-slippage-bps 5`` on a handful of seeds and dates."""
    path = Path(__file__).parents[1] / "bench" / "budget_bound.py"
    spec = importlib.util.spec_from_file_location("budget_bound", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    run_one = bench.run_one
    for seed, date in ((0, "2026-11-24"), (1, "2026-11-25"), (2, "2026-11-24"), (3, "2026-12-01")):
        worst, unfilled, _ = run_one(seed, date, tmp_path / f"j{seed}.sqlite3")
        assert worst is None or worst <= 5.0, (seed, date, worst, unfilled)
