"""The ladder's moves: what every handler builds on (arm the timer, send a child, cancel one,
wait for a quote, finish), each returning the actions it takes.

Every child is born in ``new_child``, sized from what no live child may still
fill (``LadderData.unallocated_qty``), so the ladder can never overfill the parent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from better_orders.core.ladder.child import ChildOrder
from better_orders.core.ladder.data import LadderData
from better_orders.core.ladder.decisions import timeout_for
from better_orders.core.ladder.events import Action, CancelOrder, Finished, SetTimer, SubmitOrder
from better_orders.core.ladder.prices import child_price, first_kind
from better_orders.core.ladder.quotes import usable_quote
from better_orders.core.ladder.report import build_report
from better_orders.core.ladder.states import NEXT, LadderState
from better_orders.core.market_calendar import NOTHING_TRADES, format_et_seconds
from better_orders.core.model import Attempt, AttemptKind, OrderRequest, OrderType, Quote, Side
from better_orders.core.pricing import slippage_bps

#: What a step taken on a usable quote looks like (``await_quote``).
QuoteStep = Callable[[LadderData, Quote, datetime], list[Action]]


def to(d: LadderData, state: LadderState) -> None:
    """Move to ``state``: only along the table of transitions (``states.NEXT``)."""
    assert state in NEXT[d.state] or state is d.state, f"{d.state} -> {state} is not in NEXT"
    d.state = state


def arm(d: LadderData, at: datetime) -> list[Action]:
    """Arm the ladder's one timer at ``at`` (replacing the one armed before)."""
    d.timer = at
    return [SetTimer(at)]


def finish(d: LadderData, now: datetime, *, error: str | None = None) -> list[Action]:
    """Done: the report. Only ever with no child live (the handlers wait for them)."""
    assert not d.any_live, f"{d.parent.symbol} ladder finishing with a live child"
    if error is not None:
        d.error = error
        d.unfilled_reason = d.unfilled_reason or error
    to(d, LadderState.DONE)
    d.timer = None
    d.report = build_report(d, now)
    return [Finished(d.report)]


def fail(d: LadderData, reason: str) -> None:
    """Why the rest stays unfilled; an error too if nothing was filled at all."""
    d.unfilled_reason = reason
    if d.filled_qty == 0:
        d.error = reason


def new_child(
    d: LadderData,
    kind: AttemptKind,
    order_type: OrderType,
    limit: Decimal | None,
    quote: Quote,
    now: datetime,
    qty: Decimal | None = None,
) -> SubmitOrder:
    """Record a child for ``qty`` (default: all that no live child may still fill)."""
    size = d.unallocated_qty if qty is None else qty
    children = d.children
    number = len(children) + 1
    coid = d.make_client_order_id(number)
    parent = d.parent
    # Positional: keywords cost a dictionary per call, and a child is built on the hot path.
    request = OrderRequest(coid, parent.symbol, parent.side, size, order_type, limit)
    attempt = Attempt(coid, kind, order_type, size, limit, now, quote.bid, quote.ask)
    child = ChildOrder(attempt)
    children.append(child)
    d.by_coid[coid] = child
    if d.first_submit is None:
        d.first_submit = now
    return SubmitOrder(request, kind, number)


def send(
    d: LadderData,
    kind: AttemptKind,
    quote: Quote,
    now: datetime,
    *,
    state: LadderState = LadderState.WORKING,
    qty: Decimal | None = None,
) -> list[Action]:
    """A marketable child of ``kind`` off ``quote`` for what is unallocated (``qty``: that,
    already worked out); ``state`` next."""
    if d.remaining_qty <= 0:
        return finish(d, now)
    phase, _ = d.market_at(now)
    if phase in NOTHING_TRADES:
        # The session ended while the order worked (the broker expired its DAY child at
        # the close): a new one would only wait at the broker for the next open.
        why = f"market closed at {format_et_seconds(now)} ({phase}); no more orders sent"
        fail(d, why)
        if d.any_live:
            return await_cancels(d, LadderState.FINISHING, now)
        return finish(d, now)
    side = d.parent.side
    bound = d.budget_bound
    order_type, limit = child_price(d.params, side, kind, quote, bound, d.repegs + 1)
    if limit is not None and not within_bound(side, quote.far_touch(side), bound):
        note_run(d, quote)
    if kind is AttemptKind.REPEG:
        d.repegs += 1
    if d.first_cross is None:
        d.first_cross = now
    submit = new_child(d, kind, order_type, limit, quote, now, qty)
    to(d, state)
    return [submit, *arm(d, now + timeout_for(d.params, kind, d.strategy))]


def within_bound(side: Side, price: Decimal, bound: Decimal) -> bool:
    return price <= bound if side is Side.BUY else price >= bound


def note_run(d: LadderData, quote: Quote) -> None:
    """The far touch is beyond the budget: keep how far the market ran (the furthest seen)."""
    side = d.parent.side
    ran = slippage_bps(side, quote.far_touch(side), d.arrival_mid)
    if d.budget_ran_bps is None or ran > d.budget_ran_bps:
        d.budget_ran_bps = ran


def cross(d: LadderData, quote: Quote, now: datetime) -> list[Action]:
    """Cross with what remains at the first attempt's price (no spread check)."""
    return send(d, first_kind(d.params), quote, now)


def cancel(d: LadderData, child: ChildOrder) -> CancelOrder:
    child.cancels_sent += 1
    return CancelOrder(child.coid)


def await_cancels(d: LadderData, state: LadderState, now: datetime) -> list[Action]:
    """Enter ``state``, which waits for the live children's cancels (the timer chases them)."""
    to(d, state)
    d.queries = 0
    return arm(d, now + d.params.cancel_timeout)


def await_quote(d: LadderData, state: LadderState, now: datetime, step: QuoteStep) -> list[Action]:
    """Enter ``state``, which takes ``step`` on the first usable quote (from now if there is
    one), or gives up after ``quote_timeout``."""
    to(d, state)
    quote = usable_quote(d, now)
    if quote is not None:
        return step(d, quote, now)
    return arm(d, now + d.params.quote_timeout)
