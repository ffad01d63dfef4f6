"""Reconciliation: bring the journal back in line with the broker after an interruption.

Rules of this file:

* The comparison is pure. :func:`compare` takes what the journal recorded and what the
  broker says, and returns a :class:`ReconcileReport` naming every difference and what
  to do about it. It reads no clock, calls no broker and writes nothing, so every rule
  below is tested with plain values.
* The shell, :func:`reconcile`, reads the journal and the broker, carries out the
  report's actions (cancels), and records what the broker knows into the journal.
* The broker is the truth about orders, fills and positions; the journal is the truth
  about what this product *sent*. Nothing is sent here except cancels.

Theory of operation. After a crash the journal may be behind the broker in these ways,
each with one rule (orders of a run another live process holds are left to it)::

    journal order (sent, not ended)   broker            action
    ---------------------------------------------------------------------------------
    pending_submit                    unknown           never reached it: closed as rejected
    acknowledged                      unknown           lost: reported, closed as canceled
    pending_submit / acknowledged     open              cancel (default) or adopt
    any                               ended             its final state is recorded
    any                               more fills        missing fills recorded (below)
    (none)                            open              foreign: reported, left alone

"Sent" includes ``pending_submit``: the process may have died between writing the
order and hearing the broker's answer, so it is looked up by its client order id.

Fills: when the broker lists an order's executions (:class:`FillHistory`), the ones
the journal lacks are recorded by execution id, so a fill counts once however often
it is recovered. When it does not, the difference between the broker's cumulative
filled quantity and the journal's fills is recorded as one execution whose id is
derived from the order and that cumulative quantity (``recovered-{coid}-{qty}``), so
recovering the same difference twice still records it once (and the journal refuses
a real execution turning up later that those shares already account for).

Positions: the broker's positions are compared with the positions the journal's fills
add up to; differences are reported (a position opened outside this product shows up
here), never "fixed".

The same module computes what is left of an interrupted run (:func:`leg_progress`): a
leg's target is the quantity of its first order (the parent as its first ladder was
sized), or the recorded intent when no order was sent; its progress is what the
journal's fills say was done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from better_orders.core.errors import BrokerError
from better_orders.core.model import ZERO, BrokerOrder, Fill, OrderStatus, OrderUpdate, Side
from better_orders.store.ids import RECOVERED_PREFIX
from better_orders.store.journal import Journal
from better_orders.store.locks import run_lock_name
from better_orders.store.records import IntentRecord, OrderRecord, RunStatus
from better_orders.venues.base import Broker, Clock

#: Price grid of a recovered fill's derived average price.
_PRICE_QUANTUM = Decimal("0.0001")


@runtime_checkable
class FillHistory(Protocol):
    """A broker that can list one order's executions (each with its execution id)."""

    async def get_fills(self, client_order_id: str) -> list[Fill]: ...


class OrderAction(StrEnum):
    OK = "ok"  # journal and broker agree
    RECORD = "record"  # ended at the broker: final state (and fills) recorded
    CANCEL = "cancel"  # still open at the broker: cancel it
    ADOPT = "adopt"  # still open at the broker: leave it working, keep tracking it
    NEVER_SENT = "never_sent"  # pending_submit and unknown to the broker
    LOST = "lost"  # acknowledged once, unknown to the broker now


@dataclass(frozen=True, slots=True)
class OrderFinding:
    client_order_id: str
    symbol: str
    side: Side
    journal_status: str
    broker_status: OrderStatus | None
    journal_filled: Decimal
    broker_filled: Decimal | None
    action: OrderAction
    note: str


@dataclass(frozen=True, slots=True)
class PositionDifference:
    symbol: str
    broker_qty: Decimal
    journal_qty: Decimal

    @property
    def difference(self) -> Decimal:
        """Broker minus journal: positive = the broker holds more than the journal explains."""
        return self.broker_qty - self.journal_qty

    __json_properties__ = ("difference",)


@dataclass(slots=True)
class ReconcileReport:
    """Differences found, what was (or is to be) done about them, and the outcome."""

    findings: list[OrderFinding] = field(default_factory=list)
    #: Events to record so the journal's orders show the broker's state.
    updates: list[OrderUpdate] = field(default_factory=list)
    #: Fills the broker has and the journal lacks.
    missing_fills: list[Fill] = field(default_factory=list)
    to_cancel: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    foreign: list[BrokerOrder] = field(default_factory=list)
    positions: list[PositionDifference] = field(default_factory=list)
    # -- filled in by the shell -------------------------------------------------------
    cancelled: list[str] = field(default_factory=list)
    fills_recovered: int = 0
    #: This product's orders still open at the broker afterwards (adopted, or not cancelled).
    still_open: list[str] = field(default_factory=list)
    #: Runs another live process is working on: their orders were left to it.
    busy_runs: list[str] = field(default_factory=list)
    #: Runs left ``running`` by a process that is gone, now marked ``interrupted``.
    interrupted_runs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def open_orders(self) -> int:
        return len(self.still_open)

    @property
    def foreign_orders(self) -> int:
        return len(self.foreign)

    @property
    def position_differences(self) -> int:
        return len(self.positions)

    @property
    def clean(self) -> bool:
        """Nothing was behind: no order to settle, no fill missing, no position difference."""
        return (
            all(f.action is OrderAction.OK for f in self.findings)
            and not self.missing_fills
            and not self.positions
            and not self.problems
        )

    @property
    def acted(self) -> bool:
        """Something of this product's was settled: an order closed or cancelled, a fill
        recorded (a position difference alone is only reported)."""
        return (
            bool(self.cancelled)
            or self.fills_recovered > 0
            or any(f.action is not OrderAction.OK for f in self.findings)
        )

    def summary(self) -> str:
        parts = [
            f"{len(self.findings)} order(s) checked",
            f"{len(self.cancelled)} cancelled",
            f"{self.fills_recovered} fill(s) recovered",
            f"{self.open_orders} still open",
            f"{self.foreign_orders} foreign",
            f"{self.position_differences} position difference(s)",
        ]
        return ", ".join(parts)

    __json_properties__ = (
        "open_orders",
        "foreign_orders",
        "position_differences",
        "clean",
        "acted",
    )


