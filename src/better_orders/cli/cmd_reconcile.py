"""``better-orders reconcile``: bring the journal in line with the broker after a crash."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from better_orders.cli.common import (
    BrokerOption,
    DbOption,
    LiveOption,
    YesOption,
    console,
    print_error,
    print_json,
    venue_choice,
)
from better_orders.cli.exit_codes import INCOMPLETE
from better_orders.cli.help_format import Command
from better_orders.engine.commands import run_reconcile
from better_orders.store.reconcile_report import OrderAction, ReconcileReport


def findings_table(report: ReconcileReport) -> Table:
    table = Table(title="orders checked", title_justify="left")
    for col in ("client order id", "symbol", "journal", "broker", "filled (j/b)", "action"):
        table.add_column(col)
    for f in report.findings:
        table.add_row(
            f.client_order_id,
            f.symbol,
            f.journal_status,
            f.broker_status.value if f.broker_status else "unknown",
            f"{f.journal_filled}/{'-' if f.broker_filled is None else f.broker_filled}",
            f.action.value,
        )
    return table


def reconcile(
    db: DbOption = None,
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt", help="leave this product's open orders working (default: cancel them)"
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON only")] = False,
    broker: BrokerOption = "sim",
    live: LiveOption = False,
    yes: YesOption = False,
) -> None:
    """Compare the journal with the broker: settle open orders, record missed fills.

    Orders an interrupted run left open are cancelled (or, with --adopt, left working),
    fills the journal missed are recorded once, orders placed outside Better Orders are
    reported and left alone, and positions are compared with the journal's fills. Exits
    1 when a difference remains that it could only report.
    """
    report = run_reconcile(venue=venue_choice(broker, live=live, yes=yes), db=db, adopt=adopt)
    if json_out:
        print_json(
            {
                "open_orders": report.open_orders,
                "cancelled": len(report.cancelled),
                "fills_recovered": report.fills_recovered,
                "foreign_orders": report.foreign_orders,
                "position_differences": report.position_differences,
                "clean": report.clean,
                "report": report,
            }
        )
    else:
        if report.findings:
            console.print(findings_table(report))
        for order in report.foreign:
            console.print(
                f"[yellow]foreign:[/] {order.client_order_id} {order.side.value} {order.qty} "
                f"{order.symbol} ({order.status.value}) was not placed by Better Orders; left alone"
            )
        for diff in report.positions:
            console.print(
                f"[yellow]position:[/] {diff.symbol} broker {diff.broker_qty}, journal "
                f"{diff.journal_qty} (difference {diff.difference})"
            )
        for run in report.busy_runs:
            console.print(f"[dim]run {run} is in progress in another process: left to it[/]")
        for problem in report.problems:
            console.print(f"[red]problem:[/] {problem}")
        console.print(report.summary())
    # What reconcile settled (a fill recorded, an order closed) is no longer a difference;
    # what it can only report is, and exits non-zero.
    left = [
        *report.problems,
        *(
            f"order {f.client_order_id} lost"
            for f in report.findings
            if f.action is OrderAction.LOST
        ),
        *(f"order {o} still open" for o in ([] if adopt else report.still_open)),
        *(f"{d.symbol} position differs by {d.difference}" for d in report.positions),
    ]
    if left:
        more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
        print_error(f"the journal and the broker differ: {left[0]}{more}")
        raise typer.Exit(INCOMPLETE)


def register(app: typer.Typer) -> None:
    app.command("reconcile", cls=Command)(reconcile)
