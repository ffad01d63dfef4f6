"""The asyncio driver: feeds events to ladders and carries out their actions.

One task per ladder, one task fanning out the broker's order updates, one task
fanning out quotes. Many ladders run at once; the broker's request budget is
shared through one rate limiter. Timers use the given clock, so on the
simulator's virtual-time loop a 90-second wait costs no wall time.

The journal rule: every order is recorded before it is sent, and every broker
event and fill is recorded before the ladder sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from better_orders.core.errors import BrokerError, QuoteError, RiskLimitError
from better_orders.core.ladder import (
    Action,
    CancelFailed,
    CancelOrder,
    Event,
    Finished,
    Halt,
    Ladder,
    LadderParams,
    ParentOrder,
    QueryOrder,
    QuoteArrived,
    SetTimer,
    Start,
    SubmitFailed,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.model import ExecutionReport, OrderStatus, OrderUpdate, Quote
from better_orders.core.timing import MarketCalendar
from better_orders.engine.rate_limit import RateLimiter
from better_orders.store.fill_recovery import recover_fills
from better_orders.store.ids import client_order_id
from better_orders.venues.base import Broker, Clock, QuoteFeed

#: Retries of one submit after a retryable broker error (rate limit, 5xx, timeout).
SUBMIT_RETRIES = 4


class JournalLike(Protocol):
    """The part of ``journal.Journal`` the runner writes to."""

    def record_order_pending(self, request: Any, run_id: str, leg: int, attempt: int) -> None: ...

    def record_order_ack(self, update: OrderUpdate) -> None: ...

    def record_event(self, update: OrderUpdate) -> None: ...

    def record_fill(self, fill: Any, run_id: str | None) -> bool: ...

    def fills(self, run_id: str | None = None, client_order_id: str | None = None) -> list[Any]: ...


@dataclass(slots=True)
class Leg:
    """One parent order inside a run."""

    leg: int
    parent: ParentOrder
    params: LadderParams
    #: Attempt number of the ladder's first order. A resumed leg continues after the
    #: attempts already journalled, so no client order id is ever used twice.
    first_attempt: int = 1


@dataclass(slots=True)
class LadderEvent:
    """What observers (the live CLI table) are told: a ladder saw an event or took an action."""

    leg: int
    symbol: str
    ladder: Ladder
    item: Event | Action
    now: datetime


@dataclass(slots=True)
class _LegState:
    leg: Leg
    ladder: Ladder
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    #: A request token taken before the ladder started, for its first submit.
    prepaid: bool = False
    #: The latest event time and quote time handed to the ladder (see ``_in_order``).
    seen_at: datetime | None = None
    quote_ts: datetime | None = None


class Runner:
    """Drives ladders against a broker and a quote feed.

    ``pre_submit(request, last_quote)`` runs before every order is journalled and sent
    (the pre-trade risk checks); a ``RiskLimitError`` or ``BrokerError`` it raises
    refuses the order: the refusal is journalled as a rejected order and the ladder
    gets ``SubmitFailed``. ``halt()`` is polled before every action and every
    ``halt_poll_seconds``; once it returns a reason (the kill switch), nothing more is
    sent, every working order is cancelled and every ladder ends.
    """

    def __init__(
        self,
        broker: Broker,
        feed: QuoteFeed,
        clock: Clock,
        calendar: MarketCalendar,
        *,
        run_id: str,
        journal: JournalLike | None = None,
        requests_per_minute: int = 180,
        observer: Callable[[LadderEvent], None] | None = None,
        pre_submit: Callable[[Any, Quote | None], object] | None = None,
        halt: Callable[[], str | None] | None = None,
        halt_poll_seconds: float = 1.0,
    ) -> None:
        self.broker = broker
        self.feed = feed
        self.clock = clock
        self.calendar = calendar
        self.run_id = run_id
        self.journal = journal
        self.limiter = RateLimiter(clock, requests_per_minute)
        self.observer = observer
        self.pre_submit = pre_submit
        self.halt = halt
        self.halt_poll = timedelta(seconds=halt_poll_seconds)
        #: Why the run was halted, once it was.
        self.halted: str | None = None
        #: Orders that were working when the run was halted (each was asked to cancel).
        self.halt_working: list[str] = []
        self._states: list[_LegState] = []
        #: Orders refused before they were sent: there is nothing to cancel at the broker.
        self._refused: set[str] = set()
        self._by_coid: dict[str, _LegState] = {}
        self._by_symbol: dict[str, list[_LegState]] = {}
        self._last_quote: dict[str, Quote] = {}
        self.foreign_updates: list[OrderUpdate] = []

    def client_order_id(self, leg: int, attempt: int) -> str:
        return client_order_id(self.run_id, leg, attempt)

    def _coid_factory(self, leg: int, first_attempt: int = 1) -> Callable[[int], str]:
        # The ladder numbers its attempts from 1; a resumed leg's start after the journal's.
        def make(attempt: int) -> str:
            return self.client_order_id(leg, attempt + first_attempt - 1)

        return make

    # -- public ---------------------------------------------------------------------------

    async def run(self, legs: list[Leg]) -> list[ExecutionReport]:
        """Run every leg's ladder concurrently; returns their reports in leg order."""
        states = [
            _LegState(
                leg,
                Ladder(
                    leg.parent,
                    leg.params,
                    self.calendar,
                    self._coid_factory(leg.leg, leg.first_attempt),
                ),
            )
            for leg in legs
        ]
        self._states.extend(states)
        for st in states:
            self._by_symbol.setdefault(st.leg.parent.symbol, []).append(st)
        symbols = sorted(self._by_symbol)
        updates_task = asyncio.create_task(self._pump_updates(), name="order-updates")
        quotes_task = asyncio.create_task(self._pump_quotes(symbols), name="quotes")
        helpers = [quotes_task, updates_task]
        if self.halt is not None:
            helpers.append(asyncio.create_task(self._watch_halt(), name="halt-watch"))
        drivers = [
            asyncio.create_task(self._drive(st), name=f"ladder-{st.leg.leg}") for st in states
        ]
        try:
            reports = await asyncio.gather(*drivers)
        finally:
            # If one ladder failed, the others must not go on trading unwatched.
            for task in [*drivers, *helpers]:
                task.cancel()
            for task in [*drivers, *helpers]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        return list(reports)

    # -- fan-out tasks ----------------------------------------------------------------------

    async def _pump_updates(self) -> None:
        stream = self.broker.order_updates()
        try:
            async for update in stream:
                self._record_update(update)
                st = self._by_coid.get(update.client_order_id)
                if st is None:
                    self.foreign_updates.append(update)
                    continue
                st.queue.put_nowait(update)
        finally:
            # Unsubscribe: a stream left open keeps queueing every later update forever.
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()

    def _record_update(self, update: OrderUpdate) -> None:
        if self.journal is None:
            return
        self.journal.record_event(update)
        if update.fill is not None:
            # An order of another run (or placed by hand) is credited by the journal itself.
            own = update.client_order_id in self._by_coid
            self.journal.record_fill(update.fill, self.run_id if own else None)

    async def _pump_quotes(self, symbols: list[str]) -> None:
        async for quote in self.feed.quotes(symbols):
            self._last_quote[quote.symbol] = quote
            now = self.clock.now()
            for st in self._by_symbol.get(quote.symbol, ()):
                if not st.ladder.done:
                    # Received now: the book stood as this quote at this instant.
                    st.queue.put_nowait(QuoteArrived(quote, now, confirmed_at=now))

    async def _watch_halt(self) -> None:
        while self.halted is None:
            await self.clock.sleep_until(self.clock.now() + self.halt_poll)
            self._check_halt()

    def _check_halt(self) -> None:
        if self.halt is None or self.halted is not None:
            return
        reason = self.halt()
        if reason is None:
            return
        self.halted = reason
        now = self.clock.now()
        for st in self._states:
            if st.ladder.done:
                continue
            self.halt_working.extend(c for c in st.ladder.live_children if c not in self._refused)
            st.queue.put_nowait(Halt(now, reason))

    # -- one ladder ---------------------------------------------------------------------------

    def _notify(self, st: _LegState, item: Event | Action) -> None:
        if self.observer is not None:
            self.observer(
                LadderEvent(st.leg.leg, st.leg.parent.symbol, st.ladder, item, self.clock.now())
            )

    async def _drive(self, st: _LegState) -> ExecutionReport:
        ladder = st.ladder
        symbol = st.leg.parent.symbol
        # Admission at the broker's pace: a ladder starts only when its first order can
        # be sent at once, so no limit price goes stale waiting for the rate limiter.
        await self.limiter.acquire()
        st.prepaid = True
        try:
            first: Quote | None = await self.feed.latest_quote(symbol)
        except (BrokerError, QuoteError):
            first = None  # the ladder waits for a quote and reports if none comes
        now = self.clock.now()
        st.seen_at = now
        if first is not None:
            self._last_quote[symbol] = first
            st.quote_ts = first.ts
            # A snapshot confirms the book only as of its own stamp.
            ladder.handle(QuoteArrived(first, now, confirmed_at=min(first.ts, now)))
        timer: datetime | None = None
        actions = ladder.handle(Start(now))
        self._notify(st, Start(now))
        while True:
            self._check_halt()
            for action in actions:
                if isinstance(action, SubmitOrder) and st.leg.first_attempt > 1:
                    action = replace(action, attempt=action.attempt + st.leg.first_attempt - 1)
                self._notify(st, action)
                if isinstance(action, SetTimer):
                    timer = action.at
                elif isinstance(action, Finished):
                    timer = None
                else:
                    await self._perform(st, action)
            if ladder.done:
                break
            event = await self._next_event(st, timer)
            if isinstance(event, TimerFired):
                timer = None
            ordered = self._in_order(st, event)
            if ordered is None:
                actions = []
                continue
            self._notify(st, ordered)
            actions = ladder.handle(ordered)
        await self._settle(st)
        assert ladder.report is not None
        return ladder.report

    @staticmethod
    def _in_order(st: _LegState, event: Event) -> Event | None:
        """The event as the ladder may see it: time never goes back, quotes never regress.

        Quotes queued while a ladder waited for admission are older than the one it
        started with, and a late broker event carries the venue's earlier timestamp; a
        decision taken "before" an earlier one would break the ladder's timing rules.
        """
        if isinstance(event, QuoteArrived):
            if st.quote_ts is not None and event.quote.ts < st.quote_ts:
                return None
            st.quote_ts = event.quote.ts
        when = event.ts if isinstance(event, OrderUpdate) else event.now
        if st.seen_at is not None and when < st.seen_at:
            if isinstance(event, OrderUpdate):
                return replace(event, ts=st.seen_at)
            return replace(event, now=st.seen_at)
        st.seen_at = when
        return event

    async def _next_event(self, st: _LegState, timer: datetime | None) -> Event:
        if not st.queue.empty():
            return st.queue.get_nowait()
        if timer is None:
            return await st.queue.get()
        delay = (timer - self.clock.now()).total_seconds()
        if delay <= 0:
            return TimerFired(max(self.clock.now(), timer))
        try:
            return await asyncio.wait_for(st.queue.get(), timeout=delay)
        except TimeoutError:
            return TimerFired(max(self.clock.now(), timer))

    async def _settle(self, st: _LegState) -> None:
        """A finished ladder leaves nothing open and no execution unjournalled."""
        await self._close_live(st)
        await self._recover_fills(st)

    async def _recover_fills(self, st: _LegState) -> None:
        """Journal the fills of the ladder's orders that no update brought (a dropped event
        told only through a later cumulative quantity), and add them to its report."""
        report = st.ladder.report
        if self.journal is None or report is None:
            return
        gaps = []
        for attempt in report.attempts:
            known = sum(f.qty for f in self.journal.fills(client_order_id=attempt.client_order_id))
            if attempt.filled_qty > known:
                gaps.append(attempt)
        if not gaps:
            return
        recovered = await recover_fills(
            self.journal, self.broker, [a.client_order_id for a in gaps], self.clock.now()
        )
        by_coid = {a.client_order_id: a for a in gaps}
        for fill in recovered:
            attempt = by_coid[fill.client_order_id]
            st.ladder.handle(
                OrderUpdate(
                    client_order_id=fill.client_order_id,
                    status=attempt.status or OrderStatus.FILLED,
                    filled_qty=attempt.filled_qty,
                    ts=report.finished,
                    fill=fill,
                )
            )

    async def _close_live(self, st: _LegState) -> None:
        """Cancel and confirm every child of the ladder that may still be open."""
        for coid in st.ladder.live_children:
            await self._close_child(st, coid)

    async def _close_child(self, st: _LegState, coid: str) -> None:
        with contextlib.suppress(BrokerError):
            await self.limiter.acquire()
            await self.broker.cancel_order(coid)
        deadline = self.clock.now() + timedelta(seconds=10)
        while self.clock.now() < deadline:
            order = await self.broker.get_order(coid)
            if order is None or order.status.is_terminal:
                if order is not None:
                    update = order.as_update(self.clock.now())
                    self._record_update(update)
                    st.ladder.handle(update)
                return
            await self.clock.sleep_until(self.clock.now() + timedelta(seconds=0.5))

    async def _perform(self, st: _LegState, action: Action) -> None:
        if isinstance(action, SubmitOrder):
            await self._submit(st, action)
        elif isinstance(action, CancelOrder):
            if action.client_order_id in self._refused:
                return  # never sent; its SubmitFailed is already queued
            await self.limiter.acquire()
            try:
                await self.broker.cancel_order(action.client_order_id)
            except BrokerError as exc:
                st.queue.put_nowait(
                    CancelFailed(
                        action.client_order_id, self.clock.now(), str(exc), exc.code, exc.retryable
                    )
                )
        elif isinstance(action, QueryOrder):
            await self.limiter.acquire()
            order = await self.broker.get_order(action.client_order_id)
            now = self.clock.now()
            if order is None:
                update = OrderUpdate(
                    client_order_id=action.client_order_id,
                    status=OrderStatus.REJECTED,
                    filled_qty=Decimal(0),
                    ts=now,
                    reason="order not found at the broker",
                )
            else:
                update = order.as_update(now)
            self._record_update(update)
            st.queue.put_nowait(update)

    async def _submit(self, st: _LegState, action: SubmitOrder) -> None:
        request = action.request
        coid = request.client_order_id
        if self.halted is not None:
            self._refuse(st, action, "halted", f"{self.halted}; order not sent", "a halt")
            return
        # The request token is taken before the checks, so they judge the instant the
        # order would leave (the orders-per-minute cap then agrees with the limiter).
        if st.prepaid:
            st.prepaid = False
        else:
            await self.limiter.acquire()
        if self.pre_submit is not None:
            try:
                self.pre_submit(request, self._last_quote.get(request.symbol))
            except RiskLimitError as exc:
                self._refuse(st, action, exc.code, str(exc), "a pre-trade risk check")
                return
            except BrokerError as exc:
                self._refuse(st, action, exc.code, str(exc), "the broker")
                return
        if self.journal is not None:
            self.journal.record_order_pending(request, self.run_id, st.leg.leg, action.attempt)
        self._by_coid[coid] = st
        for attempt_no in range(SUBMIT_RETRIES + 1):
            if attempt_no > 0:
                await self.limiter.acquire()
            try:
                ack = await self.broker.submit_order(request)
            except BrokerError as exc:
                if exc.retryable:
                    # The request may have reached the broker before the error: look it up by
                    # its client order id before deciding anything, so it is never sent twice.
                    existing = await self._lookup(coid)
                    if existing is not None:
                        self._record_ack(existing)
                        st.queue.put_nowait(existing)
                        return
                    if attempt_no < SUBMIT_RETRIES:
                        if exc.code == "rate_limited":
                            self.limiter.slow_down(2.0 * (attempt_no + 1))
                        else:
                            await self.clock.sleep_until(
                                self.clock.now() + timedelta(seconds=0.5 * (attempt_no + 1))
                            )
                        continue
                refused = OrderUpdate(
                    client_order_id=coid,
                    status=OrderStatus.REJECTED,
                    filled_qty=Decimal(0),
                    ts=self.clock.now(),
                    reason=f"{exc.code}: {exc}",
                )
                self._record_ack(refused)
                st.queue.put_nowait(SubmitFailed(coid, self.clock.now(), str(exc), exc.code))
                return
            self._record_ack(ack)
            st.queue.put_nowait(ack)
            return

    def _refuse(self, st: _LegState, action: SubmitOrder, code: str, reason: str, by: str) -> None:
        """An order refused before it was sent: journalled as rejected, with the reason."""
        request = action.request
        now = self.clock.now()
        self._refused.add(request.client_order_id)
        if self.journal is not None:
            self.journal.record_order_pending(request, self.run_id, st.leg.leg, action.attempt)
            self._record_ack(
                OrderUpdate(
                    client_order_id=request.client_order_id,
                    status=OrderStatus.REJECTED,
                    filled_qty=Decimal(0),
                    ts=now,
                    reason=f"{code}: {reason}",
                )
            )
        st.queue.put_nowait(SubmitFailed(request.client_order_id, now, reason, code, by))

    def _record_ack(self, ack: OrderUpdate) -> None:
        if self.journal is not None:
            self.journal.record_order_ack(ack)

    async def _lookup(self, coid: str) -> OrderUpdate | None:
        try:
            order = await self.broker.get_order(coid)
        except BrokerError:
            return None
        return None if order is None else order.as_update(self.clock.now())
