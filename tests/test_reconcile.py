"""Reconciliation: the pure comparison rule by rule, then against the simulated venue."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from better_orders.cli.app import main as cli_main
from better_orders.core.model import (
    BrokerOrder,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    TimeInForce,
)
from better_orders.engine.execution import OrderSpec, execute
from better_orders.store.fill_recovery import FillHistory, cumulative_gap
from better_orders.store.journal import Journal
from better_orders.store.locks import LockOwner, run_lock_name
from better_orders.store.progress import leg_progress
from better_orders.store.reconcile import orders_to_check, reconcile
from better_orders.store.reconcile_report import OrderAction
from better_orders.store.reconcile_rules import compare
from better_orders.store.records import PENDING_SUBMIT, IntentRecord, OrderRecord
from better_orders.venues.sim.account import PaperAccount, load_venue_records
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.faults import FaultPlan
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.venue import SimVenue
from ladder_kit import CROSS_AT_ONCE_ENV, crossing_config

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=ET)


@pytest.fixture(autouse=True)
def _cross_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs here are killed or crash while their marketable orders work: no patient rest first
    (``ladder_kit.CROSS_AT_ONCE``), also for the commands that load their configuration."""
    for name, value in CROSS_AT_ONCE_ENV.items():
        monkeypatch.setenv(name, value)


# -- the pure comparison ---------------------------------------------------------------------


def record(
    coid: str = "bo-r1-1-1",
    status: str = "new",
    filled: str = "0",
    qty: str = "100",
    leg: int = 1,
    attempt: int = 1,
) -> OrderRecord:
    return OrderRecord(
        client_order_id=coid,
        run_id="r1",
        leg=leg,
        attempt=attempt,
        symbol="TQQQ",
        side=Side.BUY,
        qty=D(qty),
        order_type=OrderType.LIMIT,
        limit_price=D("50.02"),
        time_in_force=TimeInForce.DAY,
        status=status,
        broker_order_id=None,
        filled_qty=D(filled),
        filled_avg_price=None,
        reason=None,
        created_at=T0,
        updated_at=T0,
    )


def broker_order(
    coid: str = "bo-r1-1-1", status: OrderStatus = OrderStatus.NEW, filled: str = "0",
    avg: str | None = None, qty: str = "100",
) -> BrokerOrder:  # fmt: skip
    return BrokerOrder(
        client_order_id=coid,
        broker_order_id="b-" + coid,
        symbol="TQQQ",
        side=Side.BUY,
        qty=D(qty),
        order_type=OrderType.LIMIT,
        limit_price=D("50.02"),
        status=status,
        filled_qty=D(filled),
        filled_avg_price=None if avg is None else D(avg),
    )


def fill(exec_id: str, qty: str, price: str, coid: str = "bo-r1-1-1") -> Fill:
    return Fill(exec_id, coid, "TQQQ", Side.BUY, D(qty), D(price), T0)


def test_an_order_recorded_but_unknown_to_the_broker_never_reached_it() -> None:
    report = compare([record(status=PENDING_SUBMIT)], {}, {"bo-r1-1-1": None}, now=T0)
    (finding,) = report.findings
    assert finding.action is OrderAction.NEVER_SENT and finding.broker_status is None
    (upd,) = report.updates
    assert upd.status is OrderStatus.REJECTED and upd.filled_qty == 0
    assert report.to_cancel == [] and not report.clean


def test_an_acknowledged_order_the_broker_lost_is_closed_with_what_was_filled() -> None:
    known = {"bo-r1-1-1": [fill("e1", "30", "50.01")]}
    report = compare([record(filled="30")], known, {"bo-r1-1-1": None}, now=T0)
    assert report.findings[0].action is OrderAction.LOST
    (upd,) = report.updates
    assert upd.status is OrderStatus.CANCELED and upd.filled_qty == D(30)


def test_an_order_still_open_is_cancelled_by_default_or_adopted() -> None:
    at_broker = {"bo-r1-1-1": broker_order(status=OrderStatus.PARTIALLY_FILLED, filled="40")}
    listed = {"bo-r1-1-1": [fill("e1", "40", "50.01")]}
    cancel = compare([record(status=PENDING_SUBMIT)], {}, at_broker, broker_fills=listed, now=T0)
    assert cancel.to_cancel == ["bo-r1-1-1"] and cancel.adopted == []
    assert cancel.findings[0].action is OrderAction.CANCEL
    assert [f.exec_id for f in cancel.missing_fills] == ["e1"]
    # the journal learns the broker's state either way (pending_submit -> partially filled)
    assert cancel.updates[0].status is OrderStatus.PARTIALLY_FILLED
    adopt = compare([record()], {}, at_broker, broker_fills=listed, adopt=True, now=T0)
    assert adopt.to_cancel == [] and adopt.adopted == ["bo-r1-1-1"]
    assert adopt.findings[0].action is OrderAction.ADOPT


