"""The ladder against a model broker that can do anything a real one may (hypothesis stateful).

The model venue acknowledges, fills in parts, rejects, refuses submits (transiently or
not), lets fills race a cancel, refuses a cancel because the order already ended or
because it is busy, and ends orders on its own. Its messages reach the ladder late, out
of order and twice. Quotes come normal, wide (the open), crossed, locked, one-sided or
only re-confirmed; timers fire early and late; a halt may come at any time.

Invariants, after every step: the venue never holds more than the parent (what filled,
plus what live orders may still fill), the ladder never knows of more fills than the
venue made, and a started ladder always has a timer armed. When it finishes: no child
is live, at the ladder or at the venue. At the end (the venue then answers everything):
the ladder finishes, its report's filled quantity and average price are exactly those of
the venue's fills, no client order id was used twice, and every limit price is on the grid.
No child is ever priced beyond the slippage budget of the arrival mid.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal as D
from functools import cache

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import (
    Action,
    CancelFailed,
    CancelOrder,
    Event,
    Finished,
    Halt,
    Ladder,
    LadderParams,
    ParentOrder,
    QueryOrder,
    QuoteArrived,
    QuoteConfirmed,
    SetTimer,
    Start,
    SubmitFailed,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.market_calendar import default_calendar
from better_orders.core.model import (
    AttemptKind,
    Fill,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
)
from better_orders.core.ticks import is_on_grid, tick_size
from ladder_kit import et

#: Configurations the model runs: the product's defaults and the variants that change the
#: ladder's path (idle waits, a slice of all of it, passive and market entries, no re-pegs,
#: no fallback, no hold, the seed's re-peg into a wide spread, standard execution, a patient
#: rest before the cross).
CONFIGS: dict[str, dict[str, object]] = {
    "default": {},
    "idle-wait": {"timing": {"rest_fraction": 0}},
    "rest-all": {"timing": {"rest_fraction": 1, "hold_seconds": 0}},
    "passive": {"ladder": {"entry": "passive"}},
    "market": {"ladder": {"entry": "market"}},
    "one-shot": {"ladder": {"max_repegs": 0, "fallback": "none"}},
    "stop": {"ladder": {"protection": "stop", "max_repegs": 1}, "timing": {"wait_again": False}},
    "standard": {"mode": "off"},
    "patient": {"patience": {"opening_seconds": 3, "regular_seconds": 10}},
    "tight-budget": {"leveraged_etf_bps": 5},
    "finish": {"leveraged_etf_bps": 5, "ladder": {"on_budget": "finish", "max_repegs": 1}},
}
#: Where a run starts: (configuration, New York time, spread in ticks, price level). Most
#: start in the opening window with a wide spread, where the ladder has the most to do.
SETUPS = [
    ("default", "09:30:40", 20, "50"),
    ("default", "09:30:00", 8, "50"),
    ("rest-all", "09:30:40", 20, "50"),
    ("idle-wait", "09:30:40", 20, "50"),
    ("default", "09:29:58", 20, "50"),
    ("default", "10:00:00", 1, "50"),
    ("passive", "09:33:00", 2, "50"),
    ("stop", "09:30:40", 8, "50"),
    ("one-shot", "10:00:00", 2, "50"),
    ("market", "09:30:40", 20, "50"),
    ("standard", "09:30:40", 20, "50"),
    ("default", "09:30:40", 300, "0.8"),
    ("default", "10:00:00", 1, "0.8"),
    ("patient", "10:00:00", 2, "50"),
    ("patient", "09:33:00", 1, "50"),
    ("tight-budget", "09:30:40", 20, "50"),
    ("tight-budget", "10:00:00", 2, "50"),
    ("finish", "10:00:00", 8, "50"),
]
#: Quotes, most useful first: normal, come in, wide (the open), crossed, locked, one-sided,
#: or the same book confirmed.
QUOTES = ["tight", "confirm", "wide", "two ticks", "crossed", "locked", "no bid", "very wide"]
SPREADS = {"tight": 1, "two ticks": 2, "wide": 12, "very wide": 40}
#: What the venue does next, most useful first.
VENUE = ["fill", "cancel arrives", "fill all", "end", "cancel busy", "refuse next", "halt"]
CODES = ["rate_limited", "server_error", "insufficient_buying_power", "rejected"]


@cache
def params_for(config: str, symbol: str) -> LadderParams:
    cfg = BetterOrdersConfig.model_validate({"mode": "always", **CONFIGS[config]})
    return ladder_params(cfg, symbol)


@dataclass(eq=False)
class VenueOrder:
    """One order as the model venue has it."""

    request: SubmitOrder
    status: OrderStatus = OrderStatus.NEW
    cum: D = D(0)
    fills: list[Fill] = field(default_factory=list)
    refused: bool = False  # the submit was refused: no order exists

    @property
    def qty(self) -> D:
        return self.request.request.qty

    @property
    def live(self) -> bool:
        return not self.refused and not self.status.is_terminal

    def snapshot(
        self, ts: datetime, fill: Fill | None = None, reason: str | None = None
    ) -> OrderUpdate:
        avg = sum((f.qty * f.price for f in self.fills), D(0)) / self.cum if self.cum else None
        return OrderUpdate(
            self.request.request.client_order_id,
            self.status,
            self.cum,
            ts,
            avg,
            fill=fill,
            reason=reason,
        )


class LadderAgainstAModelBroker(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ladder: Ladder | None = None
        self.now = et("2026-11-24T09:30:00")
        self.timer: datetime | None = None
        self.orders: dict[str, VenueOrder] = {}
        self.wire: list[Event] = []  # what the venue said and the ladder has not heard yet
        self.heard: list[OrderUpdate] = []  # what it heard (to say again: duplicates)
        self.cancels: list[str] = []  # cancel requests on their way to the venue
        self.refuse_next: str | None = None
        self.mid = D(50)
        self.tick = D("0.01")
        self.last_quote: Quote | None = None
        self.exec_ids = 0
        self.finished = False

    # -- the shell -----------------------------------------------------------------------------

    @property
    def lad(self) -> Ladder:
        assert self.ladder is not None
        return self.ladder

    def send(self, event: Event) -> None:
        self.perform(self.lad.handle(event))

    def perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SetTimer):
                self.timer = action.at
            elif isinstance(action, Finished):
                self.on_finished()
            elif isinstance(action, SubmitOrder):
                self.on_submit(action)
            elif isinstance(action, CancelOrder):
                assert action.client_order_id in self.orders
                self.cancels.append(action.client_order_id)
            elif isinstance(action, QueryOrder):
                order = self.orders[action.client_order_id]
                if order.refused:
                    self.wire.append(
                        OrderUpdate(
                            order.request.request.client_order_id,
                            OrderStatus.REJECTED,
                            D(0),
                            self.now,
                            reason="order not found at the broker",
                        )
                    )
                else:
                    self.wire.append(order.snapshot(self.now))

    def on_submit(self, action: SubmitOrder) -> None:
        request = action.request
        coid = request.client_order_id
        assert coid not in self.orders, f"client order id {coid} used twice"
        assert request.qty > 0
        if request.order_type is OrderType.LIMIT:
            assert request.limit_price is not None and is_on_grid(request.limit_price), request
        order = VenueOrder(action)
        self.orders[coid] = order
        if self.refuse_next is not None:
            code, self.refuse_next = self.refuse_next, None
            order.refused = True
            self.wire.append(SubmitFailed(coid, self.now, f"refused: {code}", code))
            return
        self.wire.append(order.snapshot(self.now))

    def on_finished(self) -> None:
        self.finished = True
        self.timer = None
        assert self.lad.live_children == []
        assert not any(o.live for o in self.orders.values()), "finished with a live order"

    def quote_at(self, spread_ticks: int, tilt: int = 0) -> Quote:
        """A quote ``spread_ticks`` wide around the mid; ``tilt`` moves size from the offer to
        the bid (the book's lean, which a patient rest reads)."""
        half = self.tick * spread_ticks / 2
        bid = (self.mid - half).quantize(self.tick)
        ask = bid + self.tick * spread_ticks
        return Quote("TQQQ", bid, ask, D(500 + 200 * tilt), D(500 - 200 * tilt), self.now)

    # -- setup ---------------------------------------------------------------------------------

    @initialize(setup=st.sampled_from(SETUPS), side=st.sampled_from(Side), qty=st.integers(1, 400))
    def begin(self, setup: tuple[str, str, int, str], side: Side, qty: int) -> None:
        config, start, spread_ticks, level = setup
        self.mid = D(level)
        self.tick = tick_size(self.mid)
        self.ladder = Ladder(
            ParentOrder("TQQQ", side, D(qty)),
            params_for(config, "TQQQ"),
            default_calendar(),
            lambda n: f"c-{n}",
        )
        self.now = et(f"2026-11-24T{start}")
        self.last_quote = self.quote_at(spread_ticks)
        self.send(QuoteArrived(self.last_quote, self.now))
        self.send(Start(self.now))

    # -- the market and the clock --------------------------------------------------------------

    @rule(
        kind=st.sampled_from(QUOTES),
        ms=st.sampled_from([1, 15, 300, 1500, 4000]),
        move=st.integers(-2, 2),
    )
    def market(self, kind: str, ms: int, move: int) -> None:
        self.now += timedelta(milliseconds=ms)
        if kind == "confirm" and self.last_quote is not None:
            self.send(QuoteConfirmed(self.last_quote, self.now))
            return
        self.mid += self.tick * move
        q = self.quote_at(SPREADS.get(kind, 2), tilt=move)
        if kind == "crossed":
            q = dataclasses.replace(q, bid=q.ask + self.tick)
        elif kind == "locked":
            q = dataclasses.replace(q, bid=q.ask)
        elif kind == "no bid":
            q = dataclasses.replace(q, bid=D(0))
        self.last_quote = q
        self.send(QuoteArrived(q, self.now))

    @precondition(lambda self: self.timer is not None)
    @rule(early=st.booleans(), late_ms=st.sampled_from([0, 7, 900]))
    def clock(self, early: bool, late_ms: int) -> None:
        """The armed timer fires: early (it must be re-armed) or on time or late."""
        assert self.timer is not None
        if early and self.now < self.timer:
            at = self.now + (self.timer - self.now) / 2
            self.now = at
            assert self.lad.handle(TimerFired(at)) == [SetTimer(self.timer)]
            return
        self.now = max(self.now, self.timer) + timedelta(milliseconds=late_ms)
        self.timer = None
        self.send(TimerFired(self.now))

    # -- the venue -----------------------------------------------------------------------------

    @rule(kind=st.sampled_from(VENUE), i=st.integers(0, 7), code=st.sampled_from(CODES))
    def venue(self, kind: str, i: int, code: str) -> None:
        if kind == "halt":
            if i == 7:  # rarely: it ends everything
                self.send(Halt(self.now, "kill switch on"))
        elif kind == "refuse next":
            self.refuse_next = code
        elif kind in ("cancel arrives", "cancel busy"):
            if self.cancels:
                self.cancel_arrives(self.cancels.pop(i % len(self.cancels)), kind == "cancel busy")
        else:
            live = [o for o in self.orders.values() if o.live]
            if live:
                order = live[i % len(live)]
                if kind == "end":
                    self.venue_ends(order, i)
                else:
                    self.venue_fills(order, all_of_it=kind == "fill all")

    def venue_fills(self, order: VenueOrder, *, all_of_it: bool) -> None:
        left = order.qty - order.cum
        qty = left if all_of_it or left <= 1 else (left / 2).to_integral_value()
        request = order.request.request
        price = request.limit_price
        if price is None:
            assert self.last_quote is not None
            price = self.last_quote.far_touch(request.side)
        self.exec_ids += 1
        fill = Fill(
            f"x{self.exec_ids}", request.client_order_id, "TQQQ", request.side, qty, price, self.now
        )
        order.fills.append(fill)
        order.cum += qty
        order.status = (
            OrderStatus.FILLED if order.cum == order.qty else OrderStatus.PARTIALLY_FILLED
        )
        self.wire.append(order.snapshot(self.now, fill))

    def venue_ends(self, order: VenueOrder, i: int) -> None:
        """The venue ends an order on its own: expiry, a venue cancel, a late rejection."""
        how = [OrderStatus.EXPIRED, OrderStatus.CANCELED, OrderStatus.REJECTED][i % 3]
        if how is OrderStatus.REJECTED and order.cum > 0:
            how = OrderStatus.CANCELED
        order.status = how
        self.wire.append(order.snapshot(self.now, reason=f"{how.value} by the venue"))

    def cancel_arrives(self, coid: str, busy: bool) -> None:
        order = self.orders[coid]
        if order.refused:
            self.wire.append(CancelFailed(coid, self.now, "no such order", "not_found"))
        elif busy:
            self.wire.append(CancelFailed(coid, self.now, "busy, retry", "server_error", True))
        elif order.status.is_terminal:
            self.wire.append(CancelFailed(coid, self.now, "already ended", "not_cancelable"))
        else:
            order.status = OrderStatus.CANCELED
            self.wire.append(order.snapshot(self.now))

    @precondition(lambda self: bool(self.wire))
    @rule(i=st.integers(0, 7), again=st.integers(0, 3))
    def deliver(self, i: int, again: int) -> None:
        """The next message reaches the ladder: any of those on the wire (late, out of order),
        or now and then one it already heard (a duplicate, by now stale)."""
        if again == 3 and self.heard:
            self.send(dataclasses.replace(self.heard[i % len(self.heard)], ts=self.now))
            return
        event = self.wire.pop(i % len(self.wire))
        if isinstance(event, OrderUpdate):
            event = dataclasses.replace(event, ts=max(event.ts, self.now))
            self.heard.append(event)
        elif isinstance(event, SubmitFailed | CancelFailed):
            event = dataclasses.replace(event, now=max(event.now, self.now))
        self.send(event)

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def never_overfilled(self) -> None:
        if self.ladder is None:
            return
        parent = self.lad.parent.qty
        exposure = sum(
            (o.qty if o.live else o.cum for o in self.orders.values() if not o.refused), D(0)
        )
        assert exposure <= parent, f"the venue may fill {exposure} of {parent}"
        venue_filled = sum((o.cum for o in self.orders.values()), D(0))
        assert self.lad.filled_qty <= venue_filled <= parent
        for o in self.orders.values():
            assert o.cum <= o.qty

    @invariant()
    def no_child_priced_beyond_the_budget(self) -> None:
        """Every child is a limit within the budget of the arrival mid, but a market entry
        and the market order ``on_budget = "finish"`` completes with (the user's choice)."""
        if self.ladder is None or self.lad.arrival is None:
            return
        mid, budget = self.lad.arrival.mid, self.lad.params.budget_bps
        worst = mid * (1 + self.lad.parent.side.sign * budget / D(10_000))
        for order in self.orders.values():
            request = order.request.request
            if order.request.kind is AttemptKind.MARKET:
                continue
            assert request.order_type is OrderType.LIMIT and request.limit_price is not None
            if request.side is Side.BUY:
                assert request.limit_price <= worst, (request, worst)
            else:
                assert request.limit_price >= worst, (request, worst)

    @invariant()
    def a_started_ladder_has_a_timer(self) -> None:
        if self.ladder is not None and not self.lad.done:
            assert self.timer is not None, f"stuck in {self.lad.state} with no timer"

    # -- the end: the venue answers everything -------------------------------------------------

    def teardown(self) -> None:
        if self.ladder is None:
            return
        for _ in range(400):
            if self.lad.done and not self.wire and not any(o.live for o in self.orders.values()):
                break
            if self.wire:
                self.deliver(0, 0)
            elif self.cancels:
                self.cancel_arrives(self.cancels.pop(0), busy=False)
            elif self.timer is not None:
                self.now = max(self.now, self.timer)
                self.timer = None
                self.send(TimerFired(self.now))
                if not self.lad.done:
                    self.now += timedelta(milliseconds=1)
                    self.last_quote = self.quote_at(1)
                    self.send(QuoteArrived(self.last_quote, self.now))
            else:
                break
        lad = self.lad
        assert lad.done and self.finished, f"not finished: {lad.state}"
        report = lad.report
        assert report is not None
        fills = [f for o in self.orders.values() for f in o.fills]
        total = sum((f.qty for f in fills), D(0))
        assert report.filled_qty == total <= lad.parent.qty
        assert sorted(f.exec_id for f in report.fills) == sorted(f.exec_id for f in fills)
        if total:
            assert report.avg_fill_price == sum((f.qty * f.price for f in fills), D(0)) / total
        assert report.filled_qty + report.unfilled_qty == report.requested_qty
        assert all(a.status is not None and a.status.is_terminal for a in report.attempts)
        assert [a.client_order_id for a in report.attempts] == list(self.orders)


#: A few seconds; ``LADDER_MODEL_EXAMPLES=5000`` runs a longer campaign (same seed).
LadderAgainstAModelBroker.TestCase.settings = settings(
    max_examples=int(os.environ.get("LADDER_MODEL_EXAMPLES", "100")),
    stateful_step_count=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLadderAgainstAModelBroker = LadderAgainstAModelBroker.TestCase
