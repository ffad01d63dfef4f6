"""Side-by-side replay against NautilusTrader 1.221.0: same quote file, same marketable orders.

    python bench/nautilus_compare.py [--file PATH ...] [--orders N] [--repeat R] [--json OUT]

For each quote file (default: the three shared files in ``$BETTER_ORDERS_DATA/quotes``
or ``../shared/data/quotes``) one deterministic order stream is written to a
JSON file: ``N`` orders evenly spread over the file's regular session (order
``k`` at open + (k + 1/2) * session / N), sides alternating buy/sell, 100 shares
each. Every order becomes an immediate-or-cancel limit one tick beyond the far
touch of the quote in force at its time, reaching the venue 30 ms later.

Each engine runs in its own fresh process, ``--repeat`` times; the fastest wall
time is kept. ``peak MB`` is that process's peak resident memory at the end
(imports, loading and the run; Linux ``VmHWM``, else ``ru_maxrss``), ``import MB``
the same read right after the imports.
Loading and converting the file is timed apart and not in ``wall s``.

* ``NautilusTrader 1.221.0``: ``bench/nautilus_side.py`` inside
  ``bench/.nautilus-venv`` (created with ``python3 -m venv`` and
  ``pip install nautilus_trader==1.221.0`` on first use): a ``BacktestEngine``
  with an L1 book fed every ``QuoteTick`` of the window.
* ``better-orders, row by row``: ``replay_marketable_orders``: every row of the
  window goes through ``SimExchange``. The like-for-like engine comparison.
* ``better-orders, fast path``: ``replay_marketable_orders(fast=True)``: the
  same orders and fills (checked here by digest, and in
  ``tests/test_replay_fastpath.py``), reading only the rows an order can see.
  Its quotes/s is rows covered per second, the same count as the others.

A reference line follows for the ladder replay that skips quotes
(``ReplayDriver``): one ladder per order time, so different work (orders rest,
re-peg and fall back); its rows/s counts the rows each decision spans.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENV = HERE / ".nautilus-venv"
NAUTILUS_VERSION = "1.221.0"
SUBMIT_LATENCY_NS = 30_000_000  # better_orders.venues.sim.exchange.Latency().submit
ORDER_QTY = 100
DEFAULT_FILES = (
    "lobster_AAPL_20120621_l1.csv.gz",
    "lobster_AMZN_20120621_l1.csv.gz",
    "taq_XXX_20180102_nyse_bbo.csv.gz",
)
OUR_MODES = {"row": "better-orders, row by row", "fast": "better-orders, fast path"}


# -- our side (runs in a child process of the project's Python) ------------------------------


def _rss_mb() -> float:
    """This process's peak resident memory so far, in MiB.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` survives ``exec`` and so
    would report at least the parent's size in a child of this script.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(mode: str, quotes_path: str, orders_path: str) -> dict[str, Any]:
    """One measurement of our replay in this process; the JSON the parent reads."""
    from decimal import Decimal

    from better_orders.core.model import Fill, Side
    from better_orders.tca.marketable import replay_marketable_orders
    from better_orders.venues.sim.files import from_ns
    from better_orders.venues.sim.replay import ReplayQuotes

    import_rss = _rss_mb()
    spec = json.loads(Path(orders_path).read_text())
    began = time.perf_counter()
    quotes = ReplayQuotes.from_file(quotes_path, symbol=spec["symbol"])
    load_seconds = time.perf_counter() - began
    orders = [(from_ns(int(ts)), Side(side), Decimal(qty)) for ts, side, qty in spec["orders"]]
    out: dict[str, Any] = {"load_seconds": load_seconds, "import_rss_mb": import_rss}
    if mode == "ladder":
        out.update(_run_ladder(quotes, orders))
    else:
        stats = replay_marketable_orders(quotes, orders, fast=(mode == "fast"))
        fills: tuple[Fill, ...] = stats.fill_records
        digest = hashlib.sha256(
            "\n".join(f"{f.exec_id} {f.qty} {f.price} {f.ts.isoformat()}" for f in fills).encode()
        ).hexdigest()[:16]
        out.update(
            engine=OUR_MODES[mode],
            quotes=stats.quotes_processed,
            rows_read=stats.rows_read,
            orders=stats.orders,
            fills=stats.fills,
            filled_qty=int(stats.filled_qty),
            notional=str(sum((f.qty * f.price for f in fills), Decimal(0))),
            fills_digest=digest,
            wall_seconds=stats.wall_seconds,
            quotes_per_second=stats.quotes_per_second,
        )
    out["peak_rss_mb"] = _rss_mb()
    return out


