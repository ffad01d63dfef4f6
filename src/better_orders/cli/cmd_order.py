"""``better-orders order buy|sell SYMBOL QTY``: one parent order through the ladder."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from better_orders.cli.common import (
    AtOption,
    BrokerOption,
    ConfigOption,
    DbOption,
    FeedOption,
    LiveOption,
    SeedOption,
    SimProfileOption,
    WaitOption,
    YesOption,
    console,
    load_sim_profile,
    parse_instant,
    print_error,
    print_json,
    venue_choice,
)
from better_orders.cli.exit_codes import (
    first_refused,
    refusal_line,
    run_exit_code,
    undone_line,
)
from better_orders.cli.help_format import Command
from better_orders.cli.report_view import (
    StepPrinter,
    attempts_table,
    real_time_marks,
    report_table,
)
from better_orders.config.loader import load_config
from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import NEW_YORK
from better_orders.data.dataset import find_symbol_day, symbol_days_at
from better_orders.data.symbol_day import SymbolDay
from better_orders.engine.commands import run_orders
from better_orders.engine.execution import OrderSpec

#: A word the option parser takes for an option but a user meant as a (negative) quantity.
_NEGATIVE_NUMBER = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


class OrderCommand(Command):
    """``order buy TQQQ -5``: a negative quantity is refused as one, not as an unknown option."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        given = list(args)  # the parser consumes the list
        try:
            return super().parse_args(ctx, args)
        except typer.TyperException as exc:
            name = getattr(exc, "option_name", None) or "-"
            word = next((a for a in given if a.startswith(name)), "")
            if _NEGATIVE_NUMBER.match(word):
                raise InvalidInputError(f"quantity must be positive, got {word}") from None
            raise


def order(
    side: Annotated[str, typer.Argument(metavar="SIDE", help="buy or sell")],
    symbol: Annotated[str, typer.Argument(metavar="SYMBOL", help="ticker, e.g. TQQQ")],
    qty: Annotated[
        str, typer.Argument(metavar="QTY", help="quantity (fractional allowed, 9 decimals)")
    ],
    max_slippage_bps: Annotated[
        str | None, typer.Option(metavar="BPS", help="slippage budget vs the arrival mid")
    ] = None,
    on_budget: Annotated[
        str | None,
        typer.Option(
            metavar="stop|finish",
            help="when the market runs beyond the budget: stop (default) or finish at market",
        ),
    ] = None,
    at: AtOption = None,
    quotes: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="replay this quote file instead of synthetic quotes; or a dataset (or symbol) "
            "folder: the symbol's day of --at",
        ),
    ] = None,
    seed: SeedOption = 0,
    sim_profile: SimProfileOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON only")] = False,
    broker: BrokerOption = "sim",
    live: LiveOption = False,
    yes: YesOption = False,
    feed: FeedOption = "auto",
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="start a new order even if an interrupted run of the same order has some left",
        ),
    ] = False,
    wait: WaitOption = False,
) -> None:
    """Execute one order through the ladder (on the simulator unless --broker alpaca).

    Run again after an interruption (a crash, Ctrl-C), the same order completes only
    what is left of the interrupted run; --new starts a new order instead.
    """
    spec = OrderSpec.parse(symbol, qty, side, max_slippage_bps)
    if on_budget is not None and on_budget not in ("stop", "finish"):
        raise InvalidInputError(f"unknown on_budget {on_budget!r}: use stop or finish")
    venue = venue_choice(broker, live=live, yes=yes, feed=feed)
    cfg = load_config(config).config
    if on_budget is not None:
        ladder = cfg.ladder.model_copy(update={"on_budget": on_budget})
        cfg = cfg.model_copy(update={"ladder": ladder})
    start = parse_instant(at) if at is not None else None
    if quotes is not None:
        quotes = _quote_source(quotes, spec.symbol, start)
    observer = None if json_out else StepPrinter(console, real_time_marks(cfg, venue))
    run_id, reports = run_orders(
        [spec],
        venue=venue,
        db=db,
        config=cfg,
        observer=observer,
        new=new,
        wait=wait,
        at=start,
        seed=seed,
        quotes=[quotes] if quotes else None,
        sim_profile=load_sim_profile(sim_profile),
    )
    report = reports[0]
    if json_out:
        print_json({"run_id": run_id, "report": report})
    else:
        console.print()
        console.print(report_table(report))
        console.print(attempts_table(report, console.width))
        console.print(f"[dim]run {run_id}[/]")
    refused = first_refused(reports)
    if refused is not None:
        print_error(refusal_line(refused))
    elif not report.complete:
        print_error(undone_line(report))
    code = run_exit_code(reports, undone=not report.complete)
    if code:
        raise typer.Exit(code)


def _quote_source(path: Path, symbol: str, at: datetime | None) -> Path:
    """A quote file or symbol-day as given; in a dataset or symbol folder, the symbol's day of
    ``at`` (or its only day). Only the days of ``symbol`` are checked: another symbol's day
    fetched halfway does not stop this order."""
    if at is not None:
        found = find_symbol_day(path, symbol, at.astimezone(NEW_YORK).date())
        if found is not None:
            return found.path
    days = symbol_days_at(path, symbol=symbol)
    if days is None or SymbolDay.from_path(path) is not None:
        return path
    mine = [d for d in days if d.symbol == symbol]
    if len(mine) != 1:
        held = f"{len(mine)} days" if mine else "no day"
        raise InvalidInputError(
            f"--quotes {path} holds {held} of {symbol}: choose the day with --at"
        )
    return mine[0].path


def register(app: typer.Typer) -> None:
    app.command("order", cls=OrderCommand)(order)
