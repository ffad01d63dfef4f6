"""What ``tca`` and ``tca tune`` share: their replay options, parsed and checked once.

Both replay policies over quote files at decision times; ``ReplayOptions.parse``
checks every option, alone and against the others, and finds every quote file
(``tca.corpus``) before anything is loaded, so bad input costs one line and no work.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from better_orders.cli.common import err_console
from better_orders.cli.extras import require_extra
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Side, parse_quantity, to_decimal
from better_orders.tca.corpus import resolve_quote_files
from better_orders.tca.decisions import (
    MAX_DECISIONS_PER_DAY,
    DaySource,
    QuoteFile,
    Sizing,
    check_decision_grid,
    decision_count,
    decision_times,
)
from better_orders.tca.decomposition import FeeSchedule
from better_orders.tca.distributed import Cluster, cores, dask_installed
from better_orders.tca.evaluate import Window
from better_orders.venues.sim.exchange import Latency

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|m|h)?\s*$")
#: ``parse_duration``'s units, as ``timedelta`` keywords.
_UNITS = {
    "us": "microseconds",
    "ms": "milliseconds",
    "s": "seconds",
    "min": "minutes",
    "m": "minutes",
    "h": "hours",
}

QuotesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--quotes",
        metavar="FILE",
        help="quote files, folders of them, or 'GLOB' patterns (gzip CSV or Parquet); a "
        "dataset: its folder, a symbol's (DIR/symbol=X) or one symbol-day (DIR/symbol=X/date=Y)",
    ),
]
MoreQuotesArgument = Annotated[
    list[str] | None,
    typer.Argument(metavar="FILE", help="more quote files (so --quotes a.csv.gz b.csv.gz works)"),
]
FromOption = Annotated[
    str, typer.Option("--from", metavar="HH:MM", help="first decision, New York time")
]
ToOption = Annotated[str, typer.Option("--to", metavar="HH:MM", help="decisions before this time")]
EveryOption = Annotated[
    str,
    typer.Option(
        metavar="DURATION",
        help="time between decisions: 1s, 500ms, 2m (units us, ms, s, m, h); at most "
        f"{MAX_DECISIONS_PER_DAY:,} decisions per symbol-day",
    ),
]
SideOption = Annotated[
    list[str] | None, typer.Option(metavar="SIDES", help="buy, sell or buy,sell")
]
QtyOption = Annotated[
    str | None, typer.Option(metavar="N", help="shares per decision (default 100)")
]
NotionalOption = Annotated[
    str | None,
    typer.Option(metavar="USD", help="dollars per decision instead of --qty (whole shares)"),
]
PolicyFileOption = Annotated[
    Path | None, typer.Option(metavar="FILE", help="TOML file of extra or changed policies")
]
SymbolOption = Annotated[
    str | None, typer.Option(metavar="SYMBOL", help="trade the files' quotes under this symbol")
]
TradesOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--trades",
        metavar="FILE",
        help="trades file(s) whose prints fill resting orders: one for a single quote "
        "file, or one per quote file in the same order (default: a *_trades file beside "
        "each *_bbo/*_l1 file, if there is one)",
    ),
]
NoTradesOption = Annotated[
    bool, typer.Option("--no-trades", help="do not look for companion trades files")
]
WithinOption = Annotated[
    float,
    typer.Option(metavar="SECONDS", help="a decision counts as complete if filled within this"),
]
LatencyOption = Annotated[
    str,
    typer.Option(
        metavar="DURATION",
        help="one-way delay of each order and cancel to the venue: 30ms, 0.1s; shorter "
        "than --within",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON only")]
#: The parent orders a run needs before a local cluster is started for it by default:
#: importing Dask, starting the workers and each worker's first file cost about a second,
#: which a smaller run does not win back (two symbol-days, 4,800 parents: 2.8-3.4 s with
#: one worker or two alike).
MIN_PARENTS_FOR_A_CLUSTER = 5_000


WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        metavar="N",
        help="worker processes of a local Dask cluster (the dask extra); default one per "
        f"core when there are two symbol-days or more and {MIN_PARENTS_FOR_A_CLUSTER:,} "
        "parent orders to replay; 1 runs everything in this process",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        metavar="ADDRESS",
        help="run on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786); its "
        "workers need better-orders and the quote files at the same paths",
    ),
]


def parse_clock(text: str, what: str) -> time:
    """``09:30`` or ``09:30:15`` (New York wall clock)."""
    try:
        parts = [int(p) for p in text.strip().split(":")]
        if len(parts) not in (2, 3):
            raise ValueError
        return time(parts[0], parts[1], parts[2] if len(parts) == 3 else 0)
    except (ValueError, TypeError):
        raise InvalidInputError(
            f"{what} must be a New York time like 09:30, got {text!r}"
        ) from None


def parse_duration(text: str, option: str, *, allow_zero: bool = False) -> timedelta:
    """``250us``, ``500ms``, ``1s``, ``2m``, ``1h`` or plain seconds, to the microsecond."""
    match = _DURATION.match(text)
    if not match:
        raise InvalidInputError(
            f"{option} must be a duration like 500ms, 1s, 2m or 1h (units us, ms, s, m, h), "
            f"got {text!r}"
        )
    try:
        duration = timedelta(**{_UNITS[match.group(2) or "s"]: float(match.group(1))})
    except OverflowError:
        raise InvalidInputError(f"{option} {text} is too long") from None
    if duration == timedelta(0) and not allow_zero:
        raise InvalidInputError(f"{option} must be at least 1 microsecond (1us), got {text!r}")
    return duration


def split_list(values: list[str] | None, option: str = "") -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]``: options that take lists either way. An
    option given with nothing in it (``--side ,``) is refused, not read as not given."""
    out: list[str] = []
    for value in values or []:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    if values and not out:
        raise InvalidInputError(f"{option or 'the option'} names nothing: {values[0]!r}")
    return out


