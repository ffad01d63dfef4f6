"""Steps 0-1 of the ladder: the open, a usable quote, and waiting out a wide spread.

The wait is bounded (``core.timing``) and not idle: a slice of the order may rest
one tick inside the near touch until the wait ends (``_rest``, ``_end_rest``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_FLOOR

from better_orders.core import pricing
from better_orders.core.ladder.attempts import LadderAttempts
from better_orders.core.ladder.events import Action, CancelOrder, LadderProtocolError, SetTimer
from better_orders.core.ladder.states import LadderState, NextStep
from better_orders.core.model import AttemptKind, OrderType, Quote, Side
from better_orders.core.sanity import check_quote
from better_orders.core.spread import SpreadAssessment, assess_spread
from better_orders.core.ticks import Rounding, round_to_tick, tick_size
from better_orders.core.timing import MarketPhase, recommended_wait_seconds, timing_decision


class LadderWaiting(LadderAttempts):
    """Decides when the first order goes: at once, after the open, or once the spread comes in."""

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
            if self.params.timing.pre_open == "refuse":
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
        a = assess_spread(quote, self.params.spread, self.params.typical_spread_bps)
        wait = recommended_wait_seconds(a.effective_class, self.params.timing)
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
        assessment = assess_spread(quote, self.params.spread, self.params.typical_spread_bps)
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
            opening_wait_max_seconds=self.params.timing.opening_wait_max_seconds,
            early_wait_max_seconds=self.params.timing.early_wait_max_seconds,
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
        assessment = assess_spread(quote, self.params.spread, self.params.typical_spread_bps)
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
            opening_wait_max_seconds=self.params.timing.opening_wait_max_seconds,
            early_wait_max_seconds=self.params.timing.early_wait_max_seconds,
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
        a = assess_spread(cross, self.params.spread, self.params.typical_spread_bps)
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

    def _submit_after_wait(self, quote: Quote, now: datetime) -> list[Action]:
        if self.live_child is not None:
            return self._end_rest(None, quote, now)
        a = assess_spread(quote, self.params.spread, self.params.typical_spread_bps)
        self._wait_note(a, now, came_in=False)
        return self._submit(self._first_kind(), quote, now)


def _et(instant: datetime) -> str:
    from zoneinfo import ZoneInfo

    return instant.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M:%S ET")
