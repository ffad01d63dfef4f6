"""``better-orders run`` on the simulator's virtual clock: when runs fire, exactly once,
what refuses them, and a clean stop by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from better_orders.store.journal import Journal
from better_orders.store.records import RunStatus
from better_orders.store.scheduled_runs import ScheduledRuns, ScheduledStatus
from cli_runner import run_cli

NY = ZoneInfo("America/New_York")
ENTRY = "from better_orders.cli.app import main; main()"


@pytest.fixture
def targets(tmp_path: Path) -> Path:
    path = tmp_path / "targets.toml"
    path.write_text("[targets]\nSPY = 0.5\nTQQQ = 0.4\n", encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli(["run", *args, "--json"], capsys)
    return code, (json.loads(out) if out.strip() else {}), err


def rebalance_runs(db: Path) -> list[str]:
    with Journal.open(db) as journal:
        return [r.run_id for r in journal.find_runs(kind="rebalance")]


def fired_once_at(
    capsys: pytest.CaptureFixture[str],
    db: Path,
    targets: Path,
    point: str,
    now: str,
    sessions: int = 1,
) -> dict[str, Any]:
    """Run the long-lived scheduler from ``now`` for ``sessions``; the one run it made."""
    code, data, err = run_json(
        capsys, "--at", point, "--targets", str(targets), "--now", now,
        "--runs", str(sessions), "--db", str(db),
    )  # fmt: skip
    assert code == 0, err
    (outcome,) = data["runs"]
    assert outcome["status"] == "completed"
    return outcome  # type: ignore[no-any-return]


def test_close_minus_15m_fires_at_12_45_on_the_early_close_day_exactly_once(
    capsys: pytest.CaptureFixture[str], db: Path, targets: Path
) -> None:
    outcome = fired_once_at(capsys, db, targets, "close-15m", "2026-11-27T08:00:00")
    at = datetime(2026, 11, 27, 12, 45, tzinfo=NY)
    assert datetime.fromisoformat(outcome["scheduled_for"]) == at
    assert outcome["run_id"].startswith("20261127T124500-")
    with Journal.open(db) as journal:
        fills = journal.fills(run_id=outcome["run_id"])
    assert fills and all(at <= f.ts < datetime(2026, 11, 27, 13, 0, tzinfo=NY) for f in fills)
    # A second scheduler, or the job retried, for the same session: refused, naming the run.
    for now in ("2026-11-27T12:45:00", "2026-11-27T12:55:00"):
        code, _out, err = run_cli(
            ["run", "--at", "close-15m", "--targets", str(targets), "--once", "--now", now,
             "--db", str(db)],
            capsys,
        )  # fmt: skip
        assert code != 0
        assert err.strip().count("\n") == 0
        assert outcome["run_id"] in err and "already ran" in err and "process" in err
    assert rebalance_runs(db) == [outcome["run_id"]]
    with ScheduledRuns.open(db) as table:
        assert [r.run_id for r in table.runs()] == [outcome["run_id"]]


@pytest.mark.parametrize(
    ("now", "fires_utc"),
    [
        # The first sessions after the spring and autumn changes (checked against the
        # calendar in test_schedule.py): the open moves an hour in UTC.
        ("2026-03-06T17:00:00", datetime(2026, 3, 9, 13, 30, tzinfo=UTC)),
        ("2026-10-30T17:00:00", datetime(2026, 11, 2, 14, 30, tzinfo=UTC)),
    ],
)
def test_the_open_fires_at_the_right_instant_on_dst_change_days(
    capsys: pytest.CaptureFixture[str], db: Path, targets: Path, now: str, fires_utc: datetime
) -> None:
    outcome = fired_once_at(capsys, db, targets, "open", now)
    assert datetime.fromisoformat(outcome["scheduled_for"]) == fires_utc
    with Journal.open(db) as journal:
        first_fill = min(f.ts for f in journal.fills(run_id=outcome["run_id"]))
    assert first_fill >= fires_utc
    # Restarted from the same moment for two sessions, the scheduler skips the one
    # that ran and runs the next: still one run for the DST day.
    again = fired_once_at(capsys, db, targets, "open", now, sessions=2)
    assert datetime.fromisoformat(again["session"]) > datetime.fromisoformat(outcome["session"])
    assert len(rebalance_runs(db)) == 2


def test_once_before_the_time_says_when_the_next_run_is(
    capsys: pytest.CaptureFixture[str], db: Path, targets: Path
) -> None:
    code, out, err = run_cli(
        ["run", "--at", "open+15m", "--targets", str(targets), "--once",
         "--now", "2026-11-27T09:00:00", "--db", str(db)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "next open+15m run: Fri 2026-11-27 09:45:00 ET (14:45 UTC)" in out
    assert not db.exists() or rebalance_runs(db) == []


def test_once_on_a_holiday_says_the_exchange_is_closed_and_when_the_next_run_is(
    capsys: pytest.CaptureFixture[str], db: Path, targets: Path
) -> None:
    args = ["run", "--at", "close-15m", "--targets", str(targets), "--once",
            "--now", "2026-11-26T15:45:00", "--db", str(db)]  # fmt: skip
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "no session today (Thu 2026-11-26): the exchange is closed" in out
    code, data, err = run_json(capsys, *args[1:])
    assert code == 0 and data["runs"] == [], err
    assert data["next"]["session"] == "2026-11-27"
    assert data["next"]["at_utc"].startswith("2026-11-27T17:45:00")


def test_once_started_a_moment_early_waits_for_its_run(
    capsys: pytest.CaptureFixture[str], db: Path, targets: Path
) -> None:
    # A timer that fires a little early, or a host clock a little behind, must not skip
    # the day: cron would not start the job again until the next session.
    code, data, err = run_json(
        capsys, "--at", "close-15m", "--targets", str(targets), "--once",
        "--now", "2026-11-27T12:44:30", "--db", str(db),
    )  # fmt: skip
    assert code == 0, err
    (run,) = data["runs"]
    assert run["status"] == "completed" and run["session"] == "2026-11-27"
    assert run["run_id"].startswith("20261127T124500-")


def test_dry_run_previews_the_next_runs_and_their_plans(
    capsys: pytest.CaptureFixture[str], db: Path, targets: Path
) -> None:
    code, data, err = run_json(
        capsys, "--at", "close-15m", "--targets", str(targets), "--dry-run", "--runs", "3",
        "--now", "2026-11-25T16:30:00", "--db", str(db),
    )  # fmt: skip
    assert code == 0, err
    runs = data["runs"]
    assert [r["session"] for r in runs] == ["2026-11-27", "2026-11-30", "2026-12-01"]
    assert runs[0]["at_et"].startswith("2026-11-27T12:45:00") and runs[0]["early_close"]
    assert runs[1]["at_utc"].startswith("2026-11-30T20:45:00")
    assert all(r["plan"]["trades"] and r["refused"] is None for r in runs)
    assert rebalance_runs(db) == []


def test_dry_run_says_which_runs_would_be_refused(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db: Path,
    targets: Path,
    tmp_path: Path,
) -> None:
    args = ["--at", "close-15m", "--targets", str(targets), "--db", str(db)]
    code, _data, err = run_json(capsys, *args, "--once", "--now", "2026-11-27T12:45:00")
    assert code == 0, err
    code, data, err = run_json(capsys, *args, "--dry-run", "--runs", "2",
                               "--now", "2026-11-27T12:50:00")  # fmt: skip
    assert code == 0, err
    ran, nxt = data["runs"]
    assert ran["session"] == "2026-11-27" and "already ran" in (ran["refused"] or "")
    assert nxt["session"] == "2026-11-30" and nxt["refused"] is None and nxt["plan"]
    switch = tmp_path / "stop"
    switch.touch()
    monkeypatch.setenv("BETTER_ORDERS_KILL_SWITCH", str(switch))
    code, data, err = run_json(capsys, *args, "--dry-run", "--runs", "2",
                               "--now", "2026-11-27T16:30:00")  # fmt: skip
    assert code == 0, err
    assert all("kill switch" in (r["refused"] or "") for r in data["runs"])


def test_targets_from_a_command_and_failing_or_silent_commands(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    strategy = tmp_path / "strategy.py"
    strategy.write_text(
        'import json\nprint(json.dumps({"as_of": "2026-11-27T12:30:00", '
        '"targets": {"SPY": 0.3, "QQQ": 0.3}}))\n',
        encoding="utf-8",
    )
    base = ["--at", "close-15m", "--once", "--now", "2026-11-27T12:45:00", "--db", str(db)]
    code, data, err = run_json(
        capsys, "--targets-cmd", f"{sys.executable} {strategy}", "--max-target-age", "1h", *base
    )
    assert code == 0, err
    assert data["runs"][0]["status"] == "completed"
    symbols = {r["symbol"] for r in data["runs"][0]["report"]["results"]}
    assert symbols == {"QQQ", "SPY"}

    for command, problem in (
        (f"{sys.executable} -c 'import sys; sys.exit(3)'", "failed with exit code 3"),
        (f"{sys.executable} -c 'pass'", "printed nothing"),
    ):
        db.unlink()
        code, _out, err = run_cli(["run", "--targets-cmd", command, *base], capsys)
        assert code != 0 and problem in err
        assert rebalance_runs(db) == []
        with ScheduledRuns.open(db) as table:
            assert table.runs()[0].status is ScheduledStatus.REFUSED


def test_stale_targets_are_refused(
    capsys: pytest.CaptureFixture[str], db: Path, targets: Path
) -> None:
    written = datetime(2026, 11, 26, 9, 0, tzinfo=NY).timestamp()
    os.utime(targets, (written, written))
    code, _out, err = run_cli(
        ["run", "--at", "close-15m", "--targets", str(targets), "--once",
         "--now", "2026-11-27T12:45:00", "--db", str(db), "--max-target-age", "20h"],
        capsys,
    )  # fmt: skip
    assert code == 6
    assert "guard max_target_age" in err and "1d 3h" in err and err.strip().count("\n") == 0
    assert rebalance_runs(db) == []


@pytest.mark.parametrize(
    ("flags", "env", "guard"),
    [
        (["--max-deployed", "0.8"], {}, "guard max_deployed"),
        (["--max-turnover", "50%"], {}, "guard max_turnover"),
        ([], {"BETTER_ORDERS_GUARDS__MAX_DEPLOYED": "0.85"}, "guard max_deployed"),
        ([], {"BETTER_ORDERS_RISK__MAX_RUN_NOTIONAL": "60000"}, "max_run_notional"),
    ],
)
def test_a_guard_refuses_the_whole_run_before_any_order(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db: Path,
    targets: Path,
    flags: list[str],
    env: dict[str, str],
    guard: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _out, err = run_cli(
        ["run", "--at", "close-15m", "--targets", str(targets), "--once",
         "--now", "2026-11-27T12:45:00", "--db", str(db), *flags],
        capsys,
    )  # fmt: skip
    assert code == 6, err
    assert guard in err and "no order sent" in err and err.strip().count("\n") == 0
    with Journal.open(db) as journal:
        assert journal.orders() == []
    with ScheduledRuns.open(db) as table:
        assert table.runs()[0].status is ScheduledStatus.REFUSED


def test_the_kill_switch_refuses_a_scheduled_run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db: Path,
    targets: Path,
    tmp_path: Path,
) -> None:
    switch = tmp_path / "stop"
    switch.touch()
    monkeypatch.setenv("BETTER_ORDERS_KILL_SWITCH", str(switch))
    code, _out, err = run_cli(
        ["run", "--at", "close-15m", "--targets", str(targets), "--once",
         "--now", "2026-11-27T12:45:00", "--db", str(db)],
        capsys,
    )  # fmt: skip
    assert code == 6 and "kill switch" in err
    with ScheduledRuns.open(db) as table:
        assert table.runs()[0].status is ScheduledStatus.REFUSED
    # The switch off again ("rm the file: trade again"), the same session's run trades.
    switch.unlink()
    args = ["--at", "close-15m", "--targets", str(targets), "--once", "--db", str(db)]
    code, data, err = run_json(capsys, *args, "--now", "2026-11-27T12:50:00")
    assert code == 0, err
    (run,) = data["runs"]
    assert run["status"] == "completed"
    with ScheduledRuns.open(db) as table:
        (row,) = table.runs()
    assert row.status is ScheduledStatus.COMPLETED and row.attempts == 2
    assert rebalance_runs(db) == [row.run_id]
    code, _data, err = run_json(capsys, *args, "--now", "2026-11-27T12:55:00")
    assert code != 0 and "already ran" in err  # and then, as ever, only once


def test_rebalance_takes_the_guards_too(
    capsys: pytest.CaptureFixture[str], db: Path, targets: Path
) -> None:
    args = ["rebalance", "--targets", str(targets), "--at", "2026-11-24T10:00:00"]
    code, _out, err = run_cli([*args, "--db", str(db), "--max-deployed", "0.5"], capsys)
    assert code == 6 and "guard max_deployed" in err
    written = datetime(2026, 11, 20, 9, 0, tzinfo=NY).timestamp()
    os.utime(targets, (written, written))
    code, _out, err = run_cli([*args, "--db", str(db), "--max-target-age", "2d"], capsys)
    assert code == 6 and "guard max_target_age" in err
    with Journal.open(db) as journal:
        assert journal.orders() == []


def _journal_orders(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_sigterm_cancels_live_orders_and_records_the_run_interrupted(
    db: Path, targets: Path
) -> None:
    # Paced at one wall second per simulated second, the opening waits last long enough
    # for the signal to land while orders are working.
    # TQQQ's open on this day runs 48 bps past its arrival mid: a budget wide enough to
    # complete, so the run is stopped by the signal, not by the budget.
    env = {**os.environ, "BETTER_ORDERS_SIM_PACE": "1", "BETTER_ORDERS_MAX_SLIPPAGE_BPS": "100"}
    env["BETTER_ORDERS_LEVERAGED_ETF_BPS"] = "100"
    args = ["run", "--at", "open", "--targets", str(targets), "--once",
            "--now", "2026-11-24T09:30:00", "--db", str(db)]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while _journal_orders(db) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err
    with ScheduledRuns.open(db) as table:
        (row,) = table.runs()
    assert row.status is ScheduledStatus.INTERRUPTED
    assert row.detail is not None and "open orders cancelled" in row.detail
    with Journal.open(db) as journal:
        run = journal.get_run(row.run_id)
        assert run is not None and run.status is RunStatus.INTERRUPTED
        assert journal.orders(open_only=True) == []
    # The same job started again resumes that run, with its run id, to the end.
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in env.items() if k != "BETTER_ORDERS_SIM_PACE"},
    )
    assert done.returncode == 0, done.stderr
    with ScheduledRuns.open(db) as table:
        (row,) = table.runs()
    assert row.status is ScheduledStatus.COMPLETED and row.attempts == 2
    assert rebalance_runs(db) == [row.run_id]


def test_sigterm_while_waiting_for_the_next_run_is_an_ordinary_stop(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db: Path, targets: Path
) -> None:
    from better_orders.engine.scheduler import VirtualClock

    def signalled(self: VirtualClock, when: datetime) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this

    monkeypatch.setattr(VirtualClock, "sleep_until", signalled)
    code, _out, err = run_cli(
        ["run", "--at", "close-15m", "--targets", str(targets), "--runs", "1",
         "--now", "2026-11-25T16:30:00", "--db", str(db)],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert "stopped by SIGTERM while waiting for the next run" in err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
