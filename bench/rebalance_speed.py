"""Simulated time and wall time of 1-, 5- and 20-symbol rebalances from cash, and of
switches from one portfolio to another (sells first, then the buys they fund).

    python bench/rebalance_speed.py [--seeds 8]

Each rebalance from cash starts at 09:45 ET on a fresh paper account ($100,000), every
symbol through its own ladder, sells and buys concurrently where cash allows. Each switch
first buys TQQQ 60% / SPY 40% on 2026-11-24, then on 2026-11-25 at the open and at 09:45
rebalances to SOXL 50% / SPY 50%: TQQQ is sold first and SOXL bought with what it
brought. With the quotes 5 s and 60 s after each fill journalled, as by default.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from better_orders import rebalance_portfolio
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.model import Side

ET = ZoneInfo("America/New_York")
UNIVERSE = [
    "TQQQ", "SPY", "QQQ", "SOXL", "SPXL", "UPRO", "TECL", "TLT", "IWM", "XLF",
    "TNA", "FAS", "LABU", "DIA", "XLE", "XLK", "SMH", "GLD", "EEM", "HYG",
]  # fmt: skip


def one(n: int) -> tuple[float, float, bool]:
    symbols = UNIVERSE[:n]
    weight = (Decimal("0.98") / n).quantize(Decimal("0.0001"))
    at = datetime(2026, 11, 24, 9, 45, tzinfo=ET)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        report = rebalance_portfolio(
            {s: weight for s in symbols},
            at=at,
            db=Path(tmp) / "b.sqlite3",
            config=BetterOrdersConfig(mode="always"),
        )
        wall = time.perf_counter() - began
    span = max(e.finished for e in report.executions) - min(e.started for e in report.executions)
    return span.total_seconds(), wall, report.complete


def switch(at: datetime, seed: int) -> tuple[float, float, float, bool]:
    """Sells' end to buys' start, start to the last fill (simulated s), wall s, complete."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "s.sqlite3"
        before = at.replace(day=at.day - 1)
        rebalance_portfolio({"TQQQ": 0.6, "SPY": 0.4}, at=before, db=db, seed=seed)
        began = time.perf_counter()
        report = rebalance_portfolio({"SOXL": 0.5, "SPY": 0.5}, at=at, db=db, seed=seed)
        wall = time.perf_counter() - began
    sells = [e for e in report.executions if e.side is Side.SELL]
    buys = [e for e in report.executions if e.side is Side.BUY]
    gap = min(b.started for b in buys) - max(s.finished for s in sells)
    span = max(e.finished for e in report.executions) - at
    return gap.total_seconds(), span.total_seconds(), wall, report.complete


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8, help="seeds of each switch")
    args = parser.parse_args()
    print(f"{'symbols':>7}  {'simulated s':>11}  {'wall s':>7}  complete")
    for n in (1, 5, 20):
        simulated, wall, complete = one(n)
        print(f"{n:>7}  {simulated:>11.3f}  {wall:>7.2f}  {complete}")
    print()
    print("switch TQQQ 60% / SPY 40% -> SOXL 50% / SPY 50% (sells first), per seed:")
    head = ("at", "seed", "sells to buys s", "to last fill s", "wall s")
    print("{:>5}  {:>4}  {:>15}  {:>14}  {:>6}  complete".format(*head))
    for hour, minute in ((9, 30), (9, 45)):
        at = datetime(2026, 11, 25, hour, minute, tzinfo=ET)
        done = 0
        for seed in range(args.seeds):
            gap, span, wall, complete = switch(at, seed)
            done += complete
            print(f"{at:%H:%M}  {seed:>4}  {gap:>15.3f}  {span:>14.3f}  {wall:>6.2f}  {complete}")
        print(f"{at:%H:%M}  complete {done} of {args.seeds}")


if __name__ == "__main__":
    os.environ.pop("BETTER_ORDERS_TCA__MARKOUT_SECONDS", None)  # the default marks
    main()
