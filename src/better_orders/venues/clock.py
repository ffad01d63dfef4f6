"""Real time for the shell: the wall clock of live trading, and the broker's clock.

Both follow the ``Clock`` protocol of ``venues.base``, like the simulator's
virtual ``SimClock``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class WallClock:
    """Real time (UTC), for live trading and the server. Same protocol as ``SimClock``."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def call_at(self, when: datetime, callback: Callable[[], object]) -> asyncio.TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_at(loop.time() + (when - self.now()).total_seconds(), callback)

    async def sleep_until(self, when: datetime) -> None:
        while (remaining := (when - self.now()).total_seconds()) > 0:
            await asyncio.sleep(remaining)


class OffsetClock(WallClock):
    """Wall pace, shifted: reads the broker's time (``offset`` = broker time - local time).

    Trading decisions use the venue's idea of now, so a local clock that drifts, or a
    local exchange replaying a past morning, cannot put the ladder in the wrong phase.
    """

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset
