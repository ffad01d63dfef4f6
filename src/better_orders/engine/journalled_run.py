"""One journalled run on any venue: how it starts, resumes, and is recorded when it ends.

Every run that trades starts the same way, whatever the venue (``journalled_run``):

0. become the account's one writer (``account_lock``, taken by the venue's shell
   before it builds the venue, so nothing is read from the account another run is
   still changing): a second run on the same account is refused, naming the first,
   or waits for it;
1. lock the run's parameters (a scheduler firing the same targets twice gets one
   run and one refusal), then reconcile the journal with the venue: orders an
   earlier process left open are cancelled, fills it missed are recorded;
2. pick the run: a new one, the one named by ``resume``, or (``auto_resume``) the
   latest run of the same kind and parameters if it did not complete; a ``once``
   job (an order) resumes any unfinished run of its parameters, or refuses, saying
   what is left, when that run is too old to resume;
3. lock the run itself, heartbeat the locks while working (``run_locks``), release
   them at the end, and record how the run ended: completed with its result, or
   interrupted (also with its result when the work says it is ``unfinished``), or failed.

A venue here is anything with ``broker``, ``feed`` and ``clock`` attributes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from better_orders.core.errors import InvalidInputError, JournalError
from better_orders.engine.run_locks import RunLocks
from better_orders.store.encoding import params_hash
from better_orders.store.journal import Journal
from better_orders.store.locks import run_lock_name
from better_orders.store.progress import run_progress
from better_orders.store.reconcile import reconcile
from better_orders.store.reconcile_report import ReconcileReport
from better_orders.store.records import RunRecord, RunStatus
from better_orders.venues.tasks import StopHandle

T = TypeVar("T")
log = logging.getLogger(__name__)

#: An unfinished run older than this is not resumed automatically (its prices are old).
AUTO_RESUME_WITHIN = timedelta(hours=12)


@dataclass(slots=True)
class RunContext:
    """What a run's start found out, for the work and its report."""

    run_id: str = ""
    #: The run continues an interrupted one (same run id, legs already journalled).
    resumed: bool = False
    reconciliation: ReconcileReport | None = None
    notes: list[str] = field(default_factory=list)
    #: Set by the work when the run returned without finishing what it set out to do and
    #: must stay resumable: it is recorded ``interrupted`` (with its report), not completed.
    unfinished: str | None = None


#: What a run does once it has a venue (broker, feed, clock), a journal and a run id.
Work = Callable[[Any, Journal, str], Awaitable[T]]


@dataclass(slots=True)
class Job(Generic[T]):
    """One run, whatever the venue: what it does, and how the journal records it."""

    kind: str
    params: dict[str, Any]
    work: Work[T]
    record: Callable[[T], dict[str, Any]]
    #: False: no run row, no run locks, no reconciliation first (a dry run, a reconcile).
    record_run: bool = True
    context: RunContext = field(default_factory=RunContext)
    resume: str | None = None
    auto_resume: bool = False
    #: Never trade the same parameters twice while a run of them is unfinished: resume
    #: it (whichever runs came since), or refuse when it is too old to resume.
    once: bool = False
    #: What the run does, in words, for the locks others see ("buy 300 SOXL").
    label: str = ""
    #: False: reads the account only (a dry run), so needs no account lock.
    writes_account: bool = True
    #: Queue behind a run holding the account rather than refusing.
    wait: bool = False


@contextlib.contextmanager
def account_lock(
    journal: Journal, account: str, job: Job[Any], stop: StopHandle | None = None
) -> Iterator[RunLocks]:
    """The locks of one run, starting with ``account``'s when the job may trade it;
    everything taken is released when the block ends."""
    locks = RunLocks(journal)
    try:
        if job.writes_account:
            locks.take_account(account, _purpose(job, None), wait=job.wait, stop=stop)
        yield locks
    finally:
        locks.release_all()


async def journalled_run(
    job: Job[T],
    venue: Any,
    journal: Journal,
    *,
    broker_name: str,
    fresh_id: Callable[[], str],
    locks: RunLocks | None = None,
) -> tuple[str, T]:
    """Run ``job`` as one journalled run on ``venue`` (see the module docstring).

    ``locks`` are those the caller took (the account's); without them the run holds
    only its own locks.
    """
    ctx, kind, params, work = job.context, job.kind, job.params, job.work
    if not job.record_run:
        ctx.run_id = fresh_id()
        return ctx.run_id, await work(venue, journal, ctx.run_id)
    digest = params_hash(params)
    locks = locks or RunLocks(journal)
    try:
        locks.take(f"{kind} params {digest[:16]}", _purpose(job, None))
        found = await reconcile(journal, venue.broker, clock=venue.clock, venue=broker_name)
        ctx.reconciliation = found
        if found.still_open:
            raise JournalError(
                f"order(s) {', '.join(found.still_open)} of an earlier run are still open at "
                "the broker and could not be cancelled; no order sent (see better-orders "
                "reconcile)"
            )
        if found.acted:
            ctx.notes.append(f"reconciled the journal with the broker first: {found.summary()}")
        run_id = _choose_run(journal, job, digest, broker_name)
        ctx.run_id, ctx.resumed = run_id or _unused_id(journal, fresh_id), run_id is not None
        run_id = ctx.run_id
        locks.take(run_lock_name(run_id), _purpose(job, run_id))
        locks.describe(_purpose(job, run_id))
        locks.check()
        if ctx.resumed:
            journal.reopen_run(run_id)
        else:
            journal.start_run(run_id, kind, params, broker_name)
        async with locks.kept_alive(venue.clock):
            try:
                result = await work(venue, journal, run_id)
                locks.check()
            except (KeyboardInterrupt, asyncio.CancelledError):
                _record_end(journal, run_id, "interrupted")
                if locks.lost:
                    raise JournalError(locks.lost[0]) from None
                raise
            except JournalError:
                _record_end(journal, run_id, "interrupted" if locks.lost else "failed")
                raise
            except BaseException:
                _record_end(journal, run_id, "failed")
                raise
        status = RunStatus.INTERRUPTED if ctx.unfinished else RunStatus.COMPLETED
        journal.finish_run(run_id, status, job.record(result))
        return run_id, result
    finally:
        locks.release_all()


