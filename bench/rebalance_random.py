"""Random rebalances on the simulator: do they complete, and what stops those that do not?

    python bench/rebalance_random.py [--accounts 24] [--seed 1] [--notional-buys]

Each account (a fresh journal) rebalances three sessions in a row (2026-11-24, 25 and 30)
to random targets: 1 to 8 listed symbols, random weights adding up to 50-98% of equity, at
one time of day drawn per account (the open, its first minutes, mid-morning, noon, 15:45,
15:58), so that each rebalance sells what the last one bought and buys with what the
sells bring. ``--notional-buys`` buys dollar amounts (and trades exact fractions), as
``rebalance --notional-buys`` does. Prints how many rebalances completed, every error a
run raised, and why legs were left undone (a slippage budget's stop at the open is the
design working; anything else is worth a look). Exits 1 if a run raised.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from better_orders import rebalance_portfolio
from better_orders.config.settings import BetterOrdersConfig
from better_orders.venues.assets import builtin_assets

ET = ZoneInfo("America/New_York")
DAYS = (24, 25, 30)  # November 2026: two sessions, then the Monday after Thanksgiving week
TIMES = ((9, 30), (9, 31), (9, 34), (10, 0), (12, 0), (15, 45), (15, 58))


def draw_targets(rng: random.Random, listed: list[str]) -> dict[str, Decimal]:
    symbols = rng.sample(listed, rng.randint(1, 8))
    raw = [rng.random() for _ in symbols]
    scale = sum(raw) / rng.uniform(0.5, 0.98)
    return {s: Decimal(str(round(x / scale, 4))) for s, x in zip(symbols, raw, strict=True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--notional-buys", action="store_true")
    args = parser.parse_args()
    config = BetterOrdersConfig.model_validate(
        {"rebalance": {"notional_buys": True, "whole_shares_for_limit": False}}
        if args.notional_buys
        else {}
    )
    listed = sorted(a.symbol for a in builtin_assets() if a.tradable)
    rng = random.Random(args.seed)
    errors: Counter[str] = Counter()
    undone: Counter[str] = Counter()
    complete = runs = 0
    began = time.perf_counter()
    for account in range(args.accounts):
        hour, minute = rng.choice(TIMES)
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "j.sqlite3"
            for day in DAYS:
                runs += 1
                at = datetime(2026, 11, day, hour, minute, tzinfo=ET)
                targets = draw_targets(rng, listed)
                try:
                    report = rebalance_portfolio(targets, at=at, db=db, seed=account, config=config)
                except Exception as exc:  # every kind is counted and printed
                    errors[f"{type(exc).__name__}: {exc}"[:200]] += 1
                    continue
                complete += report.complete
                for line in report.undone:
                    why = line.partition(": ")[2]
                    undone[why.rpartition("(")[2].rstrip(")")[:90] or why[:90]] += 1
    print(
        f"{runs} rebalances ({args.accounts} accounts x {len(DAYS)} sessions"
        f"{', notional buys' if args.notional_buys else ''}): {complete} complete, "
        f"{sum(errors.values())} raised, in {time.perf_counter() - began:.0f} s"
    )
    for why, count in errors.most_common():
        print(f"  raised {count:>3}  {why}")
    for why, count in undone.most_common(10):
        print(f"  undone {count:>3}  {why}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
