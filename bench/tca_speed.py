"""Replay evaluation speed on the shared quote files.

    python bench/tca_speed.py [--data ../shared/data] [--every 1s]

For each ``*_l1.csv.gz`` / ``*_bbo.csv.gz`` file: every second from 09:30 to
09:35, buys and sells, the four built-in policies, through the ladder and the
simulated exchange (``better_orders.tca``). Prints decisions per second, quote
rows per second (rows between each decision and its end, which a row-by-row
replay would read; the driver skips those that cannot matter) and wall time,
then the same figures for a fixed stream of marketable orders through the
exchange alone (``replay_marketable_orders``, no skipping), the workload an
engine comparison reuses.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import time as dt_time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.model import Side
from better_orders.tca.decisions import QuoteFile, decision_times
from better_orders.tca.evaluate import ReplayCounters, evaluate_file
from better_orders.tca.marketable import replay_marketable_orders
from better_orders.tca.policies import BUILTIN_POLICIES, DEFAULT_POLICIES


def data_folder(given: str | None) -> Path:
    raw = given or os.environ.get("BETTER_ORDERS_DATA") or "../shared/data"
    path = Path(raw)
    return path / "quotes" if (path / "quotes").is_dir() else path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="shared data folder (default $BETTER_ORDERS_DATA)")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between decisions")
    args = parser.parse_args()
    folder = data_folder(args.data)
    files = sorted(folder.glob("*_l1.csv.gz")) + sorted(folder.glob("*_bbo.csv.gz"))
    if not files:
        raise SystemExit(f"no quote files in {folder}: pass --data or set BETTER_ORDERS_DATA")
    policies = [BUILTIN_POLICIES[n] for n in DEFAULT_POLICIES]
    config = BetterOrdersConfig()
    every = timedelta(seconds=args.every)
    print(f"{'file':36} {'decisions':>9} {'wall s':>7} {'dec/s':>8} {'rows/s':>11} {'skipped':>8}")
    total_dec, total_wall = 0, 0.0
    for path in files:
        qf = QuoteFile.load(path)
        times = decision_times(qf, dt_time(9, 30), dt_time(9, 35), every)
        counters = ReplayCounters()
        began = time.perf_counter()
        evaluate_file(qf, policies, config, times, counters=counters)
        wall = time.perf_counter() - began
        total_dec += counters.decisions
        total_wall += wall
        skipped = counters.rows_skipped / max(counters.rows_covered, 1)
        print(
            f"{path.name:36} {counters.decisions:9d} {wall:7.2f} "
            f"{counters.decisions / wall:8.0f} {counters.rows_covered / wall:11.0f} {skipped:8.1%}"
        )
    print(f"{'all':36} {total_dec:9d} {total_wall:7.2f} {total_dec / total_wall:8.0f}")
    print()
    print("marketable-order stream through the exchange (one order a second, sides alternating):")
    print(f"{'file':36} {'orders':>7} {'fills':>6} {'rows':>8} {'wall s':>7} {'rows/s':>11}")
    for path in files:
        qf = QuoteFile.load(path)
        times = decision_times(qf, dt_time(9, 30), dt_time(9, 35), timedelta(seconds=1))
        orders = [
            (t, Side.BUY if k % 2 == 0 else Side.SELL, Decimal(100)) for k, t in enumerate(times)
        ]
        stats = replay_marketable_orders(qf.quotes, orders)
        print(
            f"{path.name:36} {stats.orders:7d} {stats.fills:6d} {stats.quotes_processed:8d} "
            f"{stats.wall_seconds:7.3f} {stats.quotes_per_second:11.0f}"
        )


if __name__ == "__main__":
    main()
