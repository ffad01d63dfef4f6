"""Entry point: builds the typer app from the ``cmd_*`` modules and turns errors into one line.

A ``BetterOrdersError`` (or a bad parameter) prints one clear line on stderr and
exits with the error's code; a traceback is never what a user sees for bad input.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click
import typer

from better_orders.cli.common import err_console
from better_orders.errors import BetterOrdersError

app = typer.Typer(
    name="better-orders",
    help="Fast, cheap fills around the open, and portfolio rebalancing, through a broker API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    import better_orders.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"better_orders.cli.{info.name}")
            module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        app(args=argv, standalone_mode=False)
    except BetterOrdersError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("[bold red]aborted[/]")
        sys.exit(130)
    except click.ClickException as exc:
        err_console.print(f"[bold red]error:[/] {exc.format_message()}", highlight=False)
        sys.exit(exc.exit_code)