def _record_end(journal: Journal, run_id: str, status: str) -> None:
    """Record how a run ended on the way out of a stop or a failure.

    A journal that cannot take it (busy past its timeout) is logged, not raised: raised,
    its error would replace the stop request or the failure on its way out (a Ctrl-C
    would become an ordinary error, and a scheduler would carry on). The run stays
    ``running`` in the journal, with no live lock: the next command reconciles it.
    """
    try:
        journal.finish_run(run_id, status, None)
    except JournalError as exc:
        log.error("run %s could not be recorded as %s: %s", run_id, status, exc)


#: Fresh run ids tried before giving up. Ids carry their start time to the second and 4 random
#: hex digits: a few hundred simulations started at the same instant on one journal are
#: likely to draw one twice, and their orders' ids would meet at the broker too.
_FRESH_TRIES = 64


def _unused_id(journal: Journal, fresh_id: Callable[[], str]) -> str:
    """A fresh run id that no run in the journal has."""
    for _ in range(_FRESH_TRIES):
        run_id = fresh_id()
        if journal.get_run(run_id) is None:
            return run_id
    raise JournalError(
        f"no unused run id in {_FRESH_TRIES} tries (the last: {run_id}); use another journal "
        "(--db) or start time"
    )


def _purpose(job: Job[Any], run_id: str | None) -> str:
    """What a run holding a lock is doing, as others are told: ``order run ID (buy 300 SOXL)``,
    or before its run is chosen, ``order buy 300 SOXL (starting, no run id yet)``."""
    if run_id is not None:
        return f"{job.kind} run {run_id}" + (f" ({job.label})" if job.label else "")
    what = f"{job.kind} {job.label}".strip()
    return f"{what} (starting, no run id yet)" if job.record_run else what


def _choose_run(journal: Journal, job: Job[Any], digest: str, broker_name: str) -> str | None:
    """The run to continue (None: start a new one); only a run traded on ``broker_name``."""
    kind, resume = job.kind, job.resume
    if resume is not None:
        run = journal.get_run(resume)
        if run is None:
            raise JournalError(f"run {resume} is not in the journal: nothing to resume")
        if run.kind != kind:
            raise InvalidInputError(f"run {resume} is a {run.kind} run, not a {kind} run")
        if not run.traded_on(broker_name):
            # Its orders, fills and plan are another account's: trading them here would
            # send its legs to an account that never held its positions.
            raise InvalidInputError(
                f"run {resume} was traded on {run.broker}, not {broker_name}: resume it on "
                f"{run.broker}; nothing sent"
            )
        if run.status is RunStatus.COMPLETED:
            raise JournalError(f"run {resume} completed; there is nothing to resume")
        return resume
    if job.once:
        return _unfinished_run(journal, kind, digest, broker_name)
    if not job.auto_resume:
        return None
    here = [r for r in journal.find_runs(kind=kind) if r.traded_on(broker_name)]
    latest = here[-1] if here else None
    if (
        latest is not None
        and latest.params_hash == digest
        and latest.status is not RunStatus.COMPLETED
        and _recent(latest)
        and journal.intents(latest.run_id)
    ):
        return latest.run_id
    return None


def _unfinished_run(journal: Journal, kind: str, digest: str, broker_name: str) -> str | None:
    """The latest unfinished run of these parameters on this broker, if recent (it finishes
    what is left, perhaps nothing); ``JournalError`` naming it and what is left if it is
    too old.

    A completed run supersedes the unfinished ones before it (``--new`` started over).
    """
    for run in reversed(journal.find_runs(params_hash=digest, kind=kind)):
        if not run.traded_on(broker_name):
            continue  # another account's: what it did there is not done here
        if run.status is RunStatus.COMPLETED:
            return None
        if run.status is RunStatus.RUNNING:
            continue  # a live process holds it (reconciliation ends a dead one's)
        progress = run_progress(journal, run.run_id)
        if not progress:
            continue  # stopped before recording what it would trade: nothing to finish
        if _recent(run):
            return run.run_id
        left = [p for p in progress if p.remaining_qty > 0]
        if not left:
            return None  # it did everything: another one is a new order
        what = ", ".join(
            f"{p.side.value} {p.remaining_qty} of {p.target_qty} {p.symbol}" for p in left
        )
        raise JournalError(
            f"{kind} run {run.run_id} of the same parameters ({run.status.value}, started "
            f"{run.started_at.isoformat(timespec='seconds')}) has {what} left; it is too old "
            f"to resume (over {AUTO_RESUME_WITHIN.total_seconds() / 3600:.0f} h): add --new "
            "to start a new one"
        )
    return None


def _recent(run: RunRecord) -> bool:
    """Whether the run is recent enough to resume automatically (its prices are not old)."""
    return datetime.now(UTC) - run.started_at < AUTO_RESUME_WITHIN
