"""The execution ladder for one parent order, as a pure state machine.

Rules of this file:

* Everything that affects a transition lives here. The ladder never sleeps, never
  reads a clock and never calls a broker: time arrives inside events, and what the
  ladder wants done leaves as actions. The same object therefore runs live, in
  the simulator and in a replay of many thousands of decisions.
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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core import pricing
from better_orders.core.errors import BetterOrdersError
from better_orders.core.model import (
    ZERO,
    Attempt,
    AttemptKind,
    ExecutionReport,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
)
from better_orders.core.sanity import check_quote
from better_orders.core.spread import SpreadAssessment, assess_spread
from better_orders.core.ticks import Rounding, round_to_tick, tick_size
from better_orders.core.timing import (
    ExecutionStrategy,
    MarketCalendar,
    MarketPhase,
    recommended_wait_seconds,
    timing_decision,
)

# --------------------------------------------------------------------------------------
# Events and actions


@dataclass(frozen=True, slots=True)
class Start:
    now: datetime


@dataclass(frozen=True, slots=True)
class QuoteArrived:
    quote: Quote
    now: datetime


@dataclass(frozen=True, slots=True)
class TimerFired:
    now: datetime


@dataclass(frozen=True, slots=True)
class SubmitFailed:
    """The broker refused a submit outright (no order exists at the broker)."""

    client_order_id: str
    now: datetime
    reason: str
    code: str = "broker_error"
    #: Who refused it: the broker, or a pre-trade risk check before it was sent.
    by: str = "the broker"


@dataclass(frozen=True, slots=True)
class CancelFailed:
    """The broker refused a cancel (typically: the order already ended)."""

    client_order_id: str
    now: datetime
    reason: str
    code: str = "broker_error"


@dataclass(frozen=True, slots=True)
class Halt:
    """Stop now (the kill switch): send nothing more, cancel the live child, then finish."""

    now: datetime
    reason: str


Event = Start | QuoteArrived | OrderUpdate | TimerFired | SubmitFailed | CancelFailed | Halt


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    request: OrderRequest
    kind: AttemptKind
    attempt: int


@dataclass(frozen=True, slots=True)
class CancelOrder:
    client_order_id: str


@dataclass(frozen=True, slots=True)
class QueryOrder:
    """Ask the broker for the order's current state and feed it back as an ``OrderUpdate``."""

    client_order_id: str


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Wake the ladder with ``TimerFired`` at ``at``. A new timer replaces the previous one."""

    at: datetime


@dataclass(frozen=True, slots=True)
class Finished:
    report: ExecutionReport


Action = SubmitOrder | CancelOrder | QueryOrder | SetTimer | Finished


class LadderState(StrEnum):
    IDLE = "idle"
    WAITING_OPEN = "waiting_open"
    WAITING_QUOTE = "waiting_quote"
    WAITING_SPREAD = "waiting_spread"
    WORKING = "working"
    CANCELLING = "cancelling"
    DONE = "done"


class LadderProtocolError(BetterOrdersError):
    """An event arrived that the ladder cannot accept in its current state (a driver bug)."""


class NextStep(StrEnum):
    """What the ladder does once it has a usable quote (and no live child)."""

    FIRST = "first"
    #: Cross now (first-attempt pricing, no spread check): the part a cancelled resting
    #: limit left, once the rest of the order crossed and filled (``_end_rest``).
    CROSS = "cross"
    REPEG = "repeg"
    FALLBACK = "fallback"
    FINISH = "finish"


# --------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True, slots=True)
class LadderParams:
    """Everything the ladder needs from configuration, resolved for one symbol."""

    routed_better: bool
    entry: str  # "aggressive" | "passive" | "market"
    budget_bps: Decimal
    aggressive_ticks: int
    max_repegs: int
    repeg_extra_ticks: int
    timeout_wait_for_spreads: timedelta
    timeout_normal: timedelta
    timeout_standard: timedelta
    fallback: str  # "market" | "none"
    protection: str  # "limit_at_bound" | "stop"
    protection_timeout: timedelta
    cancel_timeout: timedelta
    quote_timeout: timedelta
    max_quote_age_seconds: float
    absurd_pct_of_mid: Decimal
    opening_wait_max_seconds: float
    early_wait_max_seconds: float
    wait_again: bool
    hold: timedelta
    rest_fraction: Decimal
    pre_open: str  # "wait" | "refuse"
    typical_spread_bps: float | None
    config: BetterOrdersConfig

    @classmethod
    def from_config(
        cls,
        config: BetterOrdersConfig,
        symbol: str,
        *,
        max_slippage_bps: Decimal | None = None,
        typical_spread_bps: float | None = None,
    ) -> LadderParams:
        lad = config.ladder
        typical = typical_spread_bps
        configured = config.typical_spread_bps(symbol)
        if typical is None and configured is not None:
            typical = float(configured)
        return cls(
            routed_better=config.routes_better(symbol),
            entry=lad.entry,
            budget_bps=(
                max_slippage_bps
                if max_slippage_bps is not None
                else config.slippage_budget_bps(symbol)
            ),
            aggressive_ticks=config.aggressive_ticks(symbol),
            max_repegs=lad.max_repegs,
            repeg_extra_ticks=lad.repeg_extra_ticks,
            timeout_wait_for_spreads=timedelta(seconds=lad.timeout_wait_for_spreads_seconds),
            timeout_normal=timedelta(seconds=lad.timeout_seconds),
            timeout_standard=timedelta(seconds=lad.timeout_standard_seconds),
            fallback=lad.fallback,
            protection=lad.protection,
            protection_timeout=timedelta(seconds=lad.protection_timeout_seconds),
            cancel_timeout=timedelta(seconds=lad.cancel_timeout_seconds),
            quote_timeout=timedelta(seconds=lad.quote_timeout_seconds),
            max_quote_age_seconds=config.spread.max_quote_age_seconds,
            absurd_pct_of_mid=config.spread.absurd_pct_of_mid,
            opening_wait_max_seconds=config.timing.opening_wait_max_seconds,
            early_wait_max_seconds=config.timing.early_wait_max_seconds,
            wait_again=config.timing.wait_again,
            hold=timedelta(seconds=config.timing.hold_seconds),
            rest_fraction=config.timing.rest_fraction,
            pre_open=config.timing.pre_open,
            typical_spread_bps=typical,
            config=config,
        )


@dataclass(frozen=True, slots=True)
class ParentOrder:
    symbol: str
    side: Side
    qty: Decimal


# --------------------------------------------------------------------------------------
# Child order book-keeping


@dataclass(slots=True)
class _Child:
    attempt: Attempt
    status: OrderStatus = OrderStatus.PENDING_NEW
    cum_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    fills: dict[str, Fill] = field(default_factory=dict)

    @property
    def coid(self) -> str:
        return self.attempt.client_order_id

    @property
    def terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def filled_qty(self) -> Decimal:
        from_fills = sum((f.qty for f in self.fills.values()), ZERO)
        return max(self.cum_qty, from_fills)

    @property
    def notional(self) -> Decimal:
        from_fills_qty = sum((f.qty for f in self.fills.values()), ZERO)
        if self.avg_price is not None and self.cum_qty >= from_fills_qty:
            return self.cum_qty * self.avg_price
        return sum((f.qty * f.price for f in self.fills.values()), ZERO)

    def apply(self, update: OrderUpdate) -> None:
        # Cumulative quantity never goes down; a terminal status is never undone
        # (but a venue may report a fill after a cancel: Canceled -> Filled is allowed).
        if update.filled_qty >= self.cum_qty:
            self.cum_qty = update.filled_qty
            if update.filled_avg_price is not None:
                self.avg_price = update.filled_avg_price
        if update.fill is not None and update.fill.exec_id not in self.fills:
            self.fills[update.fill.exec_id] = update.fill
        if not self.terminal or update.status is OrderStatus.FILLED:
            self.status = update.status
        self.attempt.status = self.status
        self.attempt.filled_qty = self.filled_qty
        qty = self.filled_qty
        self.attempt.filled_avg_price = (self.notional / qty) if qty else None


# --------------------------------------------------------------------------------------
# The machine


class Ladder:
    """One parent order's execution. Feed events to :meth:`handle`; carry out the actions."""

    def __init__(
        self,
        parent: ParentOrder,
        params: LadderParams,
        calendar: MarketCalendar,
        make_client_order_id: Callable[[int], str],
    ) -> None:
        self.parent = parent
        self.params = params
        self.calendar = calendar
        self._coid = make_client_order_id
        self.state = LadderState.IDLE
        self.report: ExecutionReport | None = None

        self._started: datetime | None = None
        self._last_quote: Quote | None = None
        self._quotes_seen = 0
        self._last_quote_problem: str | None = None
        self._arrival: Quote | None = None
        self._arrival_time: datetime | None = None
        self._phase: MarketPhase | None = None
        self._strategy: ExecutionStrategy | None = None
        self._assessment: SpreadAssessment | None = None
        self._wait_started: datetime | None = None
        self._wait_until: datetime | None = None
        self._holding_since: datetime | None = None
        #: The quote that ended a wait whose resting limit is being cancelled, to cross off.
        self._cross_quote: Quote | None = None
        self._burst = False  # the latest quote followed the one before within ``hold``
        self._wait_reason: str | None = None
        self._first_submit: datetime | None = None
        #: The first order sent other than a resting limit: where the spread wait ended.
        self._first_cross: datetime | None = None
        self._quote_deadline: datetime | None = None
        self._deadline: datetime | None = None
        self._next: NextStep = NextStep.FIRST
        self._children: list[_Child] = []
        self._by_coid: dict[str, _Child] = {}
        self._repegs = 0
        self._queries = 0
        self._fallback_used = False
        self._fallback_blocked = False
        self._unfilled_reason: str | None = None
        self._error: str | None = None
        self._notes: list[str] = []

    # -- public view ---------------------------------------------------------------------

    @property
    def filled_qty(self) -> Decimal:
        return sum((c.filled_qty for c in self._children), ZERO)

    @property
    def remaining_qty(self) -> Decimal:
        return max(self.parent.qty - self.filled_qty, ZERO)

    @property
    def live_child(self) -> str | None:
        """The latest child that may still be open at the broker (the one being worked)."""
        for child in reversed(self._children):
            if not child.terminal:
                return child.coid
        return None

    @property
    def live_children(self) -> list[str]:
        """Every child that may still be open at the broker, oldest first.

        Usually at most one; two while a wait's resting limit is being cancelled and
        the rest of the order already crosses (``_end_rest``).
        """
        return [c.coid for c in self._children if not c.terminal]

    @property
    def _unallocated_qty(self) -> Decimal:
        """What remains minus what live children may still fill: the most a new child may ask."""
        open_qty = sum(
            (max(c.attempt.qty - c.filled_qty, ZERO) for c in self._children if not c.terminal),
            ZERO,
        )
        return max(self.remaining_qty - open_qty, ZERO)

    def attempt(self, client_order_id: str) -> Attempt | None:
        """The attempt a child order records (its kind, prices, why it ended), if it is ours."""
        child = self._by_coid.get(client_order_id)
        return None if child is None else child.attempt

    @property
    def notes(self) -> list[str]:
        """Decisions worth telling the user about, in order (copied into the report)."""
        return list(self._notes)

    @property
    def holding_since(self) -> datetime | None:
        """While a spread that came in is being held to confirm it: since when."""
        return self._holding_since

    @property
    def done(self) -> bool:
        return self.state is LadderState.DONE

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

    # -- step 0/1: start, waiting ----------------------------------------------------------

    def _on_start(self, now: datetime) -> list[Action]:
        if self.state is not LadderState.IDLE:
            raise LadderProtocolError(f"ladder state {self.state}: cannot accept Start twice")
        self._started = now
        phase = self.calendar.phase_at(now)
        self._phase = phase
        if phase in (MarketPhase.CLOSED, MarketPhase.AFTER_HOURS):
            nxt = self.calendar.next_open(now)
            return self._finish(
                now,
                error=f"market closed at {_et(now)} ({phase}); next open {_et(nxt)}; no order sent",
            )
        if phase is MarketPhase.PRE_MARKET:
            session = self.calendar.session_at(now)
            assert session is not None
            if self.params.pre_open == "refuse":
                return self._finish(
                    now,
                    error=(
                        f"{self.parent.symbol}: market opens at {_et(session.open)}; "
                        "configured to refuse orders before the open; no order sent"
                    ),
                )
            self.state = LadderState.WAITING_OPEN
            self._wait_reason = f"waiting for the open at {_et(session.open)}"
            return [SetTimer(session.open)]
        return self._begin_deciding(now)

    def _begin_deciding(self, now: datetime) -> list[Action]:
        self.state = LadderState.WAITING_QUOTE
        self._quote_deadline = now + self.params.quote_timeout
        actions = self._try_proceed(now)
        if self.state is LadderState.WAITING_QUOTE:
            actions.append(SetTimer(self._quote_deadline))
        return actions

    def _see_quote(self, quote: Quote) -> None:
        if quote.symbol != self.parent.symbol:
            raise LadderProtocolError(
                f"ladder for {self.parent.symbol} got a quote for {quote.symbol}"
            )
        if self._last_quote is not None:
            self._burst = quote.ts - self._last_quote.ts < self.params.hold
        self._last_quote = quote
        self._quotes_seen += 1

    def _on_quote(self, quote: Quote, now: datetime) -> list[Action]:
        self._see_quote(quote)
        if self.state is LadderState.WAITING_OPEN:
            self._note_premarket(quote, now)
            return []
        if self.state in (LadderState.WAITING_QUOTE, LadderState.WAITING_SPREAD):
            return self._try_proceed(now)
        return []

    def _note_premarket(self, quote: Quote, now: datetime) -> None:
        verdict = check_quote(
            quote,
            now,
            max_age_seconds=self.params.max_quote_age_seconds,
            absurd_pct_of_mid=self.params.absurd_pct_of_mid,
        )
        if not verdict.ok:
            return
        a = assess_spread(quote, self.params.config.spread, self.params.typical_spread_bps)
        wait = recommended_wait_seconds(a.effective_class, self.params.config.timing)
        note = (
            f"pre-open: spread {a.spread_cents}c ({a.spread_bps:.1f} bps) {a.effective_class}; "
            f"recommended wait {wait:.0f} s; slippage budget {self.params.budget_bps} bps"
        )
        # Keep only the latest pre-open assessment.
        self._notes = [n for n in self._notes if not n.startswith("pre-open:")] + [note]

    def _usable_quote(self, now: datetime) -> Quote | None:
        q = self._last_quote
        if q is None:
            self._last_quote_problem = f"no quote for {self.parent.symbol}"
            return None
        verdict = check_quote(
            q,
            now,
            max_age_seconds=self.params.max_quote_age_seconds,
            absurd_pct_of_mid=self.params.absurd_pct_of_mid,
        )
        if not verdict.ok:
            self._last_quote_problem = verdict.message
            return None
        return q

    def _try_proceed(self, now: datetime) -> list[Action]:
        """With no live child: act on ``self._next`` as soon as a usable quote exists."""
        quote = self._usable_quote(now)
        if quote is None:
            if self.state is not LadderState.WAITING_QUOTE:
                self.state = LadderState.WAITING_QUOTE
                self._quote_deadline = now + self.params.quote_timeout
                return [SetTimer(self._quote_deadline)]
            return []
        if self._next is NextStep.REPEG and self._worth_waiting_again(quote, now):
            # Back to step 1: the next attempt is a fresh entry once the spread comes in.
            self._next = NextStep.FIRST
        if self._next is NextStep.FIRST:
            return self._decide_first(quote, now)
        if self._next is NextStep.CROSS:
            return self._submit(self._first_kind(), quote, now)
        if self._next is NextStep.REPEG:
            return self._submit(AttemptKind.REPEG, quote, now)
        if self._next is NextStep.FALLBACK:
            return self._fallback(quote, now)
        return self._finish(now)

    def _decide_first(self, quote: Quote, now: datetime) -> list[Action]:
        if self._arrival is None:
            # The arrival (decision) benchmark: the first usable quote once trading is allowed.
            self._arrival = quote
            self._arrival_time = now
            self._phase = self.calendar.phase_at(now)
            self._strategy = self.calendar.strategy_at(now)
        assessment = assess_spread(quote, self.params.config.spread, self.params.typical_spread_bps)
        if self._assessment is None:
            self._assessment = assessment
        if not self.params.routed_better:
            return self._submit(AttemptKind.STANDARD, quote, now)
        if self.params.entry == "market":
            self._notes.append("entry: market order at decision (no spread wait, no budget check)")
            return self._submit(AttemptKind.MARKET, quote, now)
        cross, self._cross_quote = self._cross_quote, None
        if cross is not None and assessment.worth_waiting:
            # The spread came in, the resting limit was cancelled, and during that round
            # trip the spread went out again: cross off the quote that ended the wait, as
            # the ladder would have done without a resting limit (if that price is gone,
            # the attempt's timeout leads back to the wait).
            self._notes.append(
                f"spread came in ({cross.bid} x {cross.ask}) while a limit rested; "
                "crossing off that quote after the cancel"
            )
            return self._submit(self._first_kind(), cross, now)
        session = self.calendar.session_at(now)
        assert session is not None
        decision = timing_decision(
            self.calendar.phase_at(now),
            assessment.worth_waiting,
            now,
            session,
            opening_wait_max_seconds=self.params.opening_wait_max_seconds,
            early_wait_max_seconds=self.params.early_wait_max_seconds,
            waited_since=self._wait_started,
        )
        if decision.action == "refuse":
            return self._finish(
                now, error=f"{self.parent.symbol}: {decision.reason}; no order sent"
            )
        if decision.action == "wait_for_open":
            self.state = LadderState.WAITING_OPEN
            self._wait_reason = decision.reason
            return [SetTimer(decision.until or now)]
        if decision.action == "wait" and decision.until is not None and decision.until > now:
            if self._wait_started is None:
                self._wait_started = now
                self._wait_reason = decision.reason
            self._wait_until = decision.until
            self._holding_since = None
            self.state = LadderState.WAITING_SPREAD
            if self.params.rest_fraction > 0 and self.live_child is None:
                return [*self._rest(quote, now), SetTimer(decision.until)]
            return [SetTimer(decision.until)]
        if (
            self.state is LadderState.WAITING_SPREAD
            and not assessment.worth_waiting
            and self.params.hold > timedelta(0)
        ):
            # The spread came in during a wait. A quote that followed the previous one
            # within ``hold`` is part of a burst of updates (a sweep, a cancel-replace)
            # and is often gone before an order could reach it: act on it only once it
            # has stood for ``hold``. An isolated quote is acted on at once.
            if self._holding_since is None and self._burst:
                self._holding_since = now
            if self._holding_since is not None:
                held_until = self._holding_since + self.params.hold
                if now < held_until:
                    wake = held_until
                    if self._wait_until is not None:
                        wake = min(held_until, self._wait_until)
                    return [SetTimer(wake)]
        self._holding_since = None
        if self.live_child is not None:
            return self._end_rest(None if assessment.worth_waiting else quote, quote, now)
        if self._wait_started is not None:
            self._wait_note(assessment, now, came_in=not assessment.worth_waiting)
        return self._submit(self._first_kind(), quote, now)

    def _wait_note(self, assessment: SpreadAssessment, now: datetime, *, came_in: bool) -> None:
        assert self._wait_started is not None
        why = "spread came in" if came_in else "wait limit reached"
        self._notes.append(
            f"waited {(now - self._wait_started).total_seconds():.1f} s for the spread: {why} "
            f"({assessment.spread_cents}c, {assessment.spread_bps:.1f} bps, "
            f"{assessment.effective_class}); executing"
        )

    def _worth_waiting_again(self, quote: Quote, now: datetime) -> bool:
        """After an attempt timed out: would step 1 wait now (wide spread, budget left)?

        A marketable limit sent the moment the spread came in often arrives after the
        quote that made it worth sending has gone. Re-pegging then means crossing the
        wide spread the ladder was waiting out; going back to the wait (bounded by the
        same deadline, counted from the first wait) does not. Re-pegs proper (and the
        fallback) happen once the spread is not worth waiting out or the budget is spent.
        """
        if (
            not self.params.wait_again
            or not self.params.routed_better
            or self.params.entry == "market"
        ):
            return False
        assessment = assess_spread(quote, self.params.config.spread, self.params.typical_spread_bps)
        if not assessment.worth_waiting:
            return False
        session = self.calendar.session_at(now)
        if session is None:
            return False
        decision = timing_decision(
            self.calendar.phase_at(now),
            True,
            now,
            session,
            opening_wait_max_seconds=self.params.opening_wait_max_seconds,
            early_wait_max_seconds=self.params.early_wait_max_seconds,
            waited_since=self._wait_started,
        )
        if decision.action != "wait" or decision.until is None or decision.until <= now:
            return False
        last = self._children[-1].attempt if self._children else None
        self._notes.append(
            f"attempt {len(self._children)} ({last.kind.value if last else '?'}) not filled "
            f"and the spread is {assessment.spread_cents}c ({assessment.spread_bps:.1f} bps): "
            "waiting for it to come in again instead of re-pegging"
        )
        return True

    def _rest(self, quote: Quote, now: datetime) -> list[Action]:
        """A passive slice to rest during a spread wait (``timing.rest_fraction``).

        ``rest_fraction`` of what remains (whole shares unless it is all of it), one
        tick inside the near touch, but never past the mid (rounded back towards our
        side) nor the slippage budget's bound, and never marketable; nothing if no
        such price or quantity exists. It stays until the wait ends (``_end_rest``).
        """
        side = self.parent.side
        buy = side is Side.BUY
        near = quote.bid if buy else quote.ask
        step = tick_size(near)
        inside = near + step if buy else near - step
        mid = round_to_tick(quote.mid, Rounding.DOWN if buy else Rounding.UP)
        bound = pricing.budget_bound(side, self._arrival_mid(), self.params.budget_bps)
        price = min(inside, mid, bound) if buy else max(inside, mid, bound)
        if price <= 0 or (price >= quote.ask if buy else price <= quote.bid):
            return []
        if (price < near) if buy else (price > near):
            return []  # the budget does not reach the book: resting would not help
        qty = self.remaining_qty
        if self.params.rest_fraction < 1:
            qty = (qty * self.params.rest_fraction).to_integral_value(rounding=ROUND_FLOOR)
        if qty <= 0:
            return []  # too small an order to split
        self._notes.append(
            f"resting {side.value} limit {qty} @ {price} while waiting for the spread "
            f"({quote.bid} x {quote.ask})"
        )
        return [self._new_child(AttemptKind.PASSIVE, OrderType.LIMIT, price, quote, now, qty)]

    def _end_rest(self, came_in: Quote | None, quote: Quote, now: datetime) -> list[Action]:
        """The wait is over (``came_in``: the quote that ended it; None: its limit was
        reached): cancel the resting limit and cross with the rest of the order.

        The part that did not rest crosses at once, in the same step as the cancel:
        waiting for the cancel's round trip first would give the spread that came in
        time to go out again. The two children never ask for more than remains
        (``_unallocated_qty``); what the resting limit leaves unfilled crosses once its
        cancel is confirmed (``NextStep.CROSS``), or joins the re-peg if the cross did not
        fill. A limit that rested the whole remainder is cancelled first, then step 1
        decides (``_cancel_rest``).
        """
        rest = self._children[-1]
        if self._unallocated_qty <= 0:
            return self._cancel_rest(came_in, now)
        rest.attempt.end_reason = "wait over: the rest of the order crosses"
        self._notes.append(
            f"wait over: cancelling the resting limit ({rest.filled_qty} of "
            f"{rest.attempt.qty} filled) and crossing with the other {self._unallocated_qty}"
        )
        cross = came_in or quote
        a = assess_spread(cross, self.params.config.spread, self.params.typical_spread_bps)
        self._wait_note(a, now, came_in=came_in is not None)
        return [CancelOrder(rest.coid), *self._submit(self._first_kind(), cross, now)]

    def _cancel_rest(self, quote: Quote | None, now: datetime) -> list[Action]:
        """Cancel the wait's resting limit, then decide step 1 again (``_decide_first``).

        ``quote`` is the quote that ended the wait by coming in (None: the wait limit
        was reached, and step 1 then executes off the current quote anyway).
        """
        self._cross_quote = quote
        coid = self._children[-1].coid
        self._children[-1].attempt.end_reason = "wait over: cancelled to cross the spread"
        self._next = NextStep.FIRST
        self.state = LadderState.CANCELLING
        self._deadline = now + self.params.cancel_timeout
        return [CancelOrder(coid), SetTimer(self._deadline)]

    def _first_kind(self) -> AttemptKind:
        return AttemptKind.PASSIVE if self.params.entry == "passive" else AttemptKind.AGGRESSIVE

    # -- steps 2-4: attempts ----------------------------------------------------------------

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
        child = _Child(attempt)
        self._children.append(child)
        self._by_coid[coid] = child
        if self._first_submit is None:
            self._first_submit = now
        return SubmitOrder(request, kind, attempt_no)

    def _limit_for(self, index: int, quote: Quote) -> Decimal:
        """Limit of attempt ``index`` (0 = first): the far touch +/- ticks, or a passive walk.

        The passive walk starts at the mid (rounded away from the far touch) and
        reaches the aggressive price on the last re-peg.
        """
        side = self.parent.side
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

    def _arrival_mid(self) -> Decimal:
        assert self._arrival is not None
        return self._arrival.mid

    # -- broker events ------------------------------------------------------------------

    def _apply_update(self, update: OrderUpdate) -> _Child | None:
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

    def _submit_after_wait(self, quote: Quote, now: datetime) -> list[Action]:
        if self.live_child is not None:
            return self._end_rest(None, quote, now)
        a = assess_spread(quote, self.params.config.spread, self.params.typical_spread_bps)
        self._wait_note(a, now, came_in=False)
        return self._submit(self._first_kind(), quote, now)

    # -- step 5: the report ---------------------------------------------------------------

    def _finish(self, now: datetime, *, error: str | None = None) -> list[Action]:
        if error is not None:
            self._error = error
            self._unfilled_reason = self._unfilled_reason or error
        self.state = LadderState.DONE
        self.report = self._build_report(now)
        return [Finished(self.report)]

    def _build_report(self, now: datetime) -> ExecutionReport:
        filled = self.filled_qty
        notional = sum((c.notional for c in self._children), ZERO)
        avg = (notional / filled) if filled else None
        fills = sorted(
            (f for c in self._children for f in c.fills.values()), key=lambda f: (f.ts, f.exec_id)
        )
        arrival = self._arrival
        a = self._assessment
        waited = 0.0
        # The wait ends with the first order that is not a resting limit (or, when resting
        # limits filled it all, with the last fill).
        wait_end = self._first_cross or (fills[-1].ts if fills else self._first_submit)
        if self._arrival_time is not None and wait_end is not None:
            waited = max((wait_end - self._arrival_time).total_seconds(), 0.0)
        unfilled = max(self.parent.qty - filled, ZERO)
        reason = self._unfilled_reason if unfilled > 0 else None
        return ExecutionReport(
            symbol=self.parent.symbol,
            side=self.parent.side,
            requested_qty=self.parent.qty,
            filled_qty=filled,
            avg_fill_price=avg,
            arrival_bid=arrival.bid if arrival else None,
            arrival_ask=arrival.ask if arrival else None,
            arrival_mid=arrival.mid if arrival else None,
            arrival_time=self._arrival_time,
            started=self._started or now,
            finished=now,
            strategy=(self._strategy.value if self._strategy else "none"),
            phase=(self._phase.value if self._phase else "unknown"),
            spread_class=(a.cents_class.value if a else None),
            relative_spread_class=(
                a.relative_class.value if a and a.relative_class is not None else None
            ),
            routed="better" if self.params.routed_better else "standard",
            attempts=[c.attempt for c in self._children],
            fills=fills,
            quotes_seen=self._quotes_seen,
            waited_seconds=waited,
            wait_reason=self._wait_reason,
            repegs_used=self._repegs,
            fallback_used=self._fallback_used,
            fallback_blocked=self._fallback_blocked,
            unfilled_qty=unfilled,
            unfilled_reason=reason,
            error=self._error,
            notes=list(self._notes),
        )


def _et(instant: datetime) -> str:
    from zoneinfo import ZoneInfo

    return instant.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M:%S ET")
