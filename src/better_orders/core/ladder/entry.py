"""Steps 0-1: the open, a usable quote, and waiting out a wide spread (with a resting slice).

The handlers of the states before the first marketable order. The wait is
bounded (``core.timing``) and not idle: a slice of the order may rest one tick
inside the near touch until the wait ends (``rest_slice``, ``end_wait_with_slice``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from better_orders.core.ladder.child import ChildEnded
from better_orders.core.ladder.data import LadderData
from better_orders.core.ladder.decisions import Entry, entry_plan, spread_view
from better_orders.core.ladder.events import Action, Halt
from better_orders.core.ladder.moves import (
    arm,
    await_cancels,
    await_quote,
    cancel,
    cross,
    fail,
    finish,
    new_child,
    send,
    to,
)
from better_orders.core.ladder.prices import first_kind, rest_order
from better_orders.core.ladder.quotes import quote_problem, usable_quote
from better_orders.core.ladder.states import RESTING, SPREAD_WAITS, LadderState
from better_orders.core.market_calendar import (
    NOTHING_TRADES,
    MarketPhase,
    format_et_seconds,
    strategy_for,
)
from better_orders.core.model import AttemptKind, OrderStatus, OrderType, Quote
from better_orders.core.patience import RestPlan, rest_plan
from better_orders.core.spread import assess_spread
from better_orders.core.timing import recommended_wait_seconds

S = LadderState
#: Phases whose patient rest is ``patience.opening_seconds`` long (else ``regular_seconds``).
_OPENING_PHASES = frozenset({MarketPhase.OPENING, MarketPhase.EARLY})
#: A resting state, once its slice has filled.
_SLICE_FILLED = {
    S.ENTRY_NEEDS_QUOTE_RESTING: S.ENTRY_NEEDS_QUOTE,
    S.SPREAD_WAIT_RESTING: S.SPREAD_WAIT,
    S.SPREAD_HOLD_RESTING: S.SPREAD_HOLD,
}


# -- IDLE, WAITING_OPEN -----------------------------------------------------------------------


def start(d: LadderData, now: datetime) -> list[Action]:
    d.started = now
    phase, session = d.market_at(now)
    d.phase = phase
    if phase in NOTHING_TRADES:
        nxt = d.calendar.next_open(now)
        error = (
            f"market closed at {format_et_seconds(now)} ({phase}); "
            f"next open {format_et_seconds(nxt)}; no order sent"
        )
        return finish(d, now, error=error)
    if phase is MarketPhase.PRE_MARKET:
        assert session is not None
        if d.params.timing.pre_open == "refuse":
            error = (
                f"{d.parent.symbol}: market opens at {format_et_seconds(session.open)}; "
                "configured to refuse orders before the open; no order sent"
            )
            return finish(d, now, error=error)
        to(d, S.WAITING_OPEN)
        d.wait_reason = f"waiting for the open at {format_et_seconds(session.open)}"
        return arm(d, session.open)
    return begin_entry(d, now)


def begin_entry(d: LadderData, now: datetime) -> list[Action]:
    return await_quote(d, S.ENTRY_NEEDS_QUOTE, now, decide_entry)


def preopen_quote(d: LadderData, now: datetime) -> list[Action]:
    """Before the open: keep the latest assessment of the spread as a note."""
    quote = d.last_quote
    if quote is None or quote_problem(d, now) is not None:
        return []
    params = d.params
    a = assess_spread(quote, params.spread, params.typical_spread_bps)
    wait = recommended_wait_seconds(a.effective_class, params.timing)
    note = (
        f"pre-open: spread {a.spread_cents}c ({a.spread_bps:.1f} bps) {a.effective_class}; "
        f"recommended wait {wait:.0f} s; slippage budget {params.budget_bps} bps"
    )
    d.notes = [n for n in d.notes if not n.startswith("pre-open:")] + [note]
    return []


def opened(d: LadderData, now: datetime) -> list[Action]:
    return begin_entry(d, now)


# -- step 1 -------------------------------------------------------------------------------------


def entry_quote(d: LadderData, now: datetime) -> list[Action]:
    """ENTRY_NEEDS_QUOTE(_RESTING): decide as soon as the quote is usable."""
    quote = usable_quote(d, now)
    return [] if quote is None else decide_entry(d, quote, now)


def wait_quote(d: LadderData, now: datetime) -> list[Action]:
    """A spread wait or hold: every usable quote is step 1 again; an unusable one suspends
    the wait until a usable quote comes (or ``quote_timeout``)."""
    quote = usable_quote(d, now)
    if quote is None:
        return _lost_quote(d, now)
    return decide_entry(d, quote, now)


def wait_over(d: LadderData, now: datetime) -> list[Action]:
    """SPREAD_WAIT(_RESTING): the wait's limit is reached; execute off the current quote."""
    d.holding_since = None
    quote = usable_quote(d, now)
    if quote is None:
        return _lost_quote(d, now)
    if d.state in RESTING:
        return end_wait_with_slice(d, None, quote, now)
    _wait_note(d, quote, now, came_in=False)
    return send(d, first_kind(d.params), quote, now)


