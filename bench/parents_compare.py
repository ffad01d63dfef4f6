"""Parent orders per second: ``tca`` of the seed ladder against NautilusTrader 1.221.0.

    python bench/parents_compare.py [--file PATH] [--every 10] [--side buy] [--repeat 3]
                                    [--json OUT]

The decisions of ``better-orders tca --quotes FILE --policy seed-ladder --side buy
--every 10s --from 09:30 --to 16:00`` (default file: the shared AAPL session): one
100-share parent at each decision time. Each engine runs ``--repeat`` times in a
fresh process and the fastest run is kept; both are timed without imports, loading
and set-up:

* ``better-orders tca``: ``tca.evaluate.evaluate_file`` (every parent through the
  ladder and the simulated exchange, its record and cost decomposition);
* ``NautilusTrader 1.221.0``: ``engine.run()`` of ``bench/nautilus_side.py``'s
  ``LadderParents`` strategy (timer-driven parents worked like the seed ladder:
  the opening spread wait, a limit one tick beyond the far touch, the same
  timeouts, two re-pegs, then a market order), configured for speed as in
  ``nautilus_compare.py`` (no logging, no analysis); the venv is shared with it.

Then the whole process of the CLI command above (interpreter start to exit), best
of ``--repeat`` after one untimed run (which leaves the package's compiled modules
cached, as any first run does), twice: with a cold cache (the file's parsed copy in the user cache,
``data.quote_cache``, removed before each run, so the gzip CSV is read) and a warm one
(the copy an earlier run left is loaded). The load average is printed before and
after: the figures are only comparable on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nautilus_compare import SUBMIT_LATENCY_NS, _rss_mb, best_of, default_folder, nautilus_python

HERE = Path(__file__).resolve().parent
DEFAULT_FILE = "lobster_AAPL_20120621_l1.csv.gz"
POLICY = "seed-ladder"
QTY = 100


def _decisions(path: str, every: float) -> tuple[Any, list[Any]]:
    from datetime import time as dt_time
    from datetime import timedelta

    from better_orders.tca.decisions import QuoteFile, decision_times

    qf = QuoteFile.load(path)
    times = decision_times(qf, dt_time(9, 30), dt_time(16, 0), timedelta(seconds=every))
    return qf, times


def run_ours(path: str, every: float, side: str) -> dict[str, Any]:
    """One timed ``evaluate_file`` in this process; the JSON the parent reads."""
    from better_orders.config.settings import BetterOrdersConfig
    from better_orders.core.model import Side
    from better_orders.tca.evaluate import ReplayCounters, evaluate_file
    from better_orders.tca.policies import BUILTIN_POLICIES

    began = time.perf_counter()
    qf, times = _decisions(path, every)
    load_seconds = time.perf_counter() - began
    counters = ReplayCounters()
    began = time.perf_counter()
    records = evaluate_file(
        qf,
        [BUILTIN_POLICIES[POLICY]],
        BetterOrdersConfig(),
        times,
        (Side(side),),
        counters=counters,
    )
    wall = time.perf_counter() - began
    filled = sum(r.filled_qty for r in records)
    return {
        "engine": f"better-orders tca ({POLICY})",
        "parents": len(records),
        "parents_done": sum(1 for r in records if r.filled_qty == r.requested_qty),
        "children": sum(r.attempts for r in records),
        "fills": sum(len(r.report.fills) for r in records),
        "filled_qty": int(filled),
        "rows_processed": counters.rows_processed,
        "rows_skipped": counters.rows_skipped,
        "load_seconds": load_seconds,
        "wall_seconds": wall,
        "parents_per_second": len(records) / wall,
        "peak_rss_mb": _rss_mb(),
    }


def write_spec(path: Path, every: float, side: str, folder: Path) -> Path:
    """The decisions and the seed ladder's settings, for ``nautilus_side.py``."""
    from better_orders.config.settings import BetterOrdersConfig
    from better_orders.tca.policies import BUILTIN_POLICIES
    from better_orders.venues.sim.files import to_ns

    qf, times = _decisions(str(path), every)
    config = BUILTIN_POLICIES[POLICY].config(BetterOrdersConfig())
    session = qf.session()
    ladder = config.ladder
    orders = [[to_ns(t), side, QTY] for t in times]
    spec = {
        "symbol": qf.quotes.symbol,
        "submit_latency_ns": SUBMIT_LATENCY_NS,
        "start_ns": orders[0][0],
        "end_ns": orders[-1][0] + 60_000_000_000,
        "orders": orders,
        "ladder": {
            "ticks": ladder.aggressive_ticks,
            "wide_e4": int(config.spread.wide_cents * 10_000),
            "open_ns": to_ns(session.open),
            "wait_window_end_ns": to_ns(session.opening_end),
            "wait_max_ns": int(config.timing.opening_wait_max_seconds * 1e9),
            "timeout_ns": int(ladder.timeout_seconds * 1e9),
            "timeout_after_wait_ns": int(ladder.timeout_wait_for_spreads_seconds * 1e9),
            "max_repegs": ladder.max_repegs,
        },
    }
    out = folder / f"{path.name}.parents.json"
    out.write_text(json.dumps(spec))
    return out


