"""Running a job on the built-in simulator: its venue, its virtual clock, its pace.

The simulator runs on a virtual-time event loop, so a whole morning of waits and
timeouts costs no wall time, and keeps its paper account in the journal's SQLite
file so successive commands see what earlier ones did. A restarted simulator has
no open orders (those of a killed process ended with it), but keeps their fills.

``BETTER_ORDERS_SIM_PACE`` (wall seconds per simulated second) slows the simulator
down to a watchable pace; it exists to test crashes at random points of a run.

The simulator is imported only when a job runs on it, so a command trading on
Alpaca never loads it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import NEW_YORK, format_et
from better_orders.engine.journalled_run import Job, account_lock, journalled_run
from better_orders.store.ids import new_run_id
from better_orders.store.journal import Journal
from better_orders.venues.tasks import StopHandle, cancel_and_wait

if TYPE_CHECKING:
    from better_orders.venues.sim.profile import SimProfile

T = TypeVar("T")

#: Wall seconds per simulated second (unset: as fast as possible). For crash tests.
SIM_PACE_ENV_VAR = "BETTER_ORDERS_SIM_PACE"
#: The account a journal file's simulator trades: the paper account kept in that file.
SIM_ACCOUNT = "sim paper"


def run_in_sim(
    job: Job[T],
    *,
    start: datetime,
    seed: int,
    db_path: Path,
    replay: Mapping[str, Any] | None = None,
    profile: SimProfile | None = None,
    stop: StopHandle | None = None,
) -> tuple[str, T]:
    """Run ``job`` as a journalled run on a simulator starting at ``start``; (run id, result).

    ``profile`` (``sim calibrate``) sets the venue's latency, resting and partial fills.
    ``stop`` stops it from another thread (the async API), as Ctrl-C would.

    The paper account is this file's: the job becomes its one writer (or waits, or is
    refused) before the venue reads it, and a job that only reads it (a dry run) opens
    it without writing.
    """
    from better_orders.venues.sim.clock import run_virtual
    from better_orders.venues.sim.venue import SimVenue

    with (
        Journal.open(db_path) as journal,
        account_lock(journal, SIM_ACCOUNT, job, stop) as locks,
    ):

        async def main() -> tuple[str, T]:
            pace = sim_pace()
            venue = SimVenue.create(
                start=start,
                seed=seed,
                db_path=db_path,
                replay=dict(replay or {}),
                persist=job.writes_account,
                profile=profile,
            )
            pacer = asyncio.create_task(_pace(venue.clock, pace)) if pace is not None else None
            try:
                return await journalled_run(
                    job,
                    venue,
                    journal,
                    broker_name="sim",
                    fresh_id=lambda: new_run_id(start.astimezone(NEW_YORK)),
                    locks=locks,
                )
            finally:
                if pacer is not None:
                    # A SIGTERM / Ctrl-C mostly lands in the pacer's sleep: it has already
                    # stopped the loop; the venue is still closed here.
                    await cancel_and_wait(pacer)
                await venue.close()

        return run_virtual(main(), start=start, stop=stop)


def load_replay(quotes: Sequence[Path], symbols: set[str]) -> dict[str, Any]:
    """The quote files to replay, by symbol: one per symbol traded, holding that symbol.

    A file's quotes are never traded under another symbol: AMZN's prices booked as
    TQQQ's would make a report that looks right and means nothing.
    """
    from better_orders.venues.sim.replay import ReplayQuotes

    replay: dict[str, Any] = {}
    for path in quotes:
        source = ReplayQuotes.from_file(path)
        if source.symbol in replay:
            raise InvalidInputError(
                f"two quote files for {source.symbol} ({replay[source.symbol].path} and "
                f"{path}): give one per symbol"
            )
        replay[source.symbol] = source
    if len(replay) == 1 and len(symbols) == 1 and set(replay) != symbols:
        ((held, source),) = replay.items()
        raise InvalidInputError(
            f"quote file {source.path} holds {held} quotes, not {next(iter(symbols))}'s; "
            "no order sent"
        )
    missing = sorted(symbols - set(replay))
    if missing:
        raise InvalidInputError(
            f"no quote file for {', '.join(missing)} (the files hold {', '.join(sorted(replay))}); "
            "no order sent"
        )
    return replay


def require_quotes_at(replay: Mapping[str, Any], start: datetime) -> None:
    """``start`` must fall on a day the replayed quotes cover, no later than their last quote.

    Before the first quote the ladder waits for one (or for the open); after the last
    one the replay has nothing more to show, and an order could only meet a frozen,
    ever staler book; on another day every quote is years out of date.
    """
    day = start.astimezone(NEW_YORK).date()
    for source in replay.values():
        first, last = (source.quote_at(i).ts.astimezone(NEW_YORK) for i in (0, len(source) - 1))
        where = source.path or "replayed"
        if not first.date() <= day <= last.date():
            days = f"{first.date()}" + (f" to {last.date()}" if last.date() != first.date() else "")
            raise InvalidInputError(
                f"start {format_et(start)} is not a day of the {source.symbol} quotes "
                f"({where}: {days}); no order sent"
            )
        if start > last:
            raise InvalidInputError(
                f"start {format_et(start)} is after the last {source.symbol} quote "
                f"({format_et(last)} in {where}); start earlier or replay a longer file; "
                "no order sent"
            )


def sim_pace(env: Mapping[str, str] | None = None) -> float | None:
    """``BETTER_ORDERS_SIM_PACE``: wall seconds per simulated second, or None when unset."""
    raw = (os.environ if env is None else env).get(SIM_PACE_ENV_VAR, "").strip()
    if not raw:
        return None
    try:
        pace = float(raw)
    except ValueError:
        pace = -1.0
    if not pace > 0 or pace > 100:
        raise InvalidInputError(
            f"{SIM_PACE_ENV_VAR}={raw!r}: give wall seconds per simulated second, above 0 "
            "and at most 100"
        )
    return pace


async def _pace(clock: Any, wall_per_virtual: float) -> None:
    """Hold the virtual clock back: each simulated step costs its share of wall time."""
    step = timedelta(milliseconds=20)
    while True:
        await clock.sleep_until(clock.now() + step)
        time.sleep(step.total_seconds() * wall_per_virtual)
