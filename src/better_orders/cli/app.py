"""Entry point: builds the typer app from the ``cmd_*`` modules and turns errors into one line.

A ``BetterOrdersError``, a usage error or an interruption prints one clear line on
stderr and exits with its family's code (``exit_codes``); a traceback is never what
a user sees for bad input, nor for a command whose optional dependencies (an extra)
are not installed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence
from typing import Annotated, NoReturn

import typer

from better_orders.cli import exit_codes
from better_orders.cli.common import console, print_error
from better_orders.cli.extras import MissingExtraError
from better_orders.cli.help_format import Group
from better_orders.core.errors import BetterOrdersError
from better_orders.data import caches

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
    from importlib import metadata  # slow to import (email, zipfile...): only for --version

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


_registered: set[str] = set()


def register_commands(argv: Sequence[str] = ()) -> None:
    """Register the command ``argv`` names, or every command when it names none.

    Each ``cmd_NAME`` module registers the command ``NAME`` and imports what that
    command needs, so ``better-orders tca ...`` loads neither the broker adapters nor
    the server; ``--help`` and anything that is not a command's name load them all.
    """
    import better_orders.cli as package

    names = sorted(
        info.name for info in pkgutil.iter_modules(package.__path__) if info.name.startswith("cmd_")
    )
    wanted = f"cmd_{argv[0]}" if argv else ""
    for name in [wanted] if wanted in names else names:
        if name not in _registered:
            importlib.import_module(f"better_orders.cli.{name}").register(app)
            _registered.add(name)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: every failure ends in one line on stderr and its exit code.

    Our own errors exit with their family's code, usage errors (an unknown option, a
    missing argument) with typer's 2, and Ctrl-C with 130 (``exit_codes``).
    """
    args = sys.argv[1:] if argv is None else argv
    caches.use()
    try:
        try:
            register_commands(args)
            code = app(args=args, prog_name=DISTRIBUTION, standalone_mode=False)
        except ModuleNotFoundError as exc:
            # A lazy import of an extra's library that no command checked for first.
            missing = MissingExtraError.from_import_error(exc)
            if missing is None:
                raise
            raise missing from None
    except BetterOrdersError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.TyperException as exc:  # click's usage errors
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(exc.exit_code)  # typer has printed the help
        _fail(_usage_line(exc), exc.exit_code)
    except typer.Abort:
        _fail("aborted", exit_codes.INCOMPLETE)
    if code == exit_codes.INTERRUPTED:  # typer's answer to Ctrl-C
        _fail(exit_codes.INTERRUPTED_LINE, code)
    if isinstance(code, int) and code != 0:
        sys.exit(code)


def _usage_line(exc: typer.TyperException) -> str:
    """Click's message on one line, pointing at the command's help."""
    message = exc.format_message().strip().rstrip(".")
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    # A hidden command is its group's default (``tca`` runs ``tca run``): its help is the
    # group's, as it is typed.
    if ctx.command.hidden and ctx.parent is not None:
        ctx = ctx.parent
    return f"{message}; see '{ctx.command_path} --help'"


def _fail(message: str, code: int) -> NoReturn:
    print_error(message)
    sys.exit(code)
