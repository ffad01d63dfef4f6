"""``better-orders tca``: execution cost of policies replayed on real quote files.

For each decision time and side, every policy runs through the same ladder and
simulated exchange that trade in the simulator (``better_orders.tca``), and the
costs are summarised per file and policy against a market order. A quote file
without executions of its own (``*_bbo``) gets the prints of its companion
``*_trades`` file (found beside it, or named with ``--trades``) as executions, so
resting orders can fill on real trades, conservatively (``sim.fills``). Examples::

    better-orders tca --quotes data/quotes/*_l1.csv.gz
    better-orders tca --quotes f.csv.gz --from 09:30 --to 09:35 --every 1s \\
        --policy ladder,market --report tca.html --png charts/
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from better_orders.cli.common import ConfigOption, console, err_console, print_json
from better_orders.cli.extras import require_extra
from better_orders.cli.help_format import Command
from better_orders.config.loader import load_config
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Side, parse_quantity, to_decimal
from better_orders.tca.decisions import QuoteFile, Sizing
from better_orders.tca.evaluate import TcaResult, run_tca
from better_orders.tca.metrics import DEFAULT_COMPLETION_SECONDS
from better_orders.tca.policies import DEFAULT_POLICIES, available_policies, select_policies
from better_orders.tca.report import summary_rows, write_html, write_pngs
from better_orders.venues.sim.exchange import Latency

_T = TypeVar("_T")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min)?\s*$")


def parse_clock(text: str, what: str) -> time:
    """``09:30`` or ``09:30:15`` (New York wall clock)."""
    try:
        parts = [int(p) for p in text.strip().split(":")]
        if len(parts) not in (2, 3):
            raise ValueError
        return time(parts[0], parts[1], parts[2] if len(parts) == 3 else 0)
    except (ValueError, TypeError):
        raise InvalidInputError(
            f"{what} must be a New York time like 09:30, got {text!r}"
        ) from None


def parse_duration(text: str, option: str, *, allow_zero: bool = False) -> timedelta:
    """``1s``, ``500ms``, ``2m`` or plain seconds."""
    match = _DURATION.match(text)
    if not match:
        raise InvalidInputError(f"{option} must be a duration like 1s, 500ms or 2m, got {text!r}")
    value = float(match.group(1))
    unit = match.group(2) or "s"
    seconds = value / 1000 if unit == "ms" else value * 60 if unit in ("m", "min") else value
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise InvalidInputError(f"{option} must be positive, got {text!r}")
    return timedelta(seconds=seconds)


#: The largest ``--notional``: its shares must stay well within an exact quantity.
MAX_NOTIONAL = Decimal(10) ** 12


def check_outputs(report: Path | None, png: Path | None) -> None:
    """Refuse unusable ``--report``/``--png`` paths now, not after a replay of minutes."""
    if report is not None and report.is_dir():
        raise InvalidInputError(
            f"--report {report} is a folder: give the HTML file's name, e.g. {report / 'tca.html'}"
        )
    if png is not None and png.exists() and not png.is_dir():
        raise InvalidInputError(f"--png {png} is a file: give a folder for the charts")
    for option, path in (("--report", report and report.parent), ("--png", png)):
        blocking = next((p for p in _with_parents(path) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise InvalidInputError(f"{option}: {blocking} is a file, not a folder")


def _with_parents(path: Path | None) -> list[Path]:
    return [] if path is None else [path, *path.parents]


def _written(write: Callable[[], _T], option: str, path: Path) -> _T:
    try:
        return write()
    except OSError as exc:
        raise InvalidInputError(
            f"{option}: cannot write {exc.filename or path}: {exc.strerror or exc}"
        ) from None


def _split(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return out


def tca(
    quotes: Annotated[
        list[Path] | None,
        typer.Option(
            "--quotes", metavar="FILE", help="quote file(s) to replay (gzip CSV or Parquet)"
        ),
    ] = None,
    more_quotes: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILE", help="more quote files (so --quotes a.csv.gz b.csv.gz works)"
        ),
    ] = None,
    start: Annotated[
        str, typer.Option("--from", metavar="HH:MM", help="first decision, New York time")
    ] = "09:30",
    end: Annotated[
        str, typer.Option("--to", metavar="HH:MM", help="decisions before this time")
    ] = "09:35",
    every: Annotated[
        str, typer.Option(metavar="DURATION", help="time between decisions: 1s, 500ms, 2m")
    ] = "1s",
    side: Annotated[
        list[str] | None, typer.Option(metavar="SIDES", help="buy, sell or buy,sell")
    ] = None,
    qty: Annotated[
        str | None, typer.Option(metavar="N", help="shares per decision (default 100)")
    ] = None,
    notional: Annotated[
        str | None,
        typer.Option(metavar="USD", help="dollars per decision instead of --qty (whole shares)"),
    ] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAMES",
            help=f"policies to compare (default {','.join(DEFAULT_POLICIES)})",
        ),
    ] = None,
    policy_file: Annotated[
        Path | None, typer.Option(metavar="FILE", help="TOML file of extra or changed policies")
    ] = None,
    config: ConfigOption = None,
    symbol: Annotated[
        str | None, typer.Option(metavar="SYMBOL", help="trade the files' quotes under this symbol")
    ] = None,
    trades: Annotated[
        list[Path] | None,
        typer.Option(
            "--trades",
            metavar="FILE",
            help="trades file(s) whose prints fill resting orders: one for a single quote "
            "file, or one per quote file in the same order (default: a *_trades file beside "
            "each *_bbo/*_l1 file, if there is one)",
        ),
    ] = None,
    no_trades: Annotated[
        bool, typer.Option("--no-trades", help="do not look for companion trades files")
    ] = False,
    within: Annotated[
        float,
        typer.Option(metavar="SECONDS", help="a decision counts as complete if filled within this"),
    ] = DEFAULT_COMPLETION_SECONDS,
    latency: Annotated[
        str,
        typer.Option(
            metavar="DURATION",
            help="one-way delay of each order and cancel to the venue: 30ms, 0.1s",
        ),
    ] = "30ms",
    json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False,
    summary_only: Annotated[
        bool,
        typer.Option("--summary-only", help="with --json: leave out the per-decision records"),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="write a self-contained HTML report (the tca extra)"),
    ] = None,
    png: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="write PNG charts into this folder (the tca extra)"),
    ] = None,
) -> None:
    """Replay policies on real quotes and compare their execution cost with a market order."""
    if report is not None or png is not None:
        # Checked before the replay, which can take minutes, rather than after it.
        require_extra("tca", "tca --report/--png", modules=["matplotlib"])
        check_outputs(report, png)
    files = list(quotes or []) + list(more_quotes or [])
    if not files:
        raise InvalidInputError("no quote file given: use --quotes FILE...")
    if qty is not None and notional is not None:
        raise InvalidInputError("give --qty or --notional, not both")
    if notional is not None:
        amount = to_decimal(notional, "--notional")
        if not 0 < amount <= MAX_NOTIONAL:
            raise InvalidInputError(
                f"--notional must be positive and at most {MAX_NOTIONAL:,}, got {notional}"
            )
        sizing = Sizing(qty=None, notional=amount)
    else:
        sizing = Sizing(qty=parse_quantity(qty if qty is not None else Decimal(100), "--qty"))
    sides = [Side.parse(s) for s in (_split(side) or ["buy", "sell"])]
    sides = list(dict.fromkeys(sides))
    if not (math.isfinite(within) and within > 0):
        raise InvalidInputError(f"--within must be a positive number of seconds, got {within}")
    cfg = load_config(config).config
    policies = select_policies(
        _split(policy) or list(DEFAULT_POLICIES), available_policies(cfg, policy_file)
    )
    given = list(trades or [])
    if given and no_trades:
        raise InvalidInputError("give --trades or --no-trades, not both")
    if given and len(given) != len(files):
        raise InvalidInputError(
            f"{len(given)} --trades file(s) for {len(files)} quote file(s): give one per "
            "quote file, in the same order"
        )
    loaded = [
        QuoteFile.load(
            f,
            symbol=symbol,
            trades=given[k] if given else None,
            find_trades=not no_trades,
        )
        for k, f in enumerate(files)
    ]
    first, last = parse_clock(start, "--from"), parse_clock(end, "--to")
    step = parse_duration(every, "--every")
    delay = parse_duration(latency, "--latency", allow_zero=True)
    venue_latency = Latency(submit=delay, cancel=delay)

    def run(progress: Any = None) -> TcaResult:
        return run_tca(
            loaded,
            policies,
            cfg,
            start=first,
            end=last,
            every=step,
            sides=sides,
            sizing=sizing,
            within_seconds=within,
            latency=venue_latency,
            progress=progress,
        )

    if json_out:
        result = run()
    else:
        per_file = (
            (last.hour * 3600 + last.minute * 60 + last.second)
            - (first.hour * 3600 + first.minute * 60 + first.second)
        ) / step.total_seconds()
        total = max(1, int(per_file + 0.999999)) * len(loaded) * len(policies) * len(sides)
        columns = (
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("decisions"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("tca", total=total)
            result = run(lambda n: bar.advance(task, n))

    html_path = (
        _written(lambda: write_html(result, report), "--report", report)
        if report is not None
        else None
    )
    pngs = _written(lambda: write_pngs(result, png), "--png", png) if png is not None else []
    if json_out:
        print_json(_as_json(result, summary_only, html_path, pngs))
        return
    _print_table(result)
    if html_path is not None:
        console.print(f"report: {html_path}")
    for p in pngs:
        console.print(f"chart: {p}")


def _as_json(
    result: TcaResult, summary_only: bool, html_path: Path | None, pngs: list[Path]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "files": [
            {"file": f.label, "symbol": f.quotes.symbol, "decisions": len(result.times[f.label])}
            | ({"trades": str(f.trades)} if f.trades is not None else {})
            for f in result.files
        ],
        "policies": [
            {"name": p.name, "description": p.description, "overlay": p.overlay}
            for p in result.policies
        ],
        "sides": [s.value for s in result.sides],
        "within_seconds": result.within_seconds,
        "latency_ms": result.latency.submit.total_seconds() * 1000,
        "wall_seconds": round(result.wall_seconds, 3),
        "summary": [s.as_dict() for s in result.summaries()],
        "by_minute": result.minutes(),
        "report": str(html_path) if html_path else None,
        "png": [str(p) for p in pngs],
    }
    if not summary_only:
        out["decisions"] = [r.as_dict() for r in result.records]
    return out


def _print_table(result: TcaResult) -> None:
    """One table per file: the comparison of the policies on it."""
    within = f"<= {result.within_seconds:g}s"
    columns = {
        "policy": "policy",
        "mean": "mean bps",
        "median": "median bps",
        "p90": "p90 bps",
        "x mkt": "x market",
        "filled": "complete",
        within: f"<= {result.within_seconds:g} s",
        "ttf": "mean ttf s",
        "ttf p90": "p90 ttf s",
    }
    rows = summary_rows(result.summaries())
    for f in result.files:
        n = len(result.times[f.label]) * len(result.sides)
        title = f"{f.label} ({f.quotes.symbol}, {n} decisions per policy): cost vs arrival mid, bps"
        if f.trades is not None:
            title += f"; resting orders fill on the prints of {f.trades.name}"
        table = Table(title=title)
        for header in columns:
            if header == "policy":
                table.add_column(header, no_wrap=True)
            else:
                table.add_column(header, justify="right")
        for row in rows:
            if row["file"] == f.label:
                table.add_row(*(row[key] for key in columns.values()))
        console.print(table)
    n = len(result.records)
    rate = n / result.wall_seconds if result.wall_seconds > 0 else 0.0
    delay = result.latency.submit.total_seconds() * 1000
    console.print(
        f"[dim]{n} decisions in {result.wall_seconds:.1f} s ({rate:.0f}/s); buys and sells "
        f"together; orders reach the venue {delay:g} ms after they are sent; ttf = time from "
        "the decision to the last fill[/]"
    )


def register(app: typer.Typer) -> None:
    app.command("tca", cls=Command)(tca)