#: The longest ``--within``: a replay is of one day, so a longer window stands for nothing.
MAX_WITHIN_SECONDS = 86_400

#: The largest ``--notional``: its shares must stay well within an exact quantity.
MAX_NOTIONAL = Decimal(10) ** 12


def parse_sizing(qty: str | None, notional: str | None) -> Sizing:
    if qty is not None and notional is not None:
        raise InvalidInputError("give --qty or --notional, not both")
    if notional is not None:
        amount = to_decimal(notional, "--notional")
        if not 0 < amount <= MAX_NOTIONAL:
            raise InvalidInputError(
                f"--notional must be positive and at most {MAX_NOTIONAL:,}, got {notional}"
            )
        return Sizing(qty=None, notional=amount)
    return Sizing(qty=parse_quantity(qty if qty is not None else Decimal(100), "--qty"))


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """The checked replay options: which files, when, which sides, how much, how fast."""

    files: list[Path]
    trades: list[Path | None]
    find_trades: bool
    symbol: str | None
    start: time
    end: time
    every: timedelta
    sides: list[Side]
    sizing: Sizing
    within_seconds: float
    latency: Latency

    @classmethod
    def parse(
        cls,
        *,
        quotes: list[str] | None,
        more_quotes: list[str] | None,
        trades: list[Path] | None,
        no_trades: bool,
        symbol: str | None,
        start: str,
        end: str,
        every: str,
        side: list[str] | None,
        qty: str | None,
        notional: str | None,
        within: float,
        latency: str,
    ) -> ReplayOptions:
        sizing = parse_sizing(qty, notional)
        sides = list(
            dict.fromkeys(Side.parse(s) for s in (split_list(side, "--side") or ["buy", "sell"]))
        )
        if not (math.isfinite(within) and within > 0):
            raise InvalidInputError(f"--within must be a positive number of seconds, got {within}")
        if within > MAX_WITHIN_SECONDS:
            raise InvalidInputError(
                f"--within {within:g} is longer than a day ({MAX_WITHIN_SECONDS:,} s): a "
                "replay is of one day"
            )
        first, last = parse_clock(start, "--from"), parse_clock(end, "--to")
        step = parse_duration(every, "--every")
        check_decision_grid(first, last, step)
        delay = parse_duration(latency, "--latency", allow_zero=True)
        if delay.total_seconds() >= within:
            # The order would reach the venue after the window it is judged in has closed.
            raise InvalidInputError(
                f"--latency {latency.strip()} must be shorter than --within {within:g} s, "
                "the completion window each decision is judged in"
            )
        given = list(trades or [])
        if given and no_trades:
            raise InvalidInputError("give --trades or --no-trades, not both")
        files = resolve_quote_files([*(quotes or []), *(more_quotes or [])])
        if given and len(given) != len(files):
            raise InvalidInputError(
                f"{len(given)} --trades file(s) for {len(files)} quote file(s): give one per "
                "quote file, in the same order"
            )
        return cls(
            files=files,
            trades=list(given) if given else [None] * len(files),
            find_trades=not no_trades,
            symbol=symbol,
            start=first,
            end=last,
            every=step,
            sides=sides,
            sizing=sizing,
            within_seconds=within,
            latency=Latency(submit=delay, cancel=delay),
        )

    @property
    def days(self) -> list[DaySource]:
        """Every symbol-day's file and how to load it."""
        return [
            DaySource(f, t, self.find_trades, self.symbol)
            for f, t in zip(self.files, self.trades, strict=True)
        ]

    def load(self) -> list[QuoteFile]:
        """Every quote file, with its trades merged in as executions, each checked to hold
        a decision of the window (``decision_times``) as soon as it is loaded."""
        files = []
        for day in self.days:
            files.append(day.load())
            decision_times(files[-1], self.start, self.end, self.every)
        return files

    def window(self, fees: FeeSchedule) -> Window:
        return Window(
            start=self.start,
            end=self.end,
            every=self.every,
            sides=tuple(self.sides),
            sizing=self.sizing,
            latency=self.latency,
            within_seconds=self.within_seconds,
            fees=fees,
        )

    @property
    def decisions_per_file(self) -> int:
        """Decision times per file (for progress bars; the replay computes the exact times)."""
        return decision_count(self.start, self.end, self.every)


