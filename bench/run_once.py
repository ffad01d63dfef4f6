"""N processes start the same session's scheduled run at once: how many runs come of it.

Each attempt is a separate process (forked from this one once the command is imported,
so that they all reach the journal together rather than one interpreter start-up
apart) running ``better-orders run --once`` for the same session, account and point
on one journal file. They are released together by a barrier. Exactly one must run;
every other must be refused with one line naming that run.

    .venv/bin/python bench/run_once.py [--attempts 50]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing as mp
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SESSION_POINT = "close-15m"
#: The day after Thanksgiving 2026 closes at 13:00, so close-15m is 12:45 ET.
NOW = "2026-11-27T12:45:00"


@dataclass(frozen=True, slots=True)
class RaceResult:
    attempts: int
    #: Exit code of each attempt.
    codes: list[int]
    #: The one line each refused attempt printed.
    refusals: list[str]
    #: Rows of the journal's scheduled_runs table and rebalance runs in its runs table.
    scheduled_rows: int
    journal_runs: list[str]
    wall_seconds: float


#: One attempt, in its own process: (exit code, the line it printed on stderr).
Attempt = Callable[[], tuple[int, str]]


def cli_attempt(args: list[str]) -> Attempt:
    """An attempt that runs ``better-orders ARGS`` (in the forked process)."""
    from better_orders.cli.app import main  # imported here, inherited by every fork

    def attempt() -> tuple[int, str]:
        code, err = 0, io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            try:
                main(args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return code, err.getvalue().strip()

    return attempt


def once_args(db: Path, targets: Path) -> list[str]:
    """``run --once`` for the close-15m run of 2026-11-27, on the simulator."""
    args = ["run", "--at", SESSION_POINT, "--targets", str(targets), "--once"]
    return [*args, "--now", NOW, "--db", str(db), "--json"]


def _attempt(attempt: Attempt, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        results.put(attempt())
    except BaseException as exc:
        results.put((99, f"{type(exc).__name__}: {exc}"))


def race(attempts: int, db: Path, attempt: Attempt) -> RaceResult:
    """``attempts`` forked processes run ``attempt`` together, released by a barrier."""
    from better_orders.core.market_calendar import default_calendar

    default_calendar()  # built once here, inherited by every fork
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(attempts)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_attempt, args=(attempt, barrier, results)) for _ in range(attempts)
    ]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=900) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    wall = time.perf_counter() - started
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM scheduled_runs").fetchone()[0]
        runs = [r[0] for r in conn.execute("SELECT run_id FROM runs WHERE kind = 'rebalance'")]
    return RaceResult(
        attempts=attempts,
        codes=[code for code, _ in outcomes],
        refusals=[line for code, line in outcomes if code != 0],
        scheduled_rows=rows,
        journal_runs=runs,
        wall_seconds=wall,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=50)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        targets = Path(tmp) / "targets.toml"
        targets.write_text("[targets]\nSPY = 0.5\nTQQQ = 0.4\n", encoding="utf-8")
        db = Path(tmp) / "journal.sqlite3"
        result = race(opts.attempts, db, cli_attempt(once_args(db, targets)))
    ran = sum(1 for code in result.codes if code == 0)
    print(
        f"{result.attempts} concurrent attempts at the {SESSION_POINT} run of 2026-11-27: "
        f"{ran} ran, {len(result.refusals)} refused; "
        f"{result.scheduled_rows} scheduled run row(s), {len(result.journal_runs)} rebalance "
        f"run(s) in the journal; wall {result.wall_seconds:.1f} s"
    )
    print(f"exit codes: {dict(sorted(Counter(result.codes).items()))}")
    if result.refusals:
        print(f"a refusal: {result.refusals[0]}")
    if ran != 1 or len(result.journal_runs) != 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
