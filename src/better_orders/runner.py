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
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from better_orders.brokers.base import Broker, Clock, QuoteFeed
from better_orders.core.ladder import (
    Action,
    CancelFailed,
    CancelOrder,
    Event,
    Finished,
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
from better_orders.errors import BrokerError, QuoteError
from better_orders.journal import client_order_id

#: Retries of one submit after a retryable broker error (rate limit, 5xx, timeout).
SUBMIT_RETRIES = 4


class JournalLike(Protocol):
    """The part of ``journal.Journal`` the runner writes to."""

    def record_order_pending(self, request: Any, run_id: str, leg: int, attempt: int) -> None: ...

    def record_order_ack(self, update: OrderUpdate) -> None: ...

    def record_event(self, update: OrderUpdate) -> None: ...

    def record_fill(self, fill: Any, run_id: str | None) -> bool: ...


class RateLimiter:
    """A token bucket on the runner's clock: ``per_minute`` requests, bursts up to ``burst``."""

    def __init__(self, clock: Clock, per_minute: int, burst: int | None = None) -> None:
        self._clock = clock
        self._rate = per_minute / 60.0
        self._capacity = float(burst if burst is not None else max(1, per_minute // 6))
        self._tokens = self._capacity
        self._stamp: datetime | None = None
        self._lock = asyncio.Lock()
        self.waited = timedelta(0)

    def slow_down(self, seconds: float) -> None:
        """The broker said we are too fast: empty the bucket for ``seconds``."""
        self._tokens = min(self._tokens, -seconds * self._rate)

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock.now()
                if self._stamp is not None:
                    elapsed = (now - self._stamp).total_seconds()
                    self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
                self._stamp = now
                if self._tokens >= 1 - 1e-9:
                    self._tokens -= 1
                    return
                # Whole milliseconds: a wait that rounds to zero microseconds never ends.
                wait = max(math.ceil((1 - self._tokens) / self._rate * 1000) / 1000, 0.001)
                self.waited += timedelta(seconds=wait)
                await self._clock.sleep_until(now + timedelta(seconds=wait))


@dataclass(slots=True)
class Leg:
    """One parent order inside a run."""

    leg: int
    parent: ParentOrder
    params: LadderParams


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


class Runner:
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
        pre_submit: Callable[[Any, Quote | None], None] | None = None,
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
        self._by_coid: dict[str, _LegState] = {}
        self._by_symbol: dict[str, list[_LegState]] = {}
        self._last_quote: dict[str, Quote] = {}
        self.foreign_updates: list[OrderUpdate] = []

    def client_order_id(self, leg: int, attempt: int) -> str:
        return client_order_id(self.run_id, leg, attempt)

    def _coid_factory(self, leg: int) -> Callable[[int], str]:
        def make(attempt: int) -> str:
            return self.client_order_id(leg, attempt)

        return make

    # -- public ---------------------------------------------------------------------------

    async def run(self, legs: list[Leg]) -> list[ExecutionReport]:
        """Run every leg's ladder concurrently; returns their reports in leg order."""
        states = [
            _LegState(
                leg,
                Ladder(leg.parent, leg.params, self.calendar, self._coid_factory(leg.leg)),
            )
            for leg in legs
        ]
        for st in states:
            self._by_symbol.setdefault(st.leg.parent.symbol, []).append(st)
        symbols = sorted(self._by_symbol)
        updates_task = asyncio.create_task(self._pump_updates(), name="order-updates")
        quotes_task = asyncio.create_task(self._pump_quotes(symbols), name="quotes")
        try:
            reports = await asyncio.gather(*(self._drive(st) for st in states))
        finally:
            for task in (quotes_task, updates_task):
                task.cancel()
            for task in (quotes_task, updates_task):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        return list(reports)

    # -- fan-out tasks ----------------------------------------------------------------------

    async def _pump_updates(self) -> None:
        async for update in self.broker.order_updates():
            self._record_update(update)
            st = self._by_coid.get(update.client_order_id)
            if st is None:
                self.foreign_updates.append(update)
                continue
            st.queue.put_nowait(update)

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
                    st.queue.put_nowait(QuoteArrived(quote, now))

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
        if first is not None:
            self._last_quote[symbol] = first
            ladder.handle(QuoteArrived(first, now))
        timer: datetime | None = None
        actions = ladder.handle(Start(now))
        self._notify(st, Start(now))
        while True:
            for action in actions:
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
            self._notify(st, event)
            actions = ladder.handle(event)
        await self._settle(st)
        assert ladder.report is not None
        return ladder.report

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
        """A finished ladder must leave nothing open: cancel and confirm any live child."""
        coid = st.ladder.live_child
        if coid is None:
            return
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
            await self.limiter.acquire()
            try:
                await self.broker.cancel_order(action.client_order_id)
            except BrokerError as exc:
                st.queue.put_nowait(
                    CancelFailed(action.client_order_id, self.clock.now(), str(exc), exc.code)
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
        if self.pre_submit is not None:
            try:
                self.pre_submit(request, self._last_quote.get(request.symbol))
            except BrokerError as exc:
                st.queue.put_nowait(SubmitFailed(coid, self.clock.now(), str(exc), exc.code))
                return
        if self.journal is not None:
            self.journal.record_order_pending(request, self.run_id, st.leg.leg, action.attempt)
        self._by_coid[coid] = st
        for attempt_no in range(SUBMIT_RETRIES + 1):
            if st.prepaid:
                st.prepaid = False
            else:
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

    def _record_ack(self, ack: OrderUpdate) -> None:
        if self.journal is not None:
            self.journal.record_order_ack(ack)

    async def _lookup(self, coid: str) -> OrderUpdate | None:
        try:
            order = await self.broker.get_order(coid)
        except BrokerError:
            return None
        return None if order is None else order.as_update(self.clock.now())
