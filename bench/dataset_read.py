"""Reading a symbol-day from the Parquet dataset against reading it from the gzip CSV files.

Imports the shared quote files (``$BETTER_ORDERS_DATA/quotes``, each with its
trades file) into a dataset (``better-orders data import``), then times, best of
``--repeat`` runs each, what a replay needs from a symbol-day: its quotes and its
trades as the simulator's integer arrays (``read_quote_file`` and
``TradePrints.from_file``), from the CSV files and from the dataset. Also times the
whole load (``ReplayQuotes.from_file`` with the prints merged in), whose merge
costs the same either way.

    BETTER_ORDERS_DATA=../shared/data python bench/dataset_read.py [--dataset DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from better_orders.data.dataset import Dataset, find_trades_file
from better_orders.data.importer import import_files
from better_orders.venues.sim.files import TradePrints, read_quote_file
from better_orders.venues.sim.replay import ReplayQuotes


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def read_arrays(path: Path) -> None:
    read_quote_file(path, symbol=None)
    trades = find_trades_file(path)
    if trades is not None:
        TradePrints.from_file(trades)


def load_replay(path: Path) -> None:
    ReplayQuotes.from_file(path, trades=find_trades_file(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="reuse (or make) the dataset here")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    raw = os.environ.get("BETTER_ORDERS_DATA")
    if not raw:
        raise SystemExit("set BETTER_ORDERS_DATA to the shared data folder")
    files = sorted(p for p in (Path(raw) / "quotes").glob("*.csv.gz") if "_trades" not in p.name)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dataset or Path(tmp) / "ds"
        started = time.perf_counter()
        imported = {i.files[0]: i.day for i in import_files(files, Dataset.for_writing(root))}
        print(
            f"imported {len(files)} quote files (and their trades files) into {root} "
            f"in {time.perf_counter() - started:.1f} s"
        )
        read_arrays(imported[files[0].name].path)  # imports pyarrow once, outside the timings
        print(
            f"{'symbol-day':<16}{'csv s':>8}{'dataset s':>11}{'faster':>8}"
            f"{'   full load: csv s':>20}{'dataset s':>11}{'faster':>8}"
        )
        totals = [0.0, 0.0, 0.0, 0.0]
        ratios = []
        for file in files:
            day = imported[file.name]
            row = [
                best(lambda f=file: read_arrays(f), args.repeat),
                best(lambda d=day: read_arrays(d.path), args.repeat),
                best(lambda f=file: load_replay(f), args.repeat),
                best(lambda d=day: load_replay(d.path), args.repeat),
            ]
            totals = [t + r for t, r in zip(totals, row, strict=True)]
            ratios.append(row[0] / row[1])
            print(
                f"{day!s:<16}{row[0]:>8.3f}{row[1]:>11.3f}{row[0] / row[1]:>7.1f}x"
                f"{row[2]:>20.3f}{row[3]:>11.3f}{row[2] / row[3]:>7.1f}x"
            )
        print(
            f"{'all':<16}{totals[0]:>8.3f}{totals[1]:>11.3f}{totals[0] / totals[1]:>7.1f}x"
            f"{totals[2]:>20.3f}{totals[3]:>11.3f}{totals[2] / totals[3]:>7.1f}x"
        )
        print(f"slowest gain on a symbol-day: {min(ratios):.1f}x (reading quotes and trades)")


if __name__ == "__main__":
    main()