def test_an_order_that_ended_has_its_state_and_missing_fills_recorded() -> None:
    known = {"bo-r1-1-1": [fill("e1", "30", "50.01")]}
    at_broker = {"bo-r1-1-1": broker_order(status=OrderStatus.FILLED, filled="100", avg="50.02")}
    listed = {
        "bo-r1-1-1": [fill("e1", "30", "50.01"), fill("e2", "70", "50.02"), fill("e3", "0", "1")]
    }
    listed["bo-r1-1-1"].pop()
    report = compare(
        [record(status="partially_filled", filled="30")], known, at_broker,
        broker_fills=listed, now=T0,
    )  # fmt: skip
    assert report.findings[0].action is OrderAction.RECORD
    assert [f.exec_id for f in report.missing_fills] == ["e2"]
    assert report.updates[0].status is OrderStatus.FILLED
    assert report.updates[0].filled_qty == D(100)


def test_journal_and_broker_in_agreement_is_clean() -> None:
    known = {"bo-r1-1-1": [fill("e1", "100", "50.01")]}
    at_broker = {"bo-r1-1-1": broker_order(status=OrderStatus.FILLED, filled="100", avg="50.01")}
    report = compare(
        [record(status="filled", filled="100")], known, at_broker,
        broker_fills={"bo-r1-1-1": [fill("e1", "100", "50.01")]},
        journal_positions={"TQQQ": D(100)}, broker_positions={"TQQQ": D(100)}, now=T0,
    )  # fmt: skip
    assert report.findings[0].action is OrderAction.OK
    assert report.updates == [] and report.missing_fills == [] and report.clean


def test_without_fill_history_the_cumulative_gap_is_recorded_once() -> None:
    known = [fill("e1", "10", "50.00")]
    ended = broker_order(status=OrderStatus.CANCELED, filled="30", avg="50.02")
    (gap,) = cumulative_gap("bo-r1-1-1", known, ended, T0)
    assert gap.exec_id == "recovered-bo-r1-1-1-30"  # deterministic: recovered twice, kept once
    assert gap.qty == D(20)
    # the order's notional matches the broker's average: 10 x 50.00 + 20 x 50.03
    assert gap.price == D("50.03")
    assert D(10) * D("50.00") + gap.qty * gap.price == D(30) * D("50.02")
    assert cumulative_gap("bo-r1-1-1", [*known, gap], ended, T0) == []
    report = compare(
        [record(status="canceled", filled="10")], {"bo-r1-1-1": known},
        {"bo-r1-1-1": ended}, broker_fills=None, now=T0,
    )  # fmt: skip
    assert [f.exec_id for f in report.missing_fills] == ["recovered-bo-r1-1-1-30"]


def test_foreign_orders_are_reported_and_positions_compared() -> None:
    manual = broker_order(coid="my-own-order")
    other_run = broker_order(coid="bo-r2-1-1")
    report = compare(
        [], {}, {}, broker_open=[manual, other_run], journal_ids={"bo-r2-1-1"},
        journal_positions={"TQQQ": D(100), "SPY": D(5)},
        broker_positions={"TQQQ": D(100), "SOXL": D(7)}, now=T0,
    )  # fmt: skip
    assert [o.client_order_id for o in report.foreign] == ["my-own-order"]
    diffs = {p.symbol: p.difference for p in report.positions}
    assert diffs == {"SOXL": D(7), "SPY": D(-5)}
    assert report.to_cancel == []


