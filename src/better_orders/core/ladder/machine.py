"""The execution ladder for one parent order, as a pure state machine.

Rules of this package:

* Everything that affects a transition lives in ``core.ladder``. The ladder never
  sleeps, never reads a clock and never calls a broker: time arrives inside
  events, and what the ladder wants done leaves as actions. The same object
  therefore runs live, in the simulator and in a replay of many thousands of
  decisions.
* The ladder does not know which broker it talks to. It only assumes that every
  child order it submits eventually reaches a terminal status and that
  ``OrderUpdate.filled_qty`` is cumulative per order.

Theory of operation. A parent order (symbol, side, quantity) walks the steps of
the design's ladder::

    0  before the open   assess the spread, wait for the open (or refuse)
    1  timing            09:30-09:35: a spread worth waiting out (``core.spread.WaitRule``)
                         delays the order, within a budget counted from the first wait
    2  aggressive limit  far touch +/- N ticks, timeout 2-3 s
    3  re-peg            cancel, then the *remaining* quantity at a fresh far touch,
                         at most ``max_repegs`` times
    4  fallback          market order for the rest if the far touch is within the
                         slippage budget of the arrival mid, else a limit at the
                         budget's bound (or stop), and the report says so
    5  report            ``ExecutionReport``

Two refinements of step 1, both from replaying real opens (``better_orders.tca``):
an attempt that times out while the spread is worth waiting out again goes back
to step 1 instead of re-pegging into the wide spread (``timing.wait_again``), and
a spread that comes in on a quote that followed the previous one within
``timing.hold_seconds`` (a burst of updates: a sweep, a cancel-replace) must stand
that long before the ladder acts, since such quotes are often gone before an
order could reach them. An isolated quote is acted on at once.

The wait is not idle (``timing.rest_fraction``): a slice of what remains rests as a
limit one tick inside the near touch (never past the mid or the slippage budget),
and the next slice rests at the then-current touch if it fills. When the wait
ends, the slice is cancelled and the rest of the order crosses in the same step;
what the slice left unfilled crosses once its cancel is confirmed. Resting only a
slice bounds what a move through the resting price (adverse selection) can cost,
while each fill of it saves the whole spread.

Children never ask for more than remains minus what live children may still
fill (``_unallocated_qty``), so the parent can never be overfilled by the ladder.
Apart from a resting slice being cancelled, at most one child is live: a re-peg
cancels the live child and waits until the broker confirms it ended before
sending the next one, so fills that land while the cancel is in flight are
counted and the next child is sized from what is really left.
(Broker "replace" is not used: Alpaca's replace of a partially filled order
inherits the original quantity, and a replace may still fail after it was
accepted; cancel-then-resubmit is the form that cannot overfill.)

Events in: ``Start``, ``QuoteArrived``, ``OrderUpdate``, ``TimerFired``,
``SubmitFailed``, ``CancelFailed``, ``Halt`` (the kill switch: cancel, send nothing
more, finish). Actions out: ``SubmitOrder``, ``CancelOrder``,
``QueryOrder``, ``SetTimer``, ``Finished``. An event that is illegal in the
current state raises ``LadderProtocolError`` naming both.

Where things are: ``events`` (what goes in and out), ``states``, ``params``,
``child`` (one child order), ``book`` (the ladder's state and read-only view),
``attempts`` (steps 2-4), ``waiting`` (steps 0-1), ``report`` (step 5), and this
file: the dispatch of events, the broker's answers and the timers.
"""

from __future__ import annotations

from datetime import datetime

from better_orders.core.ladder.child import ChildOrder
from better_orders.core.ladder.events import (
    Action,
    CancelFailed,
    CancelOrder,
    Event,
    Halt,
    LadderProtocolError,
    QueryOrder,
    QuoteArrived,
    SetTimer,
    Start,
    SubmitFailed,
    TimerFired,
)
from better_orders.core.ladder.states import LadderState, NextStep
from better_orders.core.ladder.waiting import LadderWaiting
from better_orders.core.model import AttemptKind, OrderStatus, OrderUpdate


