"""What the simulator predicts for a journalled leg's child orders, on the journalled quotes.

Each child order is replayed on its own ``SimExchange`` (with a profile's latency,
queue share and partial fills, ``sim.profile``) whose book is the leg's
(``tca.journal_legs``): a step function through the quotes marked around the fills
and the quotes the child orders were priced from. The order is submitted when it
was sent (``ChildOrder.sent``, as the runner placed it); one the venue canceled is
cancelled so that the cancel lands when the real one did. One that filled was never
cancelled: it works until ``SETTLE`` after its last real fill, so that the rest of a
fill the replay cut (and the ladder would have waited for) can meet the marked quotes
after it, at its limit. The ladder's decisions are the real ones: only the fill
model, the latency and the partial fills are the simulator's, which is what
calibrating it can change.

Partial fills are random: one draw would put the luck of that draw into the
calibration error. A profile with partial fills is replayed ``DRAWS`` times per
child order, each draw seeded from the order's symbol and the time it was sent
(independent across orders, the same for the same journal whatever its run ids),
and the prediction is their mean: each fill weighs 1/DRAWS.

Predicted fills get their quotes from the same step function: the quote in force
at the fill and the delays after it.
"""

from __future__ import annotations

import zlib
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from better_orders.core.errors import BrokerError, InvalidInputError
from better_orders.core.model import Fill, OrderRequest, Quote
from better_orders.tca.journal_legs import LegRecord, MarkedFill
from better_orders.venues.sim.book import QuoteBook
from better_orders.venues.sim.exchange import SimExchange
from better_orders.venues.sim.profile import SimProfile
from better_orders.venues.sim.replay import ReplayQuotes

#: How long after its cancel a child may still fill in the replay (updates in flight), and
#: how long after its last real fill a child that filled keeps working in it.
SETTLE = timedelta(seconds=10)
#: Replays per child order when fills may be cut at random (their mean is the prediction).
DRAWS = 16


class FillReplay:
    """Predicts a leg's fills under ``profile`` (see the module docstring)."""

    def __init__(self, profile: SimProfile, horizons: list[int], seed: int = 0) -> None:
        self.profile = profile
        self.horizons = horizons
        self.seed = seed

    def __call__(self, leg: LegRecord) -> dict[str, list[MarkedFill]]:
        """Predicted fills per child order's client order id."""
        if not leg.book:
            return {o.request.client_order_id: [] for o in leg.orders}
        try:
            quotes = ReplayQuotes.from_quotes(leg.book, symbol=leg.symbol)
        except InvalidInputError:
            return {o.request.client_order_id: [] for o in leg.orders}
        out: dict[str, list[MarkedFill]] = {o.request.client_order_id: [] for o in leg.orders}
        draws = DRAWS if self.profile.partial_fill > 0 else 1
        # A child whose first draw tried no fill takes no draw at all: every draw is the same.
        idle: set[str] = set()
        for draw in range(draws):
            fills: list[Fill] = []
            for order in leg.orders:
                coid = order.request.client_order_id
                if order.rejected or coid in idle:
                    continue
                end = order.ended or order.sent
                cancel: datetime | None = None
                if order.filled:  # no cancel was sent: what a replay's cut fill left keeps working
                    end += SETTLE
                else:  # the venue ended it on a cancel sent one latency before
                    cancel = max(order.sent, end - self.profile.latency.cancel)
                    end = cancel + SETTLE
                seed = zlib.crc32(f"{self.seed}/{leg.symbol}/{order.sent}/{draw}".encode())
                got = self._replay(quotes, order.request, order.sent, cancel, end, seed)
                if not got and draw == 0:
                    idle.add(coid)
                fills += got
            for fill in _within(fills, leg.requested):
                out[fill.client_order_id].append(self._marked(quotes, fill, 1 / draws))
        return out

    def _replay(
        self,
        quotes: ReplayQuotes,
        request: OrderRequest,
        sent: datetime,
        cancel_at: datetime | None,
        until: datetime,
        seed: int,
    ) -> list[Fill]:
        lat = self.profile.latency
        exchange = SimExchange(
            QuoteBook.replay({request.symbol: quotes.starting_at(sent)}),
            latency=lat,
            faults=self.profile.faults(seed),
            queue_share=self.profile.queue_share,
        )
        try:
            exchange.submit(request, sent)
        except BrokerError:
            return []
        if cancel_at is not None:
            exchange.advance(cancel_at)
            order = exchange.order(request.client_order_id)
            if order is not None and not order.status.is_terminal:
                exchange.cancel(request.client_order_id, cancel_at)
        exchange.advance(until)
        return list(exchange.fills)

    def _marked(self, quotes: ReplayQuotes, fill: Fill, weight: float) -> MarkedFill:
        def at(when: datetime) -> Quote | None:
            i = quotes.index_at(when)
            return quotes.quote_at(i) if i >= 0 else None

        after = {h: at(fill.ts + timedelta(milliseconds=h)) for h in self.horizons}
        later = {h: q for h, q in after.items() if q is not None}
        return MarkedFill(fill, at(fill.ts), later, weight=weight)


def _within(fills: list[Fill], qty: Decimal) -> list[Fill]:
    """``fills`` in time order, cut so that together they never exceed the parent's ``qty``.

    Each child is replayed with the quantity it really had; a child sent for what an
    earlier one left may find that earlier one filled in full in the replay (a cancel
    that lands later than the fill), and the two together would sell more than the leg.
    The ladder would not have sent the second for more than was left.
    """
    left = qty
    out: list[Fill] = []
    for fill in sorted(fills, key=lambda f: (f.ts, f.exec_id)):
        if left <= 0:
            break
        if fill.qty > left:
            fill = replace(fill, qty=left)
        left -= fill.qty
        out.append(fill)
    return out