def held(d: LadderData, now: datetime) -> list[Action]:
    """SPREAD_HOLD(_RESTING): the spread that came in has stood (or the wait's limit came)."""
    if d.wait_until is not None and now >= d.wait_until:
        return wait_over(d, now)
    quote = usable_quote(d, now)
    if quote is None:
        return _lost_quote(d, now)
    return decide_entry(d, quote, now)


def decide_entry(d: LadderData, quote: Quote, now: datetime) -> list[Action]:
    """Step 1 off a usable ``quote``: execute, wait (resting a slice), hold, or refuse."""
    params = d.params
    market = d.market_at(now)
    if d.arrival is None:
        # The arrival (decision) benchmark: the first usable quote once trading is allowed.
        d.arrival = quote
        d.arrival_time = now
        d.phase = market[0]
        d.strategy = strategy_for(d.phase)
    crossing_off, d.cross_quote = d.cross_quote, None
    state = d.state
    resting = state in RESTING
    plan = entry_plan(
        params,
        d.wait_rule,
        market,
        quote,
        now,
        waited_since=d.wait_started,
        in_spread_wait=state in SPREAD_WAITS,
        holding_since=d.holding_since,
        burst=d.burst,
        wait_until=d.wait_until,
        cross_quote=crossing_off,
        urgency=d.urgency,
        budgets=d.wait_budgets,
    )
    action = plan.action
    if action is Entry.GO:
        d.holding_since = None
        urgent = bool(plan.reason)  # the budget's urgency cut a wait short
        if urgent:
            d.notes.append(plan.reason)
        came_in = None if plan.worth_waiting else quote
        if resting:
            return end_wait_with_slice(d, came_in, quote, now, urgent=urgent)
        if d.wait_started is not None:
            _wait_note(d, quote, now, came_in=came_in is not None, urgent=urgent)
        elif not d.children and params.entry == "aggressive":
            patient = rest_plan(
                params.patience,
                d.parent.side,
                quote,
                opening=d.phase in _OPENING_PHASES,
                bound=d.budget_bound,
                volatility_bps=params.volatility_bps,
            )
            if patient is not None:
                return rest_patiently(d, patient, quote, now)
        return send(d, first_kind(params), quote, now)
    if action is Entry.WAIT:
        assert plan.until is not None
        if d.wait_started is None:
            d.wait_started = now
            d.wait_reason = None
            d.spread_wait = (market[0], plan.until)
        d.wait_until = plan.until
        d.holding_since = None
        if resting:
            to(d, S.SPREAD_WAIT_RESTING)
            return arm(d, plan.until)
        to(d, S.SPREAD_WAIT)
        return [*rest_slice(d, quote, now), *arm(d, plan.until)]
    if action is Entry.HOLD:
        assert plan.until is not None
        d.holding_since = plan.holding_since
        to(d, S.SPREAD_HOLD_RESTING if resting else S.SPREAD_HOLD)
        return arm(d, plan.until)
    if action is Entry.STANDARD:
        return send(d, AttemptKind.STANDARD, quote, now)
    if action is Entry.MARKET:
        d.notes.append("entry: market order at decision (no spread wait, no budget check)")
        return send(d, AttemptKind.MARKET, quote, now)
    if action is Entry.CROSS_OFF:
        assert crossing_off is not None
        d.notes.append(
            f"spread came in ({crossing_off.bid} x {crossing_off.ask}) while a limit rested; "
            "crossing off that quote after the cancel"
        )
        return send(d, first_kind(params), crossing_off, now)
    if action is Entry.WAIT_FOR_OPEN:
        assert plan.until is not None and not resting
        to(d, S.WAITING_OPEN)
        d.wait_reason = plan.reason
        return arm(d, plan.until)
    error = f"{d.parent.symbol}: {plan.reason}; no order sent"
    if resting:
        return give_up(d, now, error)
    return finish(d, now, error=error)


def rest_patiently(d: LadderData, plan: RestPlan, quote: Quote, now: datetime) -> list[Action]:
    """The whole order rests at ``plan.price`` until ``plan.seconds`` pass (or the book turns
    against it, ``attempts.working_quote``); what it leaves then crosses."""
    d.notes.append(f"patient: {plan.reason} ({quote.bid!s} x {quote.ask!s})")
    submit = new_child(d, AttemptKind.PATIENT, OrderType.LIMIT, plan.price, quote, now)
    to(d, S.WORKING)
    return [submit, *arm(d, now + timedelta(seconds=plan.seconds))]


def _lost_quote(d: LadderData, now: datetime) -> list[Action]:
    """No usable quote during a wait: step 1 waits for one (at most ``quote_timeout``)."""
    d.holding_since = None
    to(d, S.ENTRY_NEEDS_QUOTE_RESTING if d.state in RESTING else S.ENTRY_NEEDS_QUOTE)
    return arm(d, now + d.params.quote_timeout)


