"""What the runner needs from a broker and a quote feed.

Adapters translate a venue's API into these calls and the core's vocabulary
(``OrderRequest`` in, ``OrderUpdate``/``BrokerOrder`` out) and raise
``BrokerError`` with a stable ``code`` for every refusal; they never retry a
submit blindly (a retried submit is recognised by its client order id).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol, runtime_checkable

from better_orders.core.model import (
    Account,
    Asset,
    BrokerOrder,
    OrderRequest,
    OrderUpdate,
    Position,
    Quote,
)


@runtime_checkable
class Clock(Protocol):
    """Time for the shell. The simulator's clock is virtual: waiting costs no wall time."""

    def now(self) -> datetime: ...

    async def sleep_until(self, when: datetime) -> None: ...


@runtime_checkable
class Broker(Protocol):
    name: str

    async def submit_order(self, request: OrderRequest) -> OrderUpdate:
        """Send a new order; returns the acknowledgement. Raises ``BrokerError`` on refusal."""
        ...

    async def cancel_order(self, client_order_id: str) -> None:
        """Ask for a cancel. The outcome arrives as an ``OrderUpdate`` (canceled or filled)."""
        ...

    async def get_order(self, client_order_id: str) -> BrokerOrder | None: ...

    async def list_open_orders(self) -> list[BrokerOrder]: ...

    async def get_positions(self) -> list[Position]: ...

    async def get_account(self) -> Account: ...

    async def get_asset(self, symbol: str) -> Asset:
        """Raises ``BrokerError(code="unknown_symbol")`` for a symbol the broker does not know."""
        ...

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        """Every order event of this account, in the order the broker sent them."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class QuoteFeed(Protocol):
    name: str

    async def latest_quote(self, symbol: str) -> Quote: ...

    def quotes(self, symbols: list[str]) -> AsyncIterator[Quote]:
        """Top-of-book changes for ``symbols`` from now on."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class HeartbeatFeed(Protocol):
    """A quote feed whose stream proves itself alive between quotes (a heartbeat).

    While the heartbeat is recent, a symbol with no new quote has an unchanged book,
    and needs no REST refresh to be known fresh.
    """

    def last_heartbeat(self) -> datetime | None:
        """When the stream last proved alive (on the feed's clock), or None."""
        ...
