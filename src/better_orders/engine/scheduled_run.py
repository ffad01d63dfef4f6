"""One scheduled run: claim the session, read the targets, guard, rebalance, record, alert.

In order, for one firing of a schedule point (``core.schedule``):

1. **Claim** the (session, account, point) in the journal (``store.scheduled_runs``):
   exactly one process gets it; any other is refused, naming the run. A run that
   was interrupted, or whose process died, is taken over and resumed (same run id).
2. **Refuse early** what must not trade: the kill switch on, targets that cannot be
   read (a failing or silent command) or are stale (``max_target_age``).
3. **Rebalance** through the ordinary entry point (``commands.run_rebalance``), on
   the run id claimed: its journal row is opened first, so the rebalance resumes it.
   The plan passes the guards (``core.guards``: equity deployed, turnover, and the
   risk limits applied to the whole plan) before any order; one that trips refuses
   the run.
4. **Record and alert**: the outcome goes in the claim's row, and to every alert
   destination. A stop by SIGTERM / SIGINT cancels the orders the run left open
   (reconciliation with the broker) and records the run as interrupted.

Alert delivery and its failures never change the outcome of the run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import BetterOrdersError, InvalidInputError
from better_orders.core.guards import GuardLimits, PlanLimits, check_plan, check_target_age
from better_orders.core.market_calendar import NEW_YORK
from better_orders.core.plan import Plan, parse_targets
from better_orders.core.schedule import ScheduledInstant, SchedulePoint
from better_orders.engine import run_alerts
from better_orders.engine.alerts import Alert, Alerts
from better_orders.engine.commands import VenueChoice, run_rebalance, run_reconcile
from better_orders.engine.legs import LadderEvent
from better_orders.engine.rebalance import RebalanceReport
from better_orders.engine.risk import KillSwitch
from better_orders.engine.run_locks import LockKeeper
from better_orders.engine.shutdown import Shutdown
from better_orders.engine.targets import TargetsDoc, read_targets_file, targets_from_command
from better_orders.store.ids import new_run_id
from better_orders.store.journal import Journal
from better_orders.store.locks import LockOwner
from better_orders.store.records import RunStatus
from better_orders.store.scheduled_runs import (
    Claim,
    ScheduledRuns,
    ScheduledStatus,
    ScheduleKey,
    claim_lock_name,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TargetsSource:
    """Where each run reads its targets: a file, or a command's stdout (read every run)."""

    file: Path | None = None
    command: str | None = None
    timeout_seconds: float = 120.0

    def __post_init__(self) -> None:
        if (self.file is None) == (self.command is None):
            raise InvalidInputError("give the targets as --targets FILE or --targets-cmd COMMAND")

    def read(self) -> TargetsDoc:
        if self.file is not None:
            return read_targets_file(self.file)
        assert self.command is not None
        return targets_from_command(self.command, timeout_seconds=self.timeout_seconds)


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """What every firing of a schedule does: the same targets source, venue and limits."""

    point: SchedulePoint
    targets: TargetsSource
    venue: VenueChoice
    db: Path
    config: BetterOrdersConfig
    guards: GuardLimits
    account: str
    seed: int = 0


@dataclass(slots=True)
class RunOutcome:
    """How one firing ended."""

    firing: ScheduledInstant
    run_id: str
    status: ScheduledStatus
    message: str
    report: RebalanceReport | None = None
    error: BaseException | None = None
    #: Alerts sent about it, by kind.
    alerted: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status is ScheduledStatus.COMPLETED:
            return 0
        if isinstance(self.error, BetterOrdersError):
            return self.error.exit_code
        return 1


def plan_limits(config: BetterOrdersConfig) -> PlanLimits:
    """The risk limits a scheduled run's whole plan must keep within."""
    risk = config.risk
    return PlanLimits(risk.max_order_notional, risk.max_order_qty, risk.max_run_notional)


def stale_check(doc: TargetsDoc, now: dt.datetime, max_age: dt.timedelta | None) -> None:
    """Refuse targets older than ``max_age``: by their ``as_of``, else the file's time."""
    written = doc.as_of or doc.modified
    if written is not None:
        check_target_age(written, now, max_age, doc.origin)


