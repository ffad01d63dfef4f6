"""One writer per account, with real processes: conflicting commands, kills, resumes.

Each test runs ``better-orders`` in subprocesses on one journal file and checks the
outcome from the files themselves: the venue's executions (``sim_fills``), the
journal's fills, and the paper account. A process is paused with SIGSTOP while it
holds the account, so that a second command meets it mid-run whatever the machine's
speed, and killed with SIGKILL to stand for a crash.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from better_orders.store.journal import Journal
from better_orders.store.progress import run_progress
from better_orders.venues.sim.account import PaperAccount, load_venue_records

ENTRY = "from better_orders.cli.app import main; main()"
AT = "2026-11-24T09:30:00"
WIDE_BUDGET = {"BETTER_ORDERS_MAX_SLIPPAGE_BPS": "100", "BETTER_ORDERS_LEVERAGED_ETF_BPS": "100"}
#: Wall seconds per simulated second: the SOXL order's 90 s wait takes 4.5 s.
PACE = "0.05"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP and /proc are POSIX")


def start(db: Path, *args: str, pace: str | None = PACE) -> subprocess.Popen[str]:
    # TQQQ's open on this day runs 48 bps past its arrival mid: a budget wide enough to
    # complete, so the runs here are about one writer, not about the budget.
    env = {**os.environ, **WIDE_BUDGET}
    env.pop("BETTER_ORDERS_SIM_PACE", None)
    if pace is not None:
        env["BETTER_ORDERS_SIM_PACE"] = pace
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args, "--db", str(db), "--at", AT, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


def read(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the file without disturbing the processes writing it (empty until it exists)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.Error:
        return []


def wait_for(what: str, ready: Any, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        assert proc.poll() is None, f"the process ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def pause(proc: subprocess.Popen[str], db: Path) -> None:
    """SIGSTOP the process at a moment it is not inside a write transaction (a process
    stopped inside one would keep every other process out of the file, not only its run)."""
    for _ in range(200):
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            with sqlite3.connect(db, timeout=0.05, isolation_level=None) as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            conn.close()
            return
        except sqlite3.OperationalError:
            os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.01)
    raise AssertionError("the process never left its write transactions")


def holds_run(db: Path, proc: subprocess.Popen[str]) -> bool:
    """The process holds its run's lock and has journalled the run (it takes the lock
    first: paused between the two, its run would not be in the journal yet)."""
    locked = read(db, f"SELECT name FROM locks WHERE name LIKE 'run %' AND pid = {proc.pid}")
    return bool(locked) and bool(
        read(db, f"SELECT 1 FROM runs WHERE 'run ' || run_id = '{locked[0][0]}'")
    )


def venue_filled(db: Path) -> bool:
    return bool(read(db, "SELECT 1 FROM sim_fills"))


def check_books(db: Path) -> dict[str, Decimal]:
    """Nothing lost, nothing doubled: every venue execution is in the journal exactly once,
    the account holds exactly what the journal's fills add up to, nothing is left open."""
    _, venue_fills = load_venue_records(db)
    with Journal.open(db) as journal:
        counted = Counter(f.exec_id for f in journal.fills())
        assert set(counted) == {f.exec_id for f in venue_fills}
        assert not counted or max(counted.values()) == 1
        from_fills = journal.positions_from_fills()
        assert all(o.is_terminal for o in journal.orders())
        for run in journal.find_runs():
            for leg in run_progress(journal, run.run_id):
                assert leg.done_qty <= leg.target_qty, (run.run_id, leg)
    held = {s: p.qty for s, p in PaperAccount.load(db).positions.items()}
    assert held == from_fills
    return held


