"""How long ``tca tune`` takes: 50 random candidates over the shared corpus, both cores.

    python bench/tune_speed.py [--data ../shared/data] [--candidates 50] [--every 1s]
                               [--jobs N] [--seed 1] [--json OUT]

Runs what ``better-orders tca tune`` runs (``tca.tune.run_tune``) on every quote file
of the shared data folder: 09:30-09:35, a decision every second, buys and sells, 30 ms
latency, the market order and every candidate on every symbol-day once, then
leave-one-symbol-day-out cross-validation. The candidates search three of the
ladder's parameters at random: ``timing.rest_fraction`` 0-0.5,
``spread.wait_ratio`` 0.3-0.9 and ``timing.opening_wait_max_seconds`` 30-120.

Prints the tune's own tables, then the wall time, the CPU time of all cells together
and the load average before and after: other work on the machine stretches the wall
time but not the CPU time, so CPU seconds / workers is what the tune takes on an
otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import time as dt_time
from pathlib import Path

from better_orders.cli.tca_options import parse_duration
from better_orders.cli.tca_tune import print_tune, tune_json
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.jsonable import to_jsonable
from better_orders.core.model import Side
from better_orders.tca.corpus import resolve_quote_files
from better_orders.tca.crossval import DEFAULT_MIN_COMPLETION
from better_orders.tca.decisions import DaySource, Sizing
from better_orders.tca.decomposition import FeeSchedule
from better_orders.tca.distributed import cores
from better_orders.tca.evaluate import Window
from better_orders.tca.policies import BUILTIN_POLICIES
from better_orders.tca.tune import run_tune
from better_orders.tca.tune_space import parse_param, search_space
from better_orders.venues.sim.exchange import Latency
from tca_speed import data_folder

#: The target: a tune of at least 50 candidates over the corpus within 15 minutes.
TARGET_SECONDS = 15 * 60
PARAMS = (
    "timing.rest_fraction=0:0.5",
    "spread.wait_ratio=0.3:0.9",
    "timing.opening_wait_max_seconds=30:120",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="shared data folder (default $BETTER_ORDERS_DATA)")
    parser.add_argument("--candidates", type=int, default=50, help="random candidates")
    parser.add_argument("--every", default="1s", help="time between decisions")
    parser.add_argument("--jobs", type=int, default=cores(), help="worker processes")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random search")
    parser.add_argument("--json", type=Path, help="also write the tune's JSON here")
    args = parser.parse_args()
    files = resolve_quote_files([data_folder(args.data)])
    config = BetterOrdersConfig()
    candidates = search_space(
        [parse_param(p) for p in PARAMS],
        BUILTIN_POLICIES["ladder"],
        config,
        random_count=args.candidates,
        seed=args.seed,
    )
    window = Window(
        start=dt_time(9, 30),
        end=dt_time(9, 35),
        every=parse_duration(args.every, "--every"),
        sides=(Side.BUY, Side.SELL),
        sizing=Sizing(),
        latency=Latency(),
        within_seconds=150.0,
        fees=FeeSchedule(),
    )
    load_before = os.getloadavg()
    began = time.perf_counter()
    result = run_tune(candidates, [DaySource(f) for f in files], config, window, jobs=args.jobs)
    wall = time.perf_counter() - began
    load_after = os.getloadavg()
    print_tune(result, DEFAULT_MIN_COMPLETION)
    if args.json is not None:
        data = tune_json(result, DEFAULT_MIN_COMPLETION)
        args.json.write_text(json.dumps(to_jsonable(data), indent=2), encoding="utf-8")
    idle = result.cpu_seconds / args.jobs
    print()
    print(
        f"tune: {len(candidates)} candidates x {len(files)} symbol-days, every {args.every}, "
        f"{result.decisions:,} decisions on {args.jobs} worker(s)"
    )
    print(
        f"wall {wall:.0f} s; CPU {result.cpu_seconds:.0f} s = {idle:.0f} s per worker "
        f"({result.decisions / max(result.cpu_seconds, 1e-9):.0f} decisions per CPU second); "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )

    def verdict(seconds: float) -> str:
        return "within" if seconds <= TARGET_SECONDS else "OVER"

    print(
        f"target {TARGET_SECONDS} s: wall {verdict(wall)}; "
        f"on an idle machine (CPU per worker) {verdict(idle)}"
    )


if __name__ == "__main__":
    main()
