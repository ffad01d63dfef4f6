"""The fill model of the simulated venue: fills no better than the market would give.

Top of book only; the quotes are a record of a market our orders were not in,
so every rule asks what that record proves our order would have got.

Taking liquidity (an order arriving at the venue, and a market order):

- A marketable limit (buy limit >= ask, sell limit <= bid) fills at the touch it
  meets on arrival, up to the displayed size; the rest rests at its limit as a
  resting order (below). Size our fills consume stays consumed until the next
  quote row of that symbol.
- A market order takes the touch's displayed size, then walks a depth model:
  each further level one tick worse holds the touch's displayed size again (at
  least ``MIN_DEPTH``), so it always completes. With no valid touch it waits at
  the venue for the next quote.

Resting limits fill at their own limit, never better, and only after the queue
ahead of them (``VenueOrder.ahead``, whole shares of other people's orders):

- Joining: resting at the displayed near touch (buy limit == bid), the displayed
  size there is ahead of us; strictly better than the near touch (or with no
  near touch) nothing is; behind it (buy limit < bid) our place is unknown
  (``ahead`` None).
- Trades at our price (a trades-file print, or a LOBSTER type 4/5 execution
  against our side) consume the queue ahead first; only the part beyond it
  fills us (partial fills as it comes). With an unknown place they fill nothing.
- Cancellations come from behind us: the queue ahead shrinks only when the
  displayed size at our price falls below it (``ahead = min(ahead, shown)``).
  This is the conservative end of the usual choices (pro-rata would move us up
  sooner), and it is all the evidence a file without trades gives: the quote
  sizes alone can move us up the queue but never fill us.
- The near touch leaving our price: moving behind it (buy: the bid drops below
  our limit) means everything ahead has gone, so nothing is ahead of us; moving
  beyond it (someone bids more) loses our place, and when the touch comes back
  to our price we join at the back of what is displayed then.
- Trading through our price fills us whatever the queue (a price level does not
  trade through while orders rest on it): a print or execution strictly through
  our limit (buy: below it) up to its size, the opposite touch strictly through
  it (buy: ask < limit) up to its displayed size. The opposite touch exactly at
  our limit (a locked book) fills only an order with nothing ahead of it.
- A trades-file print's aggressor is unknown: it counts against our resting
  orders on either side. Against a single venue's quotes (TAQ: NYSE quotes,
  all-venue trades) a print on another venue (``Execution.away``) moves no queue
  and fills nothing at our price: that venue's queue is not the one we are in.
  Through our price it still fills us: a venue may not trade through a better
  displayed price.
- A print row repeats the book in force: it is not published and does not
  replenish the displayed size our fills consumed.
- Several of our orders meet a trade in price-time priority, each beyond its
  own queue ahead and what our earlier orders took of it.

These functions decide what fills, at what price and in which order; the
exchange's ``MakeFill`` carries each fill out and answers how much it filled
(a fault may cap it), which is what comes off the liquidity seen here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from better_orders.core.model import TERMINAL_STATUSES, Quote, Side
from better_orders.core.ticks import ONE_DOLLAR, PENNY, SUBPENNY, tick_size
from better_orders.venues.sim.orders import VenueOrder
from better_orders.venues.sim.source import Execution

ZERO = Decimal(0)
#: The smallest depth level the market-order walk assumes when the touch shows less.
MIN_DEPTH = Decimal(100)

#: Fill ``order`` for up to ``qty`` at ``price``; returns the quantity actually filled.
MakeFill = Callable[[VenueOrder, Decimal, Decimal], Decimal]


class TopOfBook:
    """The venue's current top of book for a symbol, with what our fills left of it."""

    __slots__ = ("ask_avail", "bid_avail", "quote")

    def __init__(self, quote: Quote):
        self.quote = quote
        self.bid_avail = quote.bid_size if quote.bid > ZERO else ZERO
        self.ask_avail = quote.ask_size if quote.ask > ZERO else ZERO

    def take(self, side: Side, qty: Decimal) -> None:
        """Our ``side`` order filled ``qty`` against the opposite touch."""
        if side is Side.BUY:
            self.ask_avail -= qty
        else:
            self.bid_avail -= qty

    def available(self, side: Side) -> Decimal:
        """What is left at the touch a ``side`` order trades against."""
        return self.ask_avail if side is Side.BUY else self.bid_avail


