"""How fast ``tca`` of the seed ladder could get with a fast path for the simplest parents.

    python bench/replay_bound.py [--file PATH] [--every 10] [--side buy] [--repeat 5]

The decisions of ``bench/parents_compare.py`` (one 100-share parent every 10 s over the
AAPL session, seed ladder). Each parent is replayed once and sorted into two groups:

* *simple*: one child order, no spread wait, filled in full by one execution: what a
  vectorised model (the entry decision, one marketable fill at arrival, the record) would
  have to reproduce;
* *the rest*: waits, rests, re-pegs, partial fills, the fallback: what only the ladder
  and the simulated venue can work out.

Then ``evaluate_file`` runs each group alone and all parents together, ``--repeat`` times
in this process, best kept. If the simple parents cost nothing at all, the whole
evaluation would still take as long as the rest: parents / (time of the rest) is the
most any such fast path can reach. The ratio to NautilusTrader's rate (passed as
``--theirs``, from ``parents_compare.py`` run just before) says how far that is from a
target.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nautilus_compare import default_folder
from parents_compare import DEFAULT_FILE, POLICY, _decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", help=f"quote file (default: {DEFAULT_FILE} in the shared data)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between decisions")
    parser.add_argument("--side", choices=["buy", "sell"], default="buy")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each group")
    parser.add_argument(
        "--theirs", type=float, help="NautilusTrader's parents/s measured on this machine"
    )
    args = parser.parse_args()
    path = Path(args.file) if args.file else default_folder() / DEFAULT_FILE
    if not path.is_file():
        raise SystemExit(f"no quote file {path}: set BETTER_ORDERS_DATA or pass --file")

    from better_orders.config.settings import BetterOrdersConfig
    from better_orders.core.model import Side
    from better_orders.tca.evaluate import evaluate_file
    from better_orders.tca.policies import BUILTIN_POLICIES

    qf, times = _decisions(str(path), args.every)
    config = BetterOrdersConfig()
    policies = [BUILTIN_POLICIES[POLICY]]
    sides = (Side(args.side),)
    records = evaluate_file(qf, policies, config, times, sides)
    simple, rest = [], []
    for at, record in zip(times, records, strict=True):
        report = record.report
        one_fill = (
            len(report.attempts) == 1
            and len(report.fills) == 1
            and report.waited_seconds == 0
            and report.filled_qty == report.requested_qty
        )
        (simple if one_fill else rest).append(at)

    def best(decisions: list[object]) -> float:
        walls = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            evaluate_file(qf, policies, config, decisions, sides)
            walls.append(time.perf_counter() - began)
        return min(walls)

    all_s, simple_s, rest_s = best(list(times)), best(simple), best(rest)
    n = len(times)
    print(f"{path.name}: {n:,} {args.side} parents ({POLICY}), best of {args.repeat}")
    print(f"{'group':28} {'parents':>7} {'wall s':>7} {'us/parent':>9}")
    for label, count, wall in (
        ("simple (one order, one fill)", len(simple), simple_s),
        ("the rest", len(rest), rest_s),
        ("all", n, all_s),
    ):
        print(f"{label:28} {count:7,d} {wall:7.3f} {wall / count * 1e6:9,.0f}")
    ceiling = n / rest_s
    print(f"now: {n / all_s:,.0f} parents/s")
    print(f"ceiling with the simple parents free: {ceiling:,.0f} parents/s")
    if args.theirs:
        print(
            f"against NautilusTrader's {args.theirs:,.0f}/s: now {n / all_s / args.theirs:.2f}x, "
            f"ceiling {ceiling / args.theirs:.2f}x"
        )


if __name__ == "__main__":
    main()