def _wait_note(
    d: LadderData, quote: Quote, now: datetime, *, came_in: bool, urgent: bool = False
) -> None:
    assert d.wait_started is not None
    a = spread_view(d.spread_scale, quote)
    why = "spread came in" if came_in else "wait limit reached"
    if urgent:
        why = "the far touch neared the budget's bound"
    d.notes.append(
        f"waited {(now - d.wait_started).total_seconds():.1f} s for the spread: {why} "
        f"({a.cents!s}c, {a.bps:.1f} bps, {a.effective_class}); executing"
    )


# -- the resting slice ----------------------------------------------------------------------------


def rest_slice(d: LadderData, quote: Quote, now: datetime) -> list[Action]:
    """A passive slice to rest during the wait (``prices.rest_order``), if one fits."""
    if d.params.rest_fraction <= 0:
        return []
    side = d.parent.side
    order = rest_order(d.params, side, quote, d.budget_bound, d.remaining_qty)
    if order is None:
        return []
    qty, price = order
    # ``!s``: a Decimal's own text, as ``{}`` gives it, without parsing a format spec.
    d.notes.append(
        f"resting {side!s} limit {qty!s} @ {price!s} while waiting for the spread "
        f"({quote.bid!s} x {quote.ask!s})"
    )
    submit = new_child(d, AttemptKind.PASSIVE, OrderType.LIMIT, price, quote, now, qty)
    to(d, S.SPREAD_WAIT_RESTING)
    return [submit]


def end_wait_with_slice(
    d: LadderData, came_in: Quote | None, quote: Quote, now: datetime, *, urgent: bool = False
) -> list[Action]:
    """The wait is over (``came_in``: the quote that ended it; None: its limit was
    reached, or ``urgent``: the budget's bound neared): cancel the slice and cross with
    the rest of the order.

    The part that did not rest crosses at once, in the same step as the cancel:
    waiting for the cancel's round trip first would give the spread that came in
    time to go out again. The two children never ask for more than remains; what
    the slice leaves unfilled crosses once its cancel is confirmed, or joins the
    re-peg if the cross did not fill. A slice that rested the whole remainder is
    cancelled first, then step 1 decides again (REST_CANCEL_THEN_ENTRY).
    """
    rest = d.latest
    crossing_qty = d.unallocated_qty
    if crossing_qty <= 0:
        d.cross_quote = came_in
        rest.attempt.end_reason = "wait over: cancelled to cross the spread"
        return [cancel(d, rest), *await_cancels(d, S.REST_CANCEL_THEN_ENTRY, now)]
    rest.attempt.end_reason = "wait over: the rest of the order crosses"
    d.notes.append(
        f"wait over: cancelling the resting limit ({rest.filled_qty!s} of "
        f"{rest.attempt.qty!s} filled) and crossing with the other {crossing_qty!s}"
    )
    crossing = came_in or quote
    _wait_note(d, crossing, now, came_in=came_in is not None, urgent=urgent)
    order = send(
        d, first_kind(d.params), crossing, now, state=S.WORKING_REST_CANCEL, qty=crossing_qty
    )
    return [cancel(d, rest), *order]


def slice_ended(d: LadderData, ended: ChildEnded) -> list[Action]:
    """The resting slice ended. Filled: the wait goes on (the next quote may rest another).
    Refused, rejected or ended by the venue: no more slices, and the rest crosses now."""
    if ended.status is OrderStatus.FILLED:
        to(d, _SLICE_FILLED[d.state])
        return []
    child = ended.child
    why = ended.reason or "no reason given"
    how = f"refused by {ended.refused_by}" if ended.refused_by else ended.status.value
    d.notes.append(
        f"resting slice {child.coid} {how} ({why}): no more slices; "
        f"crossing with the remaining {d.remaining_qty}"
    )
    d.holding_since = None
    return await_quote(d, S.CROSS_NEEDS_QUOTE, ended.now, cross)


def rest_cancelled(d: LadderData, ended: ChildEnded) -> list[Action]:
    """REST_CANCEL_THEN_ENTRY: the slice ended; step 1 decides again, crossing off the quote
    that ended the wait if the spread went out again meanwhile (only on this decision)."""
    actions = await_quote(d, S.ENTRY_NEEDS_QUOTE, ended.now, decide_entry)
    d.cross_quote = None
    return actions


# -- giving up with a live slice --------------------------------------------------------------


def give_up(d: LadderData, now: datetime, reason: str) -> list[Action]:
    """Nothing more will be sent: cancel what is live, and finish once it ended."""
    fail(d, reason)
    return _cancel_all(d, now)


def halt(d: LadderData, event: Halt) -> list[Action]:
    """The kill switch: cancel every live child, send nothing more, finish once none is live."""
    fail(d, event.reason)
    return _cancel_all(d, event.now, why="halted")


def _cancel_all(d: LadderData, now: datetime, why: str | None = None) -> list[Action]:
    d.holding_since = None
    live = d.live_children()
    if not live:
        return finish(d, now)
    fresh = [c for c in live if c.cancels_sent == 0]
    actions: list[Action] = []
    for child in fresh:
        if why is not None:
            child.attempt.end_reason = why
        actions.append(cancel(d, child))
    if not fresh and d.timer is not None:
        to(d, S.FINISHING)  # the cancels are already out; their timer runs on
        return actions
    return [*actions, *await_cancels(d, S.FINISHING, now)]
