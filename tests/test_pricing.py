"""Marketable limits, re-peg steps, slippage and budget bounds against the arrival mid."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote, Side
from better_orders.core.pricing import (
    aggressive_limit,
    budget_bound,
    repeg_limit,
    slippage_bps,
    within_budget,
)
from better_orders.core.sanity import InvalidQuoteError
from better_orders.core.ticks import (
    PENNY,
    SUBPENNY,
    Rounding,
    is_on_grid,
    move_ticks,
    round_to_tick,
    tick_size,
    ticks_between,
)

D = Decimal
NOW = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
BUY, SELL = Side.BUY, Side.SELL


def q(bid: str | Decimal, ask: str | Decimal, symbol: str = "TQQQ") -> Quote:
    return Quote(symbol, D(bid), D(ask), D(100), D(100), NOW)


#: On-grid prices from $0.01 to $5000.
grid_prices = st.one_of(
    st.integers(min_value=100, max_value=9_999).map(lambda n: D(n) * SUBPENNY),
    st.integers(min_value=100, max_value=500_000).map(lambda n: D(n) * PENNY),
)


@st.composite
def grid_quotes(draw: st.DrawFn) -> Quote:
    a = draw(grid_prices)
    b = draw(grid_prices)
    assume(a != b)
    return q(min(a, b), max(a, b))


# -- aggressive limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "ticks", "expected"),
    [
        (BUY, 0, "51.02"),
        (BUY, 1, "51.03"),
        (BUY, 3, "51.05"),
        (SELL, 0, "51.00"),
        (SELL, 1, "50.99"),
        (SELL, 3, "50.97"),
    ],
)
def test_aggressive_limit_is_n_ticks_through_the_far_touch(
    side: Side, ticks: int, expected: str
) -> None:
    assert aggressive_limit(side, q("51.00", "51.02"), ticks) == D(expected)


def test_off_grid_touch_is_rounded_away_from_the_book_first() -> None:
    quote = q("51.015", "51.025")
    assert aggressive_limit(BUY, quote, 0) == D("51.03")
    assert aggressive_limit(BUY, quote, 1) == D("51.04")
    assert aggressive_limit(SELL, quote, 0) == D("51.01")
    assert aggressive_limit(SELL, quote, 1) == D("51.00")


@pytest.mark.parametrize(
    ("bid", "ask", "side", "ticks", "expected"),
    [
        ("0.9990", "0.9999", BUY, 1, "1.00"),
        ("0.9990", "0.9999", BUY, 2, "1.01"),
        ("1.00", "1.01", SELL, 1, "0.9999"),
        ("1.01", "1.02", SELL, 2, "0.9999"),
        ("0.9990", "0.99995", BUY, 0, "1.00"),
        ("0.5000", "0.5001", SELL, 1, "0.4999"),
    ],
)
def test_aggressive_limit_across_one_dollar_is_spelt_on_the_right_grid(
    bid: str, ask: str, side: Side, ticks: int, expected: str
) -> None:
    assert str(aggressive_limit(side, q(bid, ask), ticks)) == expected


@pytest.mark.parametrize(("bid", "ticks"), [("0.0001", 1), ("0.0003", 3), ("0.00005", 0)])
def test_sell_limit_at_or_below_zero_is_refused(bid: str, ticks: int) -> None:
    with pytest.raises(InvalidInputError, match="SOXS sell limit would be at or below zero"):
        aggressive_limit(SELL, q(bid, "0.0010", symbol="SOXS"), ticks)


def test_a_missing_far_touch_cannot_be_priced() -> None:
    with pytest.raises(InvalidQuoteError, match="TQQQ has no ask"):
        aggressive_limit(BUY, q("51.00", "0"), 1)
    with pytest.raises(InvalidQuoteError, match="TQQQ has no bid"):
        aggressive_limit(SELL, q("NaN", "51.00"), 1)


def test_negative_ticks_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="TQQQ"):
        aggressive_limit(BUY, q("51.00", "51.02"), -1)


@settings(max_examples=200)
@given(quote=grid_quotes(), n=st.integers(min_value=0, max_value=5))
def test_buy_limit_is_marketable_on_grid_and_n_ticks_over(quote: Quote, n: int) -> None:
    limit = aggressive_limit(BUY, quote, n)
    assert is_on_grid(limit)
    assert limit >= quote.ask
    assert ticks_between(quote.ask, limit) == n
    assert limit == limit.quantize(tick_size(limit))  # spelt on its own grid


@settings(max_examples=200)
@given(quote=grid_quotes(), n=st.integers(min_value=0, max_value=5))
def test_sell_limit_is_marketable_on_grid_and_positive(quote: Quote, n: int) -> None:
    limit = aggressive_limit(SELL, quote, n)
    assert is_on_grid(limit)
    assert 0 < limit <= quote.bid
    assert ticks_between(limit, quote.bid) == n


@settings(max_examples=200)
@given(
    bid=st.decimals(min_value=D("0.01"), max_value=D("5000"), places=5),
    width=st.decimals(min_value=D("0.00001"), max_value=D("5"), places=5),
    n=st.integers(min_value=0, max_value=5),
)
def test_limits_from_off_grid_quotes_stay_within_one_tick_of_rounding(
    bid: Decimal, width: Decimal, n: int
) -> None:
    quote = q(bid, bid + width)
    buy = aggressive_limit(BUY, quote, n)
    assert is_on_grid(buy)
    assert buy >= quote.ask
    assert ticks_between(round_to_tick(quote.ask, Rounding.DOWN), buy) <= n + 1
    sell = aggressive_limit(SELL, quote, n)
    assert is_on_grid(sell)
    assert 0 < sell <= quote.bid
    assert ticks_between(sell, round_to_tick(quote.bid, Rounding.UP)) <= n + 1


# -- re-pegs ----------------------------------------------------------------------------


def test_repeg_adds_extra_ticks_per_repeg() -> None:
    quote = q("51.00", "51.02")
    assert repeg_limit(BUY, quote, 1, 0, 2) == aggressive_limit(BUY, quote, 1) == D("51.03")
    assert repeg_limit(BUY, quote, 1, 2, 2) == D("51.07")
    assert repeg_limit(SELL, quote, 1, 1, 1) == D("50.98")
    assert repeg_limit(SELL, quote, 1, 3, 0) == D("50.99")


def test_repeg_refuses_negative_steps() -> None:
    with pytest.raises(InvalidInputError):
        repeg_limit(BUY, q("51.00", "51.02"), 1, -1, 1)
    with pytest.raises(InvalidInputError):
        repeg_limit(BUY, q("51.00", "51.02"), 1, 1, -1)


# -- slippage and budget ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "price", "expected"),
    [(BUY, "100.10", 10.0), (BUY, "99.95", -5.0), (SELL, "99.90", 10.0), (SELL, "100.20", -20.0)],
)
def test_slippage_is_positive_when_paid(side: Side, price: str, expected: float) -> None:
    assert slippage_bps(side, D(price), D(100)) == pytest.approx(expected)


def test_slippage_needs_a_positive_mid() -> None:
    with pytest.raises(InvalidInputError, match="arrival mid"):
        slippage_bps(BUY, D(1), D(0))


@pytest.mark.parametrize(
    ("side", "mid", "budget", "expected"),
    [
        (BUY, "100.005", 10, "100.10"),  # 100.105005 down
        (SELL, "100.005", 10, "99.91"),  # 99.904995 up
        (BUY, "0.5", 20, "0.5010"),
        (SELL, "0.5", 20, "0.4990"),
        (BUY, "0.999", 20, "1.00"),  # 1.000998 down, across $1
        (SELL, "1.001", 20, "0.9990"),  # 0.998998 up, across $1
        (BUY, "51.01", 0, "51.01"),
        (SELL, "51.015", 0, "51.02"),
        (SELL, "50", 10_000, "0.0001"),  # any price is within budget
    ],
)
def test_budget_bound_rounds_inside_the_budget(
    side: Side, mid: str, budget: int, expected: str
) -> None:
    bound = budget_bound(side, D(mid), budget)
    assert str(bound) == expected
    assert within_budget(side, bound, D(mid), budget)


def test_budget_bound_refuses_nonsense() -> None:
    with pytest.raises(InvalidInputError, match="budget"):
        budget_bound(BUY, D(100), -1)
    with pytest.raises(InvalidInputError, match="tick grid"):
        budget_bound(BUY, D("0.00005"), 1)
    with pytest.raises(InvalidInputError, match="arrival mid"):
        budget_bound(SELL, D(-1), 10)


def test_within_budget_is_exact_at_the_boundary() -> None:
    assert within_budget(BUY, D("100.10"), D(100), 10)
    assert not within_budget(BUY, D("100.11"), D(100), 10)
    assert within_budget(SELL, D("99.90"), D(100), D(10))
    assert not within_budget(SELL, D("99.89"), D(100), "10")


@settings(max_examples=200)
@given(
    mid=st.decimals(min_value=D("0.01"), max_value=D("5000"), places=3),
    budget=st.integers(min_value=0, max_value=500),
    side=st.sampled_from([BUY, SELL]),
)
def test_budget_bound_is_the_last_grid_price_inside(mid: Decimal, budget: int, side: Side) -> None:
    bound = budget_bound(side, mid, budget)
    assert is_on_grid(bound)
    assert within_budget(side, bound, mid, budget)
    assert slippage_bps(side, bound, mid) <= budget + 1e-9
    one_more = move_ticks(bound, side.sign)
    assert not within_budget(side, one_more, mid, budget)
