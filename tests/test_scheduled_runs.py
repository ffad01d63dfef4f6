"""The scheduled runs table: one run per session, account and point, whoever asks and
however many ask at once."""

from __future__ import annotations

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
    "status", [ScheduledStatus.COMPLETED, ScheduledStatus.FAILED, ScheduledStatus.REFUSED]
)
def test_a_finished_run_is_never_run_again(tmp_path: Path, status: ScheduledStatus) -> None:
    owner = LockOwner.current()
    with ScheduledRuns.open(tmp_path / "j.sqlite3") as table:
        claim(table, owner)
        table.finish(KEY, owner, status, "done")
        with pytest.raises(AlreadyScheduledError, match="already ran") as refused:
            claim(table, LockOwner.current())
    assert not refused.value.running


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