def _run_ladder(quotes: Any, orders: list[Any]) -> dict[str, Any]:
    """The ladder (product defaults) at each order time, on the driver that skips quotes."""
    from decimal import Decimal

    from better_orders.config.params import ladder_params
    from better_orders.config.settings import BetterOrdersConfig
    from better_orders.core.errors import InvalidInputError
    from better_orders.core.ladder import ParentOrder
    from better_orders.tca.decisions import learned_typical_spreads
    from better_orders.tca.driver import ReplayDriver
    from better_orders.tca.policies import BUILTIN_POLICIES

    config = BUILTIN_POLICIES["ladder"].config(BetterOrdersConfig())
    symbol = quotes.symbol
    typical = learned_typical_spreads(
        quotes, [o[0] for o in orders], config.spread.typical_window_seconds
    )
    driver = ReplayDriver(quotes)
    processed = skipped = fills = unfinished = 0
    filled = Decimal(0)
    began = time.perf_counter()
    for (when, side, qty), bps in zip(orders, typical, strict=True):
        params = ladder_params(config, symbol, typical_spread_bps=bps)
        try:
            outcome = driver.run(ParentOrder(symbol, side, qty), params, when)
        except InvalidInputError:
            unfinished += 1  # the file ended before this ladder did (last seconds of the day)
            continue
        processed += outcome.rows_processed
        skipped += outcome.rows_skipped
        fills += len(outcome.report.fills)
        filled += outcome.report.filled_qty
    wall = time.perf_counter() - began
    covered = processed + skipped
    return {
        "engine": "better-orders ladder, skipping",
        "quotes": covered,
        "rows_read": processed,
        "orders": len(orders),
        "unfinished": unfinished,
        "fills": fills,
        "filled_qty": int(filled),
        "wall_seconds": wall,
        "quotes_per_second": covered / wall if wall > 0 else 0.0,
    }


# -- the parent --------------------------------------------------------------------------------


def default_folder() -> Path:
    raw = os.environ.get("BETTER_ORDERS_DATA") or str(HERE.parent.parent / "shared" / "data")
    path = Path(raw)
    return path / "quotes" if (path / "quotes").is_dir() else path


def nautilus_python() -> Path:
    """The venv's python, creating the venv and installing NautilusTrader on first use."""
    python = VENV / "bin" / "python"
    check = f"import nautilus_trader as n; assert n.__version__ == '{NAUTILUS_VERSION}'"
    ready = python.exists() and subprocess.run([python, "-c", check], capture_output=True)
    if ready and ready.returncode == 0:
        return python
    print(
        f"creating {VENV} with nautilus_trader=={NAUTILUS_VERSION} (first run only)...",
        file=sys.stderr,
    )
    subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", f"nautilus_trader=={NAUTILUS_VERSION}"],
        check=True,
    )
    subprocess.run([python, "-c", check], check=True)
    return python


