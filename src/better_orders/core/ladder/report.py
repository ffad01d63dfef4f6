"""Step 5: the ``ExecutionReport`` a ladder's children and decisions add up to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from better_orders.core.ladder.child import ChildOrder
from better_orders.core.ladder.params import ParentOrder
from better_orders.core.model import ZERO, ExecutionReport, Quote
from better_orders.core.spread import SpreadAssessment
from better_orders.core.timing import ExecutionStrategy, MarketPhase


def build_report(
    parent: ParentOrder,
    children: Sequence[ChildOrder],
    *,
    routed_better: bool,
    started: datetime | None,
    now: datetime,
    arrival: Quote | None,
    arrival_time: datetime | None,
    assessment: SpreadAssessment | None,
    phase: MarketPhase | None,
    strategy: ExecutionStrategy | None,
    first_submit: datetime | None,
    first_cross: datetime | None,
    quotes_seen: int,
    wait_reason: str | None,
    repegs: int,
    fallback_used: bool,
    fallback_blocked: bool,
    unfilled_reason: str | None,
    error: str | None,
    notes: Sequence[str],
) -> ExecutionReport:
    """The report at ``now``; built again when a late update reaches a finished ladder."""
    filled = sum((c.filled_qty for c in children), ZERO)
    notional = sum((c.notional for c in children), ZERO)
    avg = (notional / filled) if filled else None
    fills = sorted((f for c in children for f in c.fills.values()), key=lambda f: (f.ts, f.exec_id))
    a = assessment
    waited = 0.0
    # The wait ends with the first order that is not a resting limit (or, when resting
    # limits filled it all, with the last fill).
    wait_end = first_cross or (fills[-1].ts if fills else first_submit)
    if arrival_time is not None and wait_end is not None:
        waited = max((wait_end - arrival_time).total_seconds(), 0.0)
    unfilled = max(parent.qty - filled, ZERO)
    reason = unfilled_reason if unfilled > 0 else None
    return ExecutionReport(
        symbol=parent.symbol,
        side=parent.side,
        requested_qty=parent.qty,
        filled_qty=filled,
        avg_fill_price=avg,
        arrival_bid=arrival.bid if arrival else None,
        arrival_ask=arrival.ask if arrival else None,
        arrival_mid=arrival.mid if arrival else None,
        arrival_time=arrival_time,
        started=started or now,
        finished=now,
        strategy=(strategy.value if strategy else "none"),
        phase=(phase.value if phase else "unknown"),
        spread_class=(a.cents_class.value if a else None),
        relative_spread_class=(
            a.relative_class.value if a and a.relative_class is not None else None
        ),
        routed="better" if routed_better else "standard",
        attempts=[c.attempt for c in children],
        fills=fills,
        quotes_seen=quotes_seen,
        waited_seconds=waited,
        wait_reason=wait_reason,
        repegs_used=repegs,
        fallback_used=fallback_used,
        fallback_blocked=fallback_blocked,
        unfilled_qty=unfilled,
        unfilled_reason=reason,
        error=error,
        notes=list(notes),
    )
