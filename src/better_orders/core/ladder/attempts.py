"""Steps 2-4: the marketable attempts, the re-pegs, the fallback, and the cancels between them.

The handlers of the states from the first marketable order on. A re-peg
cancels the working child and waits until the broker confirms it ended before
the next one is sent, so a fill that lands during the cancel is counted and the
next child is sized from what is really left. (Broker "replace" is not used:
Alpaca's replace of a partially filled order inherits the original quantity, and
a replace may still fail after it was accepted; cancel-then-resubmit cannot
overfill.)
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from better_orders.core.ladder.child import ChildEnded, ChildOrder
from better_orders.core.ladder.data import LadderData
from better_orders.core.ladder.decisions import (
    is_transient,
    spread_view,
    step_after,
    worth_waiting_again,
)
from better_orders.core.ladder.entry import decide_entry, give_up
from better_orders.core.ladder.events import Action, CancelFailed, QueryOrder
from better_orders.core.ladder.moves import (
    QuoteStep,
    arm,
    await_cancels,
    await_quote,
    cancel,
    cross,
    fail,
    finish,
    note_run,
    send,
    to,
    within_bound,
)
from better_orders.core.ladder.prices import fallback_choice
from better_orders.core.ladder.quotes import usable_quote
from better_orders.core.ladder.states import LadderState
from better_orders.core.model import AttemptKind, OrderStatus, OrderType, Quote
from better_orders.core.patience import rest_ended

S = LadderState
#: The last orders the budget bounds: what they leave, ``on_budget = "finish"`` completes.
_BOUND_LAST = frozenset({AttemptKind.FALLBACK_LIMIT, AttemptKind.FALLBACK_MARKET})
#: Cancels sent for one child before a transient failure is no longer answered by
#: sending it again at once (the cancel deadline still sends it again, paced).
MAX_CANCELS = 4
#: Queries of an unconfirmed cancel before the report notes the order may still be open.
QUERIES_BEFORE_NOTE = 5
#: Times a leg is cut to its buying power before a refusal for it ends the leg.
MAX_BUYING_POWER_CUTS = 3


# -- WORKING, WORKING_REST_CANCEL --------------------------------------------------------------


def working_quote(d: LadderData, now: datetime) -> list[Action]:
    """WORKING: a quote matters only to a patient rest, which ends early when the book turns
    against it (``core.patience.rest_ended``); a marketable attempt just works on."""
    child = d.latest_live()
    if child is None or child.attempt.kind is not AttemptKind.PATIENT or child.cancels_sent:
        return []
    quote = usable_quote(d, now)
    limit = child.attempt.limit_price
    if quote is None or limit is None:
        return []
    why = rest_ended(
        d.params.patience,
        d.parent.side,
        quote,
        limit,
        urgency=d.urgency,
    )
    if why is None:
        return []
    d.notes.append(f"patient rest over early: {why}; crossing the rest")
    return timed_out(d, now, reason=why)


def timed_out(d: LadderData, now: datetime, *, reason: str = "timeout") -> list[Action]:
    """The attempt's time is up: cancel it; the next step follows once it ended."""
    child = d.latest
    attempt = child.attempt
    attempt.end_reason = reason
    if attempt.kind is AttemptKind.FALLBACK_LIMIT:
        seconds = d.params.protection_timeout.total_seconds()
        d.unfilled_reason = (
            f"limit at the slippage budget's bound {attempt.limit_price} "
            f"not filled within {seconds:.0f} s{_how_far(d)}"
        )
    return [cancel(d, child), *await_cancels(d, S.CANCEL_THEN_NEXT, now)]


