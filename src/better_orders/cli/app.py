"""Entry point: builds the typer app from the ``cmd_*`` modules and turns errors into one line.

A ``BetterOrdersError`` (or a bad parameter) prints one clear line on stderr and
exits with the error's code; a traceback is never what a user sees for bad input,
nor for a command whose optional dependencies (an extra) are not installed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from importlib import metadata
from typing import Annotated

import typer
from rich.markup import escape

from better_orders.cli.common import console, err_console
from better_orders.cli.extras import MissingExtraError
from better_orders.cli.help_format import Group
from better_orders.core.errors import BetterOrdersError

DISTRIBUTION = "better-orders"

app = typer.Typer(
    name="better-orders",
    cls=Group,
    help="Fast, cheap fills around the open, and portfolio rebalancing, through a broker API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def version() -> str:
    """The installed distribution's version (the package's own when run from a source tree)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        from better_orders import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        console.print(f"{DISTRIBUTION} {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="print the version and exit",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
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
        try:
            app(args=argv, prog_name=DISTRIBUTION, standalone_mode=True)
        except ModuleNotFoundError as exc:
            # A lazy import of an extra's library that no command checked for first.
            missing = MissingExtraError.from_import_error(exc)
            if missing is None:
                raise
            raise missing from None
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    except BetterOrdersError as exc:
        # Escaped: a message naming a TOML table ("[ladder]") is text, not rich markup.
        message = escape(str(exc))
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