def test_leg_progress_targets_the_first_order_and_counts_the_fills() -> None:
    intents = [
        IntentRecord("r1", 1, "TQQQ", Side.BUY, D(120), "pending", None, T0, T0),
        IntentRecord("r1", 2, "SPY", Side.SELL, D(5), "pending", None, T0, T0),
    ]
    # leg 1 was sized down to 100 when it ran; two attempts, 70 filled
    orders = [
        record("bo-r1-1-1", "canceled", "40", qty="100", attempt=1),
        record("bo-r1-1-2", "canceled", "30", qty="60", attempt=2),
    ]
    fills = [
        fill("e1", "40", "50.00", "bo-r1-1-1"),
        fill("e2", "30", "50.01", "bo-r1-1-2"),
        fill("x", "99", "1.00", "someone-else"),
    ]
    one, two = leg_progress(intents, orders, fills)
    assert (one.target_qty, one.done_qty, one.remaining_qty) == (D(100), D(70), D(30))
    assert one.last_attempt == 2 and one.started
    assert (two.target_qty, two.done_qty, two.remaining_qty) == (D(5), D(0), D(5))
    assert two.last_attempt == 0 and not two.started


# -- against the simulated venue ---------------------------------------------------------------


def script(rows: list[tuple[float, str, str, int]], symbol: str = "TQQQ") -> ReplayQuotes:
    last_s, b, a, n = rows[-1]
    tail = [(last_s + k, b, a, n) for k in range(1, 121)]
    return ReplayQuotes.from_quotes(
        [
            Quote(symbol, D(b), D(a), D(n), D(n), T0 + timedelta(seconds=s))
            for s, b, a, n in rows + tail
        ]
    )


#: 30 shares offered at 50.01, then the offer moves away: a 100-share buy rests part filled.
RESTING = {"TQQQ": script([(0, "50.00", "50.01", 30), (0.2, "50.10", "50.20", 30)])}


async def crash_mid_run(
    venue: SimVenue, journal: Journal, specs: list[OrderSpec], after: float
) -> None:
    """Run ``specs`` and kill the run ``after`` virtual seconds in (the process dies)."""
    journal.start_run("r1", "order", {}, "sim")
    task = asyncio.ensure_future(
        execute(
            specs,
            broker=venue.broker,
            feed=venue.feed,
            clock=venue.clock,
            journal=journal,
            config=crossing_config(),
            run_id="r1",
        )
    )
    done, _ = await asyncio.wait({task}, timeout=after)
    assert not done, "the run should still be working when it is killed"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_killed_run_leaves_an_open_order_that_is_cancelled_with_its_fills(
    tmp_path: Path,
) -> None:
    async def main() -> Any:
        venue = SimVenue.create(start=T0, replay=RESTING)
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            await crash_mid_run(venue, journal, [OrderSpec("TQQQ", Side.BUY, D(100))], 1.0)
            open_before = [o.client_order_id for o in await venue.broker.list_open_orders()]
            report = await reconcile(journal, venue.broker, clock=venue.clock)
            open_after = await venue.broker.list_open_orders()
            order = journal.get_order("bo-r1-1-1")
            run = journal.get_run("r1")
            again = await reconcile(journal, venue.broker, clock=venue.clock)
            await venue.close()
            return open_before, report, open_after, order, run, again

    open_before, report, open_after, order, run, again = run_virtual(main(), start=T0)
    assert open_before == ["bo-r1-1-1"]
    # the run its dead process left "running" is now marked for what it is
    assert report.interrupted_runs == ["r1"] and run.status.value == "interrupted"
    assert report.cancelled == ["bo-r1-1-1"] and report.open_orders == 0
    assert open_after == []
    assert order is not None and order.status == "canceled" and order.filled_qty == D(30)
    assert report.positions == []  # the journal's fills explain the position
    assert again.clean and again.findings == []


def test_fills_the_journal_missed_are_recovered_by_execution_id(tmp_path: Path) -> None:
    faults = FaultPlan().drop_updates(statuses=["partially_filled", "filled"], count=None)

    async def main() -> Any:
        venue = SimVenue.create(start=T0, replay=RESTING, faults=faults)
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            await crash_mid_run(venue, journal, [OrderSpec("TQQQ", Side.BUY, D(100))], 1.0)
            missed = journal.fills()
            report = await reconcile(journal, venue.broker, clock=venue.clock)
            again = await reconcile(journal, venue.broker, clock=venue.clock)
            await venue.close()
            return missed, report, again, journal.fills(), list(venue.exchange.fills)

    missed, report, again, fills, at_venue = run_virtual(main(), start=T0)
    assert missed == []  # the fill's update never came
    assert report.fills_recovered == 1
    assert [f.exec_id for f in fills] == [f.exec_id for f in at_venue]
    assert again.fills_recovered == 0 and again.clean  # recovering again adds nothing


