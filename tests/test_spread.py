"""Spread classes (cents, relative), the pre-market assessment, the typical-spread tracker."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from better_orders.config.params import premarket_assessment, spread_rules, timing_rules
from better_orders.config.policy_settings import SpreadSettings, TimingSettings
from better_orders.config.settings import BetterOrdersConfig, SymbolOverride
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote
from better_orders.core.sanity import InvalidQuoteError, QuoteProblem
from better_orders.core.spread import (
    SpreadClass,
    assess_premarket,
    assess_spread,
    classify_cents,
    classify_relative,
)
from better_orders.core.typical_spread import TypicalSpreadTracker

D = Decimal
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
SETTINGS = spread_rules(SpreadSettings())
CENTS = spread_rules(SpreadSettings(rule="cents"))


def q(bid: str, ask: str, *, at: float = 0.0, symbol: str = "TQQQ") -> Quote:
    return Quote(symbol, D(bid), D(ask), D(100), D(100), T0 + timedelta(seconds=at))


# -- cents ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spread", "expected"),
    [
        ("0.01", SpreadClass.TIGHT),
        ("0.03", SpreadClass.TIGHT),
        ("0.0301", SpreadClass.NORMAL),
        ("0.04", SpreadClass.NORMAL),
        ("0.05", SpreadClass.NORMAL),
        ("0.0501", SpreadClass.WIDE),
        ("0.06", SpreadClass.WIDE),
    ],
)
def test_cents_class_boundaries_at_3c_and_5c(spread: str, expected: SpreadClass) -> None:
    assert classify_cents(D(spread), D("0.03"), D("0.05")) is expected


# -- relative ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bps", "expected"),
    [
        ("14.99", SpreadClass.TIGHT),
        ("15", SpreadClass.TIGHT),  # 1.5 x 10
        ("15.01", SpreadClass.NORMAL),
        ("25", SpreadClass.NORMAL),  # 2.5 x 10
        ("25.01", SpreadClass.WIDE),
    ],
)
def test_relative_class_against_a_typical_spread(bps: str, expected: SpreadClass) -> None:
    assert classify_relative(D(bps), D(10), SETTINGS) is expected
    assert classify_relative(float(bps), 10.0, SETTINGS) is expected


@pytest.mark.parametrize(
    ("bps", "expected"),
    [
        ("5", SpreadClass.TIGHT),
        ("5.01", SpreadClass.NORMAL),
        ("15", SpreadClass.NORMAL),
        ("15.01", SpreadClass.WIDE),
    ],
)
def test_relative_class_without_a_baseline_uses_bps_thresholds(
    bps: str, expected: SpreadClass
) -> None:
    assert classify_relative(D(bps), None, SETTINGS) is expected


def test_relative_thresholds_follow_settings() -> None:
    strict = spread_rules(
        SpreadSettings(tight_ratio=D(1), wide_ratio=D(2), tight_bps=D(1), wide_bps=D(2))
    )
    assert classify_relative(D("10.5"), D(10), strict) is SpreadClass.NORMAL
    assert classify_relative(D("20.5"), D(10), strict) is SpreadClass.WIDE
    assert classify_relative(D("1.5"), None, strict) is SpreadClass.NORMAL


@pytest.mark.parametrize("typical", [D(0), D(-3), 0.0])
def test_non_positive_typical_spread_is_an_input_error(typical: Decimal | float) -> None:
    with pytest.raises(InvalidInputError, match="typical spread"):
        classify_relative(D(5), typical, SETTINGS)


# -- assess_spread ----------------------------------------------------------------------


def test_assess_spread_reports_cents_bps_and_both_classes() -> None:
    a = assess_spread(q("100.00", "100.05"), SETTINGS, None)
    assert a.spread == D("0.05")
    assert a.spread_cents == D(5)
    assert a.mid == D("100.025")
    assert a.spread_bps == pytest.approx(0.05 / 100.025 * 1e4)
    assert a.cents_class is SpreadClass.NORMAL
    assert a.relative_class is SpreadClass.TIGHT  # 4.999 bps <= 5
    assert a.relative_basis.startswith("bps thresholds")
    assert a.typical_bps is None
    assert a.effective_class is SpreadClass.TIGHT  # default rule is relative
    assert not a.is_wide


def test_rule_picks_the_effective_class() -> None:
    # $500 stock, 8c spread: wide in cents, tight next to a 2 bps norm.
    quote = q("500.00", "500.08", symbol="AAPL")
    relative = assess_spread(quote, SETTINGS, 2.0)
    cents = assess_spread(quote, CENTS, 2.0)
    assert relative.cents_class is cents.cents_class is SpreadClass.WIDE
    assert relative.relative_class is cents.relative_class is SpreadClass.TIGHT
    assert relative.effective_class is SpreadClass.TIGHT
    assert not relative.is_wide
    assert cents.effective_class is SpreadClass.WIDE
    assert cents.is_wide


def test_relative_basis_names_the_baseline_and_its_source() -> None:
    a = assess_spread(q("100.00", "100.05"), SETTINGS, 12.0)
    assert a.relative_basis == "typical 12.0 bps (trailing median)"
    assert a.typical_bps == 12.0
    b = assess_spread(q("100.00", "100.05"), SETTINGS, D(3), typical_source="configured")
    assert b.relative_basis == "typical 3.0 bps (configured)"
    assert b.relative_class is SpreadClass.NORMAL  # 5.0 / 3 = 1.67


def test_assess_spread_refuses_a_quote_with_no_spread_to_measure() -> None:
    with pytest.raises(InvalidQuoteError) as info:
        assess_spread(q("51.02", "51.00"), SETTINGS, None)
    assert info.value.problem is QuoteProblem.CROSSED
    with pytest.raises(InvalidQuoteError):
        assess_spread(q("0", "51.00"), SETTINGS, None)
    locked = assess_spread(q("51.00", "51.00"), SETTINGS, None)
    assert locked.spread == 0
    assert locked.effective_class is SpreadClass.TIGHT


# -- pre-market -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bid", "ask", "wait", "expected"),
    [
        ("50.00", "50.02", 0.0, SpreadClass.TIGHT),  # 4 bps
        ("50.00", "50.05", 60.0, SpreadClass.NORMAL),  # 10 bps
        ("50.00", "50.10", 120.0, SpreadClass.WIDE),  # 20 bps
    ],
)
def test_premarket_wait_follows_the_effective_class(
    bid: str, ask: str, wait: float, expected: SpreadClass
) -> None:
    result = premarket_assessment(q(bid, ask), BetterOrdersConfig(), "TQQQ")
    assert result.spread.effective_class is expected
    assert result.recommended_wait_seconds == wait
    assert result.slippage_budget_bps == D(20)
    assert result.symbol == "TQQQ"


def test_premarket_budget_by_symbol_class_and_override() -> None:
    config = BetterOrdersConfig(symbols={"AAPL": SymbolOverride(max_slippage_bps=D(7))})
    cases = [("SPY", "600.00", D(10)), ("MSFT", "90.00", D(15)), ("AAPL", "190.00", D(7))]
    for symbol, bid, budget in cases:
        quote = q(bid, str(D(bid) + D("0.02")), symbol=symbol)
        assert premarket_assessment(quote, config, symbol.lower()).slippage_budget_bps == budget


def test_premarket_uses_configured_typical_spread_unless_given_one() -> None:
    config = BetterOrdersConfig(symbols={"AAPL": SymbolOverride(typical_spread_bps=D(1))})
    quote = q("200.00", "200.08", symbol="AAPL")  # 4 bps: tight by thresholds
    configured = premarket_assessment(quote, config, "AAPL")
    assert configured.spread.relative_basis == "typical 1.0 bps (configured)"
    assert configured.spread.effective_class is SpreadClass.WIDE
    assert configured.recommended_wait_seconds == 120.0
    given = premarket_assessment(quote, config, "AAPL", 3.0)
    assert given.spread.effective_class is SpreadClass.TIGHT
    assert given.recommended_wait_seconds == 0.0


def test_premarket_waits_come_from_config() -> None:
    config = BetterOrdersConfig.model_validate({"timing": {"recommend_wait_wide_seconds": 45}})
    result = premarket_assessment(q("50.00", "50.10"), config, "TQQQ")
    assert result.recommended_wait_seconds == 45.0
    assert "wait 45 s" in result.reason


def test_premarket_core_takes_plain_rules_and_budget() -> None:
    timing = timing_rules(TimingSettings(recommend_wait_wide_seconds=45))
    result = assess_premarket(
        q("50.00", "50.10"), "tqqq", spread=SETTINGS, timing=timing, slippage_budget_bps=D(7)
    )
    assert (result.symbol, result.recommended_wait_seconds) == ("TQQQ", 45.0)
    assert result.slippage_budget_bps == D(7)
    assert result.spread.relative_basis.startswith("bps thresholds")


def test_premarket_refuses_a_quote_for_another_symbol() -> None:
    with pytest.raises(InvalidInputError, match="SPY"):
        premarket_assessment(q("50.00", "50.10"), BetterOrdersConfig(), "SPY")


# -- typical spread tracker -------------------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def spread_quote(bps: int, seconds: float, symbol: str = "SPY") -> Quote:
    """A quote at mid 100 whose spread is ``bps`` basis points (1 bps = 1 cent here)."""
    half = D(bps) / 200
    return Quote(symbol, D(100) - half, D(100) + half, D(1), D(1), at(seconds))


def test_tracker_needs_thirty_seconds_of_history() -> None:
    tracker = TypicalSpreadTracker(300)
    assert tracker.typical_bps(at(0)) is None
    tracker.update(spread_quote(8, 0))
    assert tracker.typical_bps(at(29.9)) is None
    assert tracker.typical_bps(at(30)) == pytest.approx(8.0)
    assert tracker.history_seconds(at(40)) == pytest.approx(40.0)


def test_tracker_weights_each_spread_by_how_long_it_stood() -> None:
    tracker = TypicalSpreadTracker(3600)
    tracker.update(spread_quote(10, 0))
    # A burst of 50 quotes at 30 bps over 5 s, then back to 10 bps.
    for i in range(50):
        tracker.update(spread_quote(30, 100 + i * 0.1))
    tracker.update(spread_quote(10, 105))
    assert tracker.quotes_seen == 52
    assert tracker.typical_bps(at(120)) == pytest.approx(10.0)


def test_tracker_reflects_only_quotes_fed_so_far() -> None:
    tracker = TypicalSpreadTracker(3600)
    tracker.update(spread_quote(10, 0))
    tracker.update(spread_quote(40, 60))
    # At t=100 the 40 bps quote has stood 40 s, the 10 bps one 60 s: median 10.
    assert tracker.typical_bps(at(100)) == pytest.approx(10.0)
    # No new quotes: the 40 bps spread keeps standing and overtakes.
    assert tracker.typical_bps(at(121)) == pytest.approx(40.0)


def test_tracker_trailing_window_expires_old_spreads() -> None:
    tracker = TypicalSpreadTracker(300)
    tracker.update(spread_quote(10, 0))
    tracker.update(spread_quote(20, 600))
    # Window [400, 700]: 200 s at 10 bps, 100 s at 20 bps.
    assert tracker.typical_bps(at(700)) == pytest.approx(10.0)
    assert tracker.history_seconds(at(700)) == pytest.approx(300.0)
    # Window [500, 800]: 100 s at 10, 200 s at 20.
    assert tracker.typical_bps(at(800)) == pytest.approx(20.0)
    # Window [900, 1200]: only the 20 bps quote.
    tracker.update(spread_quote(12, 1200))
    assert tracker.typical_bps(at(1200)) == pytest.approx(20.0)


def test_tracker_ignores_unusable_quotes_and_the_gap_they_leave() -> None:
    tracker = TypicalSpreadTracker(3600, min_history_seconds=10)
    tracker.update(spread_quote(10, 0))
    crossed = Quote("SPY", D("100.05"), D("100.00"), D(1), D(1), at(20))
    tracker.update(crossed)
    # 20 s of 10 bps; the crossed stretch counts for nothing.
    assert tracker.history_seconds(at(500)) == pytest.approx(20.0)
    assert tracker.typical_bps(at(500)) == pytest.approx(10.0)
    tracker.update(spread_quote(50, 500))
    assert tracker.typical_bps(at(530)) == pytest.approx(50.0)


def test_tracker_takes_an_out_of_order_quote_as_arriving_now() -> None:
    tracker = TypicalSpreadTracker(3600, min_history_seconds=0)
    tracker.update(spread_quote(10, 100))
    tracker.update(spread_quote(30, 50))  # late: counts from t=100
    assert tracker.history_seconds(at(160)) == pytest.approx(60.0)
    assert tracker.typical_bps(at(160)) == pytest.approx(30.0)


def test_tracker_is_for_one_symbol() -> None:
    tracker = TypicalSpreadTracker(300, symbol="spy")
    tracker.update(spread_quote(10, 0))
    with pytest.raises(InvalidInputError, match="QQQ"):
        tracker.update(spread_quote(10, 1, symbol="QQQ"))


def test_tracker_window_from_the_spread_rules() -> None:
    rules = spread_rules(SpreadSettings(typical_window_seconds=60))
    tracker = TypicalSpreadTracker.from_rules(rules, "SPY")
    tracker.update(spread_quote(10, 0))
    tracker.update(spread_quote(20, 100))
    assert tracker.typical_bps(at(150)) == pytest.approx(20.0)


def test_tracker_rejects_bad_parameters() -> None:
    with pytest.raises(InvalidInputError):
        TypicalSpreadTracker(0)
    with pytest.raises(InvalidInputError):
        TypicalSpreadTracker(60, min_history_seconds=-1)


def _reference_median(
    quotes: list[Quote], now: datetime, window: float, min_history: float
) -> float | None:
    """Exact time-weighted lower median over [now - window, now], from scratch."""
    start_of_window = now - timedelta(seconds=window)
    segments: list[tuple[float, int]] = []
    for i, quote in enumerate(quotes):
        if not (0 < quote.bid < quote.ask):
            continue
        end = quotes[i + 1].ts if i + 1 < len(quotes) else now
        begin = max(quote.ts, start_of_window)
        weight = (end - begin) // timedelta(microseconds=1)
        if weight > 0:
            bps = float((quote.ask - quote.bid) / quote.mid * 10_000)
            segments.append((bps, weight))
    total = sum(w for _, w in segments)
    if total <= 0 or total < min_history * 1_000_000:
        return None
    target = (total + 1) // 2
    running = 0
    for bps, weight in sorted(segments):
        running += weight
        if running >= target:
            return bps
    raise AssertionError("unreachable")


def test_tracker_matches_an_exact_weighted_median_on_a_random_feed() -> None:
    rng = random.Random(20260302)
    window, min_history = 120.0, 30.0
    tracker = TypicalSpreadTracker(window, min_history_seconds=min_history)
    fed: list[Quote] = []
    t = 0.0
    checked = 0
    for step in range(2500):
        t += round(rng.expovariate(4.0), 6)
        mid = D(100) + D(rng.randint(-500, 500)) / 100
        spread = D(rng.choice([1, 1, 2, 2, 2, 3, 5, 8, 13, 40])) / 100
        if rng.random() < 0.02:
            spread = -spread  # crossed: must be skipped
        bid = mid - spread / 2
        quote = Quote("SPY", bid, bid + spread, D(1), D(1), at(t))
        tracker.update(quote)
        fed.append(quote)
        if step % 25 == 0:
            now = at(t + rng.random() * 0.2)
            expected = _reference_median(fed, now, window, min_history)
            got = tracker.typical_bps(now)
            if expected is None:
                assert got is None
            else:
                assert got is not None
                assert got == pytest.approx(expected, rel=0.006)
                checked += 1
    assert checked > 50
