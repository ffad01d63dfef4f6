"""Kill -9 a real ``better-orders rebalance`` process at random points, restart it, check.

The simulator runs on virtual time, so a rebalance takes a fraction of a second of wall
time; ``BETTER_ORDERS_SIM_PACE`` slows it down (wall seconds per simulated second) so
that a kill lands inside the run: while orders are in flight, between a fill and its
journal record, during the restart's own reconciliation. The kill offsets are drawn
from a seeded generator and measured from the moment the process has opened its run in
the journal (so interpreter start-up does not eat them). Each restart runs the same
command: it reconciles the journal with the paper venue (whose orders and fills persist
in the same file) and resumes the interrupted run. At the end the run must be
complete, exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
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
#: Two portfolios to switch between, so every run has sells and buys to do.
PORTFOLIOS = (("SPY=0.3", "QQQ=0.3", "SOXL=0.3"), ("TQQQ=0.3", "IWM=0.3", "TLT=0.3"))
AT = "2026-11-24T10:00:00"
#: Ten wall seconds per simulated second: a run's ~0.1 s of orders take about a second.
PACE = "10"
#: Kills that must land inside a run (after it locked its run), and a bound on attempts.
KILLS = 6
ATTEMPTS = 40


def cli(db: Path, *args: str, pace: str | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop("BETTER_ORDERS_SIM_PACE", None)
    if pace is not None:
        env["BETTER_ORDERS_SIM_PACE"] = pace
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args, "--db", str(db), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def run_ok(db: Path, *args: str) -> dict[str, Any]:
    proc = cli(db, *args)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def holds_run_lock(db: Path, pid: int) -> bool:
    """Whether process ``pid`` has locked its run (read-only, without disturbing it)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM locks WHERE name LIKE 'run %' AND pid = ?", (pid,)
            ).fetchone()
    except sqlite3.Error:
        return False  # not created yet, or busy: ask again
    return bool(row[0])


def start_and_kill(db: Path, targets: tuple[str, ...], rng: random.Random) -> str:
    """Run the paced rebalance and kill -9 it at a random point.

    Half the kills count from the process start (they land in start-up or in the
    reconciliation), half from the moment it locked its run (they land in the run).
    Returns "in run", "early" or "finished" (it ended before the kill).
    """
    proc = cli(db, "rebalance", *targets, "--at", AT, pace=PACE)
    in_run = rng.random() < 0.5
    if in_run:
        deadline = time.monotonic() + 60
        # Poll the journal for the lock: waiting for a state, not for time to pass.
        while not holds_run_lock(db, proc.pid) and proc.poll() is None:
            assert time.monotonic() < deadline, "the rebalance never started its run"
            time.sleep(0.005)
        delay = rng.uniform(0.0, 1.0)
    else:
        delay = rng.uniform(0.3, 1.5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=delay)
    killed = proc.poll() is None
    if killed:
        proc.kill()
    proc.communicate(timeout=60)  # reap it: a zombie's pid would still look alive to the lock
    if not killed:
        assert proc.returncode == 0
        return "finished"
    return "in run" if in_run else "early"


@pytest.mark.slow
def test_killed_rebalances_finish_exactly_once_after_restarts(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite3"
    assert run_ok(db, "rebalance", *PORTFOLIOS[1], "--at", AT)["complete"] is True

    rng = random.Random(20261124)
    outcomes: Counter[str] = Counter()
    current = 0
    for _ in range(ATTEMPTS):
        outcome = start_and_kill(db, PORTFOLIOS[current], rng)
        outcomes[outcome] += 1
        if outcome == "finished":
            current = 1 - current  # that run is done: switch, so the next one has work
        if outcomes["in run"] >= KILLS:
            break
    assert outcomes["in run"] >= KILLS, outcomes

    final = run_ok(db, "rebalance", *PORTFOLIOS[current], "--at", AT)
    account = PaperAccount.load(db)
    venue_orders, venue_fills = load_venue_records(db)
    with Journal.open(db) as journal:
        runs = journal.find_runs(kind="rebalance")
        # Every killed run was resumed by the next start with its targets and completed.
        assert runs and all(r.status.value == "completed" for r in runs)
        for run in runs:
            for p in run_progress(journal, run.run_id):
                assert p.done_qty <= p.target_qty, (run.run_id, p)
                if p.side.value == "sell":
                    assert p.remaining_qty == 0, (run.run_id, p)

        # every venue fill is in the journal exactly once, and nothing else is
        ids = Counter(f.exec_id for f in journal.fills())
        assert set(ids) == {f.exec_id for f in venue_fills}
        assert max(ids.values()) == 1
        # the paper account holds exactly what the journal's fills add up to
        held = {s: p.qty for s, p in account.positions.items() if p.qty != 0}
        assert held == journal.positions_from_fills()
        # nothing open anywhere; no order at the venue the journal did not send first
        assert all(o.is_terminal for o in journal.orders())
        assert all(o.status.is_terminal for o in venue_orders)
        assert {o.client_order_id for o in venue_orders} <= {
            o.client_order_id for o in journal.orders()
        }
        for order in venue_orders:
            record = journal.get_order(order.client_order_id)
            assert record is not None and record.filled_qty == order.filled_qty
            assert order.filled_qty <= order.qty

    # the last portfolio was reached: the other one sold out, these close to weight
    weights = {r["symbol"]: Decimal(r["final_weight"]) for r in final["results"]}
    for word in PORTFOLIOS[1 - current]:
        assert weights.get(word.split("=")[0], Decimal(0)) == 0
    for word in PORTFOLIOS[current]:
        assert abs(weights[word.split("=")[0]] - Decimal("0.3")) <= Decimal("0.02")


def test_sim_pace_is_read_from_the_environment_and_checked() -> None:
    from better_orders.core.errors import InvalidInputError
    from better_orders.engine.in_sim import sim_pace

    assert sim_pace({}) is None
    assert sim_pace({"BETTER_ORDERS_SIM_PACE": "0.5"}) == 0.5
    for bad in ("0", "-1", "fast", "1000"):
        with pytest.raises(InvalidInputError, match="BETTER_ORDERS_SIM_PACE"):
            sim_pace({"BETTER_ORDERS_SIM_PACE": bad})
