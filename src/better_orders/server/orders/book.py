"""Every order the local exchange has accepted, and what the open ones hold.

Looked up by Alpaca's id, by client order id and by the venue child order working
them. ``held`` (shares already offered on a side) and ``reserved`` (buying power
held by opening orders) feed the account's checks; ``check_wash_trade`` is Alpaca's
refusal of an order that could trade against one of the account's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from better_orders.core.model import Side
from better_orders.server.account import Held
from better_orders.server.errors import forbidden
from better_orders.server.orders.model import ZERO, Kind, OrderRecord


def family(record: OrderRecord) -> OrderRecord:
    """The top order of a bracket, oco or oto (the record itself when simple)."""
    return record.parent if record.parent is not None else record


class OrderBook:
    def __init__(self) -> None:
        self.by_id: dict[str, OrderRecord] = {}
        self.by_client_id: dict[str, OrderRecord] = {}
        self.by_child: dict[str, OrderRecord] = {}

    def add(self, record: OrderRecord) -> None:
        self.by_id[record.id] = record
        self.by_client_id[record.client_order_id] = record

    def forget(self, record: OrderRecord) -> None:
        self.by_id.pop(record.id, None)
        self.by_client_id.pop(record.client_order_id, None)

    def __iter__(self) -> Iterator[OrderRecord]:
        return iter(list(self.by_id.values()))

    def open(self) -> list[OrderRecord]:
        return [r for r in self.by_id.values() if r.is_open]

    def held(self, symbol: str, side: Side, ignore: OrderRecord | None = None) -> Held:
        """Shares that working orders of ``side`` already offer (held legs do not), but
        ``ignore`` (an order being replaced)."""
        records = [
            r
            for r in self.open()
            if r.working and r.symbol == symbol and r.side is side and r is not ignore
        ]
        qty = sum((r.remaining for r in records), ZERO)
        return Held(qty, [r.id for r in records])

    def reserved(self, ignore: OrderRecord | None = None) -> Decimal:
        """Buying power held by open orders that open positions (in proportion to what is
        left), but ``ignore`` (an order being replaced)."""
        total = ZERO
        for record in self.open():
            if not record.working or not record.reserve or record is ignore:
                continue
            work = record.work_qty
            total += record.reserve * record.remaining / work if work else record.reserve
        return total

    def check_wash_trade(
        self, symbol: str, side: Side, limit: Decimal | None, ignore: OrderRecord | None = None
    ) -> None:
        """Refuse an order that could trade against a working order of the other side."""
        for other in self.open():
            if other.symbol != symbol or other.side is side or not other.working:
                continue
            if ignore is not None and family(other) is family(ignore):
                continue
            if other.kind.is_stop and not other.triggered:
                continue
            other_limit = other.limit_price if other.kind in (Kind.LIMIT, Kind.STOP_LIMIT) else None
            buy = limit if side is Side.BUY else other_limit
            sell = other_limit if side is Side.BUY else limit
            if buy is None or sell is None or buy >= sell:
                raise forbidden(
                    "potential wash trade detected. use complex orders",
                    reject_reason=f"opposite side order {other.id} exists",
                )
