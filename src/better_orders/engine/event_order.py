"""Time never goes back for a ladder: the order in which its events may be handed over.

Quotes queued while a ladder waited for admission are older than the one it started
with, and a late broker event carries the venue's earlier timestamp; a decision taken
"before" an earlier one would break the ladder's timing rules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from better_orders.core.ladder import Event, QuoteArrived
from better_orders.core.model import OrderUpdate


@dataclass(slots=True)
class EventOrder:
    """The latest event time and quote time one ladder has been handed."""

    seen_at: datetime | None = None
    quote_ts: datetime | None = None

    def admit(self, event: Event) -> Event | None:
        """The event as the ladder may see it: an older quote is dropped (None), an event
        stamped before the last one handed over is moved up to it."""
        if isinstance(event, QuoteArrived):
            if self.quote_ts is not None and event.quote.ts < self.quote_ts:
                return None
            self.quote_ts = event.quote.ts
        when = event.ts if isinstance(event, OrderUpdate) else event.now
        if self.seen_at is not None and when < self.seen_at:
            if isinstance(event, OrderUpdate):
                return replace(event, ts=self.seen_at)
            return replace(event, now=self.seen_at)
        self.seen_at = when
        return event
