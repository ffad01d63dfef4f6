"""The US equity tick grid (Reg NMS rule 612): $0.01 at or above $1.00, $0.0001 below.

A price that leaves this module is on the grid. Rounding is always explicit
(up, down, nearest) because the direction is an economic choice: a buy limit
rounds up to stay marketable, a budget bound for a buy rounds down to stay
within budget.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from better_orders.core.errors import InvalidInputError, OffTickError

PENNY = Decimal("0.01")
SUBPENNY = Decimal("0.0001")
ONE_DOLLAR = Decimal(1)
_ZERO = Decimal(0)


class Rounding(StrEnum):
    UP = "up"
    DOWN = "down"
    NEAREST = "nearest"


_MODES = {Rounding.UP: ROUND_CEILING, Rounding.DOWN: ROUND_FLOOR, Rounding.NEAREST: ROUND_HALF_UP}


def tick_size(price: Decimal) -> Decimal:
    """Minimum increment for a price: one cent at or above $1, 1/100 cent below."""
    return PENNY if price >= ONE_DOLLAR else SUBPENNY


def is_on_grid(price: Decimal) -> bool:
    if not price.is_finite() or price <= 0:
        return False
    try:
        return price == price.quantize(tick_size(price))
    except InvalidOperation:  # beyond the context's precision: no sane price
        return False


def round_to_tick(price: Decimal, rounding: Rounding = Rounding.NEAREST) -> Decimal:
    """The grid price nearest to ``price`` in the given direction, spelt on the grid
    (``1.00``, not ``1.0000``), so prices compare and print alike.

    Rounding up across $1.00 (e.g. 0.99995 up) lands on 1.00, which is on both grids.
    """
    if not price.is_finite() or price <= _ZERO:
        raise InvalidInputError(f"price must be positive and finite, got {price}")
    # A Rounding, or its value (which a StrEnum member hashes and compares like).
    mode = _MODES.get(rounding) or _MODES[Rounding(rounding)]
    if price >= ONE_DOLLAR:
        return price.quantize(PENNY, rounding=mode)
    rounded = price.quantize(SUBPENNY, rounding=mode)
    if rounded >= ONE_DOLLAR:
        # A sub-dollar price rounded onto 1.00 or above is spelt on the penny grid.
        rounded = rounded.quantize(PENNY, rounding=mode)
    if rounded <= _ZERO:
        if mode == ROUND_FLOOR:
            raise InvalidInputError(
                f"no tick at or below {price}: the smallest price is {SUBPENNY}"
            )
        rounded = SUBPENNY
    return rounded


def require_on_grid(price: Decimal, symbol: str = "") -> Decimal:
    """Reject an off-grid price instead of correcting it (for prices a user typed)."""
    if not is_on_grid(price):
        who = f"{symbol} " if symbol else ""
        if not price.is_finite() or price <= 0:
            raise OffTickError(f"{who}price {price} is not a positive finite price")
        raise OffTickError(
            f"{who}price {price} is not on the tick grid ({tick_size(price)} at this level)"
        )
    return price


def move_ticks(price: Decimal, n: int) -> Decimal:
    """Move an on-grid price by ``n`` ticks (negative = down), crossing $1.00 correctly.

    Stepping down from 1.00 uses the sub-penny tick (0.9999); stepping up from
    0.9999 reaches 1.00 and continues in cents. Never returns a price <= 0:
    moving below the smallest tick raises.
    """
    start = require_on_grid(price)
    return step_ticks(start.quantize(tick_size(start)), n)


def step_ticks(price: Decimal, n: int) -> Decimal:
    """``move_ticks`` for a price already on the grid and spelt on it (as ``round_to_tick``
    returns it): what ``move_ticks`` does once it has checked that."""
    if n == 0:
        return price
    if price >= ONE_DOLLAR:
        # On the penny grid all the way (each step from above $1.00 is a cent): one sum,
        # spelt in cents as the steps below would spell it.
        moved = price + PENNY * n
        if moved >= ONE_DOLLAR:
            return moved
    start = price
    for _ in range(abs(n)):
        if n > 0:
            price = price + tick_size(price)
        else:
            below = price - PENNY if price > ONE_DOLLAR else price - SUBPENNY
            if below <= _ZERO:
                raise InvalidInputError(
                    f"cannot move {start} down {abs(n)} ticks: price would be <= 0"
                )
            price = below
        price = price.quantize(tick_size(price))
    return price


def ticks_between(low: Decimal, high: Decimal) -> int:
    """Number of grid steps from ``low`` up to ``high`` (both on the grid, low <= high)."""
    low = require_on_grid(low)
    high = require_on_grid(high)
    if high < low:
        raise InvalidInputError(f"ticks_between needs low <= high, got {low} > {high}")
    if low >= ONE_DOLLAR:
        return int((high - low) / PENNY)
    if high < ONE_DOLLAR:
        return int((high - low) / SUBPENNY)
    return int((ONE_DOLLAR - low) / SUBPENNY) + int((high - ONE_DOLLAR) / PENNY)
