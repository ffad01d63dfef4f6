"""Requests spaced to an API's rate limit, and held back when the server says so.

Alpaca's Market Data API allows a number of requests per minute (200 on the free
plan) and answers 429 beyond it, with ``Retry-After`` and ``X-RateLimit-Reset``
(epoch seconds) saying when to come back; every answer carries
``X-RateLimit-Remaining``. The pacer spaces requests evenly at the allowed rate
(making up for a slow answer with a few quicker requests after it), and delays
the next request until the server's reset whenever the server says nothing is
left or refuses one.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping

from better_orders.core.errors import InvalidInputError

#: Alpaca's Market Data API budget on the free plan, requests per minute.
FREE_PLAN_PER_MINUTE = 200
#: How long to hold off after a 429 that says nothing about when to retry.
DEFAULT_BACKOFF_SECONDS = 1.0


def retry_delay(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds), else ``X-RateLimit-Reset`` (epoch)."""
    raw = headers.get("Retry-After")
    if raw:
        with contextlib.suppress(ValueError):
            return max(0.0, float(raw))
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        with contextlib.suppress(ValueError):
            return max(0.0, float(reset) - now)
    return None


class RequestPacer:
    """Evenly spaced requests at ``per_minute``, delayed further by the server's answers.

    ``clock`` is monotonic (for spacing), ``wall`` the epoch clock the server's
    reset times are on; both and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        per_minute: float = FREE_PLAN_PER_MINUTE,
        *,
        burst: int = 3,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not per_minute > 0 or math.isinf(per_minute):
            raise InvalidInputError(f"the request rate must be a positive number: {per_minute}")
        self.per_minute = per_minute
        self.interval = 60.0 / per_minute
        self.burst = burst
        self._clock, self._wall, self._sleep = clock, wall, sleep
        self._next = -math.inf
        #: Seconds slept before requests; seconds of those the server asked for.
        self.waited = 0.0
        self.held = 0.0

    def wait_turn(self) -> None:
        """Sleep until the next request may go out, and book its slot.

        Slots follow each other ``interval`` apart whatever a request took, so a slow
        answer is made up by the next requests going sooner; at most ``burst`` slots
        are made up at once, which keeps any minute within the budget give or take
        ``burst`` requests (and the server's ``X-RateLimit-Remaining`` covers those).
        """
        now = self._clock()
        slot = max(self._next, now - self.burst * self.interval)
        if slot > now:
            self._sleep(slot - now)
            self.waited += slot - now
        self._next = slot + self.interval

    def hold(self, seconds: float) -> None:
        """No request for ``seconds`` from now (a 429, or nothing left until the reset)."""
        seconds = max(0.0, seconds)
        self.held += seconds
        self._next = max(self._next, self._clock() + seconds)

    def rate_limited(self, headers: Mapping[str, str]) -> float:
        """A 429 arrived: hold off as long as it says; returns the seconds held."""
        delay = retry_delay(headers, self._wall())
        seconds = DEFAULT_BACKOFF_SECONDS if delay is None else delay
        self.hold(seconds)
        return seconds

    def observe(self, headers: Mapping[str, str]) -> None:
        """An answer arrived: when the server says nothing is left, wait for its reset."""
        try:
            remaining = float(headers.get("X-RateLimit-Remaining", ""))
            reset = float(headers.get("X-RateLimit-Reset", ""))
        except ValueError:
            return
        if remaining <= 0:
            self.hold(reset - self._wall())
