"""The broker's request budget, counted on the runner's clock.

One limiter is shared by every ladder of a run. It waits on the given clock, so on
the simulator's virtual-time loop a throttled request costs no wall time.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from datetime import datetime, timedelta

from better_orders.venues.base import Clock

_MINUTE = timedelta(seconds=60)


class RateLimiter:
    """A token bucket on the runner's clock: ``per_minute`` requests, bursts up to ``burst``.

    Bursts included, never more than ``per_minute`` requests in any trailing minute:
    that is how brokers count, and the risk checker's orders-per-minute cap relies on it.
    """

    def __init__(self, clock: Clock, per_minute: int, burst: int | None = None) -> None:
        self._clock = clock
        self._per_minute = per_minute
        self._sent: deque[datetime] = deque()
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
                while self._sent and now - self._sent[0] >= _MINUTE:
                    self._sent.popleft()
                if self._tokens >= 1 - 1e-9 and len(self._sent) < self._per_minute:
                    self._tokens -= 1
                    self._sent.append(now)
                    return
                if self._tokens >= 1 - 1e-9:
                    seconds = (self._sent[0] + _MINUTE - now).total_seconds()
                else:
                    seconds = (1 - self._tokens) / self._rate
                # Whole milliseconds: a wait that rounds to zero microseconds never ends.
                wait = max(math.ceil(seconds * 1000) / 1000, 0.001)
                self.waited += timedelta(seconds=wait)
                await self._clock.sleep_until(now + timedelta(seconds=wait))