def take(order: VenueOrder, top: TopOfBook, fill: MakeFill) -> None:
    """An arriving order (or a waiting market order) takes displayed liquidity at the touch."""
    request = order.request
    side = request.side
    buy = side is Side.BUY
    quote = top.quote
    touch = quote.far_touch(side)
    if touch <= 0:
        return
    limit = request.limit_price
    if limit is not None:
        if (buy and limit < touch) or (not buy and limit > touch):
            return
        available = top.available(side)
        if available > 0:
            top.take(side, fill(order, min(order.remaining, available), touch))
        return
    # Market order: the touch's remaining size, then one tick worse per level.
    depth = max(quote.far_size(side), MIN_DEPTH)
    price = touch
    level = top.available(side)
    first = True
    while order.remaining > 0:
        while level > 0 and order.remaining > 0:
            filled = fill(order, min(order.remaining, level), price)
            level -= filled
            if first:
                top.take(side, filled)
        first = False
        price = _step(price, buy)
        level = depth


def requeue(order: VenueOrder, quote: Quote, share: Decimal = Decimal(1)) -> None:
    """Update a resting limit's queue ahead from the book in force (module docstring).

    ``share`` of the displayed size at our price is ahead of an order joining it (1:
    behind all of it; a calibrated profile may put us further up, ``sim.profile``).
    """
    limit = order.request.limit_price
    assert limit is not None, "only limits queue"
    side = order.request.side
    near = quote.near_touch(side)
    if near <= 0 or (limit > near if side is Side.BUY else limit < near):
        order.ahead = ZERO
    elif near == limit:
        shown = quote.bid_size if side is Side.BUY else quote.ask_size
        joined = shown if share == 1 else (shown * share).to_integral_value()
        order.ahead = joined if order.ahead is None else min(order.ahead, shown)
    else:
        order.ahead = None


def on_quote(
    resting: Sequence[VenueOrder], top: TopOfBook, fill: MakeFill, share: Decimal = Decimal(1)
) -> None:
    """A new quote row against our resting orders: queues move, crossing touches fill."""
    for order in _by_priority(resting):
        if order.status in TERMINAL_STATUSES:
            continue
        if order.request.limit_price is None:
            take(order, top, fill)
            continue
        requeue(order, top.quote, share)
        _cross(order, top, fill)


def _cross(order: VenueOrder, top: TopOfBook, fill: MakeFill) -> None:
    """The opposite touch at or through a resting limit fills it at its limit."""
    limit = order.request.limit_price
    assert limit is not None
    side = order.request.side
    far = top.quote.far_touch(side)
    if far <= 0:
        return
    through = far < limit if side is Side.BUY else far > limit
    if not through and not (far == limit and order.ahead == ZERO):
        return
    available = top.available(side)
    if available <= 0:
        return
    order.ahead = ZERO
    top.take(side, fill(order, min(order.remaining, available), limit))


def on_trade(resting: Sequence[VenueOrder], execution: Execution, fill: MakeFill) -> None:
    """A print or execution against our resting limits (module docstring).

    ``execution.resting_side`` limits it to our orders on that side; a trades-file
    print (side unknown) may meet either.
    """
    px = execution.price
    size = execution.size
    side = execution.resting_side
    ours = ZERO  # what our earlier orders took of this trade
    for order in _by_priority(resting):
        limit = order.request.limit_price
        if limit is None or order.status in TERMINAL_STATUSES:
            continue
        if side is not None and order.request.side is not side:
            continue
        buy = order.request.side is Side.BUY
        ahead = order.ahead
        if px < limit if buy else px > limit:
            ahead = ZERO  # traded through: nothing at our price is left ahead of us
        elif px != limit or ahead is None or execution.away:
            continue
        order.ahead = max(ahead - size, ZERO)
        reach = size - ahead - ours
        if reach > 0:
            ours += fill(order, min(order.remaining, reach), limit)


def _by_priority(resting: Sequence[VenueOrder]) -> Sequence[VenueOrder]:
    """Resting orders in matching order (a copy: filling one may remove it from ``resting``)."""
    if len(resting) == 1:
        return (resting[0],)
    return sorted(resting, key=VenueOrder.priority)


def same_book(a: Quote, b: Quote) -> bool:
    """Same prices and sizes: a print row repeating the book in force."""
    return (a.bid, a.ask, a.bid_size, a.ask_size) == (b.bid, b.ask, b.bid_size, b.ask_size)


def _step(price: Decimal, up: bool) -> Decimal:
    """One tick away from ``price`` (up for buys walking the offers, down for sells)."""
    if up:
        return price + tick_size(price)
    lower = price - (PENNY if price > ONE_DOLLAR else SUBPENNY)
    return lower if lower > 0 else SUBPENNY
