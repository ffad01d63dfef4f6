"""One journalled run on any venue: how it starts, resumes, and is recorded when it ends.

Every run that trades starts the same way, whatever the venue (``journalled_run``):

1. lock the run's parameters (a scheduler firing the same targets twice gets one
   run and one refusal), then reconcile the journal with the venue: orders an
   earlier process left open are cancelled, fills it missed are recorded;
2. pick the run: a new one, the one named by ``resume``, or (``auto_resume``) the
   latest run of the same kind and parameters if it did not complete;
3. lock the run itself, heartbeat both locks while working (``run_locks``), release
   them at the end, and record how the run ended: completed with its result, or
   interrupted, or failed.

A venue here is anything with ``broker``, ``feed`` and ``clock`` attributes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from better_orders.core.errors import InvalidInputError, JournalError
from better_orders.engine.run_locks import RunLocks
from better_orders.store.encoding import params_hash
from better_orders.store.journal import Journal
from better_orders.store.locks import run_lock_name
from better_orders.store.reconcile import reconcile
from better_orders.store.reconcile_report import ReconcileReport
from better_orders.store.records import RunStatus

T = TypeVar("T")

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


#: What a run does once it has a venue (broker, feed, clock), a journal and a run id.
Work = Callable[[Any, Journal, str], Awaitable[T]]


@dataclass(slots=True)
class Job(Generic[T]):
    """One run, whatever the venue: what it does, and how the journal records it."""

    kind: str
    params: dict[str, Any]
    work: Work[T]
    record: Callable[[T], dict[str, Any]]
    #: False: no run row, no locks, no reconciliation first (a dry run, a reconcile).
    record_run: bool = True
    context: RunContext = field(default_factory=RunContext)
    resume: str | None = None
    auto_resume: bool = False


async def journalled_run(
    job: Job[T],
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
    digest = params_hash(params)
    locks = RunLocks(journal)
    try:
        locks.take(f"{kind} params {digest[:16]}")
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
        locks.take(run_lock_name(run_id))
        if ctx.resumed:
            journal.reopen_run(run_id)
        else:
            journal.start_run(run_id, kind, params, broker_name)
        async with locks.kept_alive(venue.clock):
            try:
                result = await work(venue, journal, run_id)
            except (KeyboardInterrupt, asyncio.CancelledError):
                journal.finish_run(run_id, "interrupted", None)
                if locks.lost:
                    raise JournalError(locks.lost[0]) from None
                raise
            except BaseException:
                journal.finish_run(run_id, "failed", None)
                raise
        journal.finish_run(run_id, "completed", job.record(result))
        return run_id, result
    finally:
        locks.release_all()


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
