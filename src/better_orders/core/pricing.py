"""Prices the ladder sends: marketable limits, re-peg steps, and slippage bounds.

Every price returned is on the tick grid, rounded in the direction that keeps
its promise: a buy limit rounds up (stays marketable), a buy budget bound rounds
down (stays within budget), and the reverse for sells. Arithmetic is Decimal;
only the bps figure handed to reports is a float.
"""

from __future__ import annotations

from decimal import Decimal

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote, Side, to_decimal
from better_orders.core.sanity import InvalidQuoteError, QuoteProblem
from better_orders.core.ticks import SUBPENNY, Rounding, round_to_tick, step_ticks

_BPS = Decimal(10_000)
#: A budget this large (100% of the mid) sets no bound a market order needs: at or above
#: it the fallback may be a plain market order (the ``walk`` baseline's "at any price").
UNBOUNDED_BPS = _BPS


def aggressive_limit(side: Side, quote: Quote, ticks: int) -> Decimal:
    """A marketable limit ``ticks`` beyond the far touch: buy at ask + N, sell at bid - N.

    An off-grid touch is first rounded away from the book (buy up, sell down) so the
    order still crosses. A sell that would have to be priced at or below zero raises
    ``InvalidInputError`` rather than being quietly clamped.
    """
    if ticks < 0:
        raise InvalidInputError(f"{quote.symbol} aggressive ticks must be >= 0, got {ticks}")
    touch = quote.far_touch(side)
    if not touch.is_finite() or touch <= 0:
        name = "ask" if side is Side.BUY else "bid"
        raise InvalidQuoteError(
            f"{quote.symbol} has no {name} to price a {side.value} against: "
            f"bid {quote.bid} ask {quote.ask}; no order sent",
            problem=QuoteProblem.NAN if not touch.is_finite() else QuoteProblem.ONE_SIDED,
            symbol=quote.symbol,
        )
    # ``round_to_tick`` spells its price on the grid: stepping it needs no further check.
    if side is Side.BUY:
        return step_ticks(round_to_tick(touch, Rounding.UP), ticks)
    if touch < SUBPENNY:
        raise InvalidInputError(
            f"{quote.symbol} sell limit would be at or below zero: bid {touch} is below the "
            f"smallest tick {SUBPENNY}; no order sent"
        )
    base = round_to_tick(touch, Rounding.DOWN)
    try:
        return step_ticks(base, -ticks)
    except InvalidInputError:
        raise InvalidInputError(
            f"{quote.symbol} sell limit would be at or below zero: bid {touch} - {ticks} "
            f"tick(s); no order sent"
        ) from None


def repeg_limit(
    side: Side, quote: Quote, ticks: int, repeg_index: int, extra_ticks_per_repeg: int
) -> Decimal:
    """The limit for re-peg number ``repeg_index`` (0 = the first attempt) off a fresh quote."""
    if repeg_index < 0 or extra_ticks_per_repeg < 0:
        raise InvalidInputError(
            f"{quote.symbol} re-peg index and extra ticks must be >= 0, "
            f"got {repeg_index} and {extra_ticks_per_repeg}"
        )
    return aggressive_limit(side, quote, ticks + repeg_index * extra_ticks_per_repeg)


def walk_limit(side: Side, quote: Quote, fraction: Decimal) -> Decimal:
    """A limit ``fraction`` of the spread from the near touch towards the far touch.

    ``0.5`` is the mid, ``1`` the far touch: a buy at ``bid + fraction x spread``, a
    sell at ``ask - fraction x spread`` (the walk-the-book convention). The price is
    rounded to the grid away from the far touch, so a step is never more aggressive
    than asked; on a one-tick spread every fraction below 1 joins the near touch.
    """
    if not (0 <= fraction <= 1):
        raise InvalidInputError(
            f"{quote.symbol} walk fraction must be between 0 and 1, got {fraction}"
        )
    near, far = quote.near_touch(side), quote.far_touch(side)
    if not near.is_finite() or not far.is_finite() or near <= 0 or far <= 0:
        raise InvalidQuoteError(
            f"{quote.symbol} has no two-sided quote to walk: bid {quote.bid} ask {quote.ask}; "
            "no order sent",
            problem=QuoteProblem.ONE_SIDED,
            symbol=quote.symbol,
        )
    target = near + (far - near) * fraction
    rounding = Rounding.DOWN if side is Side.BUY else Rounding.UP
    return round_to_tick(target, rounding)


def _mid(arrival_mid: Decimal) -> Decimal:
    if not arrival_mid.is_finite() or arrival_mid <= 0:
        raise InvalidInputError(f"arrival mid must be a positive price, got {arrival_mid}")
    return arrival_mid


def slippage_bps(side: Side, price: Decimal, arrival_mid: Decimal) -> float:
    """Cost of trading at ``price`` against the arrival mid; positive means paid."""
    mid = _mid(arrival_mid)
    return float((price - mid) * side.sign / mid * _BPS)


def budget_factor(side: Side, budget_bps: Decimal | float | int) -> Decimal:
    """``1 + budget`` for a buy, ``1 - budget`` for a sell: the mid times this is the bound
    before it is rounded onto the grid (checked and worked out once per order)."""
    budget = to_decimal(budget_bps, "slippage budget (bps)")
    if budget < 0:
        raise InvalidInputError(f"slippage budget must be >= 0 bps, got {budget}")
    return 1 + side.sign * budget / _BPS


def _raw_bound(side: Side, mid: Decimal, budget_bps: Decimal | float | int) -> Decimal:
    return mid * budget_factor(side, budget_bps)


def budget_bound(side: Side, arrival_mid: Decimal, budget_bps: Decimal | float | int) -> Decimal:
    """The worst price within budget, on the grid: a buy's highest, a sell's lowest.

    A sell budget of 10,000 bps or more allows any price: the bound is the smallest tick.
    """
    return bound_at(side, arrival_mid, budget_factor(side, budget_bps), budget_bps)


#: The largest slippage budget: 100 times the price. A larger one bounds nothing more, and its
#: bound would leave the exact prices' range.
MAX_BUDGET_BPS = Decimal(1_000_000)


def bound_at(
    side: Side, arrival_mid: Decimal, factor: Decimal, budget_bps: Decimal | float | int
) -> Decimal:
    """``budget_bound`` with its ``budget_factor`` already worked out."""
    mid = _mid(arrival_mid)
    raw = mid * factor
    if side is Side.SELL:
        return SUBPENNY if raw <= 0 else round_to_tick(raw, Rounding.UP)
    if raw < SUBPENNY:
        raise InvalidInputError(
            f"no price on the tick grid is within a {budget_bps} bps budget of mid {mid}"
        )
    return round_to_tick(raw, Rounding.DOWN)


def cap_to_budget(side: Side, price: Decimal, bound: Decimal) -> Decimal:
    """``price``, or the budget's ``bound`` if it lies beyond it (a buy above, a sell below).

    ``bound`` is ``budget_bound``'s, on the grid and inside the budget, so the result is too.
    """
    if side is Side.BUY:
        return bound if price > bound else price
    return bound if price < bound else price


def within_budget(
    side: Side, price: Decimal, arrival_mid: Decimal, budget_bps: Decimal | float | int
) -> bool:
    """True if trading at ``price`` costs at most ``budget_bps`` against the arrival mid."""
    raw = _raw_bound(side, _mid(arrival_mid), budget_bps)
    return price <= raw if side is Side.BUY else price >= raw