def attempt_ended(d: LadderData, ended: ChildEnded) -> list[Action]:
    """WORKING: the attempt ended with something left (what a cancelled slice left, if it
    filled; else an unfilled remainder)."""
    status = ended.status
    if status is OrderStatus.FILLED:
        return await_quote(d, S.CROSS_NEEDS_QUOTE, ended.now, cross)
    if ended.child.attempt.kind is AttemptKind.PATIENT:
        # Like a resting slice: a patient rest the venue ends is not sent again; the rest
        # crosses (a refusal that would refuse the cross too stops it there).
        why = ended.reason or status.value
        if ended.refused_by is None:
            ended.child.attempt.end_reason = f"{status.value} by the venue"
            how = "ended"
        else:  # refused at submit: the refusal's own reason stays the attempt's
            how = f"refused by {ended.refused_by}"
        d.notes.append(f"patient rest {ended.child.coid} {how} ({why}): crossing the rest")
        return await_quote(d, S.CROSS_NEEDS_QUOTE, ended.now, cross)
    if status is OrderStatus.REJECTED:
        if not _goes_on(d, ended):
            return finish(d, ended.now)
    else:
        ended.child.attempt.end_reason = f"{status.value} by the broker"
    return next_step(d, ended.child, ended.now)


def cross_or_rest_ended(d: LadderData, ended: ChildEnded) -> list[Action]:
    """WORKING_REST_CANCEL: the slice ended (the cross works on), or the cross ended while
    the slice's cancel is in flight (wait for it, then go on)."""
    child = ended.child
    now = ended.now
    if child is not d.latest:
        to(d, S.WORKING)
        return []
    status = ended.status
    if status is OrderStatus.FILLED:
        return await_cancels(d, S.REST_CANCEL_THEN_CROSS, now)
    if status is OrderStatus.REJECTED:
        if not _goes_on(d, ended):
            return await_cancels(d, S.FINISHING, now)
    else:
        child.attempt.end_reason = f"{status.value} by the broker"
    return await_cancels(d, S.CANCEL_THEN_NEXT, now)


def _goes_on(d: LadderData, ended: ChildEnded) -> bool:
    """A refused or rejected attempt: go on to the next step if another order may get
    through (a transient refusal by the broker); else record why the rest stays unfilled."""
    child = ended.child
    reason = ended.reason or "no reason given"
    if ended.refused_by is None:
        why = f"order {child.coid} rejected by the broker: {reason}"
        transient = False
    else:
        why = f"order {child.coid} refused by {ended.refused_by}: {reason}"
        transient = ended.refused_by == "the broker" and is_transient(ended.code or "")
    if child is d.cut_by:
        d.notes.append(f"{why}; going on for what the buying power allows")
        return True
    nxt = step_after(d.params, child.attempt.kind, d.repegs)
    if transient and nxt is not S.DONE:
        step = {S.REPEG_NEEDS_QUOTE: "re-peg", S.CROSS_NEEDS_QUOTE: "cross"}.get(nxt, "fallback")
        d.notes.append(f"{why}; a transient failure: going on with the {step}")
        return True
    fail(d, why)
    return False


def cut_to_buying_power(d: LadderData, refused: ChildOrder, affordable: Decimal) -> None:
    """A buy refused for buying power, of a leg that may shrink to fit it: the leg's
    target becomes what it filled, what its live children may still fill, and the
    ``affordable`` quantity the account allows now, never more than before. The refused
    step is then taken again for what is left (``_goes_on``, ``next_step``).

    No cut when nothing is affordable, or after ``MAX_BUYING_POWER_CUTS``: the refusal
    then ends the leg as any other. An affordable quantity no smaller than what was
    asked (buying power freed meanwhile) cuts nothing but still counts.
    """
    if affordable <= 0 or d.cuts >= MAX_BUYING_POWER_CUTS:
        return
    d.cuts += 1
    d.cut_by = refused
    before = d.target
    d.target = min(before, before - d.unallocated_qty + affordable)
    if d.target < before:
        d.notes.append(
            f"the buying power allows {affordable} of the {refused.attempt.qty} order "
            f"{refused.coid} asked: the leg is cut from {before} to {d.target}"
        )
        if d.unfilled_reason is None:
            d.unfilled_reason = (
                f"the buying power allowed {d.target} of {d.parent.qty} "
                f"(order {refused.coid} refused for buying power)"
            )


