"""What a command runs against: a venue (broker + quote feed + clock) and the journal.

The simulator is the default venue. It runs on a virtual-time event loop, so a
whole morning of waits and timeouts costs no wall time, and keeps its paper
account in the journal's SQLite file so successive commands see what earlier
ones did.

Every journalled run, on any venue, starts the same way (``_journalled_run``):

1. lock the run's parameters (a scheduler firing the same targets twice gets one
   run and one refusal), then reconcile the journal with the venue: orders an
   earlier process left open are cancelled, fills it missed are recorded;
2. pick the run: a new one, the one named by ``resume``, or (``auto_resume``) the
   latest run of the same kind and parameters if it did not complete;
3. lock the run itself, heartbeat both locks while working, release them at the end.

``BETTER_ORDERS_SIM_PACE`` (wall seconds per simulated second) slows the simulator
down to a watchable pace; it exists to test crashes at random points of a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from better_orders.config.settings import BetterOrdersConfig, load_config, resolve_db_path
from better_orders.core.errors import InvalidInputError, JournalError, MarketClosedError
from better_orders.core.jsonable import to_jsonable
from better_orders.core.model import ExecutionReport
from better_orders.core.plan import Plan
from better_orders.core.timing import MarketCalendar, default_calendar
from better_orders.engine.execution import OrderSpec, execute
from better_orders.engine.rebalance import RebalanceReport, rebalance
from better_orders.engine.runner import LadderEvent
from better_orders.store.encoding import params_hash
from better_orders.store.ids import new_run_id
from better_orders.store.journal import Journal
from better_orders.store.locks import LockOwner, run_lock_name
from better_orders.store.reconcile import reconcile
from better_orders.store.reconcile_report import ReconcileReport
from better_orders.store.records import RunStatus

T = TypeVar("T")
NEW_YORK = ZoneInfo("America/New_York")

#: Wall seconds per simulated second (unset: as fast as possible). For crash tests.
SIM_PACE_ENV_VAR = "BETTER_ORDERS_SIM_PACE"
#: How often a running run renews its locks (the journal takes over locks after 120 s).
HEARTBEAT = timedelta(seconds=15)
#: An unfinished run older than this is not resumed automatically (its prices are old).
AUTO_RESUME_WITHIN = timedelta(hours=12)


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
    from better_orders.venues.sim.quotes import ReplayQuotes

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


@dataclass(slots=True)
class RunContext:
    """What a run's start found out, for the work and its report."""

    run_id: str = ""
    #: The run continues an interrupted one (same run id, legs already journalled).
    resumed: bool = False
    reconciliation: ReconcileReport | None = None
    notes: list[str] = field(default_factory=list)


#: What a run does once it has a venue (broker, feed, clock), a journal and a run id.
Work = Callable[[Any, Journal, str], Awaitable[T]]


@dataclass(slots=True)
class _Job(Generic[T]):
    """One run, whatever the venue: what it does, and how the journal records it."""

    kind: str
    params: dict[str, Any]
    work: Work[T]
    record: Callable[[T], dict[str, Any]]
    record_run: bool = True
    context: RunContext = field(default_factory=RunContext)
    resume: str | None = None
    auto_resume: bool = False


async def _journalled_run(
    job: _Job[T],
    venue: Any,
    journal: Journal,
    *,
    broker_name: str,
    fresh_id: Callable[[], str],
) -> tuple[str, T]:
    """Run ``job`` as one journalled run on ``venue`` (see the module docstring)."""
    ctx, kind, params, work = job.context, job.kind, job.params, job.work
    if not job.record_run:
        ctx.run_id = fresh_id()
        return ctx.run_id, await work(venue, journal, ctx.run_id)
    owner = LockOwner.current()
    digest = params_hash(params)
    held: list[str] = []
    try:
        _lock(journal, f"{kind} params {digest[:16]}", owner, held)
        found = await reconcile(journal, venue.broker, clock=venue.clock)
        ctx.reconciliation = found
        if found.still_open:
            raise JournalError(
                f"order(s) {', '.join(found.still_open)} of an earlier run are still open at "
                "the broker and could not be cancelled; no order sent (see better-orders "
                "reconcile)"
            )
        if found.acted:
            ctx.notes.append(f"reconciled the journal with the broker first: {found.summary()}")
        run_id = _choose_run(journal, kind, digest, job.resume, job.auto_resume)
        ctx.run_id, ctx.resumed = run_id or fresh_id(), run_id is not None
        run_id = ctx.run_id
        _lock(journal, run_lock_name(run_id), owner, held)
        if ctx.resumed:
            journal.reopen_run(run_id)
        else:
            journal.start_run(run_id, kind, params, broker_name)
        lost: list[str] = []
        beat = asyncio.create_task(
            _heartbeat(journal, venue.clock, held, owner, asyncio.current_task(), lost)
        )
        try:
            result = await work(venue, journal, run_id)
        except (KeyboardInterrupt, asyncio.CancelledError):
            journal.finish_run(run_id, "interrupted", None)
            if lost:
                raise JournalError(lost[0]) from None
            raise
        except BaseException:
            journal.finish_run(run_id, "failed", None)
            raise
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        journal.finish_run(run_id, "completed", job.record(result))
        return run_id, result
    finally:
        for name in held:
            journal.release_lock(name, owner)


