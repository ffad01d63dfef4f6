"""Steps 2-4 of the ladder: the aggressive limit, the re-pegs and the fallback.

Every child order is born here (``_new_child``), sized from what is not already
with a live child, so the ladder can never overfill the parent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from better_orders.core import pricing
from better_orders.core.ladder.book import LadderBook
from better_orders.core.ladder.child import ChildOrder
from better_orders.core.ladder.events import Action, SetTimer, SubmitOrder
from better_orders.core.ladder.states import LadderState
from better_orders.core.model import Attempt, AttemptKind, OrderRequest, OrderType, Quote, Side
from better_orders.core.ticks import Rounding, round_to_tick
from better_orders.core.timing import ExecutionStrategy


class LadderAttempts(LadderBook):
    """Sends the ladder's child orders: first attempt, re-pegs, fallback."""

    def _first_kind(self) -> AttemptKind:
        return AttemptKind.PASSIVE if self.params.entry == "passive" else AttemptKind.AGGRESSIVE

    def _timeout_for(self, kind: AttemptKind) -> timedelta:
        if kind is AttemptKind.STANDARD:
            return self.params.timeout_standard
        if kind is AttemptKind.FALLBACK_LIMIT:
            return self.params.protection_timeout
        if kind in (AttemptKind.FALLBACK_MARKET, AttemptKind.MARKET):
            return self.params.cancel_timeout
        if self._strategy is ExecutionStrategy.WAIT_FOR_SPREADS:
            return self.params.timeout_wait_for_spreads
        if self._strategy is ExecutionStrategy.STANDARD:
            return self.params.timeout_standard
        return self.params.timeout_normal

    def _submit(self, kind: AttemptKind, quote: Quote, now: datetime) -> list[Action]:
        if self.remaining_qty <= 0:
            return self._finish(now)
        side = self.parent.side
        arrival_mid = self._arrival_mid()
        limit: Decimal | None
        if kind in (AttemptKind.FALLBACK_MARKET, AttemptKind.MARKET):
            order_type, limit = OrderType.MARKET, None
        elif kind is AttemptKind.FALLBACK_LIMIT:
            order_type = OrderType.LIMIT
            limit = pricing.budget_bound(side, arrival_mid, self.params.budget_bps)
        else:
            order_type = OrderType.LIMIT
            index = self._repegs + 1 if kind is AttemptKind.REPEG else 0
            limit = self._limit_for(index, quote)
        if kind is AttemptKind.REPEG:
            self._repegs += 1
        if self._first_cross is None:
            self._first_cross = now
        submit = self._new_child(kind, order_type, limit, quote, now)
        self.state = LadderState.WORKING
        self._deadline = now + self._timeout_for(kind)
        return [submit, SetTimer(self._deadline)]

    def _new_child(
        self,
        kind: AttemptKind,
        order_type: OrderType,
        limit: Decimal | None,
        quote: Quote,
        now: datetime,
        qty: Decimal | None = None,
    ) -> SubmitOrder:
        """Record a child for ``qty`` (default: all that is not already with a live child)."""
        remaining = self._unallocated_qty if qty is None else qty
        side = self.parent.side
        attempt_no = len(self._children) + 1
        coid = self._coid(attempt_no)
        request = OrderRequest(
            client_order_id=coid,
            symbol=self.parent.symbol,
            side=side,
            qty=remaining,
            order_type=order_type,
            limit_price=limit,
        )
        attempt = Attempt(
            client_order_id=coid,
            kind=kind,
            order_type=order_type,
            qty=remaining,
            limit_price=limit,
            started=now,
            quote_bid=quote.bid,
            quote_ask=quote.ask,
        )
        child = ChildOrder(attempt)
        self._children.append(child)
        self._by_coid[coid] = child
        if self._first_submit is None:
            self._first_submit = now
        return SubmitOrder(request, kind, attempt_no)

    def _limit_for(self, index: int, quote: Quote) -> Decimal:
        """Limit of attempt ``index`` (0 = first): the far touch +/- ticks, or a passive walk.

        The passive walk starts at the mid (rounded away from the far touch) and
        reaches the aggressive price on the last re-peg; with ``walk_fractions`` it
        steps through those shares of the spread instead, then the aggressive price.
        """
        side = self.parent.side
        walk = self.params.walk_fractions
        if self.params.entry == "passive" and index < len(walk):
            return pricing.walk_limit(side, quote, walk[index])
        aggressive = pricing.repeg_limit(
            side, quote, self.params.aggressive_ticks, index, self.params.repeg_extra_ticks
        )
        if self.params.entry != "passive" or index >= self.params.max_repegs:
            return aggressive
        fraction = Decimal(index) / Decimal(max(self.params.max_repegs, 1))
        target = quote.mid + (aggressive - quote.mid) * fraction
        rounding = Rounding.DOWN if side is Side.BUY else Rounding.UP
        return round_to_tick(target, rounding)

    def _fallback(self, quote: Quote, now: datetime) -> list[Action]:
        if self.params.fallback == "none":
            self._unfilled_reason = "fallback disabled by configuration after the last re-peg"
            return self._finish(now)
        arrival_mid = self._arrival_mid()
        far = quote.far_touch(self.parent.side)
        cost = pricing.slippage_bps(self.parent.side, far, arrival_mid)
        if pricing.within_budget(self.parent.side, far, arrival_mid, self.params.budget_bps):
            self._fallback_used = True
            self._notes.append(
                f"fallback: market order for {self.remaining_qty}, far touch {far} is "
                f"{cost:.1f} bps from arrival mid (budget {self.params.budget_bps} bps)"
            )
            return self._submit(AttemptKind.FALLBACK_MARKET, quote, now)
        self._fallback_blocked = True
        blocked = (
            f"market order blocked: far touch {far} is {cost:.1f} bps from arrival mid "
            f"{arrival_mid}, beyond the {self.params.budget_bps} bps budget"
        )
        if self.params.protection == "limit_at_bound" and not any(
            c.attempt.kind is AttemptKind.FALLBACK_LIMIT for c in self._children
        ):
            self._fallback_used = True
            self._notes.append(f"{blocked}; limit at the budget's bound instead")
            return self._submit(AttemptKind.FALLBACK_LIMIT, quote, now)
        self._unfilled_reason = blocked
        return self._finish(now)
