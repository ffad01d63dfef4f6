"""``better-orders data``: historical quotes and trades in a Parquet dataset.

``data fetch`` downloads symbol-days from Alpaca's Market Data API v2, ``data
import`` converts the shared gzip CSV files, ``data ls`` lists what a dataset
holds and ``data examples`` where the example files shipped with the package are.
``tca --quotes`` and ``order --quotes`` read a dataset folder, a symbol folder
(``DIR/symbol=IBM``) or one symbol-day (``DIR/symbol=IBM/date=2013-10-07``).
"""

from __future__ import annotations

import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.markup import escape
from rich.table import Table

from better_orders.cli.common import add_number_column, console, err_console, print_json
from better_orders.cli.extras import require_extra
from better_orders.cli.help_format import Command, Group
from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import NEW_YORK, default_calendar
from better_orders.data.dataset import Dataset, default_dataset_path
from better_orders.data.plan import DEFAULT_WINDOW, Window, parse_day, plan_fetch
from better_orders.data.symbol_day import DatasetError

if TYPE_CHECKING:
    from better_orders.data.alpaca_client import HistoricalClient
    from better_orders.data.fetch import FetchEvent, FetchOutcome
    from better_orders.data.symbol_day import SymbolDay
    from better_orders.venues.alpaca.credentials import Credentials

data_app = typer.Typer(
    name="data",
    cls=Group,
    help="Historical quotes and trades: fetch from Alpaca, import files, list a dataset.",
    no_args_is_help=True,
)

