"""One child order of a ladder: what the broker has reported about it so far.

Broker news arrives late, twice or out of order; folding it in here makes that
harmless: the cumulative quantity never goes down, a fill counts once (by
``exec_id``), and a terminal status is never undone, except ``canceled`` ->
``filled`` (a venue may report a fill that beat the cancel after the cancel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from better_orders.core.model import (
    TERMINAL_STATUSES,
    ZERO,
    Attempt,
    Fill,
    OrderStatus,
    OrderUpdate,
)


@dataclass(slots=True, eq=False)
class ChildOrder:
    """A child order's state, from the broker's updates; ``attempt`` is what the report shows."""

    attempt: Attempt
    status: OrderStatus = OrderStatus.PENDING_NEW
    cum_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    fills: dict[str, Fill] | None = None
    fills_qty: Decimal = ZERO
    fills_notional: Decimal = ZERO
    #: Cancels sent for this child (the first, and any re-sent after a transient failure).
    cancels_sent: int = 0
    #: The attempt shows this child's filled quantity and price (``apply`` keeps them so,
    #: computing them again only when the broker's news moved them).
    synced: bool = field(default=False, repr=False)

    @property
    def coid(self) -> str:
        return self.attempt.client_order_id

    @property
    def live(self) -> bool:
        """May still fill: the broker has not reported a terminal status."""
        return not self.status.is_terminal

    @property
    def open_qty(self) -> Decimal:
        """What it may still fill (zero once it ended)."""
        return max(self.attempt.qty - self.filled_qty, ZERO) if self.live else ZERO

    @property
    def filled_qty(self) -> Decimal:
        return self.cum_qty if self.cum_qty > self.fills_qty else self.fills_qty

    @property
    def notional(self) -> Decimal:
        """Exactly the fills' when they account for everything; else the broker's average."""
        if self.cum_qty > self.fills_qty and self.avg_price is not None:
            return self.cum_qty * self.avg_price
        return self.fills_notional

    def apply(self, update: OrderUpdate) -> bool:
        """Fold ``update`` in; True if the child ended with it (it was live and is not)."""
        before = self.status
        was_live = before not in TERMINAL_STATUSES
        # Whether the filled quantity or its price may have moved (the attempt shows both).
        moved = not self.synced
        filled, avg = update.filled_qty, update.filled_avg_price
        if filled > self.cum_qty:
            self.cum_qty = filled
            if avg is not None:
                self.avg_price = avg
            moved = True
        elif avg is not None and filled == self.cum_qty:
            moved = moved or avg != self.avg_price
            self.avg_price = avg
        fill = update.fill
        if fill is not None:
            fills = self.fills
            if fills is None:
                fills = self.fills = {}
            if fill.exec_id not in fills:
                fills[fill.exec_id] = fill
                self.fills_qty += fill.qty
                self.fills_notional += fill.qty * fill.price
                moved = True
        status = update.status
        if was_live or (status is OrderStatus.FILLED and before is OrderStatus.CANCELED):
            self.status = status
        ended = was_live and self.status in TERMINAL_STATUSES
        attempt = self.attempt
        attempt.status = self.status
        if moved:
            qty = attempt.filled_qty = self.filled_qty
            attempt.filled_avg_price = (self.notional / qty) if qty else None
            self.synced = True
        if ended and attempt.ended is None:
            attempt.ended = update.ts
            if attempt.end_reason is None:
                attempt.end_reason = status.value + (f": {update.reason}" if update.reason else "")
        return ended

    def refuse(self, now: datetime, code: str, reason: str) -> bool:
        """The submit was refused (no order exists); True if that ended the child.

        A refusal of a child the broker has already reported on is stale news and
        changes nothing: the broker's own account of the order wins.
        """
        if self.status is not OrderStatus.PENDING_NEW or self.filled_qty > 0:
            return False
        self.status = OrderStatus.REJECTED
        attempt = self.attempt
        attempt.status = OrderStatus.REJECTED
        attempt.ended = now
        attempt.end_reason = f"refused at submit ({code}): {reason}"
        return True

    def all_fills(self) -> list[Fill]:
        return [] if self.fills is None else list(self.fills.values())


class ChildEnded(NamedTuple):
    """One of the ladder's live children just ended: what the state's handler is told.

    ``refused_by`` is set when the submit itself was refused (no order exists):
    who refused it ("the broker", "a pre-trade risk check", "a halt"), with ``code``.
    (A named tuple: made for every child that ends, where a frozen dataclass costs a
    call per field.)
    """

    child: ChildOrder
    now: datetime
    status: OrderStatus
    reason: str | None = None
    refused_by: str | None = None
    code: str | None = None
