"""What a fetch asks for: symbols x NYSE sessions, each within a window of the day.

Days come from the exchange calendar: weekends and holidays are skipped, and a
window is checked against each session it is used on (an early close at 13:00
leaves nothing of ``14:00-15:00``). Every check happens before anything is
fetched, and each refusal is one line that names the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import (
    AFTER_HOURS_END,
    NEW_YORK,
    PRE_MARKET_START,
    MarketCalendar,
    Session,
)
from better_orders.core.model import normalize_symbol

DEFAULT_WINDOW = "09:25-09:45"
#: ``--window session``: the regular session, 09:30 to the close (13:00 on early closes).
SESSION_WINDOW = "session"
FEEDS = ("sip", "iex")

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class Window:
    """Wall-clock times of each day to fetch, New York; None means the regular session."""

    start: time | None
    end: time | None

    @classmethod
    def parse(cls, text: str) -> Window:
        if text.strip().lower() == SESSION_WINDOW:
            return cls(None, None)
        match = _WINDOW.match(text)
        bad = InvalidInputError(
            f"--window must be HH:MM-HH:MM (New York time) or 'session', got {text!r}"
        )
        if not match:
            raise bad
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise bad
        start, end = time(h1, m1), time(h2, m2)
        if end <= start:
            raise InvalidInputError(f"--window {text.strip()} ends before it starts")
        if start < PRE_MARKET_START or end > AFTER_HOURS_END:
            raise InvalidInputError(
                f"--window {text.strip()} is outside the trading day "
                f"({PRE_MARKET_START:%H:%M}-{AFTER_HOURS_END:%H:%M} ET, extended hours included)"
            )
        return cls(start, end)

    def __str__(self) -> str:
        if self.start is None or self.end is None:
            return SESSION_WINDOW
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def on(self, session: Session) -> tuple[datetime, datetime]:
        """The window on ``session``'s day as aware UTC instants; refused when it misses the
        session (it must overlap the regular hours, open to close)."""
        if self.start is None or self.end is None:
            return session.open, session.close
        day = session.date
        start = datetime.combine(day, self.start, NEW_YORK).astimezone(UTC)
        end = datetime.combine(day, self.end, NEW_YORK).astimezone(UTC)
        if end <= session.open or start >= session.close:
            hours = f"{session.open_et:%H:%M}-{session.close_et:%H:%M} ET"
            early = ", early close" if session.early_close else ""
            raise InvalidInputError(
                f"--window {self} is outside the session of {day:%a %Y-%m-%d} ({hours}{early}); "
                "nothing fetched"
            )
        return start, end


@dataclass(frozen=True, slots=True)
class SymbolDayRequest:
    """One symbol on one session day, from ``start_ns`` (included) to ``end_ns`` (excluded)."""

    symbol: str
    day: date
    start_ns: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class FetchPlan:
    symbols: tuple[str, ...]
    sessions: tuple[Session, ...]
    window: Window
    feed: str
    requests: tuple[SymbolDayRequest, ...]

    def describe(self) -> str:
        days = len(self.sessions)
        return (
            f"{len(self.symbols)} symbol(s) x {days} session(s) = {len(self.requests)} "
            f"symbol-day(s), window {self.window}, feed {self.feed}"
        )


def plan_fetch(
    symbols: Sequence[str],
    start: date,
    end: date,
    *,
    window: Window,
    feed: str,
    calendar: MarketCalendar,
    today: date,
) -> FetchPlan:
    """Every symbol-day to fetch, or the first reason not to fetch anything."""
    if not symbols:
        raise InvalidInputError("no symbol given: e.g. better-orders data fetch TQQQ SOXL ...")
    names = tuple(dict.fromkeys(normalize_symbol(s) for s in symbols))
    for name in names:
        if "/" in name:
            raise InvalidInputError(
                f"symbol {name}: write it with a dot ({name.replace('/', '.')}), as Alpaca does"
            )
    if feed not in FEEDS:
        raise InvalidInputError(f"--feed must be sip or iex, got {feed!r}")
    if start > end:
        raise InvalidInputError(
            f"--start {start.isoformat()} is after --end {end.isoformat()}; nothing fetched"
        )
    if end > today:
        # Name the date the user gave: --end defaults to --start.
        which, day = ("--start", start) if start > today else ("--end", end)
        raise InvalidInputError(
            f"{which} {day.isoformat()} is in the future (today is {today.isoformat()} in New York)"
        )
    sessions: list[Session] = []
    day = start
    while day <= end:
        session = calendar.session_for(day)
        if session is not None:
            sessions.append(session)
        day += timedelta(days=1)
    if not sessions:
        raise InvalidInputError(
            f"no NYSE session from {start.isoformat()} to {end.isoformat()} "
            "(weekends and holidays have none); nothing fetched"
        )
    spans = [window.on(s) for s in sessions]
    requests = tuple(
        SymbolDayRequest(name, s.date, _ns(first), _ns(last))
        for name in names
        for s, (first, last) in zip(sessions, spans, strict=True)
    )
    return FetchPlan(names, tuple(sessions), window, feed, requests)


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"{option} must be a date like 2026-11-24, got {text!r}") from None


def _ns(instant: datetime) -> int:
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
