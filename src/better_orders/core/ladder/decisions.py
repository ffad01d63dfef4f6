"""The ladder's decisions as pure functions: step 1 (execute, wait, hold), what follows an
attempt, how long an attempt works, and which refusals a new order may get past.

Nothing here reads or writes a ladder: the handlers (``entry``, ``attempts``)
pass in what a decision needs and carry out the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from better_orders.core.ladder.params import LadderParams
from better_orders.core.ladder.states import LadderState
from better_orders.core.market_calendar import ExecutionStrategy, MarketPhase, Session
from better_orders.core.model import AttemptKind, Quote
from better_orders.core.patience import BudgetUrgency
from better_orders.core.spread import (
    SpreadClass,
    WaitRule,
    classify_bps,
    classify_cents,
    relative_bounds,
)
from better_orders.core.timing import TimingAction, TimingDecision, WaitBudgets, decide_timing

_BPS = Decimal(10_000)
_NO_TIME = timedelta(0)
_CENTS = Decimal(100)
#: Broker error codes that say "try again": the next order may well get through.
TRANSIENT_CODES = frozenset({"rate_limited", "server_error", "timeout"})

_LAST_KINDS = frozenset(
    {AttemptKind.FALLBACK_LIMIT, AttemptKind.FALLBACK_MARKET, AttemptKind.MARKET}
)


@dataclass(frozen=True, slots=True)
class SpreadScale:
    """The thresholds a ladder classifies spreads by, resolved once from its parameters
    (the relative ones for the symbol's typical spread: ``core.spread.relative_bounds``)."""

    tight_cents: Decimal
    wide_cents: Decimal
    tight_bps: Decimal
    wide_bps: Decimal
    #: The spread rule in force (``SpreadRules.rule``): which class decides.
    rule: str


def spread_scale(params: LadderParams) -> SpreadScale:
    rules = params.spread
    tight, wide = relative_bounds(rules, params.typical_spread_bps)
    return SpreadScale(rules.tight_cents, rules.wide_cents, tight, wide, rules.rule)


class SpreadView(NamedTuple):
    """A quote's spread as notes and the report show it: ``core.spread.assess_spread``'s
    figures and classes, without the rest of its assessment. (A named tuple, as
    ``EntryPlan``: built on hot paths, where a frozen dataclass costs a call per field.)"""

    cents: Decimal
    bps: float
    cents_class: SpreadClass
    relative_class: SpreadClass
    #: The spread rule in force (``SpreadRules.rule``): which class decides.
    rule: str

    @property
    def effective_class(self) -> SpreadClass:
        return self.cents_class if self.rule == "cents" else self.relative_class


def spread_view(scale: SpreadScale, quote: Quote) -> SpreadView:
    spread = quote.ask - quote.bid
    bps = spread / quote.mid * _BPS
    return SpreadView(
        spread * _CENTS,
        float(bps),
        classify_cents(spread, scale.tight_cents, scale.wide_cents),
        classify_bps(bps, scale.tight_bps, scale.wide_bps),
        scale.rule,
    )


class Entry(StrEnum):
    """What step 1 does with a usable quote."""

    STANDARD = "standard"  # not routed to the ladder: one standard marketable limit
    MARKET = "market"  # entry "market": a market order at once
    CROSS_OFF = "cross_off"  # cross off the quote that ended the wait (spread out again)
    REFUSE = "refuse"  # the market is closed (or refuses pre-open orders)
    WAIT_FOR_OPEN = "wait_for_open"
    WAIT = "wait"  # wait out the spread until ``until``
    HOLD = "hold"  # the spread came in inside a burst: act only once it stood until ``until``
    GO = "go"  # execute now (the spread is fine, or the wait is over)


class EntryPlan(NamedTuple):
    """Step 1's answer for one quote (built for every quote of a wait)."""

    action: Entry
    #: The spread is worth waiting out (``core.spread.WaitRule``).
    worth_waiting: bool
    #: WAIT, WAIT_FOR_OPEN: until when; HOLD: when to look again.
    until: datetime | None = None
    #: Why (a WAIT's is left to ``core.timing.wait_reason``, for the report only).
    reason: str = ""
    #: HOLD: since when the spread that came in has stood.
    holding_since: datetime | None = None


def entry_plan(
    params: LadderParams,
    rule: WaitRule,
    market: tuple[MarketPhase, Session | None],
    quote: Quote,
    now: datetime,
    *,
    waited_since: datetime | None,
    in_spread_wait: bool,
    holding_since: datetime | None,
    burst: bool,
    wait_until: datetime | None,
    cross_quote: Quote | None,
    urgency: BudgetUrgency,
    budgets: WaitBudgets,
) -> EntryPlan:
    """Step 1 for a usable ``quote`` at ``now``.

    The wait is bounded (``core.timing``). A spread that comes in during a wait
    (``in_spread_wait``) on a quote that followed the previous one within ``hold``
    (``burst``: a sweep, a cancel-replace) is often gone before an order could reach
    it: it must stand for ``hold`` first. An isolated quote is acted on at once.
    Neither waits once the far touch nears the budget's bound since the arrival
    (``urgency``: ``core.patience.budget_urgent``): the order goes (GO, with the reason)
    while the budget still allows a cross.
    """
    worth = rule.worth_waiting(quote.ask - quote.bid, quote.mid)
    if not params.routed_better:
        return EntryPlan(Entry.STANDARD, worth)
    if params.entry == "market":
        return EntryPlan(Entry.MARKET, worth)
    if cross_quote is not None and worth:
        # The spread came in, the resting slice was cancelled, and during that round
        # trip the spread went out again: cross off the quote that ended the wait, as
        # the ladder would have done without a slice (if that price is gone, the
        # attempt's timeout leads back to the wait).
        return EntryPlan(Entry.CROSS_OFF, worth)
    urgent = urgency.why(quote)
    if worth and in_spread_wait and wait_until is not None and now < wait_until:
        # Still wide, before the wait's limit: the wait goes on (its limit is fixed by
        # when it began, so ``timing_decision`` would say the same).
        return _go(worth, urgent) if urgent else EntryPlan(Entry.WAIT, worth, wait_until)
    decision = _timing(budgets, market, worth, now, waited_since)
    action = decision.action
    if action is TimingAction.REFUSE:
        return EntryPlan(Entry.REFUSE, worth, reason=decision.reason)
    if action is TimingAction.WAIT_FOR_OPEN:
        return EntryPlan(Entry.WAIT_FOR_OPEN, worth, decision.until or now, decision.reason)
    if urgent:
        return _go(worth, urgent)
    if action is TimingAction.WAIT and decision.until is not None and decision.until > now:
        return EntryPlan(Entry.WAIT, worth, decision.until, decision.reason)
    if in_spread_wait and not worth and params.hold > _NO_TIME:
        since = holding_since if holding_since is not None else (now if burst else None)
        if since is not None and now < since + params.hold:
            wake = since + params.hold
            if wait_until is not None:
                wake = min(wake, wait_until)
            return EntryPlan(Entry.HOLD, worth, wake, holding_since=since)
    return _go(worth, urgent)


def _go(worth: bool, urgent: str | None) -> EntryPlan:
    """Execute now; ``urgent``: the budget's urgency cut a wait short, and why."""
    return EntryPlan(Entry.GO, worth, reason="" if urgent is None else f"not waiting: {urgent}")


def worth_waiting_again(
    params: LadderParams,
    rule: WaitRule,
    market: tuple[MarketPhase, Session | None],
    quote: Quote,
    now: datetime,
    waited_since: datetime | None,
    *,
    urgency: BudgetUrgency,
    budgets: WaitBudgets,
) -> bool:
    """After an attempt timed out: would step 1 wait now (wide spread, wait budget left,
    and the far touch not near the budget's bound: ``urgency``, ``core.patience.budget_urgent``)?

    A marketable limit sent the moment the spread came in often arrives after the
    quote that made it worth sending has gone. Re-pegging then means crossing the
    wide spread the ladder was waiting out; going back to the wait (bounded by the
    same deadline, counted from the first wait) does not. Re-pegs proper (and the
    fallback) happen once the spread is not worth waiting out or the budget is spent.
    """
    if not params.wait_again or not params.routed_better or params.entry == "market":
        return False
    if not rule.worth_waiting(quote.ask - quote.bid, quote.mid):
        return False
    if market[1] is None:
        return False
    if urgency.why(quote):
        return False
    decision = _timing(budgets, market, True, now, waited_since)
    return (
        decision.action is TimingAction.WAIT and decision.until is not None and decision.until > now
    )


def _timing(
    budgets: WaitBudgets,
    market: tuple[MarketPhase, Session | None],
    wide: bool,
    now: datetime,
    waited_since: datetime | None,
) -> TimingDecision:
    phase, session = market
    assert session is not None
    # Quiet: an EXECUTE's reason would go unused, and a wait's is worded only for the report
    # (``LadderData.spread_wait``).
    return decide_timing(phase, wide, now, session, budgets, waited_since=waited_since, quiet=True)


def step_after(params: LadderParams, kind: AttemptKind, repegs: int) -> LadderState:
    """Where an attempt of ``kind`` that ended unfilled leads: the cross (after a patient
    rest), a re-peg, the fallback, or the end (``DONE``) once the fallback (or a market
    entry) was the last word."""
    if kind in _LAST_KINDS:
        return LadderState.DONE
    if kind is AttemptKind.PATIENT:
        return LadderState.CROSS_NEEDS_QUOTE
    if kind is not AttemptKind.STANDARD and repegs < params.max_repegs:
        return LadderState.REPEG_NEEDS_QUOTE
    return LadderState.FALLBACK_NEEDS_QUOTE


def timeout_for(
    params: LadderParams, kind: AttemptKind, strategy: ExecutionStrategy | None
) -> timedelta:
    """How long an attempt of ``kind`` works before it is cancelled: by its kind, else by
    the strategy (``_TIMEOUT_BY_KIND``, ``_TIMEOUT_BY_STRATEGY``)."""
    field = _TIMEOUT_BY_KIND.get(kind) or _TIMEOUT_BY_STRATEGY.get(strategy, "timeout_normal")
    timeout: timedelta = getattr(params, field)
    return timeout


#: The ``LadderParams`` timeout of the kinds whose timeout does not depend on the strategy.
_TIMEOUT_BY_KIND: dict[AttemptKind, str] = {
    AttemptKind.STANDARD: "timeout_standard",
    AttemptKind.FALLBACK_LIMIT: "protection_timeout",
    AttemptKind.FALLBACK_MARKET: "cancel_timeout",
    AttemptKind.MARKET: "cancel_timeout",
}
#: The other kinds' timeout by strategy (``timeout_normal`` for any other).
_TIMEOUT_BY_STRATEGY: dict[ExecutionStrategy | None, str] = {
    ExecutionStrategy.WAIT_FOR_SPREADS: "timeout_wait_for_spreads",
    ExecutionStrategy.STANDARD: "timeout_standard",
}


def is_transient(code: str, retryable: bool = False) -> bool:
    """A refusal a new order (or a new cancel) may well get past."""
    return retryable or code in TRANSIENT_CODES
