"""What an ``order`` run and a ``rebalance`` run do, the same on every venue.

Each builder returns a ``Job``: the work (``execution.execute`` or
``rebalance.rebalance`` on the venue's broker, feed and clock), the parameters the
journal locks and records the run by, and what it keeps of the result.
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
from better_orders.engine.rebalance import RebalanceReport, rebalance
from better_orders.engine.runner import LadderEvent
from better_orders.store.journal import Journal


def order_job(
    specs: list[OrderSpec],
    cfg: BetterOrdersConfig,
    observer: Callable[[LadderEvent], None] | None,
    **more_params: Any,
) -> Job[list[ExecutionReport]]:
    """An ``order`` run; ``more_params`` (the simulator's start, seed, files) are recorded too."""

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
    return Job("order", {"orders": orders, **more_params}, work, record)


def rebalance_job(
    targets: Sequence[tuple[str, object]] | Mapping[str, object],
    cfg: BetterOrdersConfig,
    db_path: Path,
    *,
    resume: str | None,
    dry_run: bool,
    observer: Callable[[LadderEvent], None] | None,
    on_plan: Callable[[Plan], None] | None,
) -> Job[RebalanceReport]:
    """A ``rebalance`` run (resumed automatically when interrupted)."""
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

    return Job(
        "rebalance",
        {"targets": {s: str(w) for s, w in sorted(parsed.items())}},
        work,
        record,
        record_run=not dry_run,
        context=context,
        resume=resume,
        auto_resume=True,
    )


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
    recorded = parse_targets(dict(run.params.get("targets") or {}))
    if given and parsed != recorded:
        raise InvalidInputError(
            f"targets differ from those of run {resume} "
            f"({', '.join(f'{s}={w}' for s, w in sorted(recorded.items()))}): "
            "leave them out to resume it"
        )
    return recorded
