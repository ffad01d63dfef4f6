"""The independent fault campaign: file journals, real kills, invariants from the venue.

    python bench/fault_campaign.py [--runs 20000] [--kill-share 0.05] [--seed 1] [--jobs 2]
                                   [--dir DIR]

Each run is one seeded scenario (``campaign_scenario``): an account on a fresh SQLite
journal file, then one ``order`` or ``rebalance`` command on the simulator, run again
(the same command) until its run completes, as a user would after a crash or a failure.
The journal files of runs with kills are on the disk, the others on a memory-backed file
system when there is one (``JournalDirs``; ``--dir`` puts them all in DIR).

- **In-process runs** (the bulk): the command's first attempts meet random faults
  (429/5xx answers, lost submit responses, partial fills, dropped, duplicated and
  delayed updates, fills racing cancels; in a fifth of the runs also rejects and
  refused buying power); a failed attempt is followed by the same command again, and
  after two faulted attempts by clean ones (the broker recovered).
- **Runs with real kills** (``--kill-share`` of them): each attempt is a child forked
  from the worker process (``campaign_kills``) and killed with SIGKILL, up to three times:
  at the N-th of its kill points (before and after an order reaches the venue, a
  cancel, a journal write, the venue saving executions), at the k-th time an order
  has reached the venue but its answer is not yet journalled, or after a random wall
  delay. Then the same command runs until it completes.

After each run ``campaign_ledger`` checks, from the venue's own records: cash moved
exactly by the executions, positions are what was held plus the executions, nothing
open at the venue, no leg beyond its planned size, every leg exactly at its size when
the faults allowed it (always after kills), one run that completed, and every venue
order and execution in the journal exactly once. The campaign prints the runs, the
kills by point, the faults injected, the violations (there must be none; each is
listed), the wall time and the load average; it exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from better_orders.core.market_calendar import default_calendar
from campaign_kills import AFTER_SEND, killed_attempt
from campaign_ledger import check, check_after_kill
from campaign_scenario import Scenario, attempt, draw, prepare

#: Faulted attempts of a command before the broker "recovers", and clean ones after.
FAULTED_ATTEMPTS = 2
CLEAN_ATTEMPTS = 2
MAX_KILLS = 3
#: Kill points a first attempt typically passes (a countdown is drawn up to this).
KILL_POINTS_PER_ATTEMPT = 45
#: Runs done before any fork, to warm the process the others are forked from.
WARM_UP_RUNS = 4
#: Runs with real kills: about two kills each, so 20,000 runs kill some 1,900 processes.
KILL_SHARE = 0.05


@dataclass(slots=True)
class CampaignResult:
    runs: int = 0
    in_process_runs: int = 0
    kill_runs: int = 0
    kills: int = 0
    kill_points: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    #: Runs whose command had to be run again (after a kill or a failed attempt).
    resumed_runs: int = 0
    failed_attempts: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    #: The machine's 1-minute load average, sampled as the chunks came in.
    load: list[float] = field(default_factory=list)

    def merge(self, other: CampaignResult) -> None:
        for name in ("runs", "in_process_runs", "kill_runs", "kills", "attempts", "resumed_runs"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("kill_points", "failed_attempts", "faults"):
            getattr(self, name).update(getattr(other, name))
        self.violations.extend(other.violations)


def is_kill_run(index: int, seed: int, kill_share: float) -> bool:
    return random.Random(f"kill:{seed}:{index}").random() < kill_share


@dataclass(frozen=True, slots=True)
class JournalDirs:
    """Where the journal files go: those of runs with kills on the disk (a kill may land
    while SQLite waits for a commit to reach it), the others where nothing waits for the
    disk (nothing kills them, so a sync would protect nothing: a memory-backed file system
    if there is one; the same SQLite files, write-ahead log and locks)."""

    killed: Path
    in_process: Path

    @classmethod
    def make(cls, root: Path | None) -> JournalDirs:
        """New folders in ``root``, or in the defaults above."""
        shm = Path("/dev/shm")
        memory = shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None
        return cls(
            Path(tempfile.mkdtemp(prefix="fault-campaign-", dir=root)),
            Path(tempfile.mkdtemp(prefix="fault-campaign-", dir=root or memory)),
        )

    def remove(self) -> None:
        for path in (self.killed, self.in_process):
            shutil.rmtree(path, ignore_errors=True)


def one_run(index: int, seed: int, kill_share: float, dirs: JournalDirs) -> CampaignResult:
    """Scenario ``index``: its attempts, then the invariants."""
    kills = is_kill_run(index, seed, kill_share)
    sc = draw(index, seed, killed=kills)
    root = dirs.killed if kills else dirs.in_process
    db = root / f"run{index}.sqlite3"
    res = CampaignResult(runs=1)
    try:
        prepare(sc, db)
        if kills:
            res.kill_runs = 1
            done = _killed_attempts(sc, db, res)
            report = None
            if not done:
                _settle(sc, db, res, faulted=1)
        else:
            res.in_process_runs = 1
            report = _settle(sc, db, res, faulted=FAULTED_ATTEMPTS)
            if res.attempts > 1:
                report = None  # a resumed leg's report covers only what it did itself
        res.violations.extend(check(sc, db, finished=sc.strict, report=report))
    except Exception as exc:  # a run that raised is a finding: report it, go on
        res.violations.append(f"raised {exc!r}")
    finally:
        for path in root.glob(f"{db.name}*"):
            path.unlink()
    res.resumed_runs = 1 if res.attempts > 1 else 0
    res.violations = [f"run {index} ({_describe(sc)}): {v}" for v in res.violations]
    return res


def _describe(sc: Scenario) -> str:
    what = (
        ", ".join(f"{s.side.value} {s.qty} {s.symbol}" for s in sc.legs)
        if sc.kind == "order"
        else " ".join(f"{s}={w}" for s, w in sc.targets.items())
    )
    return f"{sc.kind} {what}"


def _killed_attempts(sc: Scenario, db: Path, res: CampaignResult) -> bool:
    """Attempts in forked children, killed; True if one completed the command's run."""
    rng = random.Random(f"kills:{sc.seed}:{sc.index}")
    for _ in range(MAX_KILLS):
        way = rng.random()
        if way < 0.3:  # an order at the venue, its answer not journalled
            out = killed_attempt(sc, db, countdown=rng.randint(1, 3), only=AFTER_SEND)
        elif way < 0.5:
            out = killed_attempt(sc, db, countdown=None, delay=rng.uniform(0.002, 0.15))
        else:
            out = killed_attempt(sc, db, countdown=rng.randint(1, KILL_POINTS_PER_ATTEMPT))
        res.attempts += 1
        if out.killed:
            res.kills += 1
            res.kill_points[out.point] += 1
            found = check_after_kill(db)
            res.violations.extend(f"killed {out.point}: {v}" for v in found)
            if _completed(db):
                # Killed after its run completed (a random instant can fall there): the
                # command is done, and running it again would be a new order.
                return True
            continue
        if out.failed:
            res.failed_attempts["a child attempt failed"] += 1
            return False
        return True
    return False


