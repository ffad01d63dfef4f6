"""``better-orders phase``: the market phase, strategy and session at an instant."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from better_orders.cli.common import NEW_YORK, console, parse_instant, print_json
from better_orders.cli.help_format import Command
from better_orders.core.market_calendar import PhaseInfo, default_calendar


def _et(value: datetime) -> str:
    return value.astimezone(NEW_YORK).strftime("%a %Y-%m-%d %H:%M:%S %Z")


def _table(info: PhaseInfo) -> Table:
    table = Table(title=f"Market at {_et(info.at)}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("phase", info.phase.value)
    table.add_row("strategy", info.strategy.value if info.strategy is not None else "none")
    session = info.session
    if session is None:
        table.add_row("session", "no session (weekend or holiday)")
    else:
        table.add_row("session open", _et(session.open))
        table.add_row("session close", _et(session.close))
        table.add_row("early close", "yes" if session.early_close else "no")
    table.add_row("next open", _et(info.next_open))
    return table


def register(app: typer.Typer) -> None:
    @app.command("phase", cls=Command)
    def phase(
        at: Annotated[
            str | None,
            typer.Option(
                "--at",
                metavar="ISO",
                help="ISO-8601 instant; without an offset it is New York time. Default: now.",
            ),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="print one JSON document instead of a table")
        ] = False,
    ) -> None:
        """Show the market phase, execution strategy and session (NYSE calendar)."""
        instant = parse_instant(at) if at is not None else datetime.now(UTC)
        info = default_calendar().describe(instant)
        if as_json:
            print_json(info)
        else:
            console.print(_table(info))
