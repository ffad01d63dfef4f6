"""Reconciliation: bring the journal back in line with the broker after an interruption.

:func:`reconcile` reads the journal and the broker, decides with the pure rules of
``reconcile_rules``, carries out the report's actions (cancels, and waiting for the
cancelled orders to end), and records what the broker knows into the journal. Nothing is
sent to the broker here except cancels.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from better_orders.core.errors import BrokerError
from better_orders.core.model import ZERO, BrokerOrder, Fill, OrderStatus
from better_orders.store.fill_recovery import FillHistory
from better_orders.store.journal import Journal
from better_orders.store.locks import run_lock_name
from better_orders.store.reconcile_report import ReconcileReport
from better_orders.store.reconcile_rules import compare, position_differences
from better_orders.store.records import OrderRecord, RunStatus
from better_orders.venues.base import Broker, Clock


def orders_to_check(journal: Journal, run_id: str | None = None) -> list[OrderRecord]:
    """Orders that may be behind the broker: not ended (or never acknowledged), or ended
    with fewer fills recorded than the broker reported for them."""
    fills: dict[str, Decimal] = {}
    for fill in journal.fills(run_id=run_id):
        fills[fill.client_order_id] = fills.get(fill.client_order_id, ZERO) + fill.qty
    return [
        o
        for o in journal.orders(run_id=run_id)
        if not o.is_terminal or fills.get(o.client_order_id, ZERO) < o.filled_qty
    ]


async def reconcile(
    journal: Journal,
    broker: Broker,
    *,
    clock: Clock | None = None,
    adopt: bool = False,
    run_id: str | None = None,
    venue: str | None = None,
    cancel_wait: timedelta = timedelta(seconds=10),
) -> ReconcileReport:
    """Compare the journal with the broker, act on the differences, record the truth.

    Open orders the journal sent are cancelled (and their end awaited) unless ``adopt``.
    ``run_id`` limits the orders checked to one run (foreign orders and positions are
    still reported for the whole account). Runs still marked ``running`` whose process
    is gone (no live lock) are marked ``interrupted``; a live process's runs are left
    alone, orders included.

    ``venue`` is the broker's name as runs record it (``sim``, ``alpaca-paper``...): one
    journal may hold runs traded on several, and only the runs traded on this one are
    checked against it, their fills alone making the positions compared. (Another
    venue's order is unknown to this broker, not lost.) None checks every run.
    """
    now = _now(clock)
    live = _busy_runs(journal)
    busy = live | _runs_elsewhere(journal, venue)  # left alone: another process's, or venue's
    candidates = [o for o in orders_to_check(journal, run_id) if o.run_id not in busy]
    try:
        open_at_broker = await broker.list_open_orders()
    except BrokerError as exc:
        report = ReconcileReport(problems=[f"cannot list open orders at the broker: {exc}"])
        open_at_broker = []
    else:
        report = ReconcileReport()
    report.busy_runs = sorted(live)
    checked = {o.client_order_id for o in candidates}
    journal_ids: set[str] = set()
    for order in open_at_broker:
        coid = order.client_order_id
        if coid in checked:
            continue
        record = journal.get_order(coid)
        if record is not None and record.run_id not in busy and run_id in (None, record.run_id):
            # The journal thinks it ended, yet the broker has it open: check it too.
            candidates.append(record)
            checked.add(coid)
        elif record is not None:
            journal_ids.add(coid)
    view = await _observe(journal, broker, candidates)
    found = compare(
        candidates,
        view.journal_fills,
        view.broker_orders,
        broker_fills=view.broker_fills,
        broker_open=open_at_broker,
        journal_ids=journal_ids,
        adopt=adopt,
        now=now,
    )
    _merge(report, found)
    _record(journal, report, found)
    unconfirmed: list[str] = []
    if found.to_cancel:
        unconfirmed = await _cancel_all(
            journal, broker, clock, report, found.to_cancel, cancel_wait
        )
    report.still_open = sorted(set(report.adopted) | set(unconfirmed))
    for run in journal.find_runs(status=RunStatus.RUNNING):
        if run.run_id not in busy and run_id in (None, run.run_id):
            journal.finish_run(run.run_id, RunStatus.INTERRUPTED)
            report.interrupted_runs.append(run.run_id)
    try:
        held = {p.symbol: p.qty for p in await broker.get_positions() if p.qty != 0}
    except BrokerError as exc:
        report.problems.append(f"cannot read positions at the broker: {exc}")
    else:
        recorded = journal.positions_from_fills(broker=venue)
        report.positions = position_differences(held, recorded)
    return report


def _busy_runs(journal: Journal) -> set[str]:
    """Runs of the journal that a live process holds the lock of."""
    running = journal.find_runs(status=RunStatus.RUNNING)
    return {r.run_id for r in running if journal.live_lock(run_lock_name(r.run_id)) is not None}


def _runs_elsewhere(journal: Journal, venue: str | None) -> set[str]:
    """Runs of the journal traded on another venue than ``venue`` (none when it is None)."""
    if venue is None:
        return set()
    return {r.run_id for r in journal.find_runs() if not r.traded_on(venue)}


@dataclass(slots=True)
class _View:
    journal_fills: dict[str, list[Fill]]
    broker_orders: dict[str, BrokerOrder | None]
    broker_fills: dict[str, list[Fill]] | None


async def _observe(journal: Journal, broker: Broker, orders: Sequence[OrderRecord]) -> _View:
    view = _View({}, {}, {} if isinstance(broker, FillHistory) else None)
    for record in orders:
        coid = record.client_order_id
        view.journal_fills[coid] = journal.fills(client_order_id=coid)
        view.broker_orders[coid] = await broker.get_order(coid)
        if view.broker_fills is not None and view.broker_orders[coid] is not None:
            assert isinstance(broker, FillHistory)
            view.broker_fills[coid] = await broker.get_fills(coid)
    return view


def _merge(report: ReconcileReport, found: ReconcileReport) -> None:
    report.findings.extend(found.findings)
    report.updates.extend(found.updates)
    report.missing_fills.extend(found.missing_fills)
    report.to_cancel.extend(c for c in found.to_cancel if c not in report.to_cancel)
    report.adopted.extend(found.adopted)
    report.foreign.extend(found.foreign)


def _record(journal: Journal, report: ReconcileReport, found: ReconcileReport) -> None:
    """Fills first (each once), then the orders' states, so a reader never sees an order
    ended with fills that are not there yet."""
    for fill in found.missing_fills:
        if journal.record_fill(fill):
            report.fills_recovered += 1
    for update in found.updates:
        journal.record_event(update)


async def _cancel_all(
    journal: Journal,
    broker: Broker,
    clock: Clock | None,
    report: ReconcileReport,
    coids: list[str],
    wait: timedelta,
) -> list[str]:
    """Cancel, await each order's end and record it; returns those that did not end."""
    refused: dict[str, str] = {}
    for coid in coids:
        try:
            await broker.cancel_order(coid)
        except BrokerError as exc:
            # Usually it ended meanwhile; its final state is read below either way.
            refused[coid] = f"cancel refused ({exc.code}: {exc})"
    deadline = _now(clock) + wait
    pending = list(coids)
    while True:
        ended: dict[str, BrokerOrder | None] = {}
        for coid in pending:
            order = await broker.get_order(coid)
            if order is None or order.status.is_terminal:
                ended[coid] = order
        pending = [c for c in pending if c not in ended]
        records = [r for c in ended if (r := journal.get_order(c)) is not None]
        view = await _observe(journal, broker, records)
        final = compare(
            records,
            view.journal_fills,
            view.broker_orders,
            broker_fills=view.broker_fills,
            now=_now(clock),
        )
        _record(journal, report, final)
        report.missing_fills.extend(final.missing_fills)
        for coid, order in ended.items():
            if order is not None and order.status is OrderStatus.CANCELED:
                report.cancelled.append(coid)
        if not pending or _now(clock) >= deadline:
            break
        await _sleep(clock, timedelta(milliseconds=250))
    for coid in pending:
        why = refused.get(coid, "no confirmation")
        report.problems.append(
            f"order {coid} did not end after a cancel ({why}); it may still be open at the broker"
        )
    return pending


def _now(clock: Clock | None) -> datetime:
    if clock is not None:
        return clock.now()
    return datetime.now(UTC)


async def _sleep(clock: Clock | None, delay: timedelta) -> None:
    if clock is not None:
        await clock.sleep_until(clock.now() + delay)
    else:
        await asyncio.sleep(delay.total_seconds())
