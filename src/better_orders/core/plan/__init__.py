"""The portfolio planner: target weights + positions + prices + buying power → ordered trades.

Rules of this package: it is pure (no I/O, no clock, no broker); everything it
knows arrives as arguments, and the same inputs always give the same plan.
Every input is validated before any sizing, and bad input raises
``InvalidInputError`` naming the symbols and values at fault.

Theory of operation:

1. Value the portfolio at the reference prices: equity = cash + Σ qty × price
   (shorts count negative). The investable value is equity less the cash
   buffer; a symbol's target value is its weight × the investable value.
2. A symbol held but not in the targets, or targeted at weight 0, is closed in
   full: the exact position quantity, fractions included, whatever its size.
3. Any other symbol trades the difference between target and current value,
   unless that difference is below the drift threshold (a fraction of equity),
   the order would be worth less than the minimum order value, or whole-share
   rounding leaves nothing to trade. Quantities round toward zero: to whole
   shares when the ladder's limit orders need them, else to 9 decimals. What
   rounding leaves untraded is reported as a leftover.
4. Sells come first. Buys are then sized by :func:`size_buys` to the buying
   power the sells are expected to release, less a safety margin; when that is
   short every buy shrinks by the same factor. The executor calls the same
   function again once the sells have really filled, with the buying power
   they really released.

Where things are: ``trades`` (the plan's data), ``inputs`` (validating targets,
positions, prices and assets), ``build`` (steps 1-3), ``buy_sizing`` (step 4) and
``wording`` (how amounts read in notes and reasons).
"""

from better_orders.core.plan.build import build_plan
from better_orders.core.plan.buy_sizing import size_buys, size_buys_detailed
from better_orders.core.plan.inputs import parse_targets
from better_orders.core.plan.trades import (
    DEFAULT_WEIGHT_TOLERANCE,
    BuySizing,
    Plan,
    PlannedTrade,
    PlanSettings,
    SkippedSymbol,
)

__all__ = [
    "DEFAULT_WEIGHT_TOLERANCE",
    "BuySizing",
    "Plan",
    "PlanSettings",
    "PlannedTrade",
    "SkippedSymbol",
    "build_plan",
    "parse_targets",
    "size_buys",
    "size_buys_detailed",
]