class Ladder(LadderWaiting):
    """One parent order's execution. Feed events to :meth:`handle`; carry out the actions."""

    # -- dispatch ------------------------------------------------------------------------

    def handle(self, event: Event) -> list[Action]:
        if self.state is LadderState.DONE:
            if isinstance(event, OrderUpdate):
                # A late event for a finished ladder still updates its report.
                self._apply_update(event)
                self.report = self._build_report(event.ts)
                return []
            if isinstance(event, QuoteArrived | TimerFired | Halt):
                return []
            raise LadderProtocolError(f"ladder is done; cannot accept {type(event).__name__}")
        if isinstance(event, Start):
            return self._on_start(event.now)
        if self.state is LadderState.IDLE:
            if isinstance(event, QuoteArrived):
                self._see_quote(event.quote)
                return []
            raise LadderProtocolError(
                f"ladder state {self.state}: cannot accept {type(event).__name__} before Start"
            )
        if isinstance(event, QuoteArrived):
            return self._on_quote(event.quote, event.now)
        if isinstance(event, OrderUpdate):
            return self._on_update(event)
        if isinstance(event, TimerFired):
            return self._on_timer(event.now)
        if isinstance(event, SubmitFailed):
            return self._on_submit_failed(event)
        if isinstance(event, CancelFailed):
            return self._on_cancel_failed(event)
        if isinstance(event, Halt):
            return self._on_halt(event)
        raise LadderProtocolError(f"unknown event {event!r}")

    # -- broker events ------------------------------------------------------------------

    def _apply_update(self, update: OrderUpdate) -> ChildOrder | None:
        child = self._by_coid.get(update.client_order_id)
        if child is None:
            return None
        before = self.filled_qty
        child.apply(update)
        after = self.filled_qty
        if after > self.parent.qty and before <= self.parent.qty:
            self._error = (
                f"overfill reported by the broker: filled {after} > requested {self.parent.qty}"
            )
        if child.terminal and child.attempt.ended is None:
            child.attempt.ended = update.ts
            if child.attempt.end_reason is None:
                child.attempt.end_reason = update.status.value + (
                    f": {update.reason}" if update.reason else ""
                )
        return child

    def _on_update(self, update: OrderUpdate) -> list[Action]:
        child = self._apply_update(update)
        if child is None:
            raise LadderProtocolError(
                f"update for unknown order {update.client_order_id} "
                f"(ladder {self.parent.symbol} state {self.state})"
            )
        now = update.ts
        if self.remaining_qty <= 0 and self.live_child is None:
            return self._finish(now)
        if not child.terminal:
            return []
        if child.coid != self._children[-1].coid:
            # An earlier child (a resting limit cancelled when the wait ended) ended; the
            # ladder waits for it only once the latest child has ended too.
            if self.state is LadderState.CANCELLING and self.live_child is None:
                return self._after_child_ended(now)
            return []
        # The latest child ended.
        if self.state is LadderState.CANCELLING:
            return self._after_child_ended(now)
        if self.state is LadderState.WORKING:
            if update.status is OrderStatus.FILLED:
                # Filled, yet something remains: what the cancelled resting limit left.
                # The wait is over for it too: it crosses as soon as the cancel is confirmed.
                self._next = NextStep.CROSS
                return self._after_child_ended(now)
            if update.status is OrderStatus.REJECTED:
                reason = update.reason or "no reason given"
                self._unfilled_reason = f"order {child.coid} rejected by the broker: {reason}"
                if self.filled_qty == 0:
                    self._error = self._unfilled_reason
                return self._finish(now)
            # Canceled or expired by the venue: treat like a timeout.
            child.attempt.end_reason = f"{update.status.value} by the broker"
            self._next = self._step_after(child.attempt.kind)
            return self._after_child_ended(now)
        return []

    def _step_after(self, kind: AttemptKind) -> NextStep:
        if kind in (AttemptKind.FALLBACK_LIMIT, AttemptKind.FALLBACK_MARKET, AttemptKind.MARKET):
            return NextStep.FINISH
        if kind is not AttemptKind.STANDARD and self._repegs < self.params.max_repegs:
            return NextStep.REPEG
        return NextStep.FALLBACK

    def _after_child_ended(self, now: datetime) -> list[Action]:
        self._queries = 0
        if self.remaining_qty <= 0:
            return self._finish(now)
        if self.live_child is not None:
            # A resting limit's cancel is still in flight: wait for it to end, so that
            # the next step is sized from what it really left (and the deadline queries it).
            self.state = LadderState.CANCELLING
            self._deadline = now + self.params.cancel_timeout
            return [SetTimer(self._deadline)]
        if self._next is NextStep.FINISH:
            last = self._children[-1].attempt
            if self._unfilled_reason is None:
                self._unfilled_reason = (
                    f"{last.kind.value} order {last.client_order_id} ended "
                    f"({last.end_reason}) with {self.remaining_qty} unfilled"
                )
            return self._finish(now)
        self.state = LadderState.WAITING_QUOTE
        self._quote_deadline = now + self.params.quote_timeout
        actions = self._try_proceed(now)
        if self.state is LadderState.WAITING_QUOTE:
            actions.append(SetTimer(self._quote_deadline))
        return actions

    def _on_submit_failed(self, event: SubmitFailed) -> list[Action]:
        child = self._by_coid.get(event.client_order_id)
        if child is None:
            raise LadderProtocolError(f"submit failure for unknown order {event.client_order_id}")
        child.status = OrderStatus.REJECTED
        child.attempt.status = OrderStatus.REJECTED
        child.attempt.ended = event.now
        child.attempt.end_reason = f"refused at submit ({event.code}): {event.reason}"
        self._unfilled_reason = f"order {child.coid} refused by {event.by}: {event.reason}"
        if self.filled_qty == 0:
            self._error = self._unfilled_reason
        return self._finish(event.now)

    def _on_halt(self, event: Halt) -> list[Action]:
        # Whatever step was next, the ladder now only finishes: a live child is cancelled
        # first (fills landing meanwhile still count), nothing new is ever submitted.
        self._next = NextStep.FINISH
        self._unfilled_reason = event.reason
        if self.filled_qty == 0:
            self._error = event.reason
        coid = self.live_child
        if coid is None:
            return self._finish(event.now)
        if self.state is LadderState.CANCELLING:
            return []
        self._by_coid[coid].attempt.end_reason = "halted"
        self.state = LadderState.CANCELLING
        self._holding_since = None
        self._deadline = event.now + self.params.cancel_timeout
        return [CancelOrder(coid), SetTimer(self._deadline)]

    def _on_cancel_failed(self, event: CancelFailed) -> list[Action]:
        child = self._by_coid.get(event.client_order_id)
        if child is None:
            raise LadderProtocolError(f"cancel failure for unknown order {event.client_order_id}")
        if child.terminal:
            return []
        # Usually the order filled (or ended) while the cancel was in flight: ask for its state.
        self._notes.append(f"cancel of {child.coid} refused ({event.code}): {event.reason}")
        return [QueryOrder(child.coid)]

    # -- timers -------------------------------------------------------------------------

    def _on_timer(self, now: datetime) -> list[Action]:
        state = self.state
        if state is LadderState.WAITING_OPEN:
            session = self.calendar.session_at(now)
            if session is not None and now >= session.open:
                return self._begin_deciding(now)
            return []
        if state is LadderState.WAITING_QUOTE:
            if self._quote_deadline is not None and now >= self._quote_deadline:
                problem = self._last_quote_problem or f"no usable quote for {self.parent.symbol}"
                waited = self.params.quote_timeout.total_seconds()
                self._unfilled_reason = f"{problem} (waited {waited:.0f} s)"
                if self.filled_qty == 0:
                    self._error = self._unfilled_reason
                return self._finish(now)
            return self._try_proceed(now)
        if state is LadderState.WAITING_SPREAD:
            if self._wait_until is not None and now >= self._wait_until:
                self._holding_since = None
                quote = self._usable_quote(now)
                if quote is None:
                    return self._try_proceed(now)
                return self._submit_after_wait(quote, now)
            if self._holding_since is not None:
                return self._try_proceed(now)
            return []
        if state is LadderState.WORKING:
            if self._deadline is not None and now >= self._deadline:
                child = self._children[-1]
                child.attempt.end_reason = "timeout"
                self._next = self._step_after(child.attempt.kind)
                if (
                    self._next is NextStep.FINISH
                    and child.attempt.kind is AttemptKind.FALLBACK_LIMIT
                ):
                    self._unfilled_reason = (
                        f"limit at the slippage budget's bound {child.attempt.limit_price} "
                        f"not filled within {self.params.protection_timeout.total_seconds():.0f} s"
                    )
                self.state = LadderState.CANCELLING
                self._deadline = now + self.params.cancel_timeout
                return [CancelOrder(child.coid), SetTimer(self._deadline)]
            return []
        if state is LadderState.CANCELLING:
            if self._deadline is not None and now >= self._deadline:
                coid = self.live_child or self._children[-1].coid
                self._queries += 1
                if self._queries > 5:
                    self._error = (
                        f"order {coid} did not confirm its cancel after {self._queries - 1} "
                        "queries; it may still be open at the broker"
                    )
                    self._unfilled_reason = self._error
                    return self._finish(now)
                self._deadline = now + self.params.cancel_timeout
                return [QueryOrder(coid), SetTimer(self._deadline)]
            return []
        return []
