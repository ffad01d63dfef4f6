"""The quotes around a run's fills, marked for the journal: arrival, at the fill, and after.

Rules of this file:

* **A few quotes per fill, not every quote.** The runner shows every quote it receives
  to ``seen``, which keeps the last few per symbol in memory; only the marks are
  journalled: each parent's arrival quote, the quote in force at each fill (at the
  fill's time at the venue), and the quotes in force some seconds after it (5 s and
  60 s by default, ``tca.markout_seconds``).
* **Journalled before acted on.** The arrival mark is written before the parent's
  first order leaves, a fill's mark in the same write as the fill, before its ladder
  hears of it (``Runner``); the marks after a fill change no decision.
* **On the runner's clock.** A mark after a fill waits on the run's clock until the
  fill's time plus the delay (plus ``GRACE`` for quotes still on their way), so it
  costs no wall time on the simulator's virtual clock; the run waits for its last
  marks (``drain``) with the quote stream still open. A failed or stopped run drops
  the marks still pending.
* **A batch does not wait for its marks when another follows** (a rebalance's sells,
  then its buys): it hands what is still due to the next batch (``MarksRelay``), whose
  runner streams those symbols' quotes too and takes the marks on time; the last batch
  waits for them all. Otherwise the buys would start a minute late.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from better_orders.core.model import Fill, Quote
from better_orders.store.ids import RECOVERED_PREFIX
from better_orders.store.records import MarkKind, QuoteMark
from better_orders.venues.base import Clock

log = logging.getLogger(__name__)

#: Quotes kept per symbol to answer "which quote was in force at t".
KEEP_QUOTES = 2048
#: A mark after a fill is taken this long after it is due: quotes stamped before the due
#: time may still be on their way to the runner.
GRACE = timedelta(seconds=1)
#: The marks after each fill, in seconds, unless configured otherwise.
DEFAULT_MARKOUT_SECONDS = (5.0, 60.0)

Write = Callable[[list[QuoteMark]], Awaitable[None]]


@dataclass(slots=True)
class MarksRelay:
    """The marks one batch of a run leaves due for the next (module docstring)."""

    #: (leg, fill, milliseconds after it) of every mark not yet taken.
    due: list[tuple[int, Fill, int]] = field(default_factory=list)
    #: The quotes kept per symbol, so a mark due before the next batch's first quote of
    #: its symbol still finds the one in force.
    recent: dict[str, list[Quote]] = field(default_factory=dict)


class FillMarks:
    """Marks the quotes around one run's fills (see the module docstring)."""

    def __init__(
        self, run_id: str, clock: Clock, after_seconds: Sequence[float], write: Write
    ) -> None:
        self.run_id = run_id
        self.clock = clock
        self.after = sorted({round(s * 1000) for s in after_seconds if s > 0})
        self._write = write
        self._recent: dict[str, deque[Quote]] = {}
        self._arrivals: set[int] = set()
        self._followed: set[str] = set()
        self._pending: dict[asyncio.Task[None], tuple[int, Fill, int]] = {}

    def seen(self, quote: Quote) -> None:
        """A quote the run received (stream, refresh or snapshot)."""
        recent = self._recent.get(quote.symbol)
        if recent is None:
            recent = self._recent[quote.symbol] = deque(maxlen=KEEP_QUOTES)
        if not recent or quote.ts >= recent[-1].ts:
            recent.append(quote)

    def in_force(self, symbol: str, at: datetime) -> Quote | None:
        """The latest quote stamped at or before ``at`` (the earliest kept if all are later)."""
        recent = self._recent.get(symbol)
        if not recent:
            return None
        for quote in reversed(recent):
            if quote.ts <= at:
                return quote
        return recent[0]

    def arrival(self, leg: int, quote: Quote, at: datetime) -> QuoteMark | None:
        """The parent's arrival mark, once per leg."""
        if leg in self._arrivals:
            return None
        self._arrivals.add(leg)
        return QuoteMark(self.run_id, leg, "", MarkKind.ARRIVAL, 0, quote, at)

    def at_fill(self, leg: int, fill: Fill) -> QuoteMark | None:
        """The mark of the quote in force at ``fill``; None for a fill already marked."""
        if fill.exec_id in self._followed or fill.exec_id.startswith(RECOVERED_PREFIX):
            return None
        quote = self.in_force(fill.symbol, fill.ts)
        if quote is None:
            return None
        return QuoteMark(self.run_id, leg, fill.exec_id, MarkKind.FILL, 0, quote, self.clock.now())

    def recovered(self, leg: int, fill: Fill) -> list[QuoteMark]:
        """A fill journalled without an update (recovered from the broker's executions):
        its mark at the fill, to write now, and the later ones scheduled like any fill's."""
        mark = self.at_fill(leg, fill)
        self.follow(leg, fill)
        return [] if mark is None else [mark]

    def follow(self, leg: int, fill: Fill) -> None:
        """Schedule the marks after ``fill`` on the run's clock."""
        if fill.exec_id in self._followed or fill.exec_id.startswith(RECOVERED_PREFIX):
            return
        self._followed.add(fill.exec_id)
        for after_ms in self.after:
            self._schedule(leg, fill, after_ms)

    def _schedule(self, leg: int, fill: Fill, after_ms: int) -> None:
        task = asyncio.create_task(self._mark_after(leg, fill, after_ms))
        self._pending[task] = (leg, fill, after_ms)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._pending.pop(task, None)

    @property
    def symbols(self) -> set[str]:
        """The symbols of the marks still pending: their quotes are still needed."""
        return {fill.symbol for _, fill, _ in self._pending.values()}

    async def drain(self) -> None:
        """Wait for every mark still pending (the run's last fill plus the longest delay)."""
        while self._pending:
            await asyncio.gather(*self._pending)

    def cancel(self) -> None:
        for task in self._pending:
            task.cancel()

    def hand_over(self, relay: MarksRelay) -> None:
        """Leave every pending mark (and the quotes it may need) to ``relay``; take none."""
        relay.due.extend(self._pending.values())
        for symbol in self.symbols:
            relay.recent[symbol] = list(self._recent.get(symbol, ()))
        self.cancel()

    def adopt(self, relay: MarksRelay) -> None:
        """Take the marks an earlier batch left due (``hand_over``), on this run's clock."""
        for quotes in relay.recent.values():
            for quote in quotes:
                self.seen(quote)
        for leg, fill, after_ms in relay.due:
            self._followed.add(fill.exec_id)
            self._schedule(leg, fill, after_ms)
        relay.due.clear()
        relay.recent.clear()

    async def _mark_after(self, leg: int, fill: Fill, after_ms: int) -> None:
        due = fill.ts + timedelta(milliseconds=after_ms)
        await self.clock.sleep_until(due + GRACE)
        quote = self.in_force(fill.symbol, due)
        if quote is None:
            return
        mark = QuoteMark(
            self.run_id, leg, fill.exec_id, MarkKind.AFTER, after_ms, quote, self.clock.now()
        )
        try:
            await self._write([mark])
        except Exception as exc:  # the trades are done and journalled; only the mark is lost
            log.warning(
                "the %s quote %d ms after fill %s was not journalled: %s",
                fill.symbol,
                after_ms,
                fill.exec_id,
                exc,
            )
