"""What an ``order``, a ``rebalance`` and a ``reconcile`` run do, the same on every venue.

Each builder returns a ``Job``: the work (``execution.execute``,
``rebalance.rebalance`` or ``reconcile.reconcile`` on the venue's broker, feed and
clock), the parameters the journal locks and records the run by, how it resumes,
and what it keeps of the result.

An order is resumed like a rebalance: run again with the same parameters, an
unfinished order run completes only what is left of it (``order_resume``); ``new``
starts a new order deliberately.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError, JournalError
from better_orders.core.jsonable import to_jsonable
from better_orders.core.model import ExecutionReport
from better_orders.core.plan import Plan, parse_targets
from better_orders.engine.execution import OrderSpec, execute
from better_orders.engine.journalled_run import Job, RunContext
from better_orders.engine.legs import LadderEvent
from better_orders.engine.order_resume import remainder
from better_orders.engine.rebalance import RebalanceReport, rebalance
from better_orders.store.journal import Journal
from better_orders.store.reconcile import reconcile
from better_orders.store.reconcile_report import ReconcileReport


def order_job(
    specs: list[OrderSpec],
    cfg: BetterOrdersConfig,
    observer: Callable[[LadderEvent], None] | None,
    *,
    new: bool = False,
    wait: bool = False,
    **more_params: Any,
) -> Job[list[ExecutionReport]]:
    """An ``order`` run; ``more_params`` (the simulator's start, seed, files) are recorded too.

    An unfinished run of the same orders is resumed for what is left of it, unless
    ``new``; ``wait`` queues behind another run trading the account.
    """
    context = RunContext()

    async def work(venue: Any, journal: Journal, run_id: str) -> list[ExecutionReport]:
        left = remainder(journal, run_id, specs, venue.clock.now()) if context.resumed else None
        todo = specs if left is None else left.specs
        reports = (
            await execute(
                todo,
                broker=venue.broker,
                feed=venue.feed,
                clock=venue.clock,
                journal=journal,
                config=cfg,
                run_id=run_id,
                observer=observer,
                leg_numbers=None if left is None else left.legs,
            )
            if todo
            else []
        )
        unsent = _unsent(reports) if left is not None else None
        if unsent:
            # The same command finishes it, rather than starting the whole order again on
            # top of what it already did.
            context.unfinished = (
                f"run {run_id} left unfinished ({unsent} not sent): run the same command "
                "again to finish it"
            )
        if left is not None:
            reports = left.reports(reports)
        if reports:
            reports[0].notes[:0] = context.notes
            if context.unfinished:
                reports[0].notes.append(context.unfinished)
        return reports

    def record(reports: list[ExecutionReport]) -> dict[str, Any]:
        return {"reports": to_jsonable(reports)}

    orders = [{"symbol": s.symbol, "side": s.side.value, "qty": str(s.qty)} for s in specs]
    label = ", ".join(f"{s.side.value} {s.qty} {s.symbol}" for s in specs)
    return Job(
        "order",
        {"orders": orders, **more_params},
        work,
        record,
        context=context,
        once=not new,
        label=label,
        wait=wait,
    )


def reconcile_job(*, adopt: bool, wait: bool = False) -> Job[ReconcileReport]:
    """A reconciliation outside any run: the account's writer while it settles orders."""

    async def work(venue: Any, journal: Journal, run_id: str) -> ReconcileReport:
        broker = venue.broker
        return await reconcile(journal, broker, clock=venue.clock, adopt=adopt, venue=broker.name)

    return Job("reconcile", {}, work, lambda r: {}, record_run=False, wait=wait)


def rebalance_job(
    targets: Sequence[tuple[str, object]] | Mapping[str, object],
    cfg: BetterOrdersConfig,
    db_path: Path,
    *,
    resume: str | None,
    dry_run: bool,
    observer: Callable[[LadderEvent], None] | None,
    on_plan: Callable[[Plan], None] | None,
    wait: bool = False,
) -> Job[RebalanceReport]:
    """A ``rebalance`` run (resumed automatically when interrupted); ``wait`` queues behind
    another run trading the account (a dry run only reads it and never waits)."""
    parsed = _rebalance_targets(db_path, targets, resume)
    context = RunContext()

    async def work(venue: Any, journal: Journal, run_id: str) -> RebalanceReport:
        resumed = context.resumed and bool(journal.intents(run_id))
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
        unsent = _unsent(report.executions) if resumed and not dry_run else None
        if unsent:
            # Resumable again (--resume, or the same targets while recent), not completed.
            context.unfinished = (
                f"run {run_id} left unfinished ({unsent} not sent): resume it with "
                f"--resume {run_id}"
            )
            report.notes.append(context.unfinished)
        return report

    def record(report: RebalanceReport) -> dict[str, Any]:
        data: dict[str, Any] = to_jsonable(report)
        return data

    return Job(
        "rebalance",
        {"targets": {s: str(w) for s, w in sorted(parsed.items())}},
        work,
        record,
        record_run=not dry_run,
        context=context,
        resume=resume,
        auto_resume=True,
        label=" ".join(f"{s}={w}" for s, w in sorted(parsed.items())),
        writes_account=not dry_run,
        wait=wait,
    )


def _unsent(reports: Sequence[ExecutionReport]) -> str | None:
    """The legs of a resumed run for which nothing was sent ("buy 6 SPY, sell 3 QQQ"), or
    None. Such a run (the market has closed, no usable quote) stays as it was, unfinished,
    to be resumed again rather than counted done."""
    refused = [r for r in reports if not r.attempts and r.unfilled_qty > 0]
    if not refused:
        return None
    return ", ".join(f"{r.side.value} {r.unfilled_qty} {r.symbol}" for r in refused)


def _rebalance_targets(
    db_path: Path,
    targets: Sequence[tuple[str, object]] | Mapping[str, object],
    resume: str | None,
) -> dict[str, Decimal]:
    """The targets to trade: those given, else (resuming) the resumed run's own."""
    given = bool(targets)
    if resume is None or given:
        parsed = parse_targets(targets)
    if resume is None:
        return parsed
    with Journal.open(db_path) as journal:
        run = journal.get_run(resume)
    if run is None:
        raise JournalError(f"run {resume} is not in the journal: nothing to resume")
    if run.kind != "rebalance":
        raise InvalidInputError(f"run {resume} is an {run.kind} run, not a rebalance run")
    recorded = parse_targets(dict(run.params.get("targets") or {}))
    if given and parsed != recorded:
        raise InvalidInputError(
            f"targets differ from those of run {resume} "
            f"({', '.join(f'{s}={w}' for s, w in sorted(recorded.items()))}): "
            "leave them out to resume it"
        )
    return recorded