# --------------------------------------------------------------------------------------
# The pure comparison


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
            report.updates.append(_update(broker, now, None))
        elif _behind(record, broker) or missing:
            action = OrderAction.RECORD
            note = f"ended at the broker: {broker.status.value}, {broker.filled_qty} filled"
            report.updates.append(_update(broker, now, "state recovered by reconciliation"))
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


def cumulative_gap(
    client_order_id: str, known: Sequence[Fill], broker: BrokerOrder, now: datetime
) -> list[Fill]:
    """One fill for what the broker's cumulative quantity has beyond the known fills.

    Its price makes the order's notional match the broker's average price (rounded to
    $0.0001); its execution id is deterministic, so the same gap is recorded once.
    """
    known_qty = sum((f.qty for f in known), ZERO)
    gap = broker.filled_qty - known_qty
    if gap <= 0:
        return []
    avg = broker.filled_avg_price
    if avg is None:
        price = known[-1].price if known else ZERO
    else:
        known_notional = sum((f.qty * f.price for f in known), ZERO)
        price = ((avg * broker.filled_qty - known_notional) / gap).quantize(
            _PRICE_QUANTUM, ROUND_HALF_EVEN
        )
    if price <= 0:
        return []  # no price to record it at; the position check will report it
    return [
        Fill(
            exec_id=f"{RECOVERED_PREFIX}{client_order_id}-{broker.filled_qty}",
            client_order_id=client_order_id,
            symbol=broker.symbol,
            side=broker.side,
            qty=gap,
            price=price,
            ts=now,
        )
    ]


def _update(order: BrokerOrder, now: datetime, reason: str | None) -> OrderUpdate:
    return OrderUpdate(
        client_order_id=order.client_order_id,
        status=order.status,
        filled_qty=order.filled_qty,
        ts=now,
        filled_avg_price=order.filled_avg_price,
        broker_order_id=order.broker_order_id,
        reason=reason,
    )


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


# --------------------------------------------------------------------------------------
# What is left of a run


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


# --------------------------------------------------------------------------------------
# The shell


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
    cancel_wait: timedelta = timedelta(seconds=10),
) -> ReconcileReport:
    """Compare the journal with the broker, act on the differences, record the truth.

    Open orders the journal sent are cancelled (and their end awaited) unless ``adopt``.
    ``run_id`` limits the orders checked to one run (foreign orders and positions are
    still reported for the whole account). Runs still marked ``running`` whose process
    is gone (no live lock) are marked ``interrupted``; a live process's runs are left
    alone, orders included.
    """
    now = _now(clock)
    busy = _busy_runs(journal)
    candidates = [o for o in orders_to_check(journal, run_id) if o.run_id not in busy]
    try:
        open_at_broker = await broker.list_open_orders()
    except BrokerError as exc:
        report = ReconcileReport(problems=[f"cannot list open orders at the broker: {exc}"])
        open_at_broker = []
    else:
        report = ReconcileReport()
    report.busy_runs = sorted(busy)
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
        report.positions = position_differences(held, journal.positions_from_fills())
    return report


def _busy_runs(journal: Journal) -> set[str]:
    """Runs of the journal that a live process holds the lock of."""
    running = journal.find_runs(status=RunStatus.RUNNING)
    return {r.run_id for r in running if journal.live_lock(run_lock_name(r.run_id)) is not None}


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
    from datetime import UTC

    return datetime.now(UTC)


async def _sleep(clock: Clock | None, delay: timedelta) -> None:
    if clock is not None:
        await clock.sleep_until(clock.now() + delay)
    else:
        await asyncio.sleep(delay.total_seconds())


# --------------------------------------------------------------------------------------
# Used by the runner as each ladder ends


async def recover_fills(
    journal: Any, broker: Broker, coids: Iterable[str], now: datetime
) -> list[Fill]:
    """Fills of these (ended) orders that the broker has and the journal lacks, recorded.

    ``journal`` needs ``fills(client_order_id=...)`` and ``record_fill``. Returns the
    fills newly recorded.
    """
    recovered: list[Fill] = []
    for coid in coids:
        known = journal.fills(client_order_id=coid)
        try:
            if isinstance(broker, FillHistory):
                seen = {f.exec_id for f in known}
                missing = [f for f in await broker.get_fills(coid) if f.exec_id not in seen]
            else:
                order = await broker.get_order(coid)
                if order is None or not order.status.is_terminal:
                    continue
                missing = cumulative_gap(coid, known, order, now)
        except BrokerError:
            continue  # the next reconciliation will find them
        for fill in missing:
            if journal.record_fill(fill, None):
                recovered.append(fill)
    return recovered


__all__ = [
    "RECOVERED_PREFIX",
    "FillHistory",
    "LegProgress",
    "OrderAction",
    "OrderFinding",
    "PositionDifference",
    "ReconcileReport",
    "compare",
    "cumulative_gap",
    "leg_progress",
    "orders_to_check",
    "position_differences",
    "reconcile",
    "recover_fills",
    "run_progress",
]
