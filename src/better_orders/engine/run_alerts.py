"""What a run tells its alert destinations: its start and result, rejects, legs left
incomplete, a cost over the threshold, a refusal, a failure, the kill switch.

Pure text from a run's outcome; ``alerts`` delivers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from better_orders.core.errors import GuardTrippedError, KillSwitchError
from better_orders.core.market_calendar import format_et
from better_orders.core.model import ExecutionReport, OrderStatus
from better_orders.engine.alerts import Alert, AlertLevel
from better_orders.engine.rebalance import RebalanceReport

TITLE = "Better Orders"


@dataclass(frozen=True, slots=True)
class RunLabel:
    """How alerts name a run: ``the close-15m run of 2026-11-27 for sim paper``."""

    what: str
    run_id: str | None = None

    def __str__(self) -> str:
        return f"{self.what} (run {self.run_id})" if self.run_id else self.what


def started(label: RunLabel, at: datetime) -> Alert:
    return Alert("start", f"{TITLE}: run started", f"{label} started at {format_et(at)}")


def finished(
    label: RunLabel, report: RebalanceReport, cost_bps_over: Decimal | None
) -> list[Alert]:
    """The result, then one alert each for rejects, incomplete legs and a high cost."""
    cost = report.total_cost_bps
    summary = (
        f"{label} {'completed' if report.complete else 'ended incomplete'}: traded "
        f"${report.traded_notional:,.2f}"
        + (f", cost {cost:.2f} bps vs arrival mids" if cost is not None else "")
        + (f"; equity ${report.final_equity:,.2f}" if report.final_equity is not None else "")
    )
    alerts = [
        Alert(
            "result",
            f"{TITLE}: run {'completed' if report.complete else 'incomplete'}",
            summary,
            AlertLevel.SUCCESS if report.complete else AlertLevel.WARNING,
        )
    ]
    rejected = rejects(report.executions)
    if rejected:
        alerts.append(
            Alert(
                "reject",
                f"{TITLE}: {len(rejected)} order(s) rejected",
                f"{label}: " + "; ".join(rejected),
                AlertLevel.WARNING,
            )
        )
    if report.undone:
        alerts.append(
            Alert(
                "incomplete",
                f"{TITLE}: {len(report.undone)} leg(s) left incomplete",
                f"{label}: " + "; ".join(report.undone),
                AlertLevel.WARNING,
            )
        )
    if cost_bps_over is not None and cost is not None and cost > cost_bps_over:
        alerts.append(
            Alert(
                "cost",
                f"{TITLE}: cost {cost:.2f} bps",
                f"{label} cost {cost:.2f} bps (${report.total_cost_dollars:,.2f}) vs arrival "
                f"mids, above alerts.cost_bps_over {cost_bps_over} bps",
                AlertLevel.WARNING,
            )
        )
    return alerts


def rejects(executions: Sequence[ExecutionReport]) -> list[str]:
    """``buy 10 TQQQ: insufficient buying power``, one per rejected order."""
    return [
        f"{ex.side.value} {attempt.qty} {ex.symbol}: {attempt.end_reason or 'rejected'}"
        for ex in executions
        for attempt in ex.attempts
        if attempt.status is OrderStatus.REJECTED
    ]


def stopped(label: RunLabel, error: BaseException, *, sent: bool = True) -> Alert:
    """A run that did not go through: refused by a guard, halted by the kill switch, refused
    before any order was ``sent`` (targets that could not be read), or failed."""
    if isinstance(error, KillSwitchError):
        return Alert(
            "kill_switch", f"{TITLE}: kill switch", f"{label}: {error}", AlertLevel.FAILURE
        )
    if isinstance(error, GuardTrippedError):
        return Alert("refused", f"{TITLE}: run refused", f"{label}: {error}", AlertLevel.FAILURE)
    text = str(error) or type(error).__name__
    if not sent:
        return Alert(
            "refused",
            f"{TITLE}: run refused",
            f"{label} refused before any order: {text}",
            AlertLevel.FAILURE,
        )
    return Alert("failure", f"{TITLE}: run failed", f"{label} failed: {text}", AlertLevel.FAILURE)


def interrupted(label: RunLabel, signal_name: str, cleanup: str) -> Alert:
    return Alert(
        "interrupted",
        f"{TITLE}: run interrupted",
        f"{label} stopped by {signal_name}; {cleanup}",
        AlertLevel.WARNING,
    )
