"""Orders as the simulated venue holds them: the venue's record, its ids, its price check.

The broker order id derives from the client order id alone (and a fill's
execution id is ``{broker order id}-{n}``), so a replay that settles a fill
without the exchange can name it exactly as the exchange would.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal

from better_orders.core.errors import BrokerError
from better_orders.core.model import BrokerOrder, OrderRequest, OrderStatus, Side
from better_orders.core.ticks import ONE_DOLLAR, PENNY, SUBPENNY

ZERO = Decimal(0)


def broker_order_id(client_order_id: str) -> str:
    """The id the simulated venue gives the order with this client order id."""
    digest = hashlib.blake2b(client_order_id.encode(), digest_size=8).hexdigest()
    return f"sim-{digest}"


def check_price_grid(symbol: str, price: Decimal) -> None:
    """Refuse a limit price off the tick grid, the way a venue would (code ``invalid_price``)."""
    if not price.is_finite() or price <= 0:
        raise BrokerError(f"invalid limit price {price} for {symbol}", code="invalid_price")
    if price >= ONE_DOLLAR and price != price.quantize(PENNY):
        raise BrokerError(
            f"sub-penny price {price} for {symbol}: prices >= $1 take at most 2 decimals",
            code="invalid_price",
        )
    if price < ONE_DOLLAR and price != price.quantize(SUBPENNY):
        raise BrokerError(
            f"price {price} for {symbol}: prices below $1 take at most 4 decimals",
            code="invalid_price",
        )


class VenueOrder:
    """The venue's mutable record of one order."""

    __slots__ = (
        "ahead",
        "at_venue",
        "broker_order_id",
        "expires",
        "filled_qty",
        "fills",
        "notional",
        "reject_reason",
        "request",
        "seq",
        "status",
        "submitted_at",
    )

    def __init__(self, request: OrderRequest, broker_order_id: str, now: datetime, seq: int):
        self.request = request
        self.broker_order_id = broker_order_id
        self.submitted_at = now
        self.seq = seq
        self.status = OrderStatus.PENDING_NEW
        self.filled_qty = ZERO
        self.notional = ZERO
        self.fills = 0
        self.at_venue = False
        self.reject_reason: str | None = None
        #: When it stops trading and expires (``SimExchange.submit``); None: never.
        self.expires: datetime | None = None
        #: Displayed shares ahead of this limit in its price's queue (``fills``); None
        #: while the near touch is better than its price and its place is unknown.
        self.ahead: Decimal | None = None

    @property
    def remaining(self) -> Decimal:
        return self.request.qty - self.filled_qty

    @property
    def avg_price(self) -> Decimal | None:
        return self.notional / self.filled_qty if self.filled_qty else None

    def snapshot(self) -> BrokerOrder:
        r = self.request
        return BrokerOrder(
            client_order_id=r.client_order_id,
            broker_order_id=self.broker_order_id,
            symbol=r.symbol,
            side=r.side,
            qty=r.qty,
            order_type=r.order_type,
            limit_price=r.limit_price,
            status=self.status,
            filled_qty=self.filled_qty,
            filled_avg_price=self.avg_price,
            submitted_at=self.submitted_at,
        )

    def priority(self) -> tuple[int, Decimal, int]:
        """Matching order within a side: market first, then best limit, then time."""
        limit = self.request.limit_price
        if limit is None:
            return (0, ZERO, self.seq)
        return (1, -limit if self.request.side is Side.BUY else limit, self.seq)
