"""What is left of an interrupted run, leg by leg.

A leg's target is the quantity its ladder was sized to (recorded when it started), or for
older journals the quantity of its first order, or the recorded intent when no order was
sent; its progress is what the journal's fills say was done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from better_orders.core.model import ZERO, Fill, Side
from better_orders.store.journal import Journal
from better_orders.store.records import IntentRecord, OrderRecord


@dataclass(frozen=True, slots=True)
class LegProgress:
    """One leg of a run: what it set out to do and what the journal says was done."""

    leg: int
    symbol: str
    side: Side
    target_qty: Decimal
    done_qty: Decimal
    #: Highest attempt recorded for the leg (0 if none): the next one is this + 1.
    last_attempt: int
    started: bool

    @property
    def remaining_qty(self) -> Decimal:
        return max(self.target_qty - self.done_qty, ZERO)

    __json_properties__ = ("remaining_qty",)


def leg_progress(
    intents: Iterable[IntentRecord], orders: Iterable[OrderRecord], fills: Iterable[Fill]
) -> list[LegProgress]:
    """Each leg's target and progress, from the journal's intents, orders and fills."""
    by_leg: dict[int, list[OrderRecord]] = {}
    leg_of: dict[str, int] = {}
    for order in orders:
        by_leg.setdefault(order.leg, []).append(order)
        leg_of[order.client_order_id] = order.leg
    done: dict[int, Decimal] = {}
    for fill in fills:
        leg = leg_of.get(fill.client_order_id)
        if leg is not None:
            done[leg] = done.get(leg, ZERO) + fill.qty
    out = []
    for intent in sorted(intents, key=lambda i: i.leg):
        sent = sorted(by_leg.get(intent.leg, []), key=lambda o: o.attempt)
        target = intent.sized_qty
        if target is None:
            # Journals from before legs recorded their size: the first order was for the
            # whole parent. (A leg never started has its planned size.)
            target = sent[0].qty if sent else intent.qty
        out.append(
            LegProgress(
                leg=intent.leg,
                symbol=intent.symbol,
                side=intent.side,
                target_qty=target,
                done_qty=done.get(intent.leg, ZERO),
                last_attempt=sent[-1].attempt if sent else 0,
                started=bool(sent),
            )
        )
    return out


def run_progress(journal: Journal, run_id: str) -> list[LegProgress]:
    """:func:`leg_progress` of one run, read from the journal."""
    return leg_progress(
        journal.intents(run_id), journal.orders(run_id=run_id), journal.fills(run_id=run_id)
    )
