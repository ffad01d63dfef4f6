"""The patient rest: cross now, or let the whole order rest briefly at or inside the touch.

When the ladder would otherwise cross at once (the spread is not worth waiting
out, or the opening windows are over), it may first rest the order for a few
seconds, and cross what is left when that time is up. Everything is decided from
the quote in force and what came before it:

* **Which way the book leans** (``core.microprice``): a book leaning towards the far
  touch by more than ``max_lean`` means the price is likelier to move away than
  to come to a resting order: cross now. While the order rests, the same lean
  (or the near touch moving past the order's limit: the market left it) ends
  the rest early, and the rest crosses.
* **Where it rests**: ``at`` of the spread from the near touch (``core.pricing.walk_limit``,
  rounded back towards our side): 0 joins the near touch, 0.5 the mid. On a one-tick
  spread every ``at`` below 1 joins the near touch: the tick-bound play, which
  joins only when the queue ahead is short against the far side (the lean).
* **How long**: ``opening_seconds`` in the opening windows (open to open + 5 min),
  ``regular_seconds`` after them, and never longer than the drift the spread can
  pay for (``core.volatility.drift_bound_seconds`` with ``drift_k``). Below
  ``MIN_REST_SECONDS`` a rest is not worth its cancel: cross.
* **While the budget allows** (``budget_urgent``): once the far touch has moved
  ``budget_urgency`` of the way from where it stood at arrival to the slippage
  budget's bound, a little more drift and no order could complete within the
  budget. Any wait (the patient rest, and the ladder's spread wait,
  ``core.ladder.decisions``) ends there and the order crosses while it still can.
  Only a move since arrival counts: a spread that is wide from the start is what
  the spread wait is for. A far touch beyond the bound (now or at arrival) is not
  urgent: no cross could fill there, and only waiting may.

A rest never prices beyond the slippage budget's bound, and never marketable.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from better_orders.core import pricing
from better_orders.core.microprice import lean, leans_against
from better_orders.core.model import Quote, Side
from better_orders.core.volatility import drift_bound_seconds

_BPS = Decimal(10_000)
#: A shorter rest is not worth the cancel it needs before the cross.
MIN_REST_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class PatienceRules:
    """How the ladder rests before crossing (module docstring); 0 seconds = cross at once."""

    opening_seconds: float = 0.0
    regular_seconds: float = 0.0
    at: Decimal = Decimal("0.5")
    max_lean: Decimal = Decimal("0.3")
    drift_k: float = 0.0
    #: Cross once the far touch has moved this share of the way from where it stood at
    #: arrival to the budget's bound (0: never).
    budget_urgency: Decimal = Decimal(0)

    @property
    def enabled(self) -> bool:
        return self.opening_seconds > 0 or self.regular_seconds > 0


#: Cross at once, as the ladder did before it could rest.
NO_PATIENCE = PatienceRules()


class RestPlan(NamedTuple):
    """Rest the order at ``price`` for ``seconds``; ``reason`` says why for the report. (A
    named tuple: made on an order's first decision, which a frozen dataclass would slow.)"""

    price: Decimal
    seconds: float
    reason: str


def rest_plan(
    rules: PatienceRules,
    side: Side,
    quote: Quote,
    *,
    opening: bool,
    bound: Decimal,
    volatility_bps: float | None = None,
) -> RestPlan | None:
    """A patient rest off ``quote``, or None: cross now (module docstring).

    ``opening``: the decision is in the opening windows; ``bound``: the slippage
    budget's worst price; ``volatility_bps``: the mid's recent volatility in bps per
    square root of a second (None: unknown, no drift bound).
    """
    seconds = rules.opening_seconds if opening else rules.regular_seconds
    if seconds <= 0 or quote.ask <= quote.bid:
        return None
    if leans_against(side, quote, rules.max_lean):
        return None
    spread_bps = float((quote.ask - quote.bid) / quote.mid * _BPS)
    limit = drift_bound_seconds(spread_bps, volatility_bps, rules.drift_k)
    if limit is not None:
        seconds = min(seconds, limit)
    if seconds < MIN_REST_SECONDS:
        return None
    price = pricing.walk_limit(side, quote, rules.at)
    price = min(price, bound) if side is Side.BUY else max(price, bound)
    near = quote.near_touch(side)
    if side is Side.BUY:
        outside = price < near or price >= quote.ask
    else:
        outside = price > near or price <= quote.bid
    if outside:
        return None  # the budget does not reach the book, or the rest would cross
    tilt = lean(side, quote)
    how = "joining the near touch" if price == near else "inside the spread"
    book = "" if tilt is None else f", book lean {tilt:+.2f}"
    return RestPlan(price, seconds, f"resting {how} at {price!s} for up to {seconds:.1f} s{book}")


def rest_ended(
    rules: PatienceRules,
    side: Side,
    quote: Quote,
    limit: Decimal,
    *,
    urgency: BudgetUrgency | None = None,
) -> str | None:
    """Why a patient rest at ``limit`` should end on ``quote`` and the rest cross (None: it
    goes on): the book leans against it, the near touch moved past its limit, or the far
    touch neared the budget's bound since the arrival quote (``urgency``: ``budget_urgent``)."""
    near = quote.near_touch(side)
    if (near > limit) if side is Side.BUY else (near < limit):
        return f"the market moved away from the resting limit {limit} (near touch {near})"
    if leans_against(side, quote, rules.max_lean):
        tilt = lean(side, quote)
        assert tilt is not None
        return f"the book leans against the resting order (lean {tilt:+.2f})"
    if urgency is not None:
        return urgency.why(quote)
    return None


def budget_urgent(
    rules: PatienceRules, side: Side, quote: Quote, arrival: Quote, bound: Decimal
) -> str | None:
    """Why a wait should end now and the order cross (None: no hurry): the far touch has
    moved at least ``budget_urgency`` of the way from where it stood on the ``arrival``
    quote to the budget's ``bound``, and not beyond it (module docstring). Exact: Decimal."""
    return budget_urgency(rules, side, arrival, bound).why(quote)


class BudgetUrgency(NamedTuple):
    """``budget_urgent`` for one order: what it needs of the ``arrival`` quote and the
    ``bound``, worked out once (``budget_urgency``), then ``why`` for each quote. (A named
    tuple: made on an order's first decision, which a frozen dataclass would slow.)"""

    side: Side
    sign: int
    #: The arrival mid, and the far touch on the arrival quote.
    mid: Decimal
    start: Decimal
    bound: Decimal
    #: How far the far touch may move towards the bound, and the move that is urgent
    #: (None: never urgent: no share set, or the bound not beyond the start).
    room: Decimal
    urgent_move: Decimal | None

    def why(self, quote: Quote) -> str | None:
        """``budget_urgent`` of ``quote`` (None: no hurry)."""
        urgent_move = self.urgent_move
        if urgent_move is None:
            return None
        sign, room, start = self.sign, self.room, self.start
        far = quote.far_touch(self.side)
        moved = (far - start) * sign
        if moved > room or moved < urgent_move:
            return None
        mid = self.mid
        bps = (far - mid) * sign / mid * _BPS
        return (
            f"the far touch {far} moved {moved / room:.0%} of the way from {start} at arrival "
            f"to the budget's bound {self.bound} ({bps:.1f} bps from the arrival mid): "
            "crossing while it can"
        )


def budget_urgency(
    rules: PatienceRules, side: Side, arrival: Quote, bound: Decimal
) -> BudgetUrgency:
    share = rules.budget_urgency
    sign = side.sign
    start = arrival.far_touch(side)
    room = (bound - start) * sign
    urgent_move = share * room if share > 0 and room > 0 else None
    return BudgetUrgency(side, sign, arrival.mid, start, bound, room, urgent_move)
