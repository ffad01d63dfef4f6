"""The fill model of the simulated venue: top of book only, displayed size is the liquidity.

- A marketable limit (buy limit >= ask, sell limit <= bid) fills at the touch,
  not its limit, up to the displayed size; the rest rests at its limit. Size our
  fills consume stays consumed until the next quote row of that symbol.
- A resting limit fills when a later quote's opposite touch reaches it, again at
  the touch and up to the displayed size.
- A replayed execution (LOBSTER types 4/5) at price P against resting buys (or
  sells) fills our resting buy limits >= P (sell limits <= P) at their limit, up
  to the executed size.
- A print from a trades file (``replay.merge_trades``: any venue, aggressor
  unknown) is judged conservatively, since our queue position is unknown and
  the print may have happened on a venue where others were ahead of us. Only an
  order resting at the venue before the print can fill, always at its limit:
  a print strictly through the limit (buy: below it; sell: above it) fills up
  to the print's size; a print exactly at the limit fills only if the limit is
  strictly better than this venue's displayed touch on our side (nobody shown
  ahead of us here), and then only ``PRINT_AT_LIMIT_SHARE`` of the print (whole
  shares, rounded down); a print at the limit while the displayed touch is at
  or better than it fills nothing. A print row repeats the book in force: it is
  not published and does not replenish the displayed size our fills consumed.
- A market order takes the touch's displayed size, then walks a simple depth
  model: each further level one tick worse holds the touch's displayed size
  again (at least one round lot), so it always completes. With no valid touch
  it waits at the venue for the next quote.

These functions decide what fills, at what price and in which order; the
exchange's ``MakeFill`` carries each fill out and answers how much it filled
(a fault may cap it), which is what comes off the liquidity seen here.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from better_orders.core.model import Quote, Side
from better_orders.core.ticks import ONE_DOLLAR, PENNY, SUBPENNY, tick_size
from better_orders.venues.sim.orders import VenueOrder
from better_orders.venues.sim.source import Execution

ZERO = Decimal(0)
#: The smallest depth level the market-order walk assumes when the touch shows less.
MIN_DEPTH = Decimal(100)
#: Share of a print exactly at our limit that fills us (see the module docstring).
PRINT_AT_LIMIT_SHARE = Decimal("0.5")

#: Fill ``order`` for up to ``qty`` at ``price``; returns the quantity actually filled.
MakeFill = Callable[[VenueOrder, Decimal, Decimal], Decimal]


class TopOfBook:
    """The venue's current top of book for a symbol, with what our fills left of it."""

    __slots__ = ("ask_avail", "bid_avail", "quote")

    def __init__(self, quote: Quote):
        self.quote = quote
        self.bid_avail = quote.bid_size if quote.bid > 0 else ZERO
        self.ask_avail = quote.ask_size if quote.ask > 0 else ZERO


def match_top(order: VenueOrder, top: TopOfBook, fill: MakeFill) -> None:
    """Fill ``order`` against the displayed touch (a market order: then the depth model)."""
    request = order.request
    buy = request.side is Side.BUY
    quote = top.quote
    touch = quote.ask if buy else quote.bid
    if touch <= 0:
        return
    limit = request.limit_price
    if limit is not None:
        if (buy and limit < touch) or (not buy and limit > touch):
            return
        available = top.ask_avail if buy else top.bid_avail
        if available <= 0:
            return
        filled = fill(order, min(order.remaining, available), touch)
        if buy:
            top.ask_avail -= filled
        else:
            top.bid_avail -= filled
        return
    # Market order: the touch's remaining size, then one tick worse per level.
    depth = max(quote.ask_size if buy else quote.bid_size, MIN_DEPTH)
    price = touch
    level = top.ask_avail if buy else top.bid_avail
    first = True
    while order.remaining > 0:
        while level > 0 and order.remaining > 0:
            filled = fill(order, min(order.remaining, level), price)
            level -= filled
            if first:
                if buy:
                    top.ask_avail -= filled
                else:
                    top.bid_avail -= filled
        first = False
        price = _step(price, buy)
        level = depth


def match_execution(resting: list[VenueOrder], execution: Execution, fill: MakeFill) -> None:
    """A replayed execution of known direction against our resting limits on that side."""
    side = execution.resting_side
    assert side is not None, "prints of unknown direction go through match_print"
    px = execution.price
    left = execution.size
    for order in sorted(resting, key=VenueOrder.priority):
        if left <= 0:
            return
        limit = order.request.limit_price
        if order.request.side is not side or limit is None or order.status.is_terminal:
            continue
        if (side is Side.BUY and limit >= px) or (side is Side.SELL and limit <= px):
            left -= fill(order, min(order.remaining, left), limit)


def match_print(
    resting: list[VenueOrder], execution: Execution, book: Quote, fill: MakeFill
) -> None:
    """A trades-file print against our resting limits (rule in the module docstring)."""
    px = execution.price
    left = execution.size
    for order in sorted(resting, key=VenueOrder.priority):
        if left <= 0:
            return
        limit = order.request.limit_price
        if limit is None or order.status.is_terminal:
            continue
        buy = order.request.side is Side.BUY
        through = px < limit if buy else px > limit
        if through:
            left -= fill(order, min(order.remaining, left), limit)
            continue
        if px != limit:
            continue
        touch = book.bid if buy else book.ask
        alone = touch <= 0 or (limit > touch if buy else limit < touch)
        if not alone:
            continue
        share = (left * PRINT_AT_LIMIT_SHARE).to_integral_value(rounding="ROUND_FLOOR")
        if share > 0:
            left -= fill(order, min(order.remaining, share), limit)


def same_book(a: Quote, b: Quote) -> bool:
    """Same prices and sizes: a print row repeating the book in force."""
    return (a.bid, a.ask, a.bid_size, a.ask_size) == (b.bid, b.ask, b.bid_size, b.ask_size)


def _step(price: Decimal, up: bool) -> Decimal:
    """One tick away from ``price`` (up for buys walking the offers, down for sells)."""
    if up:
        return price + tick_size(price)
    lower = price - (PENNY if price > ONE_DOLLAR else SUBPENNY)
    return lower if lower > 0 else SUBPENNY