def check_cluster_options(workers: int | None, scheduler: str | None) -> None:
    """Refuse a bad ``--workers``/``--scheduler``, or the missing dask extra they need,
    before any work."""
    if workers is not None and workers < 1:
        raise InvalidInputError(f"--workers must be at least 1, got {workers}")
    if scheduler is not None and workers is not None:
        raise InvalidInputError(
            "give --workers or --scheduler, not both: the cluster at --scheduler has its "
            "own workers"
        )
    if scheduler is not None or (workers or 1) > 1:
        what = "--scheduler" if scheduler is not None else f"--workers {workers}"
        require_extra("dask", what, modules=["dask", "distributed"])


def dask_cluster(
    workers: int | None, scheduler: str | None, units: int, parents: int
) -> Cluster | None:
    """The Dask cluster ``--workers``/``--scheduler`` ask for, or None to run in this process.

    By default a local cluster of one worker per core (no more than there are ``units``
    of work) when the dask extra is installed, there are two units or more and at least
    ``MIN_PARENTS_FOR_A_CLUSTER`` parent orders to replay.
    """
    check_cluster_options(workers, scheduler)
    if scheduler is not None:
        return Cluster(scheduler=scheduler)
    if workers is None:
        if units < 2 or parents < MIN_PARENTS_FOR_A_CLUSTER or not dask_installed():
            return None
        workers = min(cores(), units)
    return None if workers == 1 else Cluster(workers=workers)


def progress_bar(doing: str, units: str) -> Progress:
    """A transient progress bar on stderr: ``doing [####    ] 12/40 units 0:00:07``."""
    return Progress(
        TextColumn(doing),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(units),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        # Where stderr is no terminal (a pipe, a log) there is nothing to redraw: a bar
        # would only leave a blank line behind.
        disable=not err_console.is_terminal,
    )
