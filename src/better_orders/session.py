"""What a command runs against: a venue (broker + quote feed + clock) and the journal.

The simulator is the default venue. It runs on a virtual-time event loop, so a
whole morning of waits and timeouts costs no wall time, and keeps its paper
account in the journal's SQLite file so successive commands see what earlier
ones did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

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
NEW_YORK = ZoneInfo("America/New_York")


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


# -- Alpaca ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueChoice:
    """Where a command trades: the simulator (default) or Alpaca (paper unless ``live``)."""

    broker: str = "sim"
    live: bool = False
    yes: bool = False
    feed: str = "auto"

    def __post_init__(self) -> None:
        if self.broker not in ("sim", "alpaca"):
            raise InvalidInputError(f"unknown broker {self.broker!r}: use sim or alpaca")
        if self.live and self.broker != "alpaca":
            raise InvalidInputError("--live needs --broker alpaca")

    @property
    def simulated(self) -> bool:
        return self.broker == "sim"


@dataclass(slots=True)
class _Handles:
    broker: Any
    feed: Any
    clock: Any


async def _in_alpaca(
    work: Callable[[Any, Journal, str], Awaitable[T]],
    *,
    choice: VenueChoice,
    db_path: Path,
    kind: str,
    params: dict[str, Any],
    record: Callable[[T], dict[str, Any]],
    record_run: bool = True,
) -> tuple[str, T]:
    from better_orders.brokers.alpaca import AlpacaBroker, open_alpaca
    from better_orders.credentials import Credentials, require_live_opt_in, typed_confirmation
    from better_orders.sim.clock import OffsetClock

    creds = Credentials.from_env(live=choice.live)
    probe = AlpacaBroker(creds, use_stream=False)
    try:
        account = await probe.get_account()
        market = await probe.get_market_clock()
    finally:
        await probe.close()
    # Decide on the broker's time, not the local clock's.
    clock = OffsetClock(market.timestamp - datetime.now(UTC))
    if choice.live:
        summary = f"{account.account_id} ({account.status}), equity ${account.equity:,.2f}"
        require_live_opt_in(True, choice.yes, summary, typed_confirmation())
    async with open_alpaca(creds, feed=choice.feed, clock=clock) as (broker, feed, wall):
        run_id = new_run_id(wall.now().astimezone(NEW_YORK))
        with Journal.open(db_path) as journal:
            if record_run:
                journal.start_run(run_id, kind, {**params, "feed": feed.feed_name}, broker.name)
            try:
                result = await work(_Handles(broker, feed, wall), journal, run_id)
            except (KeyboardInterrupt, asyncio.CancelledError):
                if record_run:
                    journal.finish_run(run_id, "interrupted", None)
                raise
            except BaseException:
                if record_run:
                    journal.finish_run(run_id, "failed", None)
                raise
            if record_run:
                journal.finish_run(run_id, "completed", record(result))
    return run_id, result


def run_orders(
    specs: list[OrderSpec],
    *,
    venue: VenueChoice,
    db: str | Path | None = None,
    config: BetterOrdersConfig | None = None,
    observer: Callable[[LadderEvent], None] | None = None,
    **simulated: Any,
) -> tuple[str, list[ExecutionReport]]:
    """Run parent orders on the chosen venue (see ``run_orders_simulated`` for the simulator)."""
    if venue.simulated:
        return run_orders_simulated(specs, db=db, config=config, observer=observer, **simulated)
    _only_simulated(simulated)
    cfg = config or load_config().config
    db_path = resolve_db_path(str(db) if db is not None else None)
    params = {
        "orders": [{"symbol": s.symbol, "side": s.side.value, "qty": str(s.qty)} for s in specs]
    }

    async def work(v: Any, journal: Journal, run_id: str) -> list[ExecutionReport]:
        return await execute(
            specs,
            broker=v.broker,
            feed=v.feed,
            clock=v.clock,
            journal=journal,
            config=cfg,
            run_id=run_id,
            observer=observer,
        )

    def record(reports: list[ExecutionReport]) -> dict[str, Any]:
        return {"reports": to_jsonable(reports)}

    return asyncio.run(
        _in_alpaca(work, choice=venue, db_path=db_path, kind="order", params=params, record=record)
    )


def run_rebalance(
    targets: Sequence[tuple[str, object]] | Mapping[str, object],
    *,
    venue: VenueChoice,
    db: str | Path | None = None,
    config: BetterOrdersConfig | None = None,
    dry_run: bool = False,
    observer: Callable[[LadderEvent], None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    **simulated: Any,
) -> RebalanceReport:
    """Rebalance on the chosen venue (see ``run_rebalance_simulated`` for the simulator)."""
    if venue.simulated:
        return run_rebalance_simulated(
            targets,
            db=db,
            config=config,
            dry_run=dry_run,
            observer=observer,
            on_plan=on_plan,
            **simulated,
        )
    _only_simulated(simulated)
    from better_orders.core.plan import parse_targets

    cfg = config or load_config().config
    db_path = resolve_db_path(str(db) if db is not None else None)
    parsed = parse_targets(targets)
    params = {"targets": {s: str(w) for s, w in sorted(parsed.items())}}

    async def work(v: Any, journal: Journal, run_id: str) -> RebalanceReport:
        return await rebalance(
            parsed,
            broker=v.broker,
            feed=v.feed,
            clock=v.clock,
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

    _, report = asyncio.run(
        _in_alpaca(
            work,
            choice=venue,
            db_path=db_path,
            kind="rebalance",
            params=params,
            record=record,
            record_run=not dry_run,
        )
    )
    return report


def _only_simulated(options: Mapping[str, Any]) -> None:
    given = sorted(k for k, v in options.items() if v not in (None, 0, False))
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise InvalidInputError(f"{flags} only apply to the simulator (--broker sim)")
