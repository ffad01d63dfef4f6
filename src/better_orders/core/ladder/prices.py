"""What each child order is priced at and how big it is: pure functions of the parameters,
the quote and the arrival mid (no ladder state).

Every price returned is on the tick grid: marketable limits from
``core.pricing`` (rounded to stay marketable), the passive walk and the resting
slice rounded back towards our own side, the fallback's bound rounded to stay
within budget.

The slippage budget binds every child, not only the fallback: no limit is ever
beyond the arrival mid +/- the budget (``core.pricing.cap_to_budget``), and the
fallback "market" order is a marketable limit at that bound, so it cannot walk the
book past it either. Only two orders go out at any price: a ``market`` entry (the
replay's baseline) and, when the user chose ``on_budget = "finish"``, the market
order that completes a parent the budget stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from better_orders.core import pricing
from better_orders.core.ladder.params import LadderParams
from better_orders.core.model import AttemptKind, OrderType, Quote, Side
from better_orders.core.ticks import Rounding, is_on_grid, round_to_tick, tick_size


def first_kind(params: LadderParams) -> AttemptKind:
    """The kind of the first attempt (and of a cross after the wait): aggressive or passive."""
    return AttemptKind.PASSIVE if params.entry == "passive" else AttemptKind.AGGRESSIVE


def child_price(
    params: LadderParams,
    side: Side,
    kind: AttemptKind,
    quote: Quote,
    bound: Decimal,
    repeg_index: int,
) -> tuple[OrderType, Decimal | None]:
    """Order type and limit of a marketable child of ``kind`` off ``quote``.

    ``bound`` is the slippage budget's bound off the arrival mid
    (``core.pricing.budget_bound``): no limit goes beyond it, and the fallback's
    limit is it. ``repeg_index`` is the attempt's index on the ladder (0 = the first
    attempt, N = the Nth re-peg).
    """
    if kind is AttemptKind.MARKET:
        return OrderType.MARKET, None
    if kind is AttemptKind.FALLBACK_MARKET:
        if params.budget_bps >= pricing.UNBOUNDED_BPS:
            return OrderType.MARKET, None
        return OrderType.LIMIT, bound  # marketable: the far touch is within the bound
    if kind is AttemptKind.FALLBACK_LIMIT:
        return OrderType.LIMIT, bound
    index = repeg_index if kind is AttemptKind.REPEG else 0
    limit = attempt_limit(params, side, quote, index)
    return OrderType.LIMIT, pricing.cap_to_budget(side, limit, bound)


def attempt_limit(params: LadderParams, side: Side, quote: Quote, index: int) -> Decimal:
    """Limit of attempt ``index`` (0 = first): the far touch +/- ticks, or a passive walk.

    The passive walk starts at the mid (rounded away from the far touch) and
    reaches the aggressive price on the last re-peg; with ``walk_fractions`` it
    steps through those shares of the spread instead, then the aggressive price.
    """
    walk = params.walk_fractions
    if params.entry == "passive" and index < len(walk):
        return pricing.walk_limit(side, quote, walk[index])
    aggressive = pricing.repeg_limit(
        side, quote, params.aggressive_ticks, index, params.repeg_extra_ticks
    )
    if params.entry != "passive" or index >= params.max_repegs:
        return aggressive
    fraction = Decimal(index) / Decimal(max(params.max_repegs, 1))
    target = quote.mid + (aggressive - quote.mid) * fraction
    return round_to_tick(target, Rounding.DOWN if side is Side.BUY else Rounding.UP)


def rest_order(
    params: LadderParams, side: Side, quote: Quote, bound: Decimal, remaining: Decimal
) -> tuple[Decimal, Decimal] | None:
    """``(qty, price)`` of a slice to rest while the spread is waited out, or None.

    ``rest_fraction`` of what remains (whole shares unless it is all of it), one
    tick inside the near touch, but never past the mid (rounded back towards our
    side) nor the slippage budget's ``bound``, and never marketable; None if no
    such price or quantity exists.
    """
    buy = side is Side.BUY
    near = quote.bid if buy else quote.ask
    step = tick_size(near)
    back = Rounding.DOWN if buy else Rounding.UP
    inside = near + step if buy else near - step
    if inside > 0 and not is_on_grid(inside):
        inside = round_to_tick(inside, back)  # an off-grid touch: back onto the grid
    mid = round_to_tick(quote.mid, back)
    price = min(inside, mid, bound) if buy else max(inside, mid, bound)
    if price <= 0 or (price >= quote.ask if buy else price <= quote.bid):
        return None
    if (price < near) if buy else (price > near):
        return None  # the budget does not reach the book: resting would not help
    qty = remaining
    if params.rest_fraction < 1:
        qty = (qty * params.rest_fraction).to_integral_value(rounding=ROUND_FLOOR)
    if qty <= 0:
        return None  # too small an order to split
    return qty, price


@dataclass(frozen=True, slots=True)
class FallbackChoice:
    """Step 4: the order to send (None: none) and what the report says about it."""

    kind: AttemptKind | None
    blocked: bool
    note: str | None
    unfilled_reason: str | None


def fallback_choice(
    params: LadderParams,
    side: Side,
    quote: Quote,
    arrival_mid: Decimal,
    remaining: Decimal,
    bound: Decimal,
) -> FallbackChoice:
    """Step 4 for ``remaining``: if the far touch is within budget of the arrival mid, a
    marketable limit at the budget's ``bound`` (a market order if the budget sets no
    bound); else the configured protection (a limit at the bound, or stop), or with
    ``on_budget = "finish"`` a market order at any price."""
    if params.fallback == "none":
        reason = "fallback disabled by configuration after the last re-peg"
        return FallbackChoice(None, False, None, reason)
    far = quote.far_touch(side)
    cost = pricing.slippage_bps(side, far, arrival_mid)
    budget = params.budget_bps
    if pricing.within_budget(side, far, arrival_mid, budget):
        how = (
            "market order"
            if budget >= pricing.UNBOUNDED_BPS
            else f"marketable limit at the budget's bound {bound}"
        )
        note = (
            f"fallback: {how} for {remaining}, far touch {far} is "
            f"{cost:.1f} bps from arrival mid (budget {budget} bps)"
        )
        return FallbackChoice(AttemptKind.FALLBACK_MARKET, False, note, None)
    ran = budget_ran(side, far, arrival_mid, budget)
    if params.on_budget == "finish":
        note = f"{ran}; completing {remaining} at market as configured (on_budget = finish)"
        return FallbackChoice(AttemptKind.MARKET, True, note, None)
    if params.protection == "limit_at_bound":
        note = f"{ran}; market order blocked, limit at the budget's bound {bound} instead"
        return FallbackChoice(AttemptKind.FALLBACK_LIMIT, True, note, None)
    return FallbackChoice(None, True, None, f"{ran}; market order blocked: stopped")


def budget_ran(side: Side, far: Decimal, arrival_mid: Decimal, budget: Decimal) -> str:
    """How far the market ran beyond the budget, as the report says it."""
    cost = pricing.slippage_bps(side, far, arrival_mid)
    return (
        f"the market ran {cost:.1f} bps from arrival mid {arrival_mid} (far touch {far}), "
        f"beyond the {budget} bps budget"
    )