# -- CANCEL_THEN_NEXT, REST_CANCEL_THEN_CROSS, FINISHING -----------------------------------------


def cancelled(d: LadderData, ended: ChildEnded) -> list[Action]:
    """CANCEL_THEN_NEXT: once no child is live, the next step."""
    if d.any_live:
        return _still_waiting(d, ended)
    return next_step(d, d.latest, ended.now)


def rest_gone(d: LadderData, ended: ChildEnded) -> list[Action]:
    """REST_CANCEL_THEN_CROSS: the slice ended; what it left crosses."""
    return await_quote(d, S.CROSS_NEEDS_QUOTE, ended.now, cross)


def finish_when_clear(d: LadderData, ended: ChildEnded) -> list[Action]:
    """FINISHING: finish once no child is live."""
    if d.any_live:
        return _still_waiting(d, ended)
    return finish(d, ended.now)


def _still_waiting(d: LadderData, ended: ChildEnded) -> list[Action]:
    # The latest child ended, an earlier one (a slice) is still being cancelled: its
    # cancel gets a fresh deadline.
    if ended.child is d.latest:
        d.queries = 0
        return arm(d, ended.now + d.params.cancel_timeout)
    return []


def chase_cancel(d: LadderData, now: datetime) -> list[Action]:
    """A cancel went unconfirmed for ``cancel_timeout``: ask the broker for the order, and
    from the second time on send the cancel again too (its answer may have been lost, or
    it may have failed more often than ``cancel_failed`` re-sends at once). The ladder
    never gives up on a live order: it would leave it working at the broker."""
    child = d.latest_live()
    assert child is not None, f"{d.state} with no live child"
    d.queries += 1
    actions: list[Action] = []
    if d.queries > 1:
        actions.append(cancel(d, child))
    if d.queries == QUERIES_BEFORE_NOTE:
        d.notes.append(
            f"order {child.coid} did not confirm its cancel after {d.queries} queries; "
            "it may still be open at the broker; still asking"
        )
    actions.append(QueryOrder(child.coid))
    return [*actions, *arm(d, now + d.params.cancel_timeout)]


def cancel_failed(d: LadderData, child: ChildOrder, event: CancelFailed) -> list[Action]:
    """The broker refused a cancel: send it again if that was transient (a bounded number
    of times), else ask for the order (it usually ended while the cancel was in flight)."""
    if not child.live:
        return []
    detail = f"({event.code}): {event.reason}"
    if is_transient(event.code, event.retryable) and child.cancels_sent < MAX_CANCELS:
        d.notes.append(f"cancel of {child.coid} failed {detail}; sending it again")
        return [cancel(d, child)]
    d.notes.append(f"cancel of {child.coid} refused {detail}")
    return [QueryOrder(child.coid)]


# -- the next step ---------------------------------------------------------------------------


def next_step(d: LadderData, last: ChildOrder, now: datetime) -> list[Action]:
    """Nothing live and something left after attempt ``last``: re-peg, fallback or finish."""
    nxt = step_after(d.params, last.attempt.kind, d.repegs)
    if nxt is S.DONE and last is d.cut_by:
        nxt = S.FALLBACK_NEEDS_QUOTE  # the last step again, for what the buying power allows
    if nxt is S.CROSS_NEEDS_QUOTE:
        return await_quote(d, nxt, now, cross)
    if nxt is S.REPEG_NEEDS_QUOTE:
        return await_quote(d, nxt, now, repeg)
    if nxt is S.FALLBACK_NEEDS_QUOTE:
        return await_quote(d, nxt, now, fallback)
    if last.attempt.kind in _BOUND_LAST and d.params.on_budget == "finish":
        # The budget's limit left some: the user chose to complete at any price.
        return await_quote(d, S.FALLBACK_NEEDS_QUOTE, now, finish_at_market)
    if d.unfilled_reason is None:
        a = last.attempt
        if a.kind is AttemptKind.FALLBACK_MARKET and a.order_type is OrderType.LIMIT:
            d.unfilled_reason = (
                f"the marketable limit at the slippage budget's bound {a.limit_price} "
                f"left {d.remaining_qty} unfilled (too little offered within the "
                f"{d.params.budget_bps} bps budget){_how_far(d)}"
            )
        else:
            d.unfilled_reason = (
                f"{a.kind.value} order {a.client_order_id} ended ({a.end_reason}) "
                f"with {d.remaining_qty} unfilled{_how_far(d)}"
            )
    return finish(d, now)


