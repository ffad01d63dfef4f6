"""The slippage budget binds: ``order buy TQQQ 811 --max-slippage-bps 5`` on the simulator over
many seeds and dates, and the worst fill's distance from the arrival mid (must be <= 5 bps).

    python bench/budget_bound.py [--seeds 40] [--dates 2026-11-24,2026-11-25,...]

Runs in-process through the engine's command function (``engine.commands.run_orders``),
each run in a fresh journal. Prints, per date, the worst fill in bps from the arrival
mid, how many runs stopped at the budget and how much was left unfilled, then the total.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.model import ExecutionReport
from better_orders.engine.commands import VenueChoice, run_orders
from better_orders.engine.execution import OrderSpec

ET = ZoneInfo("America/New_York")
BUDGET = Decimal(5)
DATES = ("2026-11-24", "2026-11-25", "2026-11-27", "2026-12-01", "2026-12-02")


def worst_fill_bps(report: ExecutionReport) -> float | None:
    """The costliest single fill's distance from the arrival mid, bps (None: no fill)."""
    mid = report.arrival_mid
    if mid is None or not report.fills:
        return None
    sign = report.side.sign
    return max(float((f.price - mid) * sign / mid * 10_000) for f in report.fills)


def run_one(seed: int, date: str, db: Path) -> tuple[float | None, Decimal, ExecutionReport]:
    """One ``order buy TQQQ 811 --max-slippage-bps 5 --at <date>T09:30:00 --seed <seed>``."""
    spec = OrderSpec.parse("TQQQ", "811", "buy", BUDGET)
    _, (report,) = run_orders(
        [spec],
        venue=VenueChoice(),
        db=db,
        config=BetterOrdersConfig(),
        at=datetime.fromisoformat(f"{date}T09:30:00").replace(tzinfo=ET),
        seed=seed,
    )
    return worst_fill_bps(report), report.unfilled_qty, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--dates", default=",".join(DATES))
    args = parser.parse_args()
    dates = [d.strip() for d in args.dates.split(",") if d.strip()]
    started = time.perf_counter()
    overall: float | None = None
    runs = stopped = 0
    left = Decimal(0)
    with tempfile.TemporaryDirectory() as tmp:
        for date in dates:
            worst: float | None = None
            day_left = Decimal(0)
            day_stopped = 0
            for seed in range(args.seeds):
                bps, unfilled, _ = run_one(seed, date, Path(tmp) / f"{date}-{seed}.sqlite3")
                if bps is not None:
                    worst = bps if worst is None else max(worst, bps)
                day_left += unfilled
                day_stopped += unfilled > 0
            shown = "-" if worst is None else f"{worst:.2f}"
            print(
                f"{date}: {args.seeds} runs, worst fill {shown} bps from arrival mid, "
                f"{day_stopped} stopped at the budget, {day_left} of {811 * args.seeds} unfilled"
            )
            if worst is not None:
                overall = worst if overall is None else max(overall, worst)
            runs += args.seeds
            stopped += day_stopped
            left += day_left
    shown = "-" if overall is None else f"{overall:.2f}"
    verdict = "within" if overall is None or overall <= float(BUDGET) else "BEYOND"
    print(
        f"all: {runs} runs in {time.perf_counter() - started:.1f} s; worst fill {shown} bps "
        f"({verdict} the {BUDGET} bps budget); {stopped} stopped, {left} of {811 * runs} "
        "shares unfilled"
    )


if __name__ == "__main__":
    main()