def _lock(journal: Journal, name: str, owner: LockOwner, held: list[str]) -> None:
    journal.acquire_lock(name, owner)
    held.append(name)


def _choose_run(
    journal: Journal, kind: str, digest: str, resume: str | None, auto_resume: bool
) -> str | None:
    """The run to continue (None: start a new one)."""
    if resume is not None:
        run = journal.get_run(resume)
        if run is None:
            raise JournalError(f"run {resume} is not in the journal: nothing to resume")
        if run.kind != kind:
            raise InvalidInputError(f"run {resume} is a {run.kind} run, not a {kind} run")
        if run.status is RunStatus.COMPLETED:
            raise JournalError(f"run {resume} completed; there is nothing to resume")
        return resume
    if not auto_resume:
        return None
    latest = journal.latest_run(kind=kind)
    if (
        latest is not None
        and latest.params_hash == digest
        and latest.status is not RunStatus.COMPLETED
        and datetime.now(UTC) - latest.started_at < AUTO_RESUME_WITHIN
        and journal.intents(latest.run_id)
    ):
        return latest.run_id
    return None


async def _heartbeat(
    journal: Journal,
    clock: Any,
    names: list[str],
    owner: LockOwner,
    main: asyncio.Task[Any] | None,
    lost: list[str],
) -> None:
    """Renew the locks; if one was taken over, stop the run (another process owns it now)."""
    while True:
        await clock.sleep_until(clock.now() + HEARTBEAT)
        try:
            for name in names:
                journal.heartbeat(name, owner)
        except JournalError as exc:
            lost.append(str(exc))
            if main is not None:
                main.cancel()
            return


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


async def _in_sim(
    job: _Job[T],
    *,
    start: datetime,
    seed: int,
    db_path: Path,
    replay: Mapping[str, Any] | None = None,
) -> tuple[str, T]:
    from better_orders.venues.sim.broker import SimVenue

    pace = sim_pace()
    venue = SimVenue.create(start=start, seed=seed, db_path=db_path, replay=dict(replay or {}))
    pacer = asyncio.create_task(_pace(venue.clock, pace)) if pace is not None else None
    try:
        with Journal.open(db_path) as journal:
            return await _journalled_run(
                job,
                venue,
                journal,
                broker_name="sim",
                fresh_id=lambda: new_run_id(start.astimezone(NEW_YORK)),
            )
    finally:
        if pacer is not None:
            pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pacer
        await venue.close()


def _order_job(
    specs: list[OrderSpec],
    cfg: BetterOrdersConfig,
    observer: Callable[[LadderEvent], None] | None,
    **more_params: Any,
) -> _Job[list[ExecutionReport]]:
    """An ``order`` run on any venue."""

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

    orders = [{"symbol": s.symbol, "side": s.side.value, "qty": str(s.qty)} for s in specs]
    return _Job("order", {"orders": orders, **more_params}, work, record)


def _rebalance_job(
    targets: Sequence[tuple[str, object]] | Mapping[str, object],
    cfg: BetterOrdersConfig,
    db_path: Path,
    *,
    resume: str | None,
    dry_run: bool,
    observer: Callable[[LadderEvent], None] | None,
    on_plan: Callable[[Plan], None] | None,
) -> _Job[RebalanceReport]:
    """A ``rebalance`` run on any venue (resumed automatically when interrupted)."""
    parsed = _rebalance_targets(db_path, targets, resume)
    context = RunContext()

    async def work(venue: Any, journal: Journal, run_id: str) -> RebalanceReport:
        report = await rebalance(
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
            resume=context.resumed,
        )
        report.notes[:0] = context.notes
        return report

    def record(report: RebalanceReport) -> dict[str, Any]:
        data: dict[str, Any] = to_jsonable(report)
        return data

    return _Job(
        "rebalance",
        {"targets": {s: str(w) for s, w in sorted(parsed.items())}},
        work,
        record,
        record_run=not dry_run,
        context=context,
        resume=resume,
        auto_resume=True,
    )


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
    from better_orders.venues.sim.clock import run_virtual

    cfg = config or load_config().config
    db_path = resolve_db_path(str(db) if db is not None else None)
    if quotes:
        replay = _load_replay(quotes, {s.symbol for s in specs})
    if at is None and replay:
        at = min(r.quote_at(0).ts for r in replay.values())
    start = at or most_recent_open(now or datetime.now().astimezone())
    job = _order_job(
        specs, cfg, observer, at=start.isoformat(), seed=seed, quotes=[str(q) for q in quotes or []]
    )
    return run_virtual(
        _in_sim(job, start=start, seed=seed, db_path=db_path, replay=replay), start=start
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
    resume: str | None = None,
) -> RebalanceReport:
    """Rebalance the paper account on the simulator (see ``rebalance.rebalance``).

    An interrupted rebalance of the same targets is resumed rather than planned again;
    ``resume`` names the run to resume (its targets are used when none are given).
    """
    from better_orders.venues.sim.clock import run_virtual

    cfg = config or load_config().config
    db_path = resolve_db_path(str(db) if db is not None else None)
    job = _rebalance_job(
        targets, cfg, db_path, resume=resume, dry_run=dry_run, observer=observer, on_plan=on_plan
    )
    start = at or most_recent_open(now or datetime.now().astimezone())
    _, report = run_virtual(_in_sim(job, start=start, seed=seed, db_path=db_path), start=start)
    return report


