"""The rules of reconciliation: what differs between the journal and the broker, and
what to do about each difference.

Rules of this file:

* The comparison is pure. :func:`compare` takes what the journal recorded and what the
  broker says, and returns a :class:`ReconcileReport` naming every difference and what
  to do about it. It reads no clock, calls no broker and writes nothing, so every rule
  below is tested with plain values. (The shell that acts on it is ``reconcile``.)
* The broker is the truth about orders, fills and positions; the journal is the truth
  about what this product *sent*.

Theory of operation. After a crash the journal may be behind the broker in these ways,
each with one rule (orders of a run another live process holds are left to it)::

    journal order (sent, not ended)   broker            action
    ---------------------------------------------------------------------------------
    pending_submit                    unknown           never reached it: closed as rejected
    acknowledged                      unknown           lost: reported, closed as canceled
    pending_submit / acknowledged     open              cancel (default) or adopt
    any                               ended             its final state is recorded
    any                               more fills        missing fills recorded
    (none)                            open              foreign: reported, left alone

"Sent" includes ``pending_submit``: the process may have died between writing the
order and hearing the broker's answer, so it is looked up by its client order id.
Missing fills are found by execution id or, failing a list of executions, from the
broker's cumulative quantity (see ``fill_recovery``).

Positions: the broker's positions are compared with the positions the journal's fills
add up to; differences are reported (a position opened outside this product shows up
here), never "fixed".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from better_orders.core.model import ZERO, BrokerOrder, Fill, OrderStatus, OrderUpdate
from better_orders.store.fill_recovery import cumulative_gap
from better_orders.store.reconcile_report import (
    OrderAction,
    OrderFinding,
    PositionDifference,
    ReconcileReport,
)
from better_orders.store.records import OrderRecord


def compare(
    journal_orders: Sequence[OrderRecord],
    journal_fills: Mapping[str, Sequence[Fill]],
    broker_orders: Mapping[str, BrokerOrder | None],
    *,
    broker_fills: Mapping[str, Sequence[Fill]] | None = None,
    broker_open: Sequence[BrokerOrder] = (),
    journal_ids: Collection[str] = (),
    journal_positions: Mapping[str, Decimal] | None = None,
    broker_positions: Mapping[str, Decimal] | None = None,
    adopt: bool = False,
    now: datetime,
) -> ReconcileReport:
    """What differs between the journal and the broker, and what to do (see the module doc).

    ``journal_orders`` are the orders to check; ``broker_orders`` the broker's answer for
    each (None = unknown to it); ``broker_fills`` each order's executions when the broker
    can list them. ``broker_open`` is every order open at the broker and ``journal_ids``
    the client order ids among them the journal knows (the others are foreign).
    Positions are compared when both sides are given.
    """
    report = ReconcileReport()
    for record in journal_orders:
        coid = record.client_order_id
        known = list(journal_fills.get(coid, ()))
        known_qty = sum((f.qty for f in known), ZERO)
        broker = broker_orders.get(coid)
        if broker is None:
            _unknown_order(report, record, known_qty, now)
            continue
        listed = None if broker_fills is None else broker_fills.get(coid)
        missing = _missing_fills(record, known, broker, listed, now)
        report.missing_fills.extend(missing)
        if not broker.status.is_terminal:
            action = OrderAction.ADOPT if adopt else OrderAction.CANCEL
            note = f"open at the broker ({broker.status.value}, {broker.filled_qty} filled)"
            (report.adopted if adopt else report.to_cancel).append(coid)
            # The journal learns the broker's current state either way.
            report.updates.append(broker.as_update(now))
        elif _behind(record, broker) or missing:
            action = OrderAction.RECORD
            note = f"ended at the broker: {broker.status.value}, {broker.filled_qty} filled"
            report.updates.append(
                replace(broker.as_update(now), reason="state recovered by reconciliation")
            )
        else:
            action, note = OrderAction.OK, "journal and broker agree"
        if missing:
            qty = sum((f.qty for f in missing), ZERO)
            note += f"; {len(missing)} fill(s) for {qty} missing from the journal"
        report.findings.append(
            OrderFinding(
                coid,
                record.symbol,
                record.side,
                record.status,
                broker.status,
                known_qty,
                broker.filled_qty,
                action,
                note,
            )
        )
    ours = set(journal_ids) | {r.client_order_id for r in journal_orders}
    report.foreign = [o for o in broker_open if o.client_order_id not in ours]
    if journal_positions is not None and broker_positions is not None:
        report.positions = position_differences(broker_positions, journal_positions)
    return report


def _unknown_order(
    report: ReconcileReport, record: OrderRecord, known: Decimal, now: datetime
) -> None:
    coid = record.client_order_id
    if record.pending_submit:
        action = OrderAction.NEVER_SENT
        note = "recorded before sending, unknown to the broker: it never reached it"
        status = OrderStatus.REJECTED
        reason = "never reached the broker (unknown to it at reconciliation)"
    else:
        action = OrderAction.LOST
        note = (
            f"acknowledged ({record.status}) but unknown to the broker now: "
            f"treated as canceled with the {known} filled the journal knows"
        )
        status = OrderStatus.CANCELED
        reason = "unknown to the broker at reconciliation; treated as canceled"
    report.updates.append(
        OrderUpdate(
            client_order_id=coid,
            status=status,
            filled_qty=max(record.filled_qty, known),
            ts=now,
            reason=reason,
        )
    )
    report.findings.append(
        OrderFinding(
            coid, record.symbol, record.side, record.status, None, known, None, action, note
        )
    )


def _behind(record: OrderRecord, broker: BrokerOrder) -> bool:
    return (
        record.status != broker.status.value and not record.is_terminal
    ) or record.filled_qty < broker.filled_qty


def _missing_fills(
    record: OrderRecord,
    known: list[Fill],
    broker: BrokerOrder,
    listed: Sequence[Fill] | None,
    now: datetime,
) -> list[Fill]:
    if listed is not None:
        seen = {f.exec_id for f in known}
        return [f for f in listed if f.exec_id not in seen]
    return cumulative_gap(record.client_order_id, known, broker, now)


def position_differences(
    broker: Mapping[str, Decimal], journal: Mapping[str, Decimal]
) -> list[PositionDifference]:
    """Symbols whose quantity at the broker differs from what the journal's fills add up to."""
    out = []
    for symbol in sorted(set(broker) | set(journal)):
        held, recorded = broker.get(symbol, ZERO), journal.get(symbol, ZERO)
        if held != recorded:
            out.append(PositionDifference(symbol, held, recorded))
    return out
