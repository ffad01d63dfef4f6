"""The tick grid: rounding direction, stepping across $1.00, refusing off-grid prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from better_orders.core.errors import InvalidInputError, OffTickError
from better_orders.core.ticks import (
    PENNY,
    SUBPENNY,
    Rounding,
    is_on_grid,
    move_ticks,
    require_on_grid,
    round_to_tick,
    tick_size,
    ticks_between,
)

D = Decimal

#: Any on-grid price from the smallest tick to $5000.
grid_prices = st.one_of(
    st.integers(min_value=1, max_value=9_999).map(lambda n: D(n) * SUBPENNY),
    st.integers(min_value=100, max_value=500_000).map(lambda n: D(n) * PENNY),
)
#: Any price (on the grid or not) from the smallest tick to $5000, up to 6 decimals.
any_prices = st.decimals(min_value=D("0.0001"), max_value=D("5000"), places=6)


def _next_up(price: Decimal) -> Decimal:
    return price + tick_size(price)


def _next_down(price: Decimal) -> Decimal:
    return price - (PENNY if price > 1 else SUBPENNY)


# -- tick size and grid membership ------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "tick"),
    [
        ("0.0001", "0.0001"),
        ("0.9999", "0.0001"),
        ("1.00", "0.01"),
        ("1.01", "0.01"),
        ("600", "0.01"),
    ],
)
def test_tick_size_is_a_cent_from_one_dollar(price: str, tick: str) -> None:
    assert tick_size(D(price)) == D(tick)


@pytest.mark.parametrize(
    "price", ["0.0001", "0.5", "0.9999", "1", "1.00", "1.0000", "51.02", "600"]
)
def test_on_grid_prices_are_accepted_unchanged(price: str) -> None:
    assert is_on_grid(D(price))
    assert require_on_grid(D(price), "TQQQ") == D(price)


@pytest.mark.parametrize("price", ["1.001", "51.025", "0.99995", "0.00005", "0", "-1", "-0.01"])
def test_off_grid_prices_are_rejected_with_symbol_and_price(price: str) -> None:
    assert not is_on_grid(D(price))
    with pytest.raises(OffTickError) as info:
        require_on_grid(D(price), "TQQQ")
    assert "TQQQ" in str(info.value)
    assert price in str(info.value)


@settings(max_examples=150)
@given(price=any_prices)
def test_require_on_grid_accepts_exactly_the_grid(price: Decimal) -> None:
    on_grid = price == price.quantize(tick_size(price))
    if on_grid:
        assert require_on_grid(price) == price
    else:
        with pytest.raises(OffTickError):
            require_on_grid(price)


# -- rounding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "rounding", "expected"),
    [
        ("51.021", Rounding.UP, "51.03"),
        ("51.029", Rounding.DOWN, "51.02"),
        ("51.025", Rounding.NEAREST, "51.03"),
        ("51.0249", Rounding.NEAREST, "51.02"),
        ("0.12345", Rounding.UP, "0.1235"),
        ("0.12345", Rounding.DOWN, "0.1234"),
        ("0.99995", Rounding.UP, "1.00"),
        ("0.99995", Rounding.DOWN, "0.9999"),
        ("1.004", Rounding.DOWN, "1.00"),
        ("1.001", Rounding.UP, "1.01"),
        ("1.00", Rounding.DOWN, "1.00"),
    ],
)
def test_round_to_tick_examples(price: str, rounding: Rounding, expected: str) -> None:
    assert round_to_tick(D(price), rounding) == D(expected)


@pytest.mark.parametrize("price", ["0", "-0.01", "NaN", "Infinity"])
def test_round_to_tick_rejects_non_prices(price: str) -> None:
    with pytest.raises(InvalidInputError):
        round_to_tick(D(price), Rounding.NEAREST)


@settings(max_examples=200)
@given(price=any_prices)
def test_round_up_is_the_smallest_grid_price_at_or_above(price: Decimal) -> None:
    up = round_to_tick(price, Rounding.UP)
    assert is_on_grid(up)
    assert up >= price
    assert up == SUBPENNY or _next_down(up) < price


@settings(max_examples=200)
@given(price=any_prices)
def test_round_down_is_the_largest_grid_price_at_or_below(price: Decimal) -> None:
    down = round_to_tick(price, Rounding.DOWN)
    assert is_on_grid(down)
    assert down <= price
    assert _next_up(down) > price


@settings(max_examples=200)
@given(price=any_prices)
def test_round_nearest_is_no_farther_than_either_neighbour(price: Decimal) -> None:
    nearest = round_to_tick(price, Rounding.NEAREST)
    up = round_to_tick(price, Rounding.UP)
    down = round_to_tick(price, Rounding.DOWN)
    assert is_on_grid(nearest)
    assert nearest in (up, down)
    assert abs(nearest - price) <= min(abs(up - price), abs(down - price))


@settings(max_examples=100)
@given(price=grid_prices, rounding=st.sampled_from(list(Rounding)))
def test_rounding_an_on_grid_price_changes_nothing(price: Decimal, rounding: Rounding) -> None:
    assert round_to_tick(price, rounding) == price


def test_round_down_below_smallest_tick_never_rounds_up() -> None:
    # There is no grid price at or below 0.00004: refusing is the only honest answer.
    with pytest.raises(InvalidInputError):
        round_to_tick(D("0.00004"), Rounding.DOWN)


def test_rounding_onto_one_dollar_is_spelt_in_cents() -> None:
    assert str(round_to_tick(D("0.99995"), Rounding.UP)) == "1.00"


@pytest.mark.parametrize("price", ["NaN", "Infinity"])
def test_require_on_grid_rejects_non_finite_with_typed_error(price: str) -> None:
    with pytest.raises(OffTickError):
        require_on_grid(D(price), "SPY")


# -- moving by ticks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "n", "expected"),
    [
        ("51.00", 1, "51.01"),
        ("51.00", -1, "50.99"),
        ("0.9999", 1, "1.00"),
        ("0.9998", 3, "1.01"),
        ("1.00", -1, "0.9999"),
        ("1.01", -2, "0.9999"),
        ("1.00", 1, "1.01"),
        ("0.0002", -1, "0.0001"),
        ("600.00", 0, "600.00"),
    ],
)
def test_move_ticks_examples(price: str, n: int, expected: str) -> None:
    moved = move_ticks(D(price), n)
    assert moved == D(expected)
    assert str(moved) == expected


def test_move_ticks_across_one_dollar_is_spelt_on_the_new_grid() -> None:
    assert str(move_ticks(D("0.9999"), 1)) == "1.00"
    assert str(move_ticks(D("1.00"), -1)) == "0.9999"


@pytest.mark.parametrize(("price", "n"), [("0.0001", -1), ("0.0003", -5)])
def test_move_ticks_below_zero_raises(price: str, n: int) -> None:
    with pytest.raises(InvalidInputError, match="<= 0"):
        move_ticks(D(price), n)


def test_move_ticks_refuses_an_off_grid_start() -> None:
    with pytest.raises(OffTickError):
        move_ticks(D("51.005"), 1)


@settings(max_examples=150)
@given(price=grid_prices, n=st.integers(min_value=0, max_value=120))
def test_move_up_then_down_returns_to_start(price: Decimal, n: int) -> None:
    up = move_ticks(price, n)
    assert is_on_grid(up)
    assert up >= price
    assert ticks_between(price, up) == n
    assert move_ticks(up, -n) == price


@settings(max_examples=150)
@given(price=grid_prices, n=st.integers(min_value=1, max_value=120))
def test_each_step_is_one_tick_of_the_grid_it_lands_on(price: Decimal, n: int) -> None:
    up = move_ticks(price, n)
    assert _next_down(up) == move_ticks(price, n - 1)
    if price > SUBPENNY * n:
        down = move_ticks(price, -n)
        assert is_on_grid(down)
        assert down < price
        assert ticks_between(down, price) == n


def test_ticks_between_across_one_dollar() -> None:
    assert ticks_between(D("0.9990"), D("1.02")) == 10 + 2
    assert ticks_between(D("1.00"), D("1.00")) == 0
    with pytest.raises(InvalidInputError):
        ticks_between(D("1.02"), D("1.01"))
