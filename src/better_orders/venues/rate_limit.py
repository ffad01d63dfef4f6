"""A broker's request budget: one limiter per account connection, on the loop's clock.

Rules of this file:

* **One budget, one count.** Every request to the broker spends one token, whoever
  makes it (a ladder's submit, the adapter's own look-up or poll). The Alpaca adapter
  spends its tokens itself; the runner spends them for a broker that does not
  (the simulator). Counting the same budget twice only halves it.
* **Cancels first.** Waiting requests are served by priority (``Priority``): a
  cancel takes an order off the market and goes before any new order, and may spend
  the few requests the server says are left before its reset (``reserve``).
* **Never more than ``per_minute`` in any trailing minute**, bursts included: that is
  how brokers count, and the risk checker's orders-per-minute cap relies on it for
  new orders (``submits_per_minute``).
* **Time is the given clock's.** On the simulator's virtual-time loop a throttled
  request costs no wall time.

A ladder admitted at the broker's pace holds a token for its first request
(``prepay``): the token is kept in the ladder task's context, so the request that
spends it may be made deep inside an adapter without passing it along.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import threading
from collections import deque
from contextvars import ContextVar
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Protocol, runtime_checkable

from better_orders.core.errors import InvalidInputError
from better_orders.venues.base import Clock

_MINUTE = timedelta(seconds=60)

#: The limiter whose token the current task already holds (see ``RateLimiter.prepay``).
_CREDIT: ContextVar[RateLimiter | None] = ContextVar("rate_limit_credit", default=None)


class Priority(IntEnum):
    """Who is served first when requests wait (lower goes first)."""

    CANCEL = 0
    QUERY = 1
    SUBMIT = 2


class RateLimiter:
    """A token bucket on a clock: ``per_minute`` requests, bursts up to ``burst``.

    ``submits_per_minute`` caps new orders within the same budget. The server's own
    view (``observe``: requests remaining until a reset) and its 429s (``back_off``)
    hold requests back too; ``reserve`` requests before a reset are kept for cancels.
    """

    def __init__(
        self,
        clock: Clock,
        per_minute: int,
        burst: int | None = None,
        *,
        submits_per_minute: int | None = None,
        reserve: int = 0,
    ) -> None:
        if per_minute < 1:
            raise InvalidInputError(f"request budget must be at least 1 per minute: {per_minute}")
        self._clock = clock
        self.per_minute = per_minute
        self.submits_per_minute = submits_per_minute
        self.reserve = max(0, reserve)
        self._rate = per_minute / 60.0
        self._capacity = float(burst if burst is not None else max(1, per_minute // 6))
        self._tokens = self._capacity
        self._stamp: datetime | None = None
        self._sent: deque[datetime] = deque()
        self._submits: deque[datetime] = deque()
        # The server's view; ``observe`` may be called from a worker thread.
        self._server = threading.Lock()
        self._limit: int | None = None
        self._remaining: int | None = None
        self._reset_at: datetime | None = None
        self._blocked_until: datetime | None = None
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None
        self._nap: asyncio.Future[None] | None = None
        #: Seconds requests spent waiting, and how many 429s were waited out.
        self.waited_seconds = 0.0
        self.throttled = 0

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def remaining(self) -> int | None:
        """Requests the server last said were left before its reset (None: never said)."""
        return self._remaining

    def tighten(self, per_minute: int, submits_per_minute: int | None = None) -> None:
        """Lower the budget (never raise it): a run's own limits within the account's."""
        if per_minute < self.per_minute:
            self.per_minute = per_minute
            self._rate = per_minute / 60.0
            self._capacity = min(self._capacity, float(max(1, per_minute // 6)))
            self._tokens = min(self._tokens, self._capacity)
        if submits_per_minute is not None and (
            self.submits_per_minute is None or submits_per_minute < self.submits_per_minute
        ):
            self.submits_per_minute = submits_per_minute

    # -- what the server says -----------------------------------------------------------------

    def observe(self, *, limit: int | None, remaining: int | None, reset_in: float | None) -> None:
        """The server's count after a request, its window resetting ``reset_in`` seconds
        from now (thread-safe: adapters call it from threads). The delay, not the server's
        instant: the server's window runs on its wall clock, this budget on the run's clock
        (the broker's, a simulator's), and only durations mean the same on both."""
        with self._server:
            if limit is not None:
                self._limit = limit
            if remaining is not None:
                self._remaining = remaining
            if reset_in is not None:
                self._reset_at = self._clock.now() + timedelta(seconds=max(reset_in, 0.0))

    def back_off(self, seconds: float | None) -> None:
        """The server answered 429: nothing before ``seconds`` from now (1 s when unknown)."""
        until = self._clock.now() + timedelta(seconds=seconds if seconds else 1.0)
        if self._blocked_until is None or until > self._blocked_until:
            self._blocked_until = until
        self.throttled += 1
        self._poke()

    # -- taking a token ---------------------------------------------------------------------

    async def acquire(self, priority: Priority = Priority.SUBMIT) -> None:
        """Wait for a token for one request of ``priority``, and spend it."""
        if _CREDIT.get() is self:
            _CREDIT.set(None)
            return
        if not self._waiters and self._delay(priority) <= 0:
            self._take(priority)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (int(priority), next(self._seq), future))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="rate-limiter")
        else:
            self._poke()  # a cancel may now go before what the dispatcher is waiting for
        await future

    async def prepay(self, priority: Priority = Priority.SUBMIT) -> None:
        """Take a token now for the current task's next request (a ladder's admission)."""
        await self.acquire(priority)
        _CREDIT.set(self)

    async def _dispatch(self) -> None:
        while self._waiters:
            priority, _, future = self._waiters[0]
            if future.done():  # its caller stopped waiting
                heapq.heappop(self._waiters)
                continue
            wait = self._delay(Priority(priority))
            if wait <= 0:
                heapq.heappop(self._waiters)
                self._take(Priority(priority))
                future.set_result(None)
                continue
            # Whole milliseconds: a wait that rounds to zero microseconds never ends.
            wait = max(math.ceil(wait * 1000) / 1000, 0.001)
            started = self._clock.now()
            nap = asyncio.ensure_future(self._clock.sleep_until(started + timedelta(seconds=wait)))
            self._nap = nap
            try:
                await asyncio.wait({nap})
            finally:
                self._nap = None
                nap.cancel()
            self.waited_seconds += (self._clock.now() - started).total_seconds()

    def _poke(self) -> None:
        """Something changed: the dispatcher looks again at once."""
        nap = self._nap
        if nap is not None and not nap.done():
            nap.cancel()

    def _refill(self, now: datetime) -> None:
        if self._stamp is not None:
            elapsed = (now - self._stamp).total_seconds()
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._stamp = now
        for window in (self._sent, self._submits):
            while window and now - window[0] >= _MINUTE:
                window.popleft()

    def _delay(self, priority: Priority) -> float:
        """Seconds before a request of ``priority`` may go (0: now)."""
        now = self._clock.now()
        self._refill(now)
        waits = [0.0]
        if self._tokens < 1 - 1e-9:
            waits.append((1 - self._tokens) / self._rate)
        if len(self._sent) >= self.per_minute:
            waits.append((self._sent[0] + _MINUTE - now).total_seconds())
        cap = self.submits_per_minute
        if priority is Priority.SUBMIT and cap is not None and len(self._submits) >= cap:
            waits.append((self._submits[0] + _MINUTE - now).total_seconds())
        if self._blocked_until is not None and self._blocked_until > now:
            waits.append((self._blocked_until - now).total_seconds())
        with self._server:
            reserve = self.reserve if self._limit is None else min(self.reserve, self._limit // 4)
            nearly_spent = (
                self._remaining is not None
                and self._reset_at is not None
                and self._reset_at > now
                and self._remaining <= (0 if priority is Priority.CANCEL else reserve)
            )
            if nearly_spent and self._reset_at is not None:
                waits.append((self._reset_at - now).total_seconds())
        return max(waits)

    def _take(self, priority: Priority) -> None:
        now = self._clock.now()
        self._refill(now)
        self._tokens -= 1
        self._sent.append(now)
        if priority is Priority.SUBMIT:
            self._submits.append(now)
        with self._server:
            if self._remaining is not None:
                # Optimistic: concurrent requests must not all see the same "remaining".
                self._remaining -= 1


@runtime_checkable
class MeteredBroker(Protocol):
    """A broker that spends its request budget itself, on every request it makes."""

    @property
    def budget(self) -> RateLimiter: ...


__all__ = ["MeteredBroker", "Priority", "RateLimiter"]
