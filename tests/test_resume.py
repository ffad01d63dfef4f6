"""Resuming an interrupted rebalance from the journal, exactly once; locks on a run."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections import Counter
from datetime import datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from better_orders import rebalance_portfolio
from better_orders.cli.app import main as cli_main
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError, JournalError
from better_orders.core.ladder import SubmitOrder
from better_orders.core.model import OrderUpdate, Side
from better_orders.engine.commands import run_orders_simulated, run_rebalance_simulated
from better_orders.engine.execution import OrderSpec
from better_orders.engine.legs import LadderEvent
from better_orders.engine.rebalance import RebalanceReport, rebalance
from better_orders.store.encoding import params_hash
from better_orders.store.journal import Journal
from better_orders.store.locks import LockOwner
from better_orders.store.progress import run_progress
from better_orders.store.reconcile import reconcile
from better_orders.store.records import RunStatus
from better_orders.venues.sim.account import PaperAccount
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.venue import SimVenue

ET = ZoneInfo("America/New_York")
DAY1 = datetime(2026, 11, 24, 9, 45, tzinfo=ET)
DAY2 = datetime(2026, 11, 25, 9, 45, tzinfo=ET)
SWITCH = {"SOXL": 0.5, "SPY": 0.4}


class Crash(BaseException):
    """Stands in for the process dying at that point.

    Not an ``Exception``: a failure the run catches is contained (its orders are
    cancelled), while a dying process cleans nothing up, and that is what is tested.
    """


def crash_on(predicate: Any) -> Any:
    def observer(ev: LadderEvent) -> None:
        if predicate(ev):
            raise Crash(f"crashed at leg {ev.leg} on {type(ev.item).__name__}")

    return observer


def first_fill_of_a_sell(ev: LadderEvent) -> bool:
    item = ev.item
    return isinstance(item, OrderUpdate) and item.fill is not None and ev.symbol == "TQQQ"


def check_exactly_once(journal: Journal, run_id: str) -> None:
    """No client order id twice, no leg beyond its target, every order ended."""
    orders = journal.orders(run_id=run_id)
    assert len({o.client_order_id for o in orders}) == len(orders)
    attempts = Counter((o.leg, o.attempt) for o in orders)
    assert max(attempts.values()) == 1
    assert all(o.is_terminal for o in orders)
    for p in run_progress(journal, run_id):
        assert p.done_qty <= p.target_qty, p
    positions = {s: p.qty for s, p in PaperAccount.load(journal.path).positions.items()}
    assert positions == journal.positions_from_fills()


def test_an_interrupted_rebalance_resumes_when_run_again_and_finishes_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.sqlite3"
    assert rebalance_portfolio({"TQQQ": 0.6, "SPY": 0.3}, at=DAY1, db=db).complete
    with pytest.raises(Crash):
        rebalance_portfolio(SWITCH, at=DAY2, db=db, observer=crash_on(first_fill_of_a_sell))
    with Journal.open(db) as journal:
        crashed = journal.latest_run(kind="rebalance")
        assert crashed is not None and crashed.status is RunStatus.FAILED
        before = {p.leg: p for p in run_progress(journal, crashed.run_id)}
        sent_before = {o.client_order_id for o in journal.orders(run_id=crashed.run_id)}
    sell = next(p for p in before.values() if p.side is Side.SELL)
    assert 0 < sell.done_qty < sell.target_qty  # it was killed half way through the sell
    assert all(not p.started for p in before.values() if p.side is Side.BUY)

    report = rebalance_portfolio(SWITCH, at=DAY2, db=db)
    assert report.run_id == crashed.run_id  # the same run, resumed
    assert report.complete, report.undone
    assert any(n.startswith("resuming run") for n in report.notes)
    # the sell the dead process left working was settled first
    assert any(n.startswith("reconciled the journal with the broker") for n in report.notes)
    resumed_sell = next(e for e in report.executions if e.side is Side.SELL)
    # the sell continued with its remainder, from the next attempt number on
    assert resumed_sell.requested_qty == sell.target_qty - sell.done_qty
    assert not set(resumed_sell.client_order_ids) & sent_before
    with Journal.open(db) as journal:
        check_exactly_once(journal, crashed.run_id)
        assert [r.status for r in journal.find_runs(kind="rebalance")] == [
            RunStatus.COMPLETED,
            RunStatus.COMPLETED,
        ]
    weights = {r.symbol: r.final_weight for r in report.results}
    assert weights.get("TQQQ", D(0)) == 0
    assert abs(weights["SOXL"] - D("0.5")) <= D("0.01")
    assert abs(weights["SPY"] - D("0.4")) <= D("0.01")


def test_resume_by_run_id_takes_the_runs_own_targets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "j.sqlite3"
    with pytest.raises(Crash):
        rebalance_portfolio(
            {"TQQQ": 0.5, "SPY": 0.4},
            at=DAY1,
            db=db,
            observer=crash_on(lambda ev: ev.leg == 2 and isinstance(ev.item, SubmitOrder)),
        )
    with Journal.open(db) as journal:
        run = journal.latest_run()
        assert run is not None
        left = {p.symbol: p.remaining_qty for p in run_progress(journal, run.run_id)}
    args = ["rebalance", "--resume", run.run_id, "--at", DAY1.isoformat(), "--db", str(db)]
    code = 0
    try:
        cli_main([*args, "--json"])
    except SystemExit as exc:
        code = int(exc.code or 0)
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["run_id"] == run.run_id and data["complete"] is True
    # leg 2 was never sent; leg 1's order died with the process: both are traded, each
    # for what was left of it, leg 1 from its second attempt on
    assert {e["symbol"]: D(e["requested_qty"]) for e in data["executions"]} == left
    assert left["SPY"] > 0
    tqqq = next(e for e in data["executions"] if e["symbol"] == "TQQQ")
    assert tqqq["client_order_ids"][0] == f"bo-{run.run_id}-1-2"
    with Journal.open(db) as journal:
        check_exactly_once(journal, run.run_id)


def test_what_cannot_be_resumed_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    done = rebalance_portfolio({"TQQQ": 0.5}, at=DAY1, db=db)
    assert done.run_id is not None
    with pytest.raises(JournalError, match="completed; there is nothing to resume"):
        run_rebalance_simulated({}, at=DAY1, db=db, resume=done.run_id)
    with pytest.raises(JournalError, match="not in the journal"):
        run_rebalance_simulated({}, at=DAY1, db=db, resume="20990101T000000-dead")
    with pytest.raises(Crash):
        rebalance_portfolio({"SPY": 0.5}, at=DAY1, db=db, observer=crash_on(lambda ev: True))
    with Journal.open(db) as journal:
        crashed = journal.latest_run()
    assert crashed is not None
    with pytest.raises(InvalidInputError, match="targets differ"):
        run_rebalance_simulated({"QQQ": 0.5}, at=DAY1, db=db, resume=crashed.run_id)
    order_run, _ = run_orders_simulated([OrderSpec("SPY", Side.BUY, D(1))], at=DAY1, db=db)
    for targets in ({}, {"SPY": 0.5}):
        with pytest.raises(InvalidInputError, match="is an order run, not a rebalance run"):
            run_rebalance_simulated(targets, at=DAY1, db=db, resume=order_run)


def test_only_the_latest_rebalance_is_resumed_automatically(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    with pytest.raises(Crash):
        rebalance_portfolio({"TQQQ": 0.5}, at=DAY1, db=db, observer=crash_on(lambda ev: True))
    other = rebalance_portfolio({"SPY": 0.3}, at=DAY1, db=db)
    again = rebalance_portfolio({"TQQQ": 0.5}, at=DAY1, db=db)
    with Journal.open(db) as journal:
        runs = journal.find_runs(kind="rebalance")
    # the SPY rebalance ran in between: the old TQQQ plan is stale, a new run plans afresh
    assert len(runs) == 3 and again.run_id not in (runs[0].run_id, other.run_id)
    assert not any(n.startswith("resuming run") for n in again.notes)


def test_the_same_targets_running_in_another_process_are_refused(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    targets = {"TQQQ": "0.5"}
    digest = params_hash({"targets": targets})
    # the parent process stands in for a scheduler's first firing, still running
    first = LockOwner(os.getppid(), socket.gethostname(), "first")
    with Journal.open(db) as journal:
        journal.acquire_lock(f"rebalance params {digest[:16]}", first)
    with pytest.raises(JournalError, match="already running"):
        rebalance_portfolio(targets, at=DAY1, db=db)
    with Journal.open(db) as journal:
        assert journal.find_runs() == [] and journal.orders() == []
        journal.release_lock(f"rebalance params {digest[:16]}", first)
    assert rebalance_portfolio(targets, at=DAY1, db=db).complete
    with Journal.open(db) as journal:  # released at the end of the run
        assert journal.get_lock(f"rebalance params {digest[:16]}") is None


def _resume_on_venue(
    db: Path, run_id: str, targets: dict[str, object], crash_after: float | None
) -> RebalanceReport | None:
    """``rebalance`` on one venue and journal; kill it ``crash_after`` s in, if given."""

    async def main() -> RebalanceReport | None:
        venue = SimVenue.create(start=DAY2, seed=5, db_path=db)
        with Journal.open(db) as journal:
            if journal.get_run(run_id) is None:
                journal.start_run(run_id, "rebalance", {}, "sim")
            await reconcile(journal, venue.broker, clock=venue.clock)
            task = asyncio.ensure_future(
                rebalance(
                    targets,
                    broker=venue.broker,
                    feed=venue.feed,
                    clock=venue.clock,
                    journal=journal,
                    config=BetterOrdersConfig(),
                    run_id=run_id,
                    resume=True,
                )
            )
            done, _ = await asyncio.wait({task}, timeout=crash_after)
            if not done:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                return None  # killed: the venue's book dies with the process
            report = task.result()
            await venue.close()
            return report

    return run_virtual(main(), start=DAY2)


def test_resumed_buys_are_sized_to_the_buying_power_on_hand(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    assert rebalance_portfolio({"TQQQ": 0.6, "SPY": 0.3}, at=DAY1, db=db).complete
    # Killed while selling: the buys were planned on the sale's expected proceeds.
    assert _resume_on_venue(db, "rb", SWITCH, crash_after=0.02) is None
    with Journal.open(db) as journal:
        planned = {p.symbol: p for p in run_progress(journal, "rb")}
    # Meanwhile the cash is withdrawn: the sale's proceeds alone cannot pay every buy.
    account = PaperAccount.load(db)
    PaperAccount(D(0), account.positions, path=db).save()
    report = _resume_on_venue(db, "rb", SWITCH, crash_after=None)
    assert report is not None
    buys = {e.symbol: e for e in report.executions if e.side is Side.BUY}
    assert buys and all(e.requested_qty < planned[s].remaining_qty for s, e in buys.items()), (
        "buys were not scaled down to the cash left"
    )
    assert any("scaled" in n or "cash short" in n for n in report.notes), report.notes
    assert report.final_cash is not None and report.final_cash >= 0
    with Journal.open(db) as journal:
        check_exactly_once(journal, "rb")


def test_a_run_whose_lock_was_taken_over_stops(tmp_path: Path) -> None:
    from datetime import timedelta

    from better_orders.engine.journalled_run import Job, journalled_run
    from better_orders.store.encoding import to_json
    from better_orders.store.locks import run_lock_name

    db = tmp_path / "j.sqlite3"

    async def main() -> None:
        venue = SimVenue.create(start=DAY1, seed=1, db_path=db)

        async def work(v: Any, journal: Journal, run_id: str) -> str:
            # Another process decided this one was dead and took its run over.
            journal._conn.execute(
                "UPDATE locks SET token = 'successor' WHERE name = ?", (run_lock_name(run_id),)
            )
            await v.clock.sleep_until(v.clock.now() + timedelta(minutes=5))
            return "finished anyway"

        with Journal.open(db) as journal:
            try:
                with pytest.raises(JournalError, match="no longer held"):
                    await journalled_run(
                        Job("order", {"x": 1}, work, lambda r: {"r": to_json(r)}),
                        venue,
                        journal,
                        broker_name="sim",
                        fresh_id=lambda: "r-taken",
                    )
                run = journal.get_run("r-taken")
                assert run is not None and run.status is RunStatus.INTERRUPTED
            finally:
                await venue.close()

    run_virtual(main(), start=DAY1)


def test_a_stop_stays_a_stop_when_the_journal_cannot_record_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl-C / SIGTERM while the journal is busy past its timeout: recording the run as
    # interrupted fails. The stop must still end the command as a stop (a scheduler then
    # stops and closes what was left open), not as an ordinary journal error.
    from datetime import timedelta

    from better_orders.engine.journalled_run import Job, journalled_run
    from better_orders.store.encoding import to_json

    db = tmp_path / "j.sqlite3"
    real = Journal.finish_run

    def busy(self: Journal, run_id: str, status: Any, *args: Any, **kwargs: Any) -> None:
        if str(getattr(status, "value", status)) == "interrupted":
            raise JournalError("journal j.sqlite3 is busy: another process held it for 10 s")
        real(self, run_id, status, *args, **kwargs)

    monkeypatch.setattr(Journal, "finish_run", busy)

    async def main() -> str:
        venue = SimVenue.create(start=DAY1, seed=1, db_path=db)

        async def work(v: Any, journal: Journal, run_id: str) -> str:
            await v.clock.sleep_until(v.clock.now() + timedelta(minutes=5))
            return "finished"

        with Journal.open(db) as journal:
            try:
                run = asyncio.create_task(
                    journalled_run(
                        Job("order", {"x": 2}, work, lambda r: {"r": to_json(r)}),
                        venue,
                        journal,
                        broker_name="sim",
                        fresh_id=lambda: "r-stopped",
                    )
                )
                await venue.clock.sleep_until(venue.clock.now() + timedelta(seconds=1))
                run.cancel()
                try:
                    await run
                except asyncio.CancelledError:
                    return "stopped"
                except JournalError as exc:
                    return f"journal error: {exc}"
                return "finished"
            finally:
                await venue.close()

    assert run_virtual(main(), start=DAY1) == "stopped"
    with Journal.open(db) as journal:
        # Its locks were released all the same; only the run's end could not be recorded.
        assert journal._conn.execute("SELECT COUNT(*) FROM locks").fetchone()[0] == 0