def test_an_order_recorded_but_never_sent_is_closed(tmp_path: Path) -> None:
    request = OrderRequest("bo-r1-1-1", "TQQQ", Side.BUY, D(10), OrderType.LIMIT, D("50.02"))

    async def main() -> Any:
        venue = SimVenue.create(start=T0, replay=RESTING)
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            journal.start_run("r1", "order", {}, "sim")
            journal.record_order_pending(request, "r1", 1, 1)  # ... and the process died
            assert [o.client_order_id for o in orders_to_check(journal)] == ["bo-r1-1-1"]
            report = await reconcile(journal, venue.broker, clock=venue.clock)
            await venue.close()
            return report, journal.get_order("bo-r1-1-1")

    report, order = run_virtual(main(), start=T0)
    assert [f.action for f in report.findings] == [OrderAction.NEVER_SENT]
    assert order is not None and order.status == "rejected"


def test_foreign_orders_are_left_alone_and_adopt_leaves_ours_working(tmp_path: Path) -> None:
    async def main() -> Any:
        venue = SimVenue.create(start=T0, replay=RESTING)
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            await crash_mid_run(venue, journal, [OrderSpec("TQQQ", Side.BUY, D(100))], 1.0)
            manual = OrderRequest("by-hand-1", "TQQQ", Side.BUY, D(5), OrderType.LIMIT, D("49"))
            await venue.broker.submit_order(manual)
            report = await reconcile(journal, venue.broker, clock=venue.clock, adopt=True)
            still = sorted(o.client_order_id for o in await venue.broker.list_open_orders())
            await venue.close()
            return report, still

    report, still = run_virtual(main(), start=T0)
    assert [o.client_order_id for o in report.foreign] == ["by-hand-1"]
    assert report.adopted == ["bo-r1-1-1"] and report.still_open == ["bo-r1-1-1"]
    assert report.cancelled == []
    assert still == ["bo-r1-1-1", "by-hand-1"]


def test_orders_of_a_run_another_live_process_holds_are_left_to_it(tmp_path: Path) -> None:
    async def main() -> Any:
        venue = SimVenue.create(start=T0, replay=RESTING)
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            await crash_mid_run(venue, journal, [OrderSpec("TQQQ", Side.BUY, D(100))], 1.0)
            # the parent process stands in for another live process working on run r1
            other = LockOwner(os.getppid(), socket.gethostname(), "other")
            journal.acquire_lock(run_lock_name("r1"), other)
            report = await reconcile(journal, venue.broker, clock=venue.clock)
            still = [o.client_order_id for o in await venue.broker.list_open_orders()]
            await venue.close()
            return report, still

    report, still = run_virtual(main(), start=T0)
    assert report.busy_runs == ["r1"] and report.interrupted_runs == []
    assert report.findings == [] and report.foreign == [] and report.cancelled == []
    assert still == ["bo-r1-1-1"]


