"""``better-orders demo``: a scripted tour of the ladder at a simulated open.

Three short scenes on scripted quotes, each a real run of the ladder against the
simulated exchange: a wide spread at 09:30 that the ladder waits out; a thin
offer that fills partly, then a re-peg of the remainder; an offer that runs away
until the fallback, a marketable limit at the slippage budget's bound, finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory
from zoneinfo import ZoneInfo

import typer

from better_orders.cli.common import console
from better_orders.cli.help_format import Command
from better_orders.cli.report_view import StepPrinter, report_table
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.model import ExecutionReport, Quote, Side
from better_orders.engine.commands import run_orders_simulated
from better_orders.engine.execution import OrderSpec
from better_orders.engine.legs import LadderEvent

ET = ZoneInfo("America/New_York")
OPEN = datetime(2026, 11, 24, 9, 30, tzinfo=ET)


def _rows(symbol: str, rows: list[tuple[float, str, str, int]]) -> list[Quote]:
    """(seconds after 09:30:05, bid, ask, size); the last quote repeats each second for 2 min."""
    start = OPEN + timedelta(seconds=5)
    last = rows[-1]
    rows = rows + [(last[0] + k, last[1], last[2], last[3]) for k in range(1, 121)]
    return [
        Quote(symbol, Decimal(b), Decimal(a), Decimal(n), Decimal(n), start + timedelta(seconds=s))
        for s, b, a, n in rows
    ]


#: The re-peg and fallback scenes cross from their first quote (no patient rest first).
_CROSSING = BetterOrdersConfig(patience={"opening_seconds": 0, "regular_seconds": 0})

SCENES: list[tuple[str, str, list[tuple[float, str, str, int]], BetterOrdersConfig]] = [
    (
        "A wide spread at the open: wait (bounded) for it to normalise, then execute",
        "TQQQ",
        [(0, "74.80", "75.00", 900), (20, "74.86", "74.96", 900), (41, "74.93", "74.95", 1500)],
        BetterOrdersConfig(),
    ),
    (
        "A thin offer: a partial fill, then a re-peg of the remainder at a fresh quote",
        "SOXL",
        [(0, "30.10", "30.11", 120), (1.2, "30.12", "30.14", 2000)],
        _CROSSING,
    ),
    (
        "An offer that runs away: re-pegs exhausted, then the fallback at the budget's bound",
        "SPXL",
        [(k * 1.0, f"{180 + 0.02 * k:.2f}", f"{180.01 + 0.02 * k:.2f}", 40) for k in range(12)],
        _CROSSING,
    ),
]


def run_scenes(observer: Callable[[LadderEvent], None] | None = None) -> list[ExecutionReport]:
    """Each scene's order through the ladder on its scripted quotes; one report per scene."""
    from better_orders.venues.sim.replay import ReplayQuotes

    reports: list[ExecutionReport] = []
    with TemporaryDirectory(prefix="better-orders-demo-") as tmp:
        db = Path(tmp) / "demo.sqlite3"
        for n, (title, symbol, rows, cfg) in enumerate(SCENES, start=1):
            if observer is not None:
                console.rule(f"[bold]{n}. {title}")
            quotes = _rows(symbol, rows)
            _, (report,) = run_orders_simulated(
                [OrderSpec(symbol, Side.BUY, Decimal(300))],
                at=quotes[0].ts,
                db=db,
                replay={symbol: ReplayQuotes.from_quotes(quotes)},
                config=cfg,
                observer=observer,
            )
            if observer is not None:
                console.print(report_table(report))
            reports.append(report)
    return reports


def demo() -> None:
    """Three scenes at a simulated 09:30 open: spread wait, partial fill + re-peg, fallback."""
    run_scenes(StepPrinter(console))
    console.print(
        "\nNext: [bold]better-orders order buy TQQQ 100[/] or "
        "[bold]better-orders rebalance TQQQ=0.6 SPY=0.4[/] (simulated by default)."
    )


def register(app: typer.Typer) -> None:
    app.command("demo", cls=Command)(demo)
