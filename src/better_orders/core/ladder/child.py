"""One child order of a ladder: what the broker has reported about it so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from better_orders.core.model import ZERO, Attempt, Fill, OrderStatus, OrderUpdate


@dataclass(slots=True)
class ChildOrder:
    """A child order's state, from the broker's updates; ``attempt`` is what the report shows."""

    attempt: Attempt
    status: OrderStatus = OrderStatus.PENDING_NEW
    cum_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    fills: dict[str, Fill] = field(default_factory=dict)

    @property
    def coid(self) -> str:
        return self.attempt.client_order_id

    @property
    def terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def filled_qty(self) -> Decimal:
        from_fills = sum((f.qty for f in self.fills.values()), ZERO)
        return max(self.cum_qty, from_fills)

    @property
    def notional(self) -> Decimal:
        from_fills_qty = sum((f.qty for f in self.fills.values()), ZERO)
        if self.avg_price is not None and self.cum_qty >= from_fills_qty:
            return self.cum_qty * self.avg_price
        return sum((f.qty * f.price for f in self.fills.values()), ZERO)

    def apply(self, update: OrderUpdate) -> None:
        # Cumulative quantity never goes down; a terminal status is never undone
        # (but a venue may report a fill after a cancel: Canceled -> Filled is allowed).
        if update.filled_qty >= self.cum_qty:
            self.cum_qty = update.filled_qty
            if update.filled_avg_price is not None:
                self.avg_price = update.filled_avg_price
        if update.fill is not None and update.fill.exec_id not in self.fills:
            self.fills[update.fill.exec_id] = update.fill
        if not self.terminal or update.status is OrderStatus.FILLED:
            self.status = update.status
        self.attempt.status = self.status
        self.attempt.filled_qty = self.filled_qty
        qty = self.filled_qty
        self.attempt.filled_avg_price = (self.notional / qty) if qty else None
