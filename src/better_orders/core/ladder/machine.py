"""The ladder's transition table: for each state, what each event does (``TABLE``).

Rules that do not fit the table (they hold in every state):

* Start is accepted in IDLE only; anything else before Start but a quote is
  illegal. An event a state has no entry for raises ``LadderProtocolError``
  naming the state and the event.
* A quote (QuoteArrived, or QuoteConfirmed of another quote) is recorded before
  its handler runs; QuoteConfirmed of the latest quote only renews its
  confirmation (``quotes``). In DONE quotes are ignored.
* An OrderUpdate (or SubmitFailed) is folded into its child first (``child``: late,
  duplicate and out-of-order news are harmless). Then, whatever the state: if
  nothing remains to fill and no child is live, the ladder finishes. Otherwise
  the state's handler is told only if the news ended a live child ("child ended");
  news that ended nothing needs no decision. In DONE the report is rebuilt.
* CancelFailed is about a child whose cancel was sent: re-sent if the failure
  was transient (a bounded number of times), else the order is queried.
* Every state but IDLE and DONE has one timer armed (``LadderData.timer``). A
  TimerFired before it is due re-arms it (SetTimer again) and does nothing else.
* The ladder finishes only when no child is live; where a child is live, it
  first cancels it and waits (FINISHING).
* States change only along ``states.NEXT``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from better_orders.core.ladder.attempts import (
    attempt_ended,
    cancel_failed,
    cancelled,
    chase_cancel,
    cross_or_rest_ended,
    cross_quote,
    cut_to_buying_power,
    fallback_quote,
    finish_when_clear,
    no_quote,
    repeg_quote,
    rest_gone,
    timed_out,
    working_quote,
)
from better_orders.core.ladder.child import ChildEnded, ChildOrder
from better_orders.core.ladder.data import LadderData
from better_orders.core.ladder.entry import (
    entry_quote,
    halt,
    held,
    opened,
    preopen_quote,
    rest_cancelled,
    slice_ended,
    start,
    wait_over,
    wait_quote,
)
from better_orders.core.ladder.events import (
    Action,
    CancelFailed,
    Event,
    Halt,
    LadderProtocolError,
    QuoteArrived,
    QuoteConfirmed,
    SetTimer,
    Start,
    SubmitFailed,
    TimerFired,
)
from better_orders.core.ladder.moves import finish
from better_orders.core.ladder.params import LadderParams, ParentOrder
from better_orders.core.ladder.quotes import confirm_quote, see_quote
from better_orders.core.ladder.report import build_report
from better_orders.core.ladder.states import LadderState
from better_orders.core.market_calendar import MarketCalendar
from better_orders.core.model import Attempt, ExecutionReport, OrderStatus, OrderUpdate, Quote

OnTime = Callable[[LadderData, datetime], list[Action]]
OnEnded = Callable[[LadderData, ChildEnded], list[Action]]
OnHalt = Callable[[LadderData, Halt], list[Action]]


class Row(NamedTuple):
    """What a state does: on a usable-or-not quote, when its timer is due, when one of its
    children ended, on Halt. None: the event is illegal in that state."""

    quote: OnTime | None
    timer: OnTime | None
    ended: OnEnded | None
    halt: OnHalt | None


def noted(d: LadderData, now: datetime) -> list[Action]:
    """The quote is recorded (by the rule above); nothing else to do in this state."""
    return []


def ignored(d: LadderData, event: Halt) -> list[Action]:
    """Already finishing (or finished): a Halt changes nothing."""
    return []


S = LadderState
# fmt: off
TABLE: dict[LadderState, Row] = {
    #                                a quote         timer due     a child ended        Halt
    S.IDLE:                      Row(noted,          None,         None,                None),
    S.WAITING_OPEN:              Row(preopen_quote,  opened,       None,                halt),
    S.ENTRY_NEEDS_QUOTE:         Row(entry_quote,    no_quote,     None,                halt),
    S.ENTRY_NEEDS_QUOTE_RESTING: Row(entry_quote,    no_quote,     slice_ended,         halt),
    S.SPREAD_WAIT:               Row(wait_quote,     wait_over,    None,                halt),
    S.SPREAD_WAIT_RESTING:       Row(wait_quote,     wait_over,    slice_ended,         halt),
    S.SPREAD_HOLD:               Row(wait_quote,     held,         None,                halt),
    S.SPREAD_HOLD_RESTING:       Row(wait_quote,     held,         slice_ended,         halt),
    S.REST_CANCEL_THEN_ENTRY:    Row(noted,          chase_cancel, rest_cancelled,      halt),
    S.WORKING:                   Row(working_quote,  timed_out,    attempt_ended,       halt),
    S.WORKING_REST_CANCEL:       Row(noted,          timed_out,    cross_or_rest_ended, halt),
    S.CANCEL_THEN_NEXT:          Row(noted,          chase_cancel, cancelled,           halt),
    S.REST_CANCEL_THEN_CROSS:    Row(noted,          chase_cancel, rest_gone,           halt),
    S.CROSS_NEEDS_QUOTE:         Row(cross_quote,    no_quote,     None,                halt),
    S.REPEG_NEEDS_QUOTE:         Row(repeg_quote,    no_quote,     None,                halt),
    S.FALLBACK_NEEDS_QUOTE:      Row(fallback_quote, no_quote,     None,                halt),
    S.FINISHING:                 Row(noted,          chase_cancel, finish_when_clear,   ignored),
    S.DONE:                      Row(noted,          None,         None,                ignored),
}
# fmt: on


class Ladder:
    """One parent order's execution. Feed events to :meth:`handle`; carry out the actions."""

    __slots__ = ("d",)

    def __init__(
        self,
        parent: ParentOrder,
        params: LadderParams,
        calendar: MarketCalendar,
        make_client_order_id: Callable[[int], str],
    ) -> None:
        self.d = LadderData(parent, params, calendar, make_client_order_id)

    # -- events --------------------------------------------------------------------------------

    def handle(self, event: Event) -> list[Action]:
        """Take ``event``; return the actions to carry out, in order."""
        on_event = _ON_EVENT.get(type(event))
        if on_event is None:
            raise LadderProtocolError(f"{self.d.parent.symbol} ladder: unknown event {event!r}")
        return on_event(self, event)

    def _on_start(self, event: Start) -> list[Action]:
        d = self.d
        if d.state is not S.IDLE:
            raise self._illegal(Start)
        return start(d, event.now)

    def _on_halt(self, event: Halt) -> list[Action]:
        d = self.d
        on_halt = TABLE[d.state].halt
        if on_halt is None:
            raise self._illegal(Halt)
        return on_halt(d, event)

    def _on_cancel_failed(self, event: CancelFailed) -> list[Action]:
        return cancel_failed(self.d, self._child(event.client_order_id, CancelFailed), event)

    def _on_timer_fired(self, event: TimerFired) -> list[Action]:
        return self._on_timer(event.now)

    def _on_quote(self, event: QuoteArrived | QuoteConfirmed) -> list[Action]:
        d = self.d
        if d.state is S.DONE:
            return []
        now = event.now
        confirmed = event.confirmed_at or now
        if isinstance(event, QuoteArrived):
            see_quote(d, event.quote, confirmed)
        else:
            confirm_quote(d, event.quote, confirmed)
        on_quote = TABLE[d.state].quote
        assert on_quote is not None
        return on_quote(d, now)

    def _on_timer(self, now: datetime) -> list[Action]:
        d = self.d
        on_timer = TABLE[d.state].timer
        if on_timer is None or d.timer is None:
            raise self._illegal(TimerFired, "no timer is armed")
        if now < d.timer:
            return [SetTimer(d.timer)]  # early: the timer stays armed
        d.timer = None
        return on_timer(d, now)

    def _on_update(self, update: OrderUpdate) -> list[Action]:
        d = self.d
        child = self._child(update.client_order_id, OrderUpdate)
        child_before = child.filled_qty
        ended = child.apply(update)
        if child.filled_qty != child_before:
            before = d.filled
            after = d.filled = before + child.filled_qty - child_before
            asked = d.parent.qty
            if after > asked >= before:
                d.error = f"overfill reported by the broker: filled {after} > requested {asked}"
        if not ended:
            return self._after_news(update.ts)
        return self._ended(
            ChildEnded(child, update.ts, update.status, update.reason),
        )

    def _on_refused(self, event: SubmitFailed) -> list[Action]:
        child = self._child(event.client_order_id, SubmitFailed)
        if not child.refuse(event.now, event.code, event.reason):
            return self._after_news(event.now)
        if event.affordable is not None:
            cut_to_buying_power(self.d, child, event.affordable)
        return self._ended(
            ChildEnded(child, event.now, OrderStatus.REJECTED, event.reason, event.by, event.code)
        )

    def _after_news(self, now: datetime) -> list[Action]:
        d = self.d
        if d.state is S.DONE:
            d.report = build_report(d, now)
            return []
        if d.state is not S.IDLE and d.remaining_qty <= 0 and not d.any_live:
            return finish(d, now)
        return []

    def _ended(self, ended: ChildEnded) -> list[Action]:
        d = self.d
        if d.remaining_qty <= 0 and not d.any_live:
            return finish(d, ended.now)
        on_ended = TABLE[d.state].ended
        if on_ended is None:
            raise self._illegal(OrderUpdate, f"{ended.child.coid} ended, and none was live")
        return on_ended(d, ended)

    def _child(self, client_order_id: str, kind: type) -> ChildOrder:
        child = self.d.by_coid.get(client_order_id)
        if child is None:
            raise self._illegal(kind, f"unknown order {client_order_id}")
        if kind is CancelFailed and child.cancels_sent == 0:
            raise self._illegal(kind, f"no cancel of {client_order_id} was sent")
        return child

    def _illegal(self, kind: type, why: str | None = None) -> LadderProtocolError:
        d = self.d
        when = " before Start" if d.state is S.IDLE else ""
        detail = f" ({why})" if why else ""
        return LadderProtocolError(
            f"{d.parent.symbol} ladder in state {d.state.value}: cannot accept "
            f"{kind.__name__}{when}{detail}"
        )

    # -- the public view -----------------------------------------------------------------------

    @property
    def parent(self) -> ParentOrder:
        return self.d.parent

    @property
    def params(self) -> LadderParams:
        return self.d.params

    @property
    def calendar(self) -> MarketCalendar:
        return self.d.calendar

    @property
    def state(self) -> LadderState:
        return self.d.state

    @property
    def report(self) -> ExecutionReport | None:
        return self.d.report

    @property
    def done(self) -> bool:
        return self.d.state is S.DONE

    @property
    def filled_qty(self) -> Decimal:
        return self.d.filled_qty

    @property
    def remaining_qty(self) -> Decimal:
        return self.d.remaining_qty

    @property
    def live_child(self) -> str | None:
        """The latest child that may still be open at the broker (the one being worked)."""
        child = self.d.latest_live()
        return None if child is None else child.coid

    @property
    def live_children(self) -> list[str]:
        """Every child that may still be open at the broker, oldest first (at most two: a
        slice being cancelled and the cross sent with its cancel)."""
        return [c.coid for c in self.d.children if c.live]

    def attempt(self, client_order_id: str) -> Attempt | None:
        """The attempt a child order records (its kind, prices, why it ended), if it is ours."""
        child = self.d.by_coid.get(client_order_id)
        return None if child is None else child.attempt

    @property
    def notes(self) -> list[str]:
        """Decisions worth telling the user about, in order (copied into the report)."""
        return list(self.d.notes)

    @property
    def arrival(self) -> Quote | None:
        """The arrival (decision) quote, once step 1 has taken one."""
        return self.d.arrival

    @property
    def budget_bound(self) -> Decimal | None:
        """The worst price any child may have (``core.pricing.budget_bound``), once arrived."""
        return None if self.d.arrival is None else self.d.budget_bound

    @property
    def jump_reference(self) -> Quote | None:
        """The last quote accepted by the jump watch (``core.quote_jumps``; None: off or none)."""
        watch = self.d.jumps
        return None if watch is None else watch.reference

    @property
    def holding_jump(self) -> bool:
        """A quote that jumped is held until later quotes confirm it."""
        watch = self.d.jumps
        return watch is not None and watch.holding

    @property
    def holding_since(self) -> datetime | None:
        """While a spread that came in is held to confirm it (SPREAD_HOLD*): since when."""
        return self.d.holding_since


#: Which method takes each kind of event (by its exact type: events are final).
_ON_EVENT: dict[type, Callable[[Ladder, Any], list[Action]]] = {
    QuoteArrived: Ladder._on_quote,
    OrderUpdate: Ladder._on_update,
    TimerFired: Ladder._on_timer_fired,
    SubmitFailed: Ladder._on_refused,
    QuoteConfirmed: Ladder._on_quote,
    CancelFailed: Ladder._on_cancel_failed,
    Start: Ladder._on_start,
    Halt: Ladder._on_halt,
}
