"""A run's writes to the journal, each awaited, none on the event loop's thread.

Every call returns once its write is committed (``store.writer``), so the runner can
keep its rule: an order is journalled before it is sent, a broker event and its fill
before the ladder sees them. Without a journal every call does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from better_orders.core.model import Fill, OrderRequest, OrderUpdate
from better_orders.store.fill_recovery import executions_at_broker, record_missing_fills
from better_orders.store.records import QuoteMark
from better_orders.store.writer import JournalWriter
from better_orders.venues.base import Broker, Clock


class JournalLike(Protocol):
    """The part of ``journal.Journal`` a run writes to."""

    def record_order_pending(self, request: Any, run_id: str, leg: int, attempt: int) -> None: ...

    def record_order_ack(self, update: OrderUpdate) -> None: ...

    def record_event(self, update: OrderUpdate) -> None: ...

    def record_fill(self, fill: Any, run_id: str | None) -> bool: ...

    def fills(self, run_id: str | None = None, client_order_id: str | None = None) -> list[Any]: ...

    def record_quote_marks(self, marks: Any) -> int: ...


class RunJournal:
    """One run's journal writes (see the module docstring). ``close()`` when the run ends."""

    def __init__(self, journal: JournalLike | None, run_id: str) -> None:
        self.journal = journal
        self.run_id = run_id
        self._writer = JournalWriter(journal) if journal is not None else None

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()

    async def pending(self, request: OrderRequest, leg: int, attempt: int) -> None:
        """An order about to be sent."""
        journal = self.journal
        if journal is not None:
            await self._call(journal.record_order_pending, request, self.run_id, leg, attempt)

    async def ack(self, update: OrderUpdate) -> None:
        """The broker's answer to a submit (or the refusal the run made of it)."""
        if self.journal is not None:
            await self._call(self.journal.record_order_ack, update)

    async def refused(
        self, request: OrderRequest, leg: int, attempt: int, refusal: OrderUpdate
    ) -> None:
        """An order refused before it was sent: recorded, and recorded as rejected."""
        journal = self.journal
        if journal is None:
            return

        def write() -> None:
            journal.record_order_pending(request, self.run_id, leg, attempt)
            journal.record_order_ack(refusal)

        await self._call(write)

    async def update(
        self, update: OrderUpdate, ours: bool, marks: Sequence[QuoteMark] = ()
    ) -> None:
        """A broker event and its fill (with the quote marked at it). A fill of an order not
        ``ours`` (another run's, one placed by hand) is credited by the journal itself."""
        journal = self.journal
        if journal is None:
            return
        run_id = self.run_id if ours else None

        def write() -> None:
            journal.record_event(update)
            if update.fill is not None:
                journal.record_fill(update.fill, run_id)
            if marks:
                journal.record_quote_marks(marks)

        await self._call(write)

    async def marks(self, marks: Sequence[QuoteMark]) -> None:
        """Quotes marked around fills (``engine.markouts``)."""
        if self.journal is not None and marks:
            await self._call(self.journal.record_quote_marks, list(marks))

    async def fills(self, client_order_id: str) -> list[Fill]:
        if self.journal is None:
            return []
        fills: list[Fill] = await self._call(self.journal.fills, client_order_id=client_order_id)
        return fills

    async def recover(self, broker: Broker, clock: Clock, client_order_id: str) -> list[Fill]:
        """Fills of an ended order that the broker has and the journal lacks, now recorded
        (compared and written in one call, so no event recorded meanwhile counts twice)."""
        if self.journal is None:
            return []
        at_broker = await executions_at_broker(broker, client_order_id)
        if at_broker is None:
            return []
        recovered: list[Fill] = await self._call(
            record_missing_fills, self.journal, client_order_id, at_broker, clock.now()
        )
        return recovered

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        assert self._writer is not None
        return await self._writer.call(fn, *args, **kwargs)
