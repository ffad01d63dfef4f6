"""When a scheduled run fires: a point of each session, from the exchange calendar.

A point is the open or the close of a session, shifted by minutes or hours:
``open``, ``open+15m``, ``close-15m``, ``close-1h``. Its instant on a given day
comes from that day's session (``core.market_calendar``), so a 13:00 early close moves
``close-15m`` to 12:45, and a change of daylight saving time moves the UTC instant
with the New York clock. Nothing here reads the clock: ``now`` is an argument.

A point that falls outside a session (``open+4h`` on a day that closes at 13:00)
does not fire that day.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import NEW_YORK, MarketCalendar, Session, format_et

#: The longest shift from the open or the close (a regular session lasts 6 h 30 min).
MAX_OFFSET = dt.timedelta(hours=6, minutes=30)
#: How far ahead to look for a session (holidays, long weekends).
LOOKAHEAD_DAYS = 15

_POINT_RE = re.compile(
    r"(?P<anchor>open|close)\s*(?:(?P<sign>[+-])\s*(?P<amount>\d+)\s*(?P<unit>m|min|h)?)?"
)


@dataclass(frozen=True, slots=True)
class SchedulePoint:
    """The open or the close of each session, shifted by ``offset`` (negative: before)."""

    anchor: Literal["open", "close"]
    offset: dt.timedelta = dt.timedelta(0)

    def __post_init__(self) -> None:
        if abs(self.offset) > MAX_OFFSET:
            raise InvalidInputError(
                f"schedule point {self}: a session lasts at most 6h30m; "
                "shift the open or the close by less"
            )
        if self.anchor == "open" and self.offset < dt.timedelta(0):
            raise InvalidInputError(f"schedule point {self} is before the open: the market is shut")
        if self.anchor == "close" and self.offset >= dt.timedelta(0):
            raise InvalidInputError(
                f"schedule point {self} is not before the close: the market is shut then; "
                "use close-15m or earlier"
            )

    @classmethod
    def parse(cls, text: str) -> SchedulePoint:
        """``open``, ``open+15m``, ``close-15m``, ``close-1h`` (minutes when no unit is given)."""
        match = _POINT_RE.fullmatch(text.strip().lower())
        if match is None:
            raise InvalidInputError(
                f"schedule point {text!r}: use open, open+15m or close-15m (minutes or hours)"
            )
        offset = dt.timedelta(0)
        if match["sign"] is not None:
            amount = int(match["amount"])
            unit = dt.timedelta(hours=1) if match["unit"] == "h" else dt.timedelta(minutes=1)
            offset = amount * unit
            if match["sign"] == "-":
                offset = -offset
        anchor: Literal["open", "close"] = "open" if match["anchor"] == "open" else "close"
        return cls(anchor, offset)

    def __str__(self) -> str:
        if not self.offset:
            return self.anchor
        minutes = int(abs(self.offset).total_seconds() // 60)
        sign = "+" if self.offset > dt.timedelta(0) else "-"
        amount = f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"
        return f"{self.anchor}{sign}{amount}"

    def instant(self, session: Session) -> dt.datetime | None:
        """When the point falls in ``session`` (UTC); None if outside it (an early close)."""
        base = session.open if self.anchor == "open" else session.close
        at = base + self.offset
        return at if session.open <= at < session.close else None


@dataclass(frozen=True, slots=True)
class ScheduledInstant:
    """One firing of a point: the session it belongs to, and its instant (UTC)."""

    session: Session
    at: dt.datetime

    @property
    def at_et(self) -> dt.datetime:
        return self.at.astimezone(NEW_YORK)

    def describe(self) -> str:
        """``Fri 2026-11-27 12:45:00 ET (17:45 UTC), early close 13:00``."""
        text = f"{format_et(self.at)} ({self.at.astimezone(dt.UTC):%H:%M} UTC)"
        if self.session.early_close:
            text += f", early close {self.session.close_et:%H:%M}"
        return text


def instants(
    calendar: MarketCalendar, point: SchedulePoint, start: dt.date, count: int
) -> list[ScheduledInstant]:
    """The first ``count`` firings of ``point`` in sessions on or after ``start``."""
    found: list[ScheduledInstant] = []
    day, idle = start, 0
    while len(found) < count:
        session = calendar.session_for(day)
        at = point.instant(session) if session is not None else None
        if session is not None and at is not None:
            found.append(ScheduledInstant(session, at))
            idle = 0
        else:
            idle += 1
            if idle > LOOKAHEAD_DAYS:
                raise InvalidInputError(
                    f"no session with a {point} run in the {LOOKAHEAD_DAYS} days after "
                    f"{day.isoformat()}"
                )
        day += dt.timedelta(days=1)
    return found


def due_or_next(
    calendar: MarketCalendar,
    point: SchedulePoint,
    now: dt.datetime,
    *,
    after: dt.date | None = None,
) -> tuple[ScheduledInstant, bool]:
    """The firing to act on at ``now``, and whether it is due.

    Due: today's instant has come and the session is still open (a run missed at
    its instant still fires before the close). Otherwise the next firing, whose
    instant is after ``now``. ``after`` skips sessions up to that date (those a
    long-lived scheduler has already handled).
    """
    day = now.astimezone(NEW_YORK).date()
    if after is not None and day <= after:
        day = after + dt.timedelta(days=1)
    for candidate in instants(calendar, point, day, 2):
        if candidate.at <= now < candidate.session.close:
            return candidate, True
        if candidate.at > now:
            return candidate, False
    raise AssertionError("unreachable: the second firing is on a later day")  # pragma: no cover


def missed(
    calendar: MarketCalendar, point: SchedulePoint, now: dt.datetime
) -> ScheduledInstant | None:
    """Today's firing if its session closed before it ran (for a note), else None."""
    session = calendar.session_at(now)
    if session is None or now < session.close:
        return None
    at = point.instant(session)
    return ScheduledInstant(session, at) if at is not None else None