def cli_seconds(path: Path, every: float, side: str, repeat: int, *, warm: bool) -> list[float]:
    """Whole-process wall time of the ``tca`` command, ``repeat`` times, with the file's
    parsed copy in the user cache (``warm``) or without it (removed before each run)."""
    from better_orders.data.quote_cache import entry

    kept = entry(path, None)
    command = [
        sys.executable,
        "-c",
        "from better_orders.cli.app import main; main()",
        "tca",
        "--quotes",
        str(path),
        "--policy",
        POLICY,
        "--side",
        side,
        "--every",
        f"{every:g}s",
        "--from",
        "09:30",
        "--to",
        "16:00",
    ]
    # Python caches the package's compiled modules beside its sources on first import, as it
    # does for every user (pip compiled the installed dependencies already); a sandbox may
    # forbid it (PYTHONDONTWRITEBYTECODE), which would time compiling the package every run.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(command, check=True, capture_output=True, env=env)  # leaves the copy
    walls = []
    for _ in range(repeat):
        if not warm and kept is not None:
            kept[0].unlink(missing_ok=True)
        began = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        walls.append(time.perf_counter() - began)
    return walls


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", help=f"quote file (default: {DEFAULT_FILE} in the shared data)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between decisions")
    parser.add_argument("--side", choices=["buy", "sell"], default="buy")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per engine")
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument("--ours", nargs=3, metavar=("QUOTES", "EVERY", "SIDE"), help="internal")
    args = parser.parse_args()
    if args.ours:
        print(json.dumps(run_ours(args.ours[0], float(args.ours[1]), args.ours[2])))
        return
    path = Path(args.file) if args.file else default_folder() / DEFAULT_FILE
    if not path.is_file():
        raise SystemExit(f"no quote file {path}: set BETTER_ORDERS_DATA or pass --file")
    theirs_python = nautilus_python()
    print(f"load average before: {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(path, args.every, args.side, Path(tmp))
        ours_cmd = [sys.executable, str(Path(__file__).resolve()), "--ours"]
        ours = best_of([*ours_cmd, str(path), str(args.every), args.side], args.repeat)
        theirs = best_of(
            [str(theirs_python), str(HERE / "nautilus_side.py"), str(path), str(spec)], args.repeat
        )
    cold = cli_seconds(path, args.every, args.side, args.repeat, warm=False)
    warm = cli_seconds(path, args.every, args.side, args.repeat, warm=True)
    print(
        f"{path.name}: {ours['parents']:,} {args.side} parents of {QTY}, one every "
        f"{args.every:g} s from 09:30 to 16:00, best of {args.repeat}"
    )
    print(
        f"{'engine':34} {'parents':>7} {'done':>6} {'children':>8} {'fills':>6} "
        f"{'wall s':>7} {'parents/s':>10}"
    )
    for r in (theirs, ours):
        print(
            f"{r['engine']:34} {r['parents']:7,d} {r['parents_done']:6,d} {r['children']:8,d} "
            f"{r['fills']:6,d} {r['wall_seconds']:7.3f} {r['parents_per_second']:10,.0f}"
        )
    ratio = ours["parents_per_second"] / theirs["parents_per_second"]
    print(f"ours/theirs parents per second: {ratio:.2f}x (target 10x)")
    for label, walls in (("cold cache", cold), ("warm cache", warm)):
        print(
            f"whole process, better-orders tca ... --policy {POLICY}, {label}: best "
            f"{min(walls):.2f} s ({', '.join(f'{w:.2f}' for w in walls)}; target 1.5 s)"
        )
    print(f"load average after: {load_average()}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "nautilus": theirs,
                    "ours": ours,
                    "cli_seconds_cold_cache": cold,
                    "cli_seconds_warm_cache": warm,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