def guarded(
    limits: GuardLimits,
    risk: PlanLimits | None,
    then: Callable[[Plan], None] | None = None,
) -> Callable[[Plan], None]:
    """An ``on_plan`` hook: ``then`` (showing the plan), then the guards (raising refuses
    the run: ``on_plan`` is called before any order)."""

    def hook(plan: Plan) -> None:
        if then is not None:
            then(plan)
        check_plan(plan, limits, risk)

    return hook


def run_session(
    job: ScheduledJob,
    firing: ScheduledInstant,
    now: dt.datetime,
    alerts: Alerts,
    *,
    on_plan: Callable[[Plan], None] | None = None,
    observer: Callable[[LadderEvent], None] | None = None,
    shutdown: Shutdown | None = None,
) -> RunOutcome:
    """Run ``firing`` once (see the module docstring). ``now`` is the scheduler's clock;
    ``shutdown`` names the signal that stopped it, if one does.

    Raises ``AlreadyScheduledError`` if another process has (or had) this session's
    run, and ``KeyboardInterrupt`` after a stop by a signal has been recorded.
    """
    key = ScheduleKey(firing.session.date, job.account, str(job.point))
    owner = LockOwner.current()
    with ScheduledRuns.open(job.db) as table:
        claim = table.claim(
            key,
            owner,
            run_id=new_run_id(firing.at.astimezone(NEW_YORK)),
            scheduled_for=firing.at,
            fired_at=now,
        )
    run_id = claim.run.run_id
    label = run_alerts.RunLabel(str(key), run_id)
    outcome = RunOutcome(firing, run_id, ScheduledStatus.FAILED, "")

    def alert(*messages: Alert) -> None:
        alerts.send(*messages)
        outcome.alerted.extend(m.kind for m in messages)

    with _claim_kept(job.db, owner, key):
        alert(run_alerts.started(label, now))
        try:
            ended = _ended_in_journal(job.db, run_id) if claim.takeover else None
            if ended is not None:
                # Its process stopped after the run was done, before this row said so.
                outcome.status = ended
                outcome.message = "done before its process stopped; nothing sent again"
            else:
                outcome.report = _trade(job, claim, now, on_plan, observer)
                report = outcome.report
                outcome.status = (
                    ScheduledStatus.COMPLETED if report.complete else ScheduledStatus.INCOMPLETE
                )
                outcome.message = _summary(report, job.db if claim.takeover else None)
                cost_over = job.config.alerts.cost_bps_over or None
                alert(*run_alerts.finished(label, report, cost_over))
        except KeyboardInterrupt:
            outcome.status = ScheduledStatus.INTERRUPTED
            outcome.message = f"interrupted; {_close_left_open(job, now)}"
            stopped_by = shutdown.name if shutdown is not None else "SIGINT"
            alert(run_alerts.interrupted(label, stopped_by, outcome.message))
            raise
        except Exception as exc:
            outcome.error = exc
            outcome.status = (
                ScheduledStatus.FAILED if _sent_orders(job.db, run_id) else ScheduledStatus.REFUSED
            )
            _settle_journal_run(job.db, run_id)
            outcome.message = str(exc) or type(exc).__name__
            sent = outcome.status is not ScheduledStatus.REFUSED
            alert(run_alerts.stopped(label, exc, sent=sent))
        finally:
            outcome.message = alerts.scrub(outcome.message)
            with ScheduledRuns.open(job.db) as table:
                table.finish(key, owner, outcome.status, outcome.message)
    return outcome


@contextlib.contextmanager
def _claim_kept(db: Path, owner: LockOwner, key: ScheduleKey) -> Iterator[None]:
    """Renew the claim's lock on the wall clock while the body runs (until the outcome
    is recorded): a claimer that stops renewing it (a crash) is taken over by the next
    attempt."""
    keeper = LockKeeper(db, owner, lambda: (claim_lock_name(key),), _claim_lost)
    keeper.start()
    try:
        yield
    finally:
        keeper.stop()


def _claim_lost(reason: str) -> None:
    log.error("%s: this process will not record the run's outcome", reason)


