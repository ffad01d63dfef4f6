"""Step 5: the ``ExecutionReport`` a ladder's children and decisions add up to."""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter

from better_orders.core import timing
from better_orders.core.ladder.data import LadderData
from better_orders.core.ladder.decisions import spread_view
from better_orders.core.model import ZERO, ExecutionReport, Fill

#: Fills in the order they happened (ties by execution id).
_FILL_ORDER = attrgetter("ts", "exec_id")


def build_report(d: LadderData, now: datetime) -> ExecutionReport:
    """The report at ``now``; built again when a late update reaches a finished ladder."""
    children = d.children
    parent = d.parent
    filled = ZERO
    notional = ZERO
    fills: list[Fill] = []
    for child in children:
        filled += child.filled_qty
        notional += child.notional
        if child.fills:
            fills.extend(child.fills.values())
    avg = (notional / filled) if filled else None
    fills.sort(key=_FILL_ORDER)
    arrival = d.arrival
    waited = 0.0
    # The wait ends with the first order that is not a resting slice (or, when resting
    # slices filled it all, with the last fill).
    wait_end = d.first_cross or (fills[-1].ts if fills else d.first_submit)
    if d.arrival_time is not None and wait_end is not None:
        waited = max((wait_end - d.arrival_time).total_seconds(), 0.0)
    unfilled = max(parent.qty - filled, ZERO)
    a = spread_view(d.spread_scale, arrival) if arrival is not None else None
    wait_reason = d.wait_reason
    if wait_reason is None and d.spread_wait is not None:
        wait_reason = timing.wait_reason(*d.spread_wait)
    return ExecutionReport(
        symbol=parent.symbol,
        side=parent.side,
        requested_qty=parent.qty,
        filled_qty=filled,
        avg_fill_price=avg,
        arrival_bid=arrival.bid if arrival else None,
        arrival_ask=arrival.ask if arrival else None,
        arrival_mid=arrival.mid if arrival else None,
        arrival_time=d.arrival_time,
        started=d.started or now,
        finished=now,
        # str(): a StrEnum's value, without Enum's ``value`` property.
        strategy=(str(d.strategy) if d.strategy else "none"),
        phase=(str(d.phase) if d.phase else "unknown"),
        spread_class=str(a.cents_class) if a else None,
        relative_spread_class=str(a.relative_class) if a else None,
        routed="better" if d.params.routed_better else "standard",
        attempts=[c.attempt for c in children],
        fills=fills,
        quotes_seen=d.quotes_seen,
        waited_seconds=waited,
        wait_reason=wait_reason,
        repegs_used=d.repegs,
        fallback_used=d.fallback_used,
        fallback_blocked=d.fallback_blocked,
        unfilled_qty=unfilled,
        unfilled_reason=d.unfilled_reason if unfilled > 0 else None,
        error=d.error,
        notes=list(d.notes),
        budget_bps=d.params.budget_bps,
        budget_ran_bps=d.budget_ran_bps,
        quotes_held=d.quotes_held,
    )
