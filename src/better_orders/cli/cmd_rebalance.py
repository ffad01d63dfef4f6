"""``better-orders rebalance SYMBOL=WEIGHT ...``: trade the portfolio to target weights."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from better_orders.cli.common import (
    AtOption,
    BrokerOption,
    ConfigOption,
    DbOption,
    FeedOption,
    LiveOption,
    MaxDeployedOption,
    MaxTargetAgeOption,
    MaxTurnoverOption,
    SeedOption,
    SimProfileOption,
    WaitOption,
    YesOption,
    add_number_column,
    console,
    guards_from,
    load_sim_profile,
    parse_instant,
    print_error,
    print_json,
    venue_choice,
    words,
)
from better_orders.cli.exit_codes import first_refused, refusal_line, run_exit_code
from better_orders.cli.help_format import Command
from better_orders.cli.report_view import marks_wait, real_time_marks
from better_orders.config.loader import load_config
from better_orders.core.errors import InvalidInputError
from better_orders.core.ladder import Finished, SubmitOrder
from better_orders.core.plan import Plan
from better_orders.engine.commands import run_rebalance
from better_orders.engine.legs import LadderEvent
from better_orders.engine.rebalance import RebalanceReport, targets_from_pairs
from better_orders.engine.scheduled_run import guarded, stale_check
from better_orders.engine.targets import read_targets_file


def plan_table(plan: Plan) -> Table:
    table = Table(title="plan (sells first)", title_justify="left")
    add_number_column(table, "#")
    table.add_column("symbol", no_wrap=True)
    table.add_column("side")
    add_number_column(table, "qty")
    add_number_column(table, "ref price")
    add_number_column(table, "notional")
    table.add_column("reason")
    for i, t in enumerate(plan.trades, start=1):
        table.add_row(
            str(i),
            t.symbol,
            t.side.value,
            str(t.qty),
            str(t.reference_price.quantize(Decimal("0.01"))),
            f"{t.notional:,.2f}",
            t.reason,
        )
    for s in plan.skipped:
        table.add_row("-", s.symbol, "skip", "", "", "", s.reason)
    return table


class LiveTable:
    """One row per leg: ladder state, spread class, latest attempt, filled/total, cost.

    States and attempt kinds are shown as words so that, at 80 columns, they wrap
    rather than push the numbers out of shape. The table appears with the first
    ladder event: a rebalance refused before any leg starts shows no empty table.
    """

    COLUMNS = ("symbol", "side", "state", "spread", "attempt", "filled", "cost")

    def __init__(self, console: Console | None = None, marks_after: Sequence[float] = ()) -> None:
        self.rows: dict[int, dict[str, str]] = {}
        self.console = console
        self.live: Live | None = None
        #: Said under the table once every leg is done (``report_view.marks_wait``).
        self.wait_note = marks_wait(marks_after)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def render(self) -> Table:
        table = Table(title="executing", title_justify="left")
        add_number_column(table, "#")
        table.add_column("symbol", no_wrap=True)
        for header in ("side", "state", "spread", "attempt"):
            table.add_column(header)
        add_number_column(table, "filled")
        add_number_column(table, "cost bps")
        for leg, row in sorted(self.rows.items()):
            table.add_row(str(leg), *(row.get(key, "-") for key in self.COLUMNS))
        if (
            self.wait_note is not None
            and self.rows
            and all(row.get("state") == "done" for row in self.rows.values())
        ):
            table.caption = self.wait_note
            table.caption_justify = "left"
        return table

    def __call__(self, ev: LadderEvent) -> None:
        lad = ev.ladder
        rep = lad.report
        row = self.rows.setdefault(ev.leg, {})
        row["symbol"] = ev.symbol
        row["side"] = lad.parent.side.value
        row["state"] = words(lad.state.value)
        if isinstance(ev.item, SubmitOrder):
            row["attempt"] = f"{ev.item.attempt} {words(ev.item.kind.value)}"
        row["filled"] = f"{lad.filled_qty}/{lad.parent.qty}"
        if isinstance(ev.item, Finished) and rep is not None:
            row["spread"] = str(rep.spread_class)
            row["cost"] = f"{rep.cost_bps:.2f}" if rep.cost_bps is not None else "-"
        if self.live is None and self.console is not None:
            self.live = Live(self.render(), console=self.console, refresh_per_second=8)
            self.live.start()
        elif self.live is not None:
            self.live.update(self.render())


def summary_table(report: RebalanceReport) -> Table:
    table = Table(title="result", title_justify="left")
    table.add_column("symbol", no_wrap=True)
    for header in ("target", "final weight", "qty", "value"):
        add_number_column(table, header)
    for r in report.results:
        table.add_row(
            r.symbol,
            f"{r.target_weight:.2%}",
            f"{r.final_weight:.2%}",
            str(r.final_qty),
            f"{r.final_value:,.2f}",
        )
    return table


def rebalance(
    targets: Annotated[
        list[str] | None,
        typer.Argument(metavar="SYMBOL=WEIGHT", help="target weights, e.g. TQQQ=0.6 SPY=40%"),
    ] = None,
    targets_file: Annotated[
        Path | None,
        typer.Option("--targets", metavar="FILE", help="targets file (.toml, .json or .csv)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the plan, send nothing")] = False,
    at: AtOption = None,
    seed: SeedOption = 0,
    sim_profile: SimProfileOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON only")] = False,
    broker: BrokerOption = "sim",
    live: LiveOption = False,
    yes: YesOption = False,
    feed: FeedOption = "auto",
    resume: Annotated[
        str | None,
        typer.Option(
            metavar="RUN",
            help="finish the interrupted run RUN (its own targets unless given); an "
            "unfinished run of the same targets is resumed without it",
        ),
    ] = None,
    notional_buys: Annotated[
        bool,
        typer.Option(
            "--notional-buys",
            help="buy dollar amounts as notional market orders (exact fractions, no ladder: "
            "no price control); sets rebalance.notional_buys",
        ),
    ] = False,
    wait: WaitOption = False,
    max_deployed: MaxDeployedOption = None,
    max_turnover: MaxTurnoverOption = None,
    max_target_age: MaxTargetAgeOption = None,
) -> None:
    """Rebalance the (paper) portfolio to target weights, sells first, each leg through a ladder.

    Run again after an interruption (a crash, Ctrl-C), the same targets finish the
    interrupted run exactly once instead of planning a new one.
    """
    pairs = targets_from_pairs(targets or [])
    doc = read_targets_file(targets_file) if targets_file is not None else None
    pairs += doc.pairs if doc is not None else []
    if not pairs and resume is None:
        raise InvalidInputError("no targets given: use SYMBOL=WEIGHT ... or --targets FILE")
    venue = venue_choice(broker, live=live, yes=yes, feed=feed)
    profile = load_sim_profile(sim_profile)
    cfg = load_config(config).config
    if notional_buys:
        rebalance_settings = cfg.rebalance.model_copy(update={"notional_buys": True})
        cfg = cfg.model_copy(update={"rebalance": rebalance_settings})
    guards = guards_from(cfg, max_deployed, max_turnover, max_target_age)
    start = parse_instant(at) if at is not None else None
    if doc is not None:
        stale_check(doc, start or dt.datetime.now(dt.UTC), guards.max_target_age)

    def show_plan(plan: Plan) -> None:
        if not json_out:
            console.print(plan_table(plan))
            for note in plan.notes:
                console.print(f"[dim]note: {note}[/]")

    marks_after = real_time_marks(cfg, venue)
    observer = None if json_out or dry_run else LiveTable(console, marks_after)
    with contextlib.closing(observer) if observer is not None else contextlib.nullcontext():
        report = run_rebalance(
            pairs,
            venue=venue,
            db=db,
            config=cfg,
            dry_run=dry_run,
            observer=observer,
            on_plan=guarded(guards, None, show_plan),
            resume=resume,
            wait=wait,
            at=start,
            seed=seed,
            sim_profile=profile,
        )
    code = run_exit_code(report.executions, undone=bool(report.undone))
    if json_out:
        print_json(report)
        _exit(report, code)  # the same exit status as the table view
        return
    if dry_run:
        console.print("[bold]dry run:[/] nothing was sent")
        return
    console.print()
    console.print(summary_table(report))
    cost = report.total_cost_bps
    console.print(
        f"traded ${report.traded_notional:,.2f}; cost vs arrival mids "
        f"${report.total_cost_dollars:,.2f}"
        + (f" ({cost:.2f} bps)" if cost is not None else "")
        + f"; equity ${report.final_equity:,.2f}, cash ${report.final_cash:,.2f}"
    )
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    for item in report.undone:
        console.print(f"[yellow]undone:[/] {item}")
    console.print(f"[dim]run {report.run_id}[/]")
    _exit(report, code)


def _exit(report: RebalanceReport, code: int) -> None:
    """Exit ``code`` (if not 0) after one line: the first refusal, or how much was undone."""
    if not code:
        return
    refused = first_refused(report.executions)
    if refused is not None:
        print_error(refusal_line(refused))
    else:
        legs = "leg" if len(report.undone) == 1 else "legs"
        print_error(
            f"rebalance incomplete: {len(report.undone)} {legs} undone ({report.undone[0]})"
        )
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("rebalance", cls=Command)(rebalance)