class NoFillHistory:
    """The venue's broker without ``get_fills``: like a broker that cannot list executions."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        if name == "get_fills":
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_without_fill_history_a_missed_fill_is_recovered_from_the_cumulative(
    tmp_path: Path,
) -> None:
    faults = FaultPlan().drop_updates(statuses=["partially_filled", "filled"], count=None)

    async def main() -> Any:
        venue = SimVenue.create(start=T0, replay=RESTING, faults=faults)
        broker = NoFillHistory(venue.broker)
        assert not isinstance(broker, FillHistory)
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            await crash_mid_run(venue, journal, [OrderSpec("TQQQ", Side.BUY, D(100))], 1.0)
            report = await reconcile(journal, broker, clock=venue.clock)
            again = await reconcile(journal, broker, clock=venue.clock)
            await venue.close()
            return report, again, journal.fills(), journal.positions_from_fills()

    report, again, fills, positions = run_virtual(main(), start=T0)
    assert report.fills_recovered == 1
    (recovered,) = fills
    assert recovered.exec_id == "recovered-bo-r1-1-1-30"
    assert (recovered.qty, recovered.price) == (D(30), D("50.01"))
    assert positions == {"TQQQ": D(30)}
    assert again.clean


def test_a_restarted_simulator_knows_the_dead_ones_orders_and_fills(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"

    async def killed() -> None:
        venue = SimVenue.create(start=T0, replay=RESTING, db_path=db)
        with Journal.open(db) as journal:
            await crash_mid_run(venue, journal, [OrderSpec("TQQQ", Side.BUY, D(100))], 1.0)
        # no close, no save: the process is gone with the venue's book

    run_virtual(killed(), start=T0)
    # what the dead venue saved with the account: the order as it last changed, its fill
    orders, fills = load_venue_records(db)
    assert [(o.client_order_id, o.status, o.filled_qty) for o in orders] == [
        ("bo-r1-1-1", OrderStatus.PARTIALLY_FILLED, D(30))
    ]
    assert [(f.qty, f.price) for f in fills] == [(D(30), D("50.01"))]
    assert PaperAccount.load(db).qty("TQQQ") == D(30)

    async def restarted() -> Any:
        venue = SimVenue.create(start=T0 + timedelta(hours=1), db_path=db)
        order = await venue.broker.get_order("bo-r1-1-1")
        venue_fills = await venue.broker.get_fills("bo-r1-1-1")
        request = OrderRequest("bo-r1-1-1", "TQQQ", Side.BUY, D(1), OrderType.MARKET)
        with pytest.raises(Exception, match="already exists"):
            await venue.broker.submit_order(request)
        with Journal.open(db) as journal:
            report = await reconcile(journal, venue.broker, clock=venue.clock)
            positions = journal.positions_from_fills()
        await venue.close()
        return order, venue_fills, report, positions

    order, venue_fills, report, positions = run_virtual(restarted(), start=T0)
    assert order.status is OrderStatus.CANCELED and order.filled_qty == D(30)
    assert sum(f.qty for f in venue_fills) == D(30)
    assert report.open_orders == 0 and report.positions == []
    assert positions == {"TQQQ": D(30)}


def test_reconcile_command_reports_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "j.sqlite3"
    faults = FaultPlan().drop_updates(statuses=["partially_filled", "filled"], count=None)

    async def killed() -> None:
        venue = SimVenue.create(start=T0, replay=RESTING, db_path=db, faults=faults)
        with Journal.open(db) as journal:
            await crash_mid_run(venue, journal, [OrderSpec("TQQQ", Side.BUY, D(100))], 1.0)

    run_virtual(killed(), start=T0)
    code = 0
    try:
        cli_main(["reconcile", "--db", str(db), "--json"])
    except SystemExit as exc:
        code = int(exc.code or 0)
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["open_orders"] == 0 and data["foreign_orders"] == 0
    assert data["fills_recovered"] == 1 and data["position_differences"] == 0
    with Journal.open(db) as journal:
        order = journal.get_order("bo-r1-1-1")
        assert order is not None and order.status == "canceled"
        assert journal.positions_from_fills() == {"TQQQ": D(30)}


def test_an_order_command_first_settles_what_a_crashed_one_left(tmp_path: Path) -> None:
    from better_orders import place_better_order
    from better_orders.core.model import OrderUpdate as Update

    db = tmp_path / "j.sqlite3"

    class Crash(BaseException):  # the process dies: nothing is cleaned up
        pass

    def die_on_first_fill(ev: Any) -> None:
        if isinstance(ev.item, Update) and ev.item.fill is not None:
            raise Crash

    with pytest.raises(Crash):
        place_better_order("TQQQ", 100, "buy", at=T0, db=db, replay=RESTING,
                           config=crossing_config(), observer=die_on_first_fill)  # fmt: skip
    with Journal.open(db) as journal:
        (left,) = journal.orders()
        assert left.status == "partially_filled" and left.filled_qty == D(30)
    later = T0 + timedelta(seconds=30)
    report = place_better_order(
        "TQQQ", 5, "buy", at=later, db=db, replay=RESTING, config=crossing_config()
    )
    assert report.filled_qty == D(5)
    with Journal.open(db) as journal:
        settled = journal.get_order(left.client_order_id)
        assert settled is not None and settled.status == "canceled"
        assert settled.filled_qty == D(30)
        assert all(o.is_terminal for o in journal.orders())
        assert journal.positions_from_fills() == {"TQQQ": D(35)}
    assert PaperAccount.load(db).qty("TQQQ") == D(35)


def test_reconcile_exits_1_while_a_position_differs_from_the_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "j.sqlite3"

    def reconcile_cli() -> int:
        try:
            cli_main(["reconcile", "--db", str(db)])
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    assert reconcile_cli() == 0  # nothing traded: nothing differs
    account = PaperAccount.load(db)
    account.apply_fill(Fill("outside", "outside", "TQQQ", Side.BUY, D(5), D(50), T0))
    account.save()  # shares the journal's fills do not explain
    assert reconcile_cli() == 1
    out = capsys.readouterr().out
    assert "position: TQQQ broker 5, journal 0 (difference 5)" in out
