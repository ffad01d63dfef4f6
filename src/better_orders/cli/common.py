"""Shared CLI plumbing: consoles, JSON output, parsing of times from the command line."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from better_orders.core.errors import InvalidInputError
from better_orders.core.jsonable import to_jsonable


class _RunOnConsole(Console):
    """A console whose reader going away (``better-orders demo | head``) never stops a run.

    rich's default answer to a closed pipe is ``SystemExit`` from inside whatever is
    printing, which may be a ladder's observer in the middle of trading. Here the
    output is dropped instead; the run carries on and is journalled as usual.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, (sys.stderr if self.stderr else sys.stdout).fileno())


console = _RunOnConsole(highlight=False)
err_console = _RunOnConsole(stderr=True, highlight=False)

NEW_YORK = ZoneInfo("America/New_York")


def parse_instant(text: str) -> datetime:
    """Parse ``--at``: ISO-8601; a time without an offset is New York time.

    ``2026-11-27T09:30:30``, ``2026-11-27 09:30:30-05:00`` and ``2026-11-27T14:30:30Z``
    are all accepted. Returns an aware datetime.
    """
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"cannot parse time {text!r}: use ISO-8601, e.g. 2026-11-27T09:30:30 (New York time)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=NEW_YORK)
    return value


def print_json(obj: Any) -> None:
    """Machine output: one JSON document on stdout, nothing else."""
    print(json.dumps(to_jsonable(obj), indent=2, sort_keys=False))


# Options several commands share, defined once so their names and help never drift apart.
DbOption = Annotated[str | None, typer.Option(help="journal / paper account SQLite file")]
ConfigOption = Annotated[Path | None, typer.Option(help="configuration TOML file")]
SeedOption = Annotated[int, typer.Option(help="seed of the synthetic quotes")]
BrokerOption = Annotated[str, typer.Option(help="sim (default) or alpaca")]
LiveOption = Annotated[bool, typer.Option(help="trade the live Alpaca account (asks to confirm)")]
YesOption = Annotated[bool, typer.Option(help="with --live: skip the typed confirmation")]
FeedOption = Annotated[str, typer.Option(help="Alpaca data feed: auto, sip or iex")]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait", help="if another run is trading the account, wait for it instead of refusing"
    ),
]
