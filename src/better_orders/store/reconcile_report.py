"""What a reconciliation found and did: one finding per order, and the outcome.

The pure comparison (``reconcile_rules``) fills in the differences and the actions to
take; the shell (``reconcile``) adds what it did about them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from better_orders.core.model import BrokerOrder, Fill, OrderStatus, OrderUpdate, Side


class OrderAction(StrEnum):
    OK = "ok"  # journal and broker agree
    RECORD = "record"  # ended at the broker: final state (and fills) recorded
    CANCEL = "cancel"  # still open at the broker: cancel it
    ADOPT = "adopt"  # still open at the broker: leave it working, keep tracking it
    NEVER_SENT = "never_sent"  # pending_submit and unknown to the broker
    LOST = "lost"  # acknowledged once, unknown to the broker now


@dataclass(frozen=True, slots=True)
class OrderFinding:
    client_order_id: str
    symbol: str
    side: Side
    journal_status: str
    broker_status: OrderStatus | None
    journal_filled: Decimal
    broker_filled: Decimal | None
    action: OrderAction
    note: str


@dataclass(frozen=True, slots=True)
class PositionDifference:
    symbol: str
    broker_qty: Decimal
    journal_qty: Decimal

    @property
    def difference(self) -> Decimal:
        """Broker minus journal: positive = the broker holds more than the journal explains."""
        return self.broker_qty - self.journal_qty

    __json_properties__ = ("difference",)


@dataclass(slots=True)
class ReconcileReport:
    """Differences found, what was (or is to be) done about them, and the outcome."""

    findings: list[OrderFinding] = field(default_factory=list)
    #: Events to record so the journal's orders show the broker's state.
    updates: list[OrderUpdate] = field(default_factory=list)
    #: Fills the broker has and the journal lacks.
    missing_fills: list[Fill] = field(default_factory=list)
    to_cancel: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    foreign: list[BrokerOrder] = field(default_factory=list)
    positions: list[PositionDifference] = field(default_factory=list)
    # -- filled in by the shell -------------------------------------------------------
    cancelled: list[str] = field(default_factory=list)
    fills_recovered: int = 0
    #: This product's orders still open at the broker afterwards (adopted, or not cancelled).
    still_open: list[str] = field(default_factory=list)
    #: Runs another live process is working on: their orders were left to it.
    busy_runs: list[str] = field(default_factory=list)
    #: Runs left ``running`` by a process that is gone, now marked ``interrupted``.
    interrupted_runs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def open_orders(self) -> int:
        return len(self.still_open)

    @property
    def foreign_orders(self) -> int:
        return len(self.foreign)

    @property
    def position_differences(self) -> int:
        return len(self.positions)

    @property
    def clean(self) -> bool:
        """Nothing was behind: no order to settle, no fill missing, no position difference."""
        return (
            all(f.action is OrderAction.OK for f in self.findings)
            and not self.missing_fills
            and not self.positions
            and not self.problems
        )

    @property
    def acted(self) -> bool:
        """Something of this product's was settled: an order closed or cancelled, a fill
        recorded (a position difference alone is only reported)."""
        return (
            bool(self.cancelled)
            or self.fills_recovered > 0
            or any(f.action is not OrderAction.OK for f in self.findings)
        )

    def summary(self) -> str:
        parts = [
            f"{len(self.findings)} order(s) checked",
            f"{len(self.cancelled)} cancelled",
            f"{self.fills_recovered} fill(s) recovered",
            f"{self.open_orders} still open",
            f"{self.foreign_orders} foreign",
            f"{self.position_differences} position difference(s)",
        ]
        return ", ".join(parts)

    __json_properties__ = (
        "open_orders",
        "foreign_orders",
        "position_differences",
        "clean",
        "acted",
    )
