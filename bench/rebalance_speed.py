"""Simulated time and wall time of 1-, 5- and 20-symbol rebalances from cash.

    python bench/rebalance_speed.py

Each rebalance starts at 09:45 ET on a fresh paper account ($100,000), every
symbol through its own ladder, sells and buys concurrently where cash allows.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from better_orders import rebalance_portfolio
from better_orders.config.settings import BetterOrdersConfig

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


def main() -> None:
    print(f"{'symbols':>7}  {'simulated s':>11}  {'wall s':>7}  complete")
    for n in (1, 5, 20):
        simulated, wall, complete = one(n)
        print(f"{n:>7}  {simulated:>11.3f}  {wall:>7.2f}  {complete}")


if __name__ == "__main__":
    main()