def test_a_second_order_on_a_busy_account_is_refused_naming_the_running_run(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.sqlite3"
    first = start(db, "order", "buy", "SOXL", "300")
    wait_for("the first order to start its run", lambda: holds_run(db, first), first)
    pause(first, db)  # mid-run, however fast the machine
    try:
        code, out, err = finish(start(db, "order", "buy", "TQQQ", "100", pace=None))
    finally:
        os.kill(first.pid, signal.SIGCONT)
    (run_id,) = read(db, "SELECT run_id FROM runs")[0]
    assert code == 7 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    for part in (
        "account sim paper is in use by",
        f"order run {run_id} (buy 300 SOXL)",
        f"process {first.pid} on host",
        " since 20",
        "--wait",
    ):
        assert part in err, err
    code, out, err = finish(first)
    assert code == 0, err
    assert json.loads(out)["report"]["filled_qty"] == "300"
    assert check_books(db) == {"SOXL": Decimal(300)}
    assert [r[0] for r in read(db, "SELECT kind FROM runs")] == ["order"]


def test_with_wait_the_second_command_queues_behind_the_first(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    first = start(db, "order", "buy", "SOXL", "300")
    wait_for("the first order to start its run", lambda: holds_run(db, first), first)
    # The run's row is written by the journal's writer thread: pause only once it is in.
    wait_for(
        "the first run in the journal", lambda: len(read(db, "SELECT run_id FROM runs")) == 1, first
    )
    pause(first, db)
    second = start(db, "order", "buy", "TQQQ", "100", "--wait", pace=None)
    try:
        time.sleep(3)  # the second one starts up and queues meanwhile
        assert second.poll() is None
        assert len(read(db, "SELECT run_id FROM runs")) == 1
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert finish(first)[0] == 0
    code, out, err = finish(second)
    assert code == 0, err
    assert json.loads(out)["report"]["filled_qty"] == "100"
    runs = read(db, "SELECT started_at, finished_at FROM runs ORDER BY started_at")
    assert runs[1][0] >= runs[0][1]  # serialised: the second began after the first ended
    assert check_books(db) == {"SOXL": Decimal(300), "TQQQ": Decimal(100)}


def test_two_different_rebalances_at_once_never_oversell(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    code, _, err = finish(start(db, "rebalance", "TQQQ=0.5", "SPY=0.4", pace=None))
    assert code == 0, err
    held = check_books(db)
    first = start(db, "rebalance", "SOXL=0.9")
    second = start(db, "rebalance", "SPY=0.9")
    results = [finish(first), finish(second)]
    codes = sorted(code for code, _, _ in results)
    # Serialised (both ran, one after the other) or the later one refused.
    assert codes in ([0, 0], [0, 7]), results
    for code, _, err in results:
        if code == 7:
            assert "account sim paper is in use by rebalance" in err, err
    # long only: nothing sold that was not held, by the journal's count as by the account's
    assert all(qty >= 0 for qty in check_books(db).values())
    assert held  # the first rebalance bought something the others could sell


def test_an_order_killed_mid_run_is_completed_by_the_same_command(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    args = ("order", "buy", "SOXL", "300", "--seed", "0")
    first = start(db, *args)
    wait_for("a first fill", lambda: venue_filled(db), first)
    first.kill()
    first.communicate(timeout=60)  # reaped: a zombie's pid would look alive
    _, venue_fills = load_venue_records(db)
    killed_with = sum((f.qty for f in venue_fills), Decimal(0))
    assert 0 < killed_with < 300
    assert read(db, "SELECT name FROM locks WHERE name LIKE 'account %'")  # left behind

    # Another order meanwhile: the dead process's account lock is taken over.
    code, _, err = finish(start(db, "order", "buy", "TQQQ", "100", pace=None))
    assert code == 0, err
    with Journal.open(db) as journal:  # only the dead process's own locks are left, dead
        names = [name for (name,) in read(db, "SELECT name FROM locks")]
        assert all(journal.live_lock(name) is None for name in names)

    # The same command again completes only what the killed run left.
    code, out, err = finish(start(db, *args, pace=None))
    assert code == 0, err
    report = json.loads(out)["report"]
    assert any(n.startswith("resumed run") for n in report["notes"]), report["notes"]
    assert Decimal(report["requested_qty"]) == 300 - killed_with
    assert check_books(db) == {"SOXL": Decimal(300), "TQQQ": Decimal(100)}
    assert sorted(read(db, "SELECT status FROM runs")) == [("completed",), ("completed",)]


def test_a_rebalance_killed_mid_run_finishes_its_plan_when_run_again(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    targets = ("TQQQ=0.3", "SPY=0.3", "SOXL=0.3")
    first = start(db, "rebalance", *targets)
    wait_for("a first fill", lambda: venue_filled(db), first)
    first.kill()
    first.communicate(timeout=60)
    code, out, err = finish(start(db, "rebalance", *targets, pace=None))
    assert code == 0, err
    report = json.loads(out)
    assert report["complete"] is True
    assert any(n.startswith("resuming run") for n in report["notes"]), report["notes"]
    check_books(db)
    with Journal.open(db) as journal:
        (run,) = journal.find_runs()
        assert run.status.value == "completed"
        legs = run_progress(journal, run.run_id)
    assert legs and all(leg.done_qty == leg.target_qty for leg in legs), legs
