"""Is the runner's event loop ever blocked? 20 ladders against a journal on a slow disk.

    python bench/runner_loop.py [--ladders 20] [--fsync-ms 20] [--qty 300] [--seed 0]

The journal's file is real (SQLite, WAL), and every commit is made ``--fsync-ms``
slower, as a slow or busy disk syncing each transaction would. The ladders trade
synthetic symbols on the simulated exchange, here in real time (an ordinary event
loop, as in live trading: the virtual-time loop runs thread work at once, to stay
reproducible), so each order fills in several pieces and every piece is journalled.
A probe thread asks the event loop to run a callback every 2 ms of wall time and
records how long each took to run: the loop's lag, i.e. how long it could not serve
anything else.

Two runs are shown: the journal written on the event loop's thread (as the runner
used to), and on the journal's writer thread (as it does now). The ladders' journal
rule is the same in both: an order is committed before it is sent.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import better_orders.engine.run_journal as run_journal_module
from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import ParentOrder
from better_orders.core.market_calendar import default_calendar
from better_orders.core.model import Side
from better_orders.engine.legs import Leg
from better_orders.engine.runner import Runner
from better_orders.store.journal import Journal
from better_orders.store.writer import JournalWriter
from better_orders.venues.assets import builtin_assets, plain_asset
from better_orders.venues.sim.venue import SimVenue

ET = ZoneInfo("America/New_York")
T = TypeVar("T")


class SlowDiskJournal(Journal):
    """A journal whose every commit costs ``fsync`` seconds more (a slow disk's sync)."""

    fsync = 0.02
    commits = 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        outer = self._depth == 0
        with super().transaction():
            yield
            if outer:
                SlowDiskJournal.commits += 1
                time.sleep(self.fsync)


class OnTheLoop(JournalWriter):
    """The old way: each journal write runs on the event loop's own thread."""

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)


class LagProbe:
    """A thread that times how long the loop takes to run a callback posted every 2 ms."""

    def __init__(self, loop: asyncio.AbstractEventLoop, every: float = 0.002) -> None:
        self.loop = loop
        self.every = every
        self.lags: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-probe", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            posted = time.perf_counter()
            try:
                self.loop.call_soon_threadsafe(self._ran, posted)
            except RuntimeError:  # the loop closed
                return

    def _ran(self, posted: float) -> None:
        self.lags.append(time.perf_counter() - posted)

    def __enter__(self) -> LagProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Figures:
    mode: str
    wall: float
    filled: int
    ladders: int
    commits: int
    lags: list[float]

    def line(self) -> str:
        lags = sorted(self.lags) or [0.0]
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        return (
            f"{self.mode:<28} {self.filled}/{self.ladders} filled in {self.wall:5.2f} s wall, "
            f"{self.commits:4d} commits; loop lag max {max(lags) * 1000:6.1f} ms, "
            f"p99 {p99 * 1000:5.1f} ms, median {statistics.median(lags) * 1000:4.2f} ms "
            f"({len(lags)} probes)"
        )


def one_run(mode: str, ladders: int, qty: int, fsync: float, seed: int, db: Path) -> Figures:
    start = datetime(2026, 11, 24, 10, 0, tzinfo=ET)
    cfg = BetterOrdersConfig(mode="always")
    symbols = [f"S{i:02d}" for i in range(ladders)]
    SlowDiskJournal.fsync = fsync
    SlowDiskJournal.commits = 0
    writer_class = OnTheLoop if mode.startswith("on the loop") else JournalWriter
    run_journal_module.JournalWriter = writer_class  # type: ignore[misc]

    async def main() -> Figures:
        # The simulated exchange trades the symbols of its asset master only.
        listed = builtin_assets().with_assets(plain_asset(s) for s in symbols)
        venue = SimVenue.create(
            start=start, seed=seed, starting_cash=Decimal(10_000_000), assets=listed
        )
        with SlowDiskJournal.open(db) as journal:
            journal.start_run("bench", "order", {}, "sim")
            for i, symbol in enumerate(symbols, start=1):
                journal.record_intent("bench", i, symbol, Side.BUY, Decimal(qty))
            runner = Runner(
                venue.broker,
                venue.feed,
                venue.clock,
                default_calendar(),
                run_id="bench",
                journal=journal,
                requests_per_minute=100_000,
            )
            legs = [
                Leg(i, ParentOrder(s, Side.BUY, Decimal(qty)), ladder_params(cfg, s))
                for i, s in enumerate(symbols, start=1)
            ]
            began = time.perf_counter()
            with LagProbe(asyncio.get_running_loop()) as probe:
                reports = await runner.run(legs)
            wall = time.perf_counter() - began
            await venue.close()
        filled = sum(1 for r in reports if r.filled_qty == Decimal(qty))
        return Figures(mode, wall, filled, ladders, SlowDiskJournal.commits, probe.lags)

    try:
        return asyncio.run(main())
    finally:
        run_journal_module.JournalWriter = JournalWriter  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ladders", type=int, default=20)
    parser.add_argument("--fsync-ms", type=float, default=20.0)
    parser.add_argument("--qty", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    fsync = args.fsync_ms / 1000
    print(
        f"{args.ladders} ladders, {args.qty} shares each, every journal commit "
        f"{args.fsync_ms:g} ms slower"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for i, mode in enumerate(("on the loop (before)", "on the writer thread (now)")):
            figures = one_run(mode, args.ladders, args.qty, fsync, args.seed, Path(tmp) / f"{i}.db")
            print(figures.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