def _completed(db: Path) -> bool:
    """Whether the journal holds a completed run (the scenario runs one command)."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT 1 FROM runs WHERE status = 'completed' LIMIT 1").fetchall()
    return bool(rows)


def _settle(sc: Scenario, db: Path, res: CampaignResult, *, faulted: int) -> Any:
    """Run the command until its run completes (``faulted`` faulted attempts, then clean
    ones); its result. A clean attempt that fails is a violation."""
    for k in range(faulted + CLEAN_ATTEMPTS):
        clean = k >= faulted
        res.attempts += 1
        try:
            return attempt(sc, db, clean=clean, faults=res.faults)
        except Exception as exc:
            if clean:
                res.violations.append(f"a clean attempt failed: {exc!r}")
                return None
            res.failed_attempts[type(exc).__name__] += 1
    return None


# -- many runs -------------------------------------------------------------------------------


Chunk = tuple[list[int], int, float, JournalDirs]


def _chunk(args: Chunk) -> CampaignResult:
    indices, seed, kill_share, dirs = args
    total = CampaignResult()
    for i in indices:
        total.merge(one_run(i, seed, kill_share, dirs))
    return total


def run_campaign(
    runs: int,
    seed: int = 1,
    *,
    kill_share: float = KILL_SHARE,
    jobs: int = 1,
    root: Path | None = None,
    progress: bool = False,
) -> CampaignResult:
    """``runs`` scenarios in ``jobs`` worker processes, journals in ``root`` (default: see
    ``JournalDirs``).

    The first runs are done here before anything is forked, so that the workers and the
    killed children inherit a warm process (imports, the exchange calendar, specialised
    bytecode) rather than each paying for it; the heap is then frozen, so that their
    garbage collections neither scan it nor copy its pages.
    """
    began = time.perf_counter()
    dirs = JournalDirs.make(root)
    total = CampaignResult()
    size = 50
    warm = min(runs, WARM_UP_RUNS)
    chunks: list[Chunk] = [([*range(warm)], seed, kill_share, dirs)] + [
        (list(range(lo, min(runs, lo + size))), seed, kill_share, dirs)
        for lo in range(warm, runs, size)
    ]
    try:
        default_calendar()  # ~2 s, else paid by every child forked before a run in this process
        for part in _results(chunks, jobs):
            total.merge(part)
            total.load.append(os.getloadavg()[0])
            if progress:
                for v in part.violations:
                    print(f"\nviolation: {v}", file=sys.stderr)
                print(
                    f"\rruns {total.runs}/{runs}, kills {total.kills}, violations "
                    f"{len(total.violations)}, {time.perf_counter() - began:.0f} s",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        gc.unfreeze()
        dirs.remove()
        if progress:
            print(file=sys.stderr)
    total.wall_seconds = time.perf_counter() - began
    return total


def _results(chunks: list[Chunk], jobs: int) -> Iterator[CampaignResult]:
    """The first chunk here (the warm-up), then the others in ``jobs`` forked workers."""
    yield _chunk(chunks[0])
    gc.collect()
    gc.freeze()
    if jobs <= 1:
        yield from map(_chunk, chunks[1:])
        return
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield from pool.imap_unordered(_chunk, chunks[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument(
        "--kill-share", type=float, default=KILL_SHARE, help="share of runs with real kills"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--dir", type=Path, help="where all the journal files go (default: see JournalDirs)"
    )
    args = parser.parse_args(argv)
    r = run_campaign(
        args.runs, args.seed, kill_share=args.kill_share, jobs=args.jobs, root=args.dir,
        progress=True,
    )  # fmt: skip
    print(f"runs                   {r.runs}")
    print(f"  in-process           {r.in_process_runs}")
    print(f"  with real kills      {r.kill_runs}")
    print(f"  run again to finish  {r.resumed_runs}")
    print(f"attempts               {r.attempts}")
    print(f"kills (SIGKILL)        {r.kills}")
    for point, n in r.kill_points.most_common():
        print(f"  {point:<36} {n}")
    print("failed attempts (then run again)")
    for kind, n in r.failed_attempts.most_common():
        print(f"  {kind:<36} {n}")
    print("faults injected")
    for kind, n in sorted(r.faults.items()):
        print(f"  {kind:<36} {n}")
    print(f"violations             {len(r.violations)}")
    for v in r.violations[:50]:
        print(f"  {v}")
    print(f"wall time              {r.wall_seconds:.1f} s")
    if r.load:
        mean = sum(r.load) / len(r.load)
        print(f"load average (1 min)   {mean:.1f} on average, {min(r.load):.1f}-{max(r.load):.1f}")
    return 1 if r.violations else 0


if __name__ == "__main__":
    sys.exit(main())
