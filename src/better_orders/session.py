"""What a command runs against: a venue (broker + quote feed + clock) and the journal.

The simulator is the default venue. It runs on a virtual-time event loop, so a
whole morning of waits and timeouts costs no wall time, and keeps its paper
account in the journal's SQLite file so successive commands see what earlier
ones did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from better_orders.config import BetterOrdersConfig, load_config, resolve_db_path
from better_orders.core.model import ExecutionReport
from better_orders.core.plan import Plan
from better_orders.core.timing import MarketCalendar, default_calendar
from better_orders.errors import InvalidInputError, MarketClosedError
from better_orders.execution import OrderSpec, execute
from better_orders.journal import Journal, new_run_id
from better_orders.jsonable import to_jsonable
from better_orders.rebalance import RebalanceReport, rebalance
from better_orders.runner import LadderEvent

T = TypeVar("T")


def most_recent_open(now: datetime, calendar: MarketCalendar | None = None) -> datetime:
    """The open of the session in progress, or of the last session before ``now``."""
    cal = calendar or default_calendar()
    session = cal.session_at(now)
    if session is not None and now >= session.open:
        return session.open
    day: date = now.date()
    for _ in range(15):
        day -= timedelta(days=1)
        prior = cal.session_for(day)
        if prior is not None:
            return prior.open
    raise MarketClosedError(f"no trading session in the two weeks before {now.isoformat()}")


def _load_replay(quotes: Sequence[Path], symbols: set[str]) -> dict[str, Any]:
    from better_orders.sim.quotes import ReplayQuotes

    if len(quotes) == 1 and len(symbols) == 1:
        symbol = next(iter(symbols))
        return {symbol: ReplayQuotes.from_file(quotes[0], symbol=symbol)}
    loaded = [ReplayQuotes.from_file(q) for q in quotes]
    replay = {r.symbol: r for r in loaded}
    missing = sorted(symbols - set(replay))
    if missing:
        raise InvalidInputError(
            f"no quote file for {', '.join(missing)} (files hold {', '.join(sorted(replay))})"
        )
    return replay


async def _in_sim(
    work: Callable[[Any, Journal, str], Awaitable[T]],
    *,
    start: datetime,
    seed: int,
    db_path: Path,
    replay: Mapping[str, Any] | None,
    kind: str,
    params: dict[str, Any],
    record: Callable[[T], dict[str, Any]],
    record_run: bool = True,
) -> tuple[str, T]:
    from better_orders.brokers.sim import SimVenue

    venue = SimVenue.create(start=start, seed=seed, db_path=db_path, replay=dict(replay or {}))
    run_id = new_run_id(start)
    with Journal.open(db_path) as journal:
        if record_run:
            journal.start_run(run_id, kind, params, "sim")
        try:
            result = await work(venue, journal, run_id)
        except (KeyboardInterrupt, asyncio.CancelledError):
            if record_run:
                journal.finish_run(run_id, "interrupted", None)
            raise
        except BaseException:
            if record_run:
                journal.finish_run(run_id, "failed", None)
            raise
        finally:
            await venue.close()
        if record_run:
            journal.finish_run(run_id, "completed", record(result))
    return run_id, result


def run_orders_simulated(
    specs: list[OrderSpec],
    *,
    at: datetime | None = None,
    seed: int = 0,
    db: str | Path | None = None,
    quotes: Sequence[Path] | None = None,
    config: BetterOrdersConfig | None = None,
    observer: Callable[[LadderEvent], None] | None = None,
    now: datetime | None = None,
    replay: Mapping[str, Any] | None = None,
) -> tuple[str, list[ExecutionReport]]:
    """Run parent orders on the built-in simulated exchange; returns (run id, reports).

    Without ``at`` the run starts at the most recent session's open (``now`` is the
    wall clock unless given). With ``quotes`` the files are replayed from ``at``
    (default: their first quote); ``replay`` gives already loaded quote sources.
    """
    from better_orders.sim.clock import run_virtual

    cfg = config or load_config().config
    db_path = resolve_db_path(str(db) if db is not None else None)
    if quotes:
        replay = _load_replay(quotes, {s.symbol for s in specs})
    if at is None and replay:
        at = min(r.quote_at(0).ts for r in replay.values())
    start = at or most_recent_open(now or datetime.now().astimezone())
    params = {
        "orders": [{"symbol": s.symbol, "side": s.side.value, "qty": str(s.qty)} for s in specs],
        "at": start.isoformat(),
        "seed": seed,
        "quotes": [str(q) for q in quotes or []],
    }

    async def work(venue: Any, journal: Journal, run_id: str) -> list[ExecutionReport]:
        return await execute(
            specs,
            broker=venue.broker,
            feed=venue.feed,
            clock=venue.clock,
            journal=journal,
            config=cfg,
            run_id=run_id,
            observer=observer,
        )

    def record(reports: list[ExecutionReport]) -> dict[str, Any]:
        return {"reports": to_jsonable(reports)}

    return run_virtual(
        _in_sim(
            work,
            start=start,
            seed=seed,
            db_path=db_path,
            replay=replay,
            kind="order",
            params=params,
            record=record,
        ),
        start=start,
    )


def run_rebalance_simulated(
    targets: Sequence[tuple[str, object]] | Mapping[str, object],
    *,
    at: datetime | None = None,
    seed: int = 0,
    db: str | Path | None = None,
    config: BetterOrdersConfig | None = None,
    dry_run: bool = False,
    observer: Callable[[LadderEvent], None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    now: datetime | None = None,
) -> RebalanceReport:
    """Rebalance the paper account on the simulator (see ``rebalance.rebalance``)."""
    from better_orders.core.plan import parse_targets
    from better_orders.sim.clock import run_virtual

    cfg = config or load_config().config
    db_path = resolve_db_path(str(db) if db is not None else None)
    parsed = parse_targets(targets)
    start = at or most_recent_open(now or datetime.now().astimezone())
    params = {"targets": {s: str(w) for s, w in sorted(parsed.items())}}

    async def work(venue: Any, journal: Journal, run_id: str) -> RebalanceReport:
        return await rebalance(
            parsed,
            broker=venue.broker,
            feed=venue.feed,
            clock=venue.clock,
            journal=journal,
            config=cfg,
            run_id=run_id,
            dry_run=dry_run,
            observer=observer,
            on_plan=on_plan,
        )

    def record(report: RebalanceReport) -> dict[str, Any]:
        data: dict[str, Any] = to_jsonable(report)
        return data

    _, report = run_virtual(
        _in_sim(
            work,
            start=start,
            seed=seed,
            db_path=db_path,
            replay=None,
            kind="rebalance",
            params=params,
            record=record,
            record_run=not dry_run,
        ),
        start=start,
    )
    return report
