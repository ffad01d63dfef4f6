"""``better-orders account``: the paper account (cash, positions), and ``account reset``."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from better_orders.cli.common import (
    BrokerOption,
    DbOption,
    add_number_column,
    console,
    print_json,
    venue_choice,
)
from better_orders.cli.help_format import Command, Group
from better_orders.config.paths import resolve_db_path
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Account, Position, to_decimal

if TYPE_CHECKING:
    from better_orders.venues.sim.account import PaperPosition

account_app = typer.Typer(
    cls=Group,
    help="The simulator's paper account, kept in the journal file.",
    invoke_without_command=True,
)


@account_app.callback()
def show(
    ctx: typer.Context,
    db: DbOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON only")] = False,
    broker: BrokerOption = "sim",
    live: Annotated[
        bool, typer.Option("--live", help="the live Alpaca account (read only)")
    ] = False,
) -> None:
    """Show cash and positions (valued at their entry prices)."""
    if ctx.invoked_subcommand is not None:
        return
    if not venue_choice(broker).simulated:
        _show_alpaca(live=live, json_out=json_out)
        return
    from better_orders.venues.sim.account import PaperAccount

    path = resolve_db_path(db)
    account = PaperAccount.load(path)
    positions = sorted(account.positions.values(), key=lambda p: p.symbol)
    cost = sum((p.qty * (p.avg_entry_price or Decimal(0)) for p in positions), Decimal(0))
    if json_out:
        print_json(
            {
                "db": str(path),
                "cash": account.cash,
                "positions": positions,
                "cost_basis": cost,
            }
        )
        return
    # The path on a line of its own, never folded: a table title would break it mid-name.
    console.print(f"paper account ({path})", soft_wrap=True)
    console.print(paper_positions_table(positions))
    console.print(f"cash ${account.cash:,.2f}; positions at cost ${cost:,.2f}")


def _positions_table(title: str | None, last_header: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("symbol", no_wrap=True)
    for header in ("qty", "avg entry", last_header):
        add_number_column(table, header)
    return table


def paper_positions_table(positions: Sequence[PaperPosition]) -> Table:
    """The paper account's positions at their entry prices."""
    table = _positions_table(None, "cost basis")
    for p in positions:
        entry = p.avg_entry_price.quantize(Decimal("0.0001")) if p.avg_entry_price else None
        basis = p.qty * (p.avg_entry_price or Decimal(0))
        table.add_row(p.symbol, str(p.qty), str(entry or "-"), f"{basis:,.2f}")
    return table


def _show_alpaca(*, live: bool, json_out: bool) -> None:
    """The Alpaca account and positions, as the broker reports them (nothing is traded)."""
    import asyncio

    from better_orders.venues.alpaca.broker import AlpacaBroker
    from better_orders.venues.alpaca.credentials import Credentials

    async def read() -> tuple[Account, list[Position]]:
        broker = AlpacaBroker(Credentials.from_env(live=live), use_stream=False)
        try:
            return await broker.get_account(), list(await broker.get_positions())
        finally:
            await broker.close()

    account, positions = asyncio.run(read())
    if json_out:
        name = "alpaca-live" if live else "alpaca-paper"
        print_json({"broker": name, "account": account, "positions": positions})
        return
    table = _positions_table(f"Alpaca {'LIVE' if live else 'paper'} account", "market price")
    for p in positions:
        table.add_row(
            p.symbol, str(p.qty), str(p.avg_entry_price or "-"), str(p.market_price or "-")
        )
    console.print(table)
    console.print(
        f"account {account.account_id} ({account.status}): cash ${account.cash:,.2f}, "
        f"buying power ${account.buying_power:,.2f}, equity ${account.equity:,.2f}"
    )


@account_app.command("reset", cls=Command)
def reset(
    cash: Annotated[str, typer.Option(metavar="USD", help="starting cash in dollars")] = "100000",
    db: DbOption = None,
) -> None:
    """Start the paper account over with CASH and no positions."""
    from better_orders.venues.sim.account import PaperAccount

    amount = to_decimal(cash, "cash")
    if amount < 0:
        raise InvalidInputError(f"cash must be >= 0, got {amount}")
    path = resolve_db_path(db)
    account = PaperAccount.load(path)
    account.reset(amount)
    console.print(
        f"paper account reset: cash ${amount:,.2f}, no positions ({Path(path)})", soft_wrap=True
    )


def register(app: typer.Typer) -> None:
    app.add_typer(account_app, name="account")
