"""Closing orders for good: cancels re-sent until the broker confirms the order ended.

A run that fails must not leave anything working at the broker. Each order is
cancelled (re-sent every ``resend`` while it is open, each cancel within the retry
budget) and looked up until it is seen ended, or until a deadline: what is still
open then is named, never assumed gone. The same close settles the children of a
ladder that finished with one still live.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from better_orders.core.errors import BetterOrdersError, BrokerError
from better_orders.core.ladder import Ladder
from better_orders.core.model import BrokerOrder, OrderStatus, OrderUpdate
from better_orders.engine.retry import BrokerRetry
from better_orders.engine.run_journal import RunJournal
from better_orders.venues.base import Broker, Clock

log = logging.getLogger(__name__)

#: How often an open order is looked up, and its cancel re-sent, while closing it.
POLL = timedelta(seconds=0.5)
RESEND = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class Closed:
    """What closing one order came to."""

    client_order_id: str
    #: The broker's last word on the order (None: the broker has no such order).
    order: BrokerOrder | None
    #: The order is known to have ended (or never to have existed).
    confirmed: bool
    #: Why it could not be confirmed, when it was not.
    problem: str | None = None

    @property
    def cancelled(self) -> bool:
        return self.order is not None and self.order.status in (
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
        )


async def close_order(
    calls: BrokerRetry, clock: Clock, client_order_id: str, deadline: datetime
) -> Closed:
    """Cancel ``client_order_id`` and confirm it ended (see the module docstring)."""
    order: BrokerOrder | None = None
    problem: str | None = None
    resend_at = clock.now()
    while True:
        if clock.now() >= resend_at:
            resend_at = clock.now() + RESEND
            try:
                await calls.cancel(client_order_id)
            except BrokerError as exc:
                problem = str(exc)  # often "not cancelable": it ended; the look-up says
        try:
            order = await calls.get_order(client_order_id)
        except BrokerError as exc:
            problem = str(exc)
        else:
            if order is None or order.status.is_terminal:
                return Closed(client_order_id, order, True)
            problem = f"still {order.status.value} at the broker"
        if clock.now() >= deadline:
            return Closed(client_order_id, order, False, problem)
        await clock.sleep_until(min(deadline, clock.now() + POLL))


class OrderCloser:
    """Closes orders for good, then records how each ended: in the journal (through
    ``record``, the runner's journalling of a broker event), then in its ladder."""

    def __init__(
        self,
        calls: BrokerRetry,
        clock: Clock,
        broker: Broker,
        journal: RunJournal,
        record: Callable[[OrderUpdate], Awaitable[None]],
    ) -> None:
        self.calls = calls
        self.clock = clock
        self.broker = broker
        self.journal = journal
        self._record = record

    async def close(
        self, ladders: Mapping[str, Ladder], deadline: datetime
    ) -> tuple[list[Closed], str | None]:
        """Close every order of ``ladders`` (client order id -> its ladder).

        Returns what each came to, and the first journal error met recording it (the
        orders are closed all the same).
        """
        closed = await asyncio.gather(
            *(close_order(self.calls, self.clock, coid, deadline) for coid in ladders)
        )
        problem: str | None = None
        for outcome in closed:
            try:
                await self._ended(outcome, ladders[outcome.client_order_id])
            except BetterOrdersError as exc:
                problem = problem or str(exc)
        return list(closed), problem

    async def _ended(self, outcome: Closed, ladder: Ladder) -> None:
        if not outcome.confirmed:
            return
        coid = outcome.client_order_id
        if outcome.order is None:
            # The broker never had it: it was stopped before it left.
            update = OrderUpdate(
                client_order_id=coid,
                status=OrderStatus.REJECTED,
                filled_qty=Decimal(0),
                ts=self.clock.now(),
                reason="not sent: stopped before the order reached the broker",
            )
        else:
            update = outcome.order.as_update(self.clock.now())
        await self._record(update)
        recovered = []
        if outcome.order is not None:
            recovered = await self.journal.recover(self.broker, self.clock, coid)
        for event in (update, *(replace(update, fill=f) for f in recovered)):
            try:
                ladder.handle(event)
            except Exception:  # a ladder that failed may refuse it; the journal has it
                log.exception("the ladder of %s refused %s", coid, event)


def describe_failure(failure: BaseException) -> str:
    """One line for what went wrong: our own errors speak for themselves."""
    if isinstance(failure, BetterOrdersError):
        return str(failure)
    return f"{type(failure).__name__}: {failure}"


def closing_summary(closed: Iterable[Closed], journal_problem: str | None = None) -> str:
    """``"2 working orders cancelled (1 filled first), none left open"``, or what is open."""
    outcomes = list(closed)
    cancelled = sum(1 for c in outcomes if c.cancelled)
    filled = sum(1 for c in outcomes if c.confirmed and c.order is not None and not c.cancelled)
    left = [c for c in outcomes if not c.confirmed]
    text = f"{cancelled} working order{'' if cancelled == 1 else 's'} cancelled"
    if filled:
        text += f" ({filled} ended filled or rejected first)"
    if left:
        names = ", ".join(f"{c.client_order_id} ({c.problem})" for c in left)
        text += f"; STILL OPEN at the broker: {names}"
    else:
        text += ", none left open"
    if journal_problem:
        text += f"; the journal could not record it all: {journal_problem}"
    return text
