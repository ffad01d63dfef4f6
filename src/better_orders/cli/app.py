"""Entry point: builds the typer app from the ``cmd_*`` modules and turns errors into one line.

A ``BetterOrdersError`` (or a bad parameter) prints one clear line on stderr and
exits with the error's code; a traceback is never what a user sees for bad input.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.markup import escape

from better_orders.cli.common import err_console
from better_orders.core.errors import BetterOrdersError

app = typer.Typer(
    name="better-orders",
    help="Fast, cheap fills around the open, and portfolio rebalancing, through a broker API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Fast, cheap fills around the open, and portfolio rebalancing, through a broker API."""


def _register_commands() -> None:
    import better_orders.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"better_orders.cli.{info.name}")
            module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point.

    Usage errors (unknown option, missing argument) are reported by typer itself
    with exit code 2; our own errors print one line and exit with their code.
    """
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    except BetterOrdersError as exc:
        # Escaped: a message naming a TOML table ("[ladder]") is text, not rich markup.
        message = escape(str(exc))
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
