"""The scheduled runs table: one run per session, account and point, whoever asks and
however many ask at once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bench_modules import load_bench
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import JournalError
from better_orders.core.guards import GuardLimits
from better_orders.core.schedule import SchedulePoint
from better_orders.engine.alerts import Alerts
from better_orders.engine.commands import VenueChoice
from better_orders.engine.scheduled_run import ScheduledJob, TargetsSource
from better_orders.engine.scheduler import Scheduler, VirtualClock
from better_orders.store.locks import LockOwner
from better_orders.store.scheduled_runs import (
    AlreadyScheduledError,
    Claim,
    ScheduledRuns,
    ScheduledStatus,
    ScheduleKey,
    claim_lock_name,
)

NY = ZoneInfo("America/New_York")
KEY = ScheduleKey(date(2026, 11, 27), "sim paper", "close-15m")
AT = datetime(2026, 11, 27, 12, 45, tzinfo=NY)


def claim(table: ScheduledRuns, owner: LockOwner, run_id: str = "20261127T124500-aaaa") -> Claim:
    return table.claim(KEY, owner, run_id=run_id, scheduled_for=AT, fired_at=AT)


def dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_the_first_claim_wins_and_a_second_is_refused_naming_it(tmp_path: Path) -> None:
    with ScheduledRuns.open(tmp_path / "j.sqlite3") as table:
        first = claim(table, LockOwner.current())
        assert not first.takeover and first.run.status is ScheduledStatus.RUNNING
        with pytest.raises(AlreadyScheduledError) as refused:
            claim(table, LockOwner.current(), run_id="20261127T124500-bbbb")
    message = str(refused.value)
    assert refused.value.running
    assert "20261127T124500-aaaa" in message and "Fri 2026-11-27 12:45:00 ET" in message
    assert "process" in message and "host" in message and "\n" not in message
    assert refused.value.exit_code != 0


@pytest.mark.parametrize(
    "status", [ScheduledStatus.COMPLETED, ScheduledStatus.INCOMPLETE, ScheduledStatus.FAILED]
)
def test_a_finished_run_is_never_run_again(tmp_path: Path, status: ScheduledStatus) -> None:
    owner = LockOwner.current()
    with ScheduledRuns.open(tmp_path / "j.sqlite3") as table:
        claim(table, owner)
        table.finish(KEY, owner, status, "done")
        with pytest.raises(AlreadyScheduledError, match="already ran") as refused:
            claim(table, LockOwner.current())
    assert not refused.value.running


def test_a_refused_run_is_claimed_again_as_a_new_run(tmp_path: Path) -> None:
    # Refused before any order (the kill switch on, stale targets): once that is fixed,
    # starting it again that session trades, under a new run id, exactly once.
    first = LockOwner.current()
    with ScheduledRuns.open(tmp_path / "j.sqlite3") as table:
        claim(table, first)
        table.finish(KEY, first, ScheduledStatus.REFUSED, "kill switch on")
        second = LockOwner.current()
        again = claim(table, second, run_id="20261127T125000-bbbb")
        with pytest.raises(AlreadyScheduledError, match="is running"):
            claim(table, LockOwner.current(), run_id="20261127T125000-cccc")
        table.finish(KEY, second, ScheduledStatus.COMPLETED, "traded")
        with pytest.raises(AlreadyScheduledError, match="already ran"):
            claim(table, LockOwner.current(), run_id="20261127T125500-dddd")
    assert not again.takeover and again.run.run_id == "20261127T125000-bbbb"
    assert again.run.attempts == 2 and again.previous is not None
    assert again.previous.status is ScheduledStatus.REFUSED


def test_a_crashed_or_interrupted_run_is_taken_over_with_its_run_id(tmp_path: Path) -> None:
    gone = LockOwner(dead_pid(), LockOwner.current().host, "dead")
    with ScheduledRuns.open(tmp_path / "j.sqlite3") as table:
        claim(table, gone)
        mine = LockOwner.current()
        taken = claim(table, mine, run_id="20261127T124500-cccc")
        assert taken.takeover and taken.run.run_id == "20261127T124500-aaaa"
        assert taken.run.attempts == 2 and taken.run.owner == mine
        table.finish(KEY, mine, ScheduledStatus.INTERRUPTED, "stopped")
        again = claim(table, LockOwner.current())
        assert again.takeover and again.run.attempts == 3
        with pytest.raises(JournalError, match="no longer held"):
            table.finish(KEY, mine, ScheduledStatus.COMPLETED, "late")


def test_a_claimer_whose_pid_lives_on_but_stopped_renewing_its_claim_is_taken_over(
    tmp_path: Path,
) -> None:
    # A container restarted after a crash: its new process has the crashed one's pid (1 in
    # a container; here this test's own, which is alive), so only the claim's heartbeat
    # tells the crashed claimer from a live one.
    db = tmp_path / "j.sqlite3"
    crashed = LockOwner(os.getpid(), LockOwner.current().host, "before-restart")
    with ScheduledRuns.open(db, clock=lambda: datetime(2026, 11, 27, 17, 45, tzinfo=UTC)) as t:
        claim(t, crashed)
    one_minute_on = datetime(2026, 11, 27, 17, 46, tzinfo=UTC)
    with (
        ScheduledRuns.open(db, clock=lambda: one_minute_on) as table,
        pytest.raises(AlreadyScheduledError, match="is running"),
    ):
        claim(table, LockOwner.current())  # its heartbeat is fresh: it may be alive
    three_minutes_on = datetime(2026, 11, 27, 17, 48, tzinfo=UTC)
    with ScheduledRuns.open(db, clock=lambda: three_minutes_on) as table:
        mine = LockOwner.current()
        taken = claim(table, mine)
        with pytest.raises(AlreadyScheduledError, match="is running"):
            claim(table, LockOwner.current())  # and now the new claimer holds it
        table.finish(KEY, mine, ScheduledStatus.COMPLETED, "done")
        assert table.get_lock(claim_lock_name(KEY)) is None  # released with the outcome
    assert taken.takeover and taken.run.run_id == "20261127T124500-aaaa"
    assert taken.run.owner == mine and taken.run.attempts == 2


def test_a_claim_on_a_host_that_is_gone_is_taken_over_once_its_heartbeat_is_stale(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.sqlite3"
    elsewhere = LockOwner(4242, "old-container-3f2a", "gone")
    with ScheduledRuns.open(db, clock=lambda: datetime(2026, 11, 27, 17, 45, tzinfo=UTC)) as t:
        claim(t, elsewhere)
    later = datetime(2026, 11, 27, 17, 47, 1, tzinfo=UTC)
    with ScheduledRuns.open(db, clock=lambda: later) as table:
        assert claim(table, LockOwner.current()).takeover


def _scheduler_attempt(db: Path, targets: Path) -> Callable[[], tuple[int, str]]:
    def attempt() -> tuple[int, str]:
        job = ScheduledJob(
            point=SchedulePoint.parse("close-15m"),
            targets=TargetsSource(targets),
            venue=VenueChoice(),
            db=db,
            config=BetterOrdersConfig(),
            guards=GuardLimits(),
            account="sim paper",
        )
        clock = VirtualClock(AT.astimezone(UTC))
        try:
            outcome = Scheduler(job, clock, Alerts([])).once()
        except AlreadyScheduledError as exc:
            return exc.exit_code, str(exc)
        assert outcome is not None
        return outcome.exit_code, outcome.message

    return attempt


def test_fifty_processes_starting_the_same_session_make_exactly_one_run(tmp_path: Path) -> None:
    bench = load_bench("run_once")
    targets = tmp_path / "targets.toml"
    targets.write_text("[targets]\nSPY = 0.5\nTQQQ = 0.4\n", encoding="utf-8")
    db = tmp_path / "journal.sqlite3"
    result = bench.race(50, db, _scheduler_attempt(db, targets))
    assert sorted(result.codes).count(0) == 1, result.refusals[:3]
    assert len(result.refusals) == 49
    assert all("20261127T124500-" in line for line in result.refusals)
    assert result.scheduled_rows == 1 and len(result.journal_runs) == 1
    with ScheduledRuns.open(db) as table:
        (row,) = table.runs()
    assert row.status is ScheduledStatus.COMPLETED
    assert row.run_id == result.journal_runs[0]


def test_a_run_done_before_its_process_stopped_is_recorded_as_done_not_run_again(
    tmp_path: Path,
) -> None:
    # The process died after the journal closed the run, before its row said so: the
    # next attempt takes the row over, finds the run done and sends nothing.
    import sqlite3

    from better_orders.store.journal import Journal

    targets = tmp_path / "targets.toml"
    targets.write_text("[targets]\nSPY = 0.5\n", encoding="utf-8")
    db = tmp_path / "journal.sqlite3"
    attempt = _scheduler_attempt(db, targets)
    assert attempt()[0] == 0
    with Journal.open(db) as journal:
        sent = journal.orders()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE scheduled_runs SET status = 'running', finished_at = NULL, pid = ?",
            (dead_pid(),),
        )
    code, message = attempt()
    assert (code, message) == (0, "done before its process stopped; nothing sent again")
    with Journal.open(db) as journal:
        assert journal.orders() == sent
    with ScheduledRuns.open(db) as table:
        (row,) = table.runs()
    assert row.status is ScheduledStatus.COMPLETED and row.attempts == 2


def test_a_resumed_runs_summary_says_what_the_whole_run_traded(tmp_path: Path) -> None:
    from decimal import Decimal

    from better_orders.core.model import Fill, Side
    from better_orders.engine.rebalance import RebalanceReport
    from better_orders.engine.scheduled_run import _summary
    from better_orders.store.journal import Journal

    db = tmp_path / "j.sqlite3"
    with Journal.open(db) as journal:
        journal.start_run("r1", "rebalance", {}, "sim")
        for n, (qty, price) in enumerate([("10", "100.00"), ("5", "50.00")]):
            fill = Fill(f"e{n}", f"c{n}", "SPY", Side.BUY, Decimal(qty), Decimal(price), AT)
            journal.record_fill(fill, run_id="r1")
    report = RebalanceReport(run_id="r1", plan=None, dry_run=False)  # type: ignore[arg-type]
    assert _summary(report) == "traded $0.00"
    assert _summary(report, db) == "traded $1,250.00 in all; resumed, this attempt traded $0.00"
