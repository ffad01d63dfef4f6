"""What the simulator predicts for a journalled leg's child orders, on the journalled quotes.

Each child order is replayed on its own ``SimExchange`` (with a profile's latency,
queue share and partial fills, ``sim.profile``) whose book is the quotes the runner
marked for that symbol in that run (``tca.own_fills.LegRecord.book``): a step function
through the arrival, every fill and the quotes after them. The order is submitted
when the ladder sent it; one the venue canceled is cancelled so that the cancel
lands when the real one did, one that filled is cancelled (if the replay has not
filled it) when the real fill was. The ladder's decisions are the real ones: only
the fill model, the latency and the partial fills are the simulator's, which is
what calibrating it can change.

Predicted fills get their quotes from the same step function: the quote in force
at the fill and the delays after it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from better_orders.core.errors import BrokerError, InvalidInputError
from better_orders.core.model import Fill, OrderRequest, Quote
from better_orders.tca.own_fills import LegRecord, MarkedFill
from better_orders.venues.sim.book import QuoteBook
from better_orders.venues.sim.exchange import SimExchange
from better_orders.venues.sim.profile import SimProfile
from better_orders.venues.sim.replay import ReplayQuotes

#: How long after its cancel (or, for an order that filled, after it ended) a child may
#: still fill in the replay: updates in flight.
SETTLE = timedelta(seconds=10)


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
        out: dict[str, list[MarkedFill]] = {}
        for n, order in enumerate(leg.orders):
            if order.rejected:
                out[order.request.client_order_id] = []
                continue
            end = order.ended or order.started
            if not order.filled:  # the venue ended it on a cancel sent one latency before
                end -= self.profile.latency.cancel
            fills = self._replay(quotes, order.request, order.started, end, n)
            out[order.request.client_order_id] = [self._marked(quotes, f) for f in fills]
        return out

    def _replay(
        self,
        quotes: ReplayQuotes,
        request: OrderRequest,
        started: datetime,
        cancel_at: datetime,
        n: int,
    ) -> list[Fill]:
        lat = self.profile.latency
        exchange = SimExchange(
            QuoteBook.replay({request.symbol: quotes.starting_at(started)}),
            latency=lat,
            faults=self.profile.faults(self.seed + n),
            queue_share=self.profile.queue_share,
        )
        try:
            exchange.submit(request, started)
        except BrokerError:
            return []
        cancel_at = max(started, cancel_at)
        exchange.advance(cancel_at)
        order = exchange.order(request.client_order_id)
        if order is not None and not order.status.is_terminal:
            exchange.cancel(request.client_order_id, cancel_at)
        exchange.advance(cancel_at + SETTLE)
        return list(exchange.fills)

    def _marked(self, quotes: ReplayQuotes, fill: Fill) -> MarkedFill:
        def at(when: datetime) -> Quote | None:
            i = quotes.index_at(when)
            return quotes.quote_at(i) if i >= 0 else None

        after = {h: at(fill.ts + timedelta(milliseconds=h)) for h in self.horizons}
        return MarkedFill(fill, at(fill.ts), {h: q for h, q in after.items() if q is not None})