DatasetOption = Annotated[
    Path | None,
    typer.Option(
        "--dataset",
        metavar="DIR",
        help="the dataset folder (default $BETTER_ORDERS_DATASET, else the user data folder)",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON only")]


def _dataset_path(given: Path | None) -> Path:
    return given if given is not None else default_dataset_path()


# -- fetch -----------------------------------------------------------------------------------------


@data_app.command("fetch", cls=Command)
def fetch(
    symbols: Annotated[list[str], typer.Argument(metavar="SYMBOL...", help="tickers, e.g. TQQQ")],
    start: Annotated[str, typer.Option(metavar="DATE", help="first day, e.g. 2026-11-02")],
    end: Annotated[
        str | None, typer.Option(metavar="DATE", help="last day, included (default: --start)")
    ] = None,
    window: Annotated[
        str,
        typer.Option(
            metavar="HH:MM-HH:MM",
            help="part of each day to fetch, New York time; 'session' for open to close",
        ),
    ] = DEFAULT_WINDOW,
    feed: Annotated[
        str, typer.Option(metavar="sip|iex", help="consolidated (SIP) or IEX quotes")
    ] = "sip",
    dataset: DatasetOption = None,
    rate_limit: Annotated[
        float,
        typer.Option(metavar="N", help="requests per minute (200 on Alpaca's free plan)"),
    ] = 200,
    page_size: Annotated[
        int, typer.Option(metavar="N", help="rows per request, at most 10000")
    ] = 10_000,
    json_out: JsonOption = False,
) -> None:
    """Fetch historical quotes and trades from Alpaca into a Parquet dataset (resumable)."""
    require_extra("data", "better-orders data fetch")
    from better_orders.data.alpaca_client import HistoricalClient
    from better_orders.data.fetch import FetchInterrupted, check_page_rows, prepare_fetch
    from better_orders.data.pacing import RequestPacer

    # Every option is checked before the banner (and before the keys are looked for); the
    # symbols need the server's asset list, asked before the banner too.
    check_page_rows(page_size)
    if not (math.isfinite(rate_limit) and rate_limit > 0):
        raise InvalidInputError(
            f"--rate-limit must be a positive number of requests a minute, got {rate_limit:g}"
        )
    first = parse_day(start, "--start")
    last = parse_day(end, "--end") if end is not None else first
    today = datetime.now(UTC).astimezone(NEW_YORK).date()
    plan = plan_fetch(
        symbols,
        first,
        last,
        window=Window.parse(window),
        feed=feed.strip().lower(),
        calendar=default_calendar(),
        today=today,
    )
    target = Dataset.for_writing(_dataset_path(dataset))
    credentials = _credentials()
    pacer = RequestPacer(rate_limit)
    client = HistoricalClient(
        data_url=credentials.market_data_url,
        trading_url=credentials.trading_url,
        key_id=credentials.key_id,
        secret=credentials.secret_key,
        pacer=pacer,
    )
    with client:
        prepared = prepare_fetch(plan, target, client, page_rows=page_size)
        if not json_out:
            console.print(f"fetching {plan.describe()} into {target.root}", soft_wrap=True)
        with _FetchProgress(len(plan.requests), client, quiet=json_out) as progress:
            try:
                outcomes = prepared.run(on_event=progress)
            except KeyboardInterrupt:
                progress.stop()
                raise FetchInterrupted(
                    f"interrupted after {progress.finished} of {len(plan.requests)} "
                    "symbol-day(s); the pages fetched are kept: run the same command again "
                    "to continue"
                ) from None
    stats = client.stats
    if json_out:
        print_json(
            {
                "dataset": str(target.root),
                "symbol_days": [_outcome_json(o) for o in outcomes],
                "requests": stats.requests,
                "rate_limited": stats.rate_limited,
                "retried": stats.retried,
            }
        )
        return
    _print_outcomes(outcomes)
    console.print(
        f"{stats.requests} request(s), {stats.rate_limited} answered 429 (waited out as asked), "
        f"{stats.retried} retried after a failure"
    )


def _credentials() -> Credentials:
    """Alpaca keys from the environment (a missing one is a one-line ``ConfigError``)."""
    from better_orders.venues.alpaca.credentials import BASE_URL_VAR, LIVE_URL, Credentials

    # Only data is read: a live trading URL is as good as the paper one for the asset list.
    live = urlsplit(os.environ.get(BASE_URL_VAR, "")).netloc == urlsplit(LIVE_URL).netloc
    return Credentials.from_env(live=live)


class _FetchProgress:
    """A rich progress bar over symbol-days, with requests, rows and 429s as they happen."""

    def __init__(self, total: int, client: HistoricalClient, *, quiet: bool) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.client = client
        self.finished = 0
        self.rows = 0
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("symbol-days  {task.fields[stats]}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=quiet or not err_console.is_terminal,
        )
        self._task = self._bar.add_task("fetching", total=total, stats="")

    def __enter__(self) -> _FetchProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._bar.stop()

    def __call__(self, event: FetchEvent) -> None:
        stats = self.client.stats
        if event.status is not None:
            self.finished += 1
            self._bar.advance(self._task)
            label = f"{event.day} {event.status}"
        else:
            self.rows += event.rows
            label = f"{event.day} {event.kind} p{event.page}"
        self._bar.update(
            self._task,
            description=label,
            stats=f"{stats.requests} req  {self.rows:,} rows  {stats.rate_limited} x 429",
        )


def _outcome_json(outcome: FetchOutcome) -> dict[str, Any]:
    return {
        "symbol": outcome.day.symbol,
        "date": outcome.day.day.isoformat(),
        "status": outcome.status,
        "quotes": outcome.quotes,
        "trades": outcome.trades,
        "path": str(outcome.day.path),
    }


def _print_outcomes(outcomes: list[FetchOutcome]) -> None:
    table = Table(title="symbol-days")
    table.add_column("symbol", no_wrap=True)
    table.add_column("date", no_wrap=True)
    table.add_column("status")
    add_number_column(table, "quotes")
    add_number_column(table, "trades")
    for o in outcomes:
        table.add_row(
            o.day.symbol, o.day.day.isoformat(), o.status, f"{o.quotes:,}", f"{o.trades:,}"
        )
    console.print(table)


# -- import ----------------------------------------------------------------------------------------


@data_app.command("import", cls=Command)
def import_command(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE...", help="shared-data quote files (gzip CSV)"),
    ],
    dataset: DatasetOption = None,
    json_out: JsonOption = False,
) -> None:
    """Convert quote files (and the trades files beside them) into a Parquet dataset."""
    require_extra("data", "better-orders data import", modules=["pyarrow"])
    from better_orders.data.importer import import_files, plan_import

    plan_import(files)  # every file checked before the dataset is touched
    target = Dataset.for_writing(_dataset_path(dataset))
    done = import_files(files, target)
    if json_out:
        print_json(
            {
                "dataset": str(target.root),
                "symbol_days": [
                    {
                        "symbol": d.day.symbol,
                        "date": d.day.day.isoformat(),
                        "quotes": d.quotes,
                        "trades": d.trades,
                        "files": list(d.files),
                    }
                    for d in done
                ],
            }
        )
        return
    table = Table(title=f"imported into {target.root}")
    table.add_column("symbol", no_wrap=True)
    table.add_column("date", no_wrap=True)
    add_number_column(table, "quotes")
    add_number_column(table, "trades")
    table.add_column("from")
    for d in done:
        trades = "-" if d.trades is None else f"{d.trades:,}"
        table.add_row(
            d.day.symbol, d.day.day.isoformat(), f"{d.quotes:,}", trades, ", ".join(d.files)
        )
    console.print(table)


# -- ls --------------------------------------------------------------------------------------------


@data_app.command("ls", cls=Command)
def ls(dataset: DatasetOption = None, json_out: JsonOption = False) -> None:
    """List a dataset's symbol-days: rows, time range and where they came from."""
    found = Dataset.for_reading(_dataset_path(dataset))
    days = found.symbol_days()
    rows = [_listing(d) for d in days]
    if json_out:
        print_json({"dataset": str(found.root), "symbol_days": rows})
        return
    unfinished = sum(not row["complete"] for row in rows)
    damaged = sum(row["status"] == "damaged" for row in rows)
    counted = f", {unfinished} not complete" if unfinished else ""
    table = Table(title=f"{found.root}: {len(days)} symbol-day(s){counted}")
    for header in ("symbol", "date"):
        table.add_column(header, no_wrap=True)
    add_number_column(table, "quotes")
    add_number_column(table, "trades")
    table.add_column("first ET", no_wrap=True)
    table.add_column("last ET", no_wrap=True)
    table.add_column("source")
    for row in rows:
        table.add_row(
            row["symbol"],
            row["date"],
            _count(row["quotes"]),
            _count(row["trades"]),
            row["first_et"] or "-",
            row["last_et"] or "-",
            escape(row["origin"]),
        )
    console.print(table)
    for row in rows:
        if row["status"] == "damaged":
            console.print(
                f"{row['symbol']} {row['date']} damaged: {row['problem']}", soft_wrap=True
            )
    if damaged:
        console.print(
            f"{damaged} symbol-day(s) damaged: tca and order refuse them until they are "
            "fetched or imported again",
            soft_wrap=True,
        )


def _listing(day: SymbolDay) -> dict[str, Any]:
    state = day.state()
    base: dict[str, Any] = {
        "symbol": day.symbol,
        "date": day.day.isoformat(),
        "complete": state.status == "complete",
        "status": state.status,
        "problem": state.reason,
    }
    manifest = _readable_manifest(day)
    if state.status != "complete" or manifest is None:
        # No rows listed: the files do not hold what the manifest says (or it is missing).
        # Where a damaged day came from says what to fetch or import again.
        unknown = dict.fromkeys(("quotes", "trades", "first_et", "last_et"))
        return base | unknown | {"origin": state.status} | _provenance(manifest)
    quotes, trades = manifest.get("quotes") or {}, manifest.get("trades")
    return (
        base
        | {
            "quotes": quotes.get("rows"),
            "trades": trades.get("rows") if trades else None,
            "first_et": _et(quotes.get("first_ns")),
            "last_et": _et(quotes.get("last_ns")),
            "origin": _origin(manifest.get("origin") or {}),
        }
        | _provenance(manifest)
    )


def _readable_manifest(day: SymbolDay) -> dict[str, Any] | None:
    try:
        return day.manifest()
    except DatasetError:  # listed as damaged
        return None


def _provenance(manifest: dict[str, Any] | None) -> dict[str, Any]:
    if manifest is None:
        return {}
    return {"provenance": {"source": manifest.get("source"), "origin": manifest.get("origin")}}


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _et(ns: int | None) -> str | None:
    if ns is None:
        return None
    instant = datetime.fromtimestamp(ns // 1_000_000_000, UTC).astimezone(NEW_YORK)
    return f"{instant:%H:%M:%S}"


def _origin(origin: dict[str, Any]) -> str:
    """``fetch sip`` or ``import`` (the full record is in ``--json``)."""
    if origin.get("kind") == "fetch":
        return f"fetch {origin.get('feed')}"
    return str(origin.get("kind") or "?")


# -- examples --------------------------------------------------------------------------------------


@data_app.command("examples", cls=Command)
def examples(
    paths: Annotated[
        bool, typer.Option("--paths", help="print only the quote files' paths, one a line")
    ] = False,
) -> None:
    """Where the example quote files shipped with the package are (IBM, AIG, BAC at the open)."""
    from better_orders.data.example_data import example_quote_files, examples_folder

    files = example_quote_files()
    if paths:
        sys.stdout.write("".join(f"{f}\n" for f in files))
        return
    console.print(f"example quote data in {examples_folder()}", soft_wrap=True)
    for f in files:
        console.print(f"  {f.name}", soft_wrap=True)
    console.print(
        "QuantConnect/Lean sample data (Apache-2.0, supplied by AlgoSeek), 09:29-09:40 ET on "
        "2013-10-07; provenance in README.md there. Try: better-orders tca --example",
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
