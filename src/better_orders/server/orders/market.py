"""What the order handling needs from the venue beneath it (``server.venue`` provides it).

The venue matches plain market and limit child orders against its quotes and
applies their fills to the ledger; the order handling also fills auction and
fill-or-kill orders itself (``fill_directly``) and asks for quotes of the symbols
whose stops it watches (``watch``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from better_orders.core.model import Fill, OrderRequest, Quote


class Market(Protocol):
    def now(self) -> datetime: ...

    def quote(self, symbol: str) -> Quote | None:
        """The quote in force now (the venue starts quoting ``symbol`` if it was not)."""
        ...

    def first_quote_from(self, symbol: str, instant: datetime) -> Quote | None:
        """The first quote of ``symbol`` stamped at or after ``instant``."""
        ...

    def marks(self) -> dict[str, Decimal]:
        """Mid prices of the positions' latest quotes."""
        ...

    def position(self, symbol: str) -> Decimal: ...

    async def submit_child(self, request: OrderRequest, until: datetime) -> None:
        """Send a child order to the venue, to trade until ``until`` and then expire there
        (``BrokerError`` when it refuses)."""
        ...

    async def cancel_child(self, client_order_id: str) -> None: ...

    def fill_directly(self, fill: Fill) -> None:
        """Apply a fill made outside the venue's matching (auctions, fill-or-kill)."""
        ...

    def watch(self, symbols: Iterable[str]) -> None:
        """Deliver quotes of exactly these symbols to the order handling's ``on_quote``."""
        ...