def _trade(
    job: ScheduledJob,
    claim: Claim,
    now: dt.datetime,
    on_plan: Callable[[Plan], None] | None,
    observer: Callable[[LadderEvent], None] | None,
) -> RebalanceReport:
    run_id = claim.run.run_id
    kill_switch = KillSwitch.resolve(job.config.risk)
    if kill_switch is not None:
        kill_switch.check("scheduled run not started; no order sent")
    pairs: list[tuple[str, str]] = []
    if not (claim.takeover and _resumable(job.db, run_id)):
        doc = job.targets.read()
        stale_check(doc, now, job.guards.max_target_age)
        parsed = parse_targets(doc.pairs)
        pairs = [(s, str(w)) for s, w in sorted(parsed.items())]
        params = {
            "targets": dict(pairs),
            "schedule": {"session": claim.run.key.session.isoformat(), "point": str(job.point)},
        }
        with Journal.open(job.db) as journal:
            journal.start_run(run_id, "rebalance", params, _broker_name(job.venue, job.account))
    simulated: dict[str, Any] = {"at": now, "seed": job.seed} if job.venue.simulated else {}
    return run_rebalance(
        pairs,
        venue=job.venue,
        db=job.db,
        config=job.config,
        observer=observer,
        on_plan=guarded(job.guards, plan_limits(job.config), on_plan),
        resume=run_id,
        **simulated,
    )


def _resumable(db: Path, run_id: str) -> bool:
    """The taken-over run reached the journal (a crash before that starts it afresh)."""
    with Journal.open(db) as journal:
        run = journal.get_run(run_id)
    return run is not None and run.status is not RunStatus.COMPLETED


def _ended_in_journal(db: Path, run_id: str) -> ScheduledStatus | None:
    """How a taken-over run ended if the journal already closed it as completed: every
    leg filled, or not (None: it did not complete, so it is resumed)."""
    with Journal.open(db) as journal:
        run = journal.get_run(run_id)
        if run is None or run.status is not RunStatus.COMPLETED:
            return None
        legs = journal.intents(run_id)
    if all(leg.status == "filled" for leg in legs):
        return ScheduledStatus.COMPLETED
    return ScheduledStatus.INCOMPLETE


def _settle_journal_run(db: Path, run_id: str) -> None:
    """A run that stopped before the rebalance took it over is not left ``running``."""
    with Journal.open(db) as journal:
        run = journal.get_run(run_id)
        if run is not None and run.status is RunStatus.RUNNING:
            journal.finish_run(run_id, RunStatus.FAILED)


def _sent_orders(db: Path, run_id: str) -> bool:
    with Journal.open(db) as journal:
        return bool(journal.orders(run_id=run_id))


def _close_left_open(job: ScheduledJob, now: dt.datetime) -> str:
    """Cancel what the stopped run left open at the broker; one line on how that went."""
    try:
        found = run_reconcile(venue=job.venue, db=job.db, now=now)
    except (Exception, KeyboardInterrupt) as exc:
        return f"cancelling its open orders failed ({exc}); run better-orders reconcile"
    if found.still_open:
        return f"still open at the broker: {', '.join(found.still_open)}"
    return f"open orders cancelled ({found.summary()})"


def _broker_name(venue: VenueChoice, account: str) -> str:
    """The venue as the run records it (``AlpacaBroker.name``): on Alpaca, its kind and the
    account's number, which ends the schedule's account label (``account_and_clock``)."""
    if venue.simulated:
        return "sim"
    kind = "alpaca-live" if venue.live else "alpaca-paper"
    number = account.rsplit(" ", 1)[-1] if account.startswith("alpaca ") else ""
    return f"{kind} {number}" if number else kind


def _summary(report: RebalanceReport, resumed_from: Path | None = None) -> str:
    """``traded $X, cost Y bps``; for a resumed run (its journal ``resumed_from``) what
    the whole run traded, and what this attempt did of it."""
    cost = report.total_cost_bps
    text = f"traded ${report.traded_notional:,.2f}"
    if cost is not None:
        text += f", cost {cost:.2f} bps"
    if resumed_from is not None and report.run_id is not None:
        with Journal.open(resumed_from) as journal:
            fills = journal.fills(run_id=report.run_id)
        total = sum((f.qty * f.price for f in fills), Decimal(0))
        text = f"traded ${total:,.2f} in all; resumed, this attempt {text}"
    if report.undone:
        text += f"; undone: {'; '.join(report.undone)}"
    return text
