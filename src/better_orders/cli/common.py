"""Shared CLI plumbing: consoles, JSON output, parsing of times from the command line."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from better_orders.cli.extras import require_extra
from better_orders.config.params import guard_limits
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.core.guards import GuardLimits, parse_age
from better_orders.core.jsonable import to_jsonable
from better_orders.core.model import to_decimal

if TYPE_CHECKING:
    from better_orders.engine.commands import VenueChoice
    from better_orders.venues.sim.profile import SimProfile


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


def print_error(message: str) -> None:
    """``error: MESSAGE`` on stderr, one line however long (what every failure ends with)."""
    # Escaped: a message naming a TOML table ("[ladder]") is text, not rich markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


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


def add_number_column(table: Table, header: str) -> None:
    """A column of numbers: right-aligned and never wrapped, however narrow the terminal.

    Text columns beside it wrap instead, so a table stays readable at 80 columns.
    """
    table.add_column(header, justify="right", no_wrap=True)


def words(value: str) -> str:
    """An identifier (``waiting_spread``) as words, so a narrow column can wrap it."""
    return value.replace("_", " ")


def print_json(obj: Any) -> None:
    """Machine output: one JSON document on stdout, nothing else."""
    print(json.dumps(to_jsonable(obj), indent=2, sort_keys=False))


# Options several commands share, defined once so their names and help never drift apart.
DbOption = Annotated[
    str | None, typer.Option(metavar="PATH", help="journal / paper account SQLite file")
]
ConfigOption = Annotated[Path | None, typer.Option(metavar="PATH", help="configuration TOML file")]
SeedOption = Annotated[int, typer.Option(metavar="N", help="seed of the synthetic quotes")]


def load_sim_profile(path: Path | None) -> SimProfile | None:
    """The ``--sim-profile`` file, read (the simulator is imported only when one is given)."""
    if path is None:
        return None
    from better_orders.venues.sim.profile import SimProfile

    return SimProfile.load(path)


SimProfileOption = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="simulator profile (better-orders sim calibrate): latency, resting and partial fills",
    ),
]
BrokerOption = Annotated[
    str, typer.Option(metavar="sim|alpaca", help="the simulator, or Alpaca (the alpaca extra)")
]
LiveOption = Annotated[
    bool, typer.Option("--live", help="trade the live Alpaca account (asks to confirm)")
]
YesOption = Annotated[bool, typer.Option("--yes", help="with --live: skip the typed confirmation")]
FeedOption = Annotated[
    str, typer.Option(metavar="auto|sip|iex", help="Alpaca data feed (auto: SIP if permitted)")
]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait", help="if another run is trading the account, wait for it instead of refusing"
    ),
]
AtOption = Annotated[
    str | None,
    typer.Option(
        metavar="ISO",
        help="start time, ISO-8601 (New York time if no offset); "
        "default: the most recent session's open",
    ),
]


MaxDeployedOption = Annotated[
    str | None,
    typer.Option(
        "--max-deployed",
        metavar="FRACTION",
        help="guard: most of equity invested after the run (0.98 or 98%); config "
        "guards.max_deployed",
    ),
]
MaxTurnoverOption = Annotated[
    str | None,
    typer.Option(
        "--max-turnover",
        metavar="FRACTION",
        help="guard: most traded notional over equity in one run; config guards.max_turnover",
    ),
]
MaxTargetAgeOption = Annotated[
    str | None,
    typer.Option(
        "--max-target-age",
        metavar="AGE",
        help="guard: refuse targets older than AGE (90m, 20h, 1d); config "
        "guards.max_target_age_seconds",
    ),
]


def fraction(text: str, what: str) -> Decimal:
    """``0.98`` or ``98%`` as a fraction."""
    raw = text.strip()
    value = to_decimal(raw.removesuffix("%").strip(), what)
    return value / 100 if raw.endswith("%") else value


def guards_from(
    config: BetterOrdersConfig,
    max_deployed: str | None,
    max_turnover: str | None,
    max_target_age: str | None,
) -> GuardLimits:
    """The guards in force: ``[guards]``, each overridden by its flag when given."""
    return guard_limits(
        config.guards,
        max_deployed=fraction(max_deployed, "--max-deployed") if max_deployed else None,
        max_turnover=fraction(max_turnover, "--max-turnover") if max_turnover else None,
        max_target_age=parse_age(max_target_age) if max_target_age else None,
    )


def check_feed(feed: str) -> None:
    if feed not in ("auto", "iex", "sip"):
        raise InvalidInputError(f"unknown Alpaca data feed {feed!r}: use iex, sip or auto")


def venue_choice(
    broker: str, *, live: bool = False, yes: bool = False, feed: str = "auto"
) -> VenueChoice:
    """The venue a command trades on; Alpaca only with its extra installed."""
    from better_orders.engine.commands import VenueChoice

    check_feed(feed)  # even where only Alpaca would read it
    choice = VenueChoice(broker=broker, live=live, yes=yes, feed=feed)
    if not choice.simulated:
        require_extra("alpaca", "--broker alpaca")
    return choice
