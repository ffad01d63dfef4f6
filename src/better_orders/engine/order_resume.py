"""Resuming an interrupted ``order`` run: only what is left of each parent order.

The journal knows each leg's target (the quantity its ladder started with) and what
its fills did; by the time a run is resumed, reconciliation has cancelled the orders
the dead process left open and recorded the fills it missed. A leg with something
left continues with that remainder, from its next attempt number (so no client order
id is reused); a leg already done is reported from its fills and sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from better_orders.core.model import ZERO, ExecutionReport, Fill
from better_orders.engine.execution import OrderSpec
from better_orders.store.journal import Journal
from better_orders.store.progress import LegProgress, run_progress
from better_orders.store.records import IntentRecord


@dataclass(slots=True)
class Remainder:
    """What a resumed order run still has to do, leg by leg (legs numbered from 1)."""

    #: The legs to trade again, each for what is left of it, and their leg numbers.
    specs: list[OrderSpec] = field(default_factory=list)
    legs: list[int] = field(default_factory=list)
    #: Legs with nothing left: their report, from the journal's fills.
    done: dict[int, ExecutionReport] = field(default_factory=dict)
    #: What the resume found, per leg, for that leg's report.
    notes: dict[int, list[str]] = field(default_factory=dict)

    def reports(self, executed: list[ExecutionReport]) -> list[ExecutionReport]:
        """Every leg's report in leg order: those just executed and those already done."""
        by_leg = dict(zip(self.legs, executed, strict=True)) | self.done
        out = []
        for leg in sorted(by_leg):
            report = by_leg[leg]
            report.notes[:0] = self.notes.get(leg, [])
            out.append(report)
        return out


def remainder(journal: Journal, run_id: str, specs: list[OrderSpec], now: datetime) -> Remainder:
    """What is left of run ``run_id``, whose legs are ``specs`` as the user gave them."""
    progress = {p.leg: p for p in run_progress(journal, run_id)}
    intents = {i.leg: i for i in journal.intents(run_id)}
    leg_of = {o.client_order_id: o.leg for o in journal.orders(run_id=run_id)}
    fills = journal.fills(run_id=run_id)
    left = Remainder()
    for leg, spec in enumerate(specs, start=1):
        p = progress.get(leg)
        if p is None:
            left.specs.append(spec)  # never recorded: the run died before it
            left.legs.append(leg)
            continue
        words = f"{p.side.value} {p.target_qty} {p.symbol}"
        if p.remaining_qty > 0:
            left.specs.append(replace(spec, qty=p.remaining_qty))
            left.legs.append(leg)
            left.notes[leg] = [
                f"resumed run {run_id} ({words}): {p.done_qty} done before it was "
                f"interrupted, {p.remaining_qty} left"
            ]
            continue
        ours = [f for f in fills if leg_of.get(f.client_order_id) == leg]
        left.done[leg] = _done_report(p, intents[leg], ours, now)
        left.notes[leg] = [f"resumed run {run_id} ({words}): already done, nothing sent"]
    return left


def _done_report(
    p: LegProgress, intent: IntentRecord, fills: list[Fill], now: datetime
) -> ExecutionReport:
    """A leg finished before the interruption, as its fills tell it (no ladder ran now)."""
    qty = sum((f.qty for f in fills), ZERO)
    avg: Decimal | None = sum((f.qty * f.price for f in fills), ZERO) / qty if qty else None
    started = min((f.ts for f in fills), default=intent.created_at)
    finished = max((f.ts for f in fills), default=now)
    return ExecutionReport(
        symbol=p.symbol,
        side=p.side,
        requested_qty=p.target_qty,
        filled_qty=p.done_qty,
        avg_fill_price=avg,
        arrival_bid=None,
        arrival_ask=None,
        arrival_mid=None,
        arrival_time=None,
        started=started,
        finished=finished,
        strategy="resumed",
        phase="-",
        spread_class=None,
        relative_spread_class=None,
        routed="-",
        fills=fills,
    )