def write_orders(quotes_path: Path, count: int, folder: Path) -> tuple[Path, str, int]:
    """The order stream for one file; returns its path, the symbol and the rows in the file."""
    from better_orders.core.market_calendar import default_calendar
    from better_orders.tca.decisions import QuoteFile
    from better_orders.venues.sim.files import to_ns

    qf = QuoteFile.load(quotes_path)
    session = default_calendar().session_at(qf.session_open())
    assert session is not None
    open_us = to_ns(session.open) // 1000
    span_us = to_ns(session.close) // 1000 - open_us
    orders = [
        [
            (open_us + (2 * k + 1) * span_us // (2 * count)) * 1000,
            "buy" if k % 2 == 0 else "sell",
            ORDER_QTY,
        ]
        for k in range(count)
    ]
    spec = {
        "symbol": qf.quotes.symbol,
        "ticks": 1,
        "submit_latency_ns": SUBMIT_LATENCY_NS,
        "start_ns": orders[0][0],
        "end_ns": orders[-1][0] + 1_000_000_000,  # replay_marketable_orders runs 1 s past
        "orders": orders,
    }
    path = folder / f"{quotes_path.name}.orders.json"
    path.write_text(json.dumps(spec))
    return path, qf.quotes.symbol, len(qf.quotes)


def run_child(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def best_of(command: list[str], repeat: int) -> dict[str, Any]:
    """Fastest of ``repeat`` fresh processes; peak RSS is the largest seen."""
    runs = [run_child(command) for _ in range(repeat)]
    best = min(runs, key=lambda r: r["wall_seconds"])
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    best["walls"] = [r["wall_seconds"] for r in runs]
    return best


HEADER = (
    f"{'engine':30} {'quotes':>8} {'orders':>7} {'fills':>6} {'filled':>8} "
    f"{'wall s':>8} {'quotes/s':>11} {'peak MB':>8} {'import MB':>9}"
)


def row(r: dict[str, Any]) -> str:
    return (
        f"{r['engine']:30} {r['quotes']:8,d} {r['orders']:7,d} {r['fills']:6,d} "
        f"{r['filled_qty']:8,d} {r['wall_seconds']:8.3f} {r['quotes_per_second']:11,.0f} "
        f"{r['peak_rss_mb']:8.1f} {r['import_rss_mb']:9.1f}"
    )


def compare_file(
    path: Path, args: argparse.Namespace, theirs_python: Path, tmp: Path
) -> dict[str, Any]:
    """Both engines on one file; prints its table and returns every measurement."""
    orders_path, symbol, rows = write_orders(path, args.orders, tmp)
    files = [str(path), str(orders_path)]
    ours = [sys.executable, str(Path(__file__).resolve()), "--ours"]
    theirs = best_of([str(theirs_python), str(HERE / "nautilus_side.py"), *files], args.repeat)
    mine = {mode: best_of([*ours, mode, *files], args.repeat) for mode in OUR_MODES}
    print(
        f"\n{path.name}: {symbol}, {rows:,} rows in the file, {args.orders:,} IOC orders "
        f"of {ORDER_QTY} over the session, best of {args.repeat}"
    )
    print(HEADER)
    for r in (theirs, *mine.values()):
        print(row(r))
    base = theirs["quotes_per_second"]
    ratios = ", ".join(f"{m}: {mine[m]['quotes_per_second'] / base:.1f}x" for m in OUR_MODES)
    print(f"ours/theirs quotes per second: {ratios}")
    same = mine["row"]["fills_digest"] == mine["fast"]["fills_digest"]
    print(
        f"fast path fills identical to row by row: {'yes' if same else 'NO'} "
        f"(it read {mine['fast']['rows_read']:,} rows); load and conversion, not in wall s: "
        f"theirs {theirs['load_seconds']:.2f} s, ours {mine['row']['load_seconds']:.2f} s"
    )
    entry: dict[str, Any] = {"file": path.name, "nautilus": theirs, **mine}
    if not args.no_ladder:
        ladder = best_of([*ours, "ladder", *files], 1)
        print(
            f"reference, not the same work:\n{row(ladder)}  (rows read {ladder['rows_read']:,}, "
            f"ladders cut short by the end of the file {ladder['unfinished']})"
        )
        entry["ladder"] = ladder
    return entry


def print_totals(results: list[dict[str, Any]]) -> None:
    print("\nall files (total rows / total wall)")
    keys = ["nautilus", *OUR_MODES]
    quotes = {k: sum(r[k]["quotes"] for r in results) for k in keys}
    wall = {k: sum(r[k]["wall_seconds"] for r in results) for k in keys}
    theirs = quotes["nautilus"] / wall["nautilus"]
    for k in keys:
        qps = quotes[k] / wall[k]
        print(
            f"{results[0][k]['engine']:30} {quotes[k]:8,d} rows {wall[k]:8.3f} s "
            f"{qps:11,.0f} quotes/s {qps / theirs:6.1f}x NautilusTrader"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", action="append", help="quote file (repeatable)")
    parser.add_argument("--orders", type=int, default=2340, help="orders per file (every 10 s)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per engine")
    parser.add_argument("--no-ladder", action="store_true", help="skip the ladder reference")
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument("--ours", nargs=3, metavar=("MODE", "QUOTES", "ORDERS"), help="internal")
    args = parser.parse_args()
    if args.ours:
        print(json.dumps(run_ours(*args.ours)))
        return
    if args.orders < 1 or args.repeat < 1:
        raise SystemExit("--orders and --repeat must be at least 1")
    try:
        import better_orders  # noqa: F401
    except ImportError:
        project_python = HERE.parent / ".venv" / "bin" / "python"
        if not project_python.exists() or Path(sys.executable) == project_python:
            raise SystemExit("better_orders is not importable: install the project first") from None
        os.execv(project_python, [str(project_python), *sys.argv])
    if args.file:
        files = [Path(f) for f in args.file]
    else:
        files = [default_folder() / name for name in DEFAULT_FILES]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(
            f"no quote file {', '.join(missing)}: set BETTER_ORDERS_DATA or pass --file"
        )
    theirs_python = nautilus_python()
    with tempfile.TemporaryDirectory() as tmp:
        results = [compare_file(path, args, theirs_python, Path(tmp)) for path in files]
    if len(results) > 1:
        print_totals(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