def _rebalance_targets(
    db_path: Path,
    targets: Sequence[tuple[str, object]] | Mapping[str, object],
    resume: str | None,
) -> dict[str, Decimal]:
    """The targets to trade: those given, else (resuming) the resumed run's own."""
    from better_orders.core.plan import parse_targets

    given = bool(targets)
    if resume is None or given:
        parsed = parse_targets(targets)
    if resume is None:
        return parsed
    with Journal.open(db_path) as journal:
        run = journal.get_run(resume)
    if run is None:
        raise JournalError(f"run {resume} is not in the journal: nothing to resume")
    recorded = parse_targets(dict(run.params.get("targets") or {}))
    if given and parsed != recorded:
        raise InvalidInputError(
            f"targets differ from those of run {resume} "
            f"({', '.join(f'{s}={w}' for s, w in sorted(recorded.items()))}): "
            "leave them out to resume it"
        )
    return recorded


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


async def _in_alpaca(job: _Job[T], *, choice: VenueChoice, db_path: Path) -> tuple[str, T]:
    from better_orders.venues.alpaca.broker import AlpacaBroker, open_alpaca
    from better_orders.venues.alpaca.credentials import (
        Credentials,
        require_live_opt_in,
        typed_confirmation,
    )
    from better_orders.venues.clock import OffsetClock

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
        with Journal.open(db_path) as journal:
            return await _journalled_run(
                dataclasses.replace(job, params={**job.params, "feed": feed.feed_name}),
                _Handles(broker, feed, wall),
                journal,
                broker_name=broker.name,
                fresh_id=lambda: new_run_id(wall.now().astimezone(NEW_YORK)),
            )


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
    job = _order_job(specs, cfg, observer)
    return asyncio.run(_in_alpaca(job, choice=venue, db_path=db_path))


def run_rebalance(
    targets: Sequence[tuple[str, object]] | Mapping[str, object],
    *,
    venue: VenueChoice,
    db: str | Path | None = None,
    config: BetterOrdersConfig | None = None,
    dry_run: bool = False,
    observer: Callable[[LadderEvent], None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    resume: str | None = None,
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
            resume=resume,
            **simulated,
        )
    _only_simulated(simulated)
    cfg = config or load_config().config
    db_path = resolve_db_path(str(db) if db is not None else None)
    job = _rebalance_job(
        targets, cfg, db_path, resume=resume, dry_run=dry_run, observer=observer, on_plan=on_plan
    )
    _, report = asyncio.run(_in_alpaca(job, choice=venue, db_path=db_path))
    return report


def _only_simulated(options: Mapping[str, Any]) -> None:
    given = sorted(k for k, v in options.items() if v not in (None, 0, False))
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise InvalidInputError(f"{flags} only apply to the simulator (--broker sim)")


def run_reconcile(
    *,
    venue: VenueChoice | None = None,
    db: str | Path | None = None,
    adopt: bool = False,
    now: datetime | None = None,
) -> ReconcileReport:
    """Reconcile the journal with the venue (see ``reconcile.reconcile``), outside any run.

    On the simulator the venue is the paper account's file: a restarted simulator has
    no open orders (those of a killed process ended with it), but keeps their fills.
    """
    choice = venue or VenueChoice()
    db_path = resolve_db_path(str(db) if db is not None else None)
    if choice.simulated:
        from better_orders.venues.sim.broker import SimVenue
        from better_orders.venues.sim.clock import run_virtual

        start = now or datetime.now(UTC)

        async def in_sim() -> ReconcileReport:
            sim = SimVenue.create(start=start, db_path=db_path)
            try:
                with Journal.open(db_path) as journal:
                    return await reconcile(journal, sim.broker, clock=sim.clock, adopt=adopt)
            finally:
                await sim.close()

        return run_virtual(in_sim(), start=start)

    async def work(v: Any, journal: Journal, run_id: str) -> ReconcileReport:
        return await reconcile(journal, v.broker, clock=v.clock, adopt=adopt)

    job = _Job("reconcile", {}, work, lambda r: {}, record_run=False)
    _, report = asyncio.run(_in_alpaca(job, choice=choice, db_path=db_path))
    return report