def repeg(d: LadderData, quote: Quote, now: datetime) -> list[Action]:
    """Step 3, unless the spread is worth waiting out again (then back to step 1)."""
    params = d.params
    assert d.arrival is not None  # a re-peg follows an attempt, priced after the arrival
    if worth_waiting_again(
        params,
        d.wait_rule,
        d.market_at(now),
        quote,
        now,
        d.wait_started,
        urgency=d.urgency,
        budgets=d.wait_budgets,
    ):
        a = spread_view(d.spread_scale, quote)
        last = d.latest.attempt
        d.notes.append(
            f"attempt {len(d.children)} ({last.kind.value}) not filled "
            f"and the spread is {a.cents}c ({a.bps:.1f} bps): "
            "waiting for it to come in again instead of re-pegging"
        )
        return decide_entry(d, quote, now)
    return send(d, AttemptKind.REPEG, quote, now)


def fallback(d: LadderData, quote: Quote, now: datetime) -> list[Action]:
    """Step 4: a market order within budget, else the configured protection, else stop."""
    choice = fallback_choice(
        d.params, d.parent.side, quote, d.arrival_mid, d.remaining_qty, d.budget_bound
    )
    if choice.blocked:
        d.fallback_blocked = True
        note_run(d, quote)
    if choice.kind is None:
        d.unfilled_reason = choice.unfilled_reason
        if choice.blocked:
            d.unfilled_reason = f"{choice.unfilled_reason} with {d.remaining_qty} unfilled"
        return finish(d, now)
    d.fallback_used = True
    if choice.note is not None:
        d.notes.append(choice.note)
    return send(d, choice.kind, quote, now)


def finish_at_market(d: LadderData, quote: Quote, now: datetime) -> list[Action]:
    """``on_budget = "finish"``: what the budget's limit left goes at market, at any price."""
    side = d.parent.side
    if not within_bound(side, quote.far_touch(side), d.budget_bound):
        note_run(d, quote)
    d.notes.append(
        f"the slippage budget's limit left {d.remaining_qty}{_how_far(d)}: "
        "completing at market as configured (on_budget = finish)"
    )
    return send(d, AttemptKind.MARKET, quote, now)


def _how_far(d: LadderData) -> str:
    """ "; the market ran N bps ..." when the far touch was seen beyond the budget."""
    ran = d.budget_ran_bps
    if ran is None:
        return ""
    return (
        f"; the market ran {ran:.1f} bps from arrival mid {d.arrival_mid}, "
        f"beyond the {d.params.budget_bps} bps budget"
    )


def cross_quote(d: LadderData, now: datetime) -> list[Action]:
    return _step_on_usable(d, now, cross)


def repeg_quote(d: LadderData, now: datetime) -> list[Action]:
    return _step_on_usable(d, now, repeg)


def fallback_quote(d: LadderData, now: datetime) -> list[Action]:
    return _step_on_usable(d, now, fallback)


def _step_on_usable(d: LadderData, now: datetime, step: QuoteStep) -> list[Action]:
    quote = usable_quote(d, now)
    return [] if quote is None else step(d, quote, now)


def no_quote(d: LadderData, now: datetime) -> list[Action]:
    """A *_NEEDS_QUOTE state's ``quote_timeout`` passed without a usable quote."""
    problem = d.quote_problem or f"no usable quote for {d.parent.symbol}"
    waited = d.params.quote_timeout.total_seconds()
    return give_up(d, now, f"{problem} (waited {waited:.0f} s)")
