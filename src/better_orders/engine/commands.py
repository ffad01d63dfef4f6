"""What the commands run: orders, a rebalance or a reconciliation, on the chosen venue.

Start here. Each entry point is one journalled run (``journalled_run``) of a job
(``jobs``) on a venue: the built-in simulator by default (``in_sim``), or Alpaca,
paper unless asked for live (``in_alpaca``). The CLI and the Python API start
every run through these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from better_orders.config.loader import load_config
from better_orders.config.paths import resolve_db_path
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError, MarketClosedError
from better_orders.core.market_calendar import NEW_YORK, MarketCalendar, default_calendar
from better_orders.core.model import ExecutionReport
from better_orders.core.plan import Plan
from better_orders.engine.execution import OrderSpec
from better_orders.engine.in_alpaca import run_in_alpaca
from better_orders.engine.in_sim import load_replay, require_quotes_at, run_in_sim
from better_orders.engine.jobs import order_job, rebalance_job, reconcile_job
from better_orders.engine.journalled_run import Job
from better_orders.engine.legs import LadderEvent
from better_orders.engine.rebalance import RebalanceReport
from better_orders.store.reconcile_report import ReconcileReport
from better_orders.venues.tasks import StopHandle

if TYPE_CHECKING:
    from better_orders.venues.sim.profile import SimProfile

T = TypeVar("T")


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


def most_recent_open(now: datetime, calendar: MarketCalendar | None = None) -> datetime:
    """The open of the session in progress, or of the last session before ``now``."""
    cal = calendar or default_calendar()
    session = cal.session_at(now)
    if session is not None and now >= session.open:
        return session.open
    day: date = now.astimezone(NEW_YORK).date()  # New York's date, not the machine's
    for _ in range(15):
        day -= timedelta(days=1)
        prior = cal.session_for(day)
        if prior is not None:
            return prior.open
    raise MarketClosedError(f"no trading session in the two weeks before {now.isoformat()}")


# -- on the chosen venue ------------------------------------------------------------------------


def run_orders(
    specs: list[OrderSpec],
    *,
    venue: VenueChoice,
    db: str | Path | None = None,
    config: BetterOrdersConfig | None = None,
    observer: Callable[[LadderEvent], None] | None = None,
    new: bool = False,
    wait: bool = False,
    **simulated: Any,
) -> tuple[str, list[ExecutionReport]]:
    """Run parent orders on the chosen venue (see ``run_orders_simulated`` for the simulator)."""
    if venue.simulated:
        return run_orders_simulated(
            specs, db=db, config=config, observer=observer, new=new, wait=wait, **simulated
        )
    _only_simulated(simulated)
    cfg = config or load_config().config
    db_path = _db_path(db)
    job = order_job(specs, cfg, observer, new=new, wait=wait)
    return _on_alpaca(job, venue, db_path)


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
    wait: bool = False,
    **simulated: Any,
) -> RebalanceReport:
    """Rebalance on the chosen venue (see ``run_rebalance_simulated`` for the simulator)."""
    options: dict[str, Any] = {
        "resume": resume,
        "dry_run": dry_run,
        "observer": observer,
        "on_plan": on_plan,
        "wait": wait,
    }
    if venue.simulated:
        return run_rebalance_simulated(targets, db=db, config=config, **options, **simulated)
    _only_simulated(simulated)
    db_path = _db_path(db)
    job = rebalance_job(targets, config or load_config().config, db_path, **options)
    _, report = _on_alpaca(job, venue, db_path)
    return report


def run_reconcile(
    *,
    venue: VenueChoice | None = None,
    db: str | Path | None = None,
    adopt: bool = False,
    now: datetime | None = None,
    wait: bool = False,
) -> ReconcileReport:
    """Reconcile the journal with the venue (see ``reconcile.reconcile``), outside any run.

    It settles orders, so it is the account's writer meanwhile: refused while a run
    trades the account (or, with ``wait``, queued behind it). On the simulator the
    venue is the paper account's file: a restarted simulator has no open orders
    (those of a killed process ended with it), but keeps their fills.
    """
    choice = venue or VenueChoice()
    db_path = _db_path(db)
    job = reconcile_job(adopt=adopt, wait=wait)
    if choice.simulated:
        _, found = run_in_sim(job, start=now or datetime.now(UTC), seed=0, db_path=db_path)
        return found
    _, report = _on_alpaca(job, choice, db_path)
    return report


# -- on the simulator -----------------------------------------------------------------------------


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
    new: bool = False,
    wait: bool = False,
    sim_profile: SimProfile | None = None,
    stop: StopHandle | None = None,
) -> tuple[str, list[ExecutionReport]]:
    """Run parent orders on the built-in simulated exchange; returns (run id, reports).

    Without ``at`` the run starts at the most recent session's open (``now`` is the
    wall clock unless given). With ``quotes`` the files are replayed from ``at``
    (default: their first quote); ``replay`` gives already loaded quote sources.
    An unfinished run of the same orders is resumed for what is left, unless ``new``.
    ``sim_profile`` (``sim calibrate``) sets the venue's latency and fill models; ``stop``
    stops the run from another thread.
    """
    cfg = config or load_config().config
    db_path = _db_path(db)
    if quotes:
        replay = load_replay(quotes, {s.symbol for s in specs})
    if at is None and replay:
        at = min(r.quote_at(0).ts for r in replay.values())
    start = at or most_recent_open(now or datetime.now().astimezone())
    default_calendar().require_open(start)
    require_quotes_at(replay or {}, start)
    job = order_job(
        specs,
        cfg,
        observer,
        new=new,
        wait=wait,
        at=start.isoformat(),
        seed=seed,
        quotes=[str(q) for q in quotes or []],
    )
    return run_in_sim(
        job,
        start=start,
        seed=seed,
        db_path=db_path,
        replay=replay,
        profile=sim_profile,
        stop=stop,
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
    wait: bool = False,
    sim_profile: SimProfile | None = None,
    stop: StopHandle | None = None,
) -> RebalanceReport:
    """Rebalance the paper account on the simulator (see ``rebalance.rebalance``).

    An interrupted rebalance of the same targets is resumed rather than planned again;
    ``resume`` names the run to resume (its targets are used when none are given).
    """
    cfg = config or load_config().config
    db_path = _db_path(db)
    job = rebalance_job(
        targets,
        cfg,
        db_path,
        resume=resume,
        dry_run=dry_run,
        observer=observer,
        on_plan=on_plan,
        wait=wait,
    )
    start = at or most_recent_open(now or datetime.now().astimezone())
    if not dry_run:
        default_calendar().require_open(start)
    _, report = run_in_sim(
        job, start=start, seed=seed, db_path=db_path, profile=sim_profile, stop=stop
    )
    return report


def _db_path(db: str | Path | None) -> Path:
    return resolve_db_path(str(db) if db is not None else None)


def _on_alpaca(job: Job[T], choice: VenueChoice, db_path: Path) -> tuple[str, T]:
    return run_in_alpaca(job, live=choice.live, yes=choice.yes, feed=choice.feed, db_path=db_path)


def _only_simulated(options: Mapping[str, Any]) -> None:
    given = sorted(k for k, v in options.items() if v not in (None, 0, False))
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise InvalidInputError(f"{flags} only apply to the simulator (--broker sim)")
