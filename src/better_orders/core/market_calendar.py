"""The NYSE market calendar and the market phases of an instant.

Rules of this file:

- Sessions (opens, closes, holidays, 13:00 early closes, DST) are data from the
  ``exchange_calendars`` XNYS calendar, never a hard-coded 09:30/16:00. The opening
  windows are offsets from each session's actual open.
- Nothing here reads the clock: every function takes the instant as an argument.
  Naive datetimes are refused, because a time without a zone is the classic
  off-by-an-hour bug around a DST change.
- Extended hours are New York wall-clock times (pre-market from 04:00, after-hours
  until 20:00), also after an early close.

A trading day in New York time (usual 09:30 open, 16:00 close)::

    00:00       closed
    04:00       pre_market
    open        opening       strategy wait_for_spreads
    open + 2m   early         strategy normal
    open + 5m   regular       strategy standard
    close       after_hours
    20:00       closed

``bisect`` over those six boundaries gives the phase of an instant; a day's session
and boundaries are computed once, when first asked for, so a phase look-up per
quote costs a dict access and a binary search.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import ClassVar
from zoneinfo import ZoneInfo

from better_orders.core.errors import InvalidInputError, MarketClosedError
from better_orders.core.xnys import (
    CALENDAR_END,
    CALENDAR_START,
    SessionRow,
    from_micros,
    session_rows,
    to_micros,
)

UTC = dt.UTC
NEW_YORK = ZoneInfo("America/New_York")


OPENING_WINDOW = dt.timedelta(minutes=2)
EARLY_WINDOW_END = dt.timedelta(minutes=5)
PRE_MARKET_START = dt.time(4, 0)
AFTER_HOURS_END = dt.time(20, 0)


class MarketPhase(StrEnum):
    CLOSED = "closed"
    PRE_MARKET = "pre_market"
    OPENING = "opening"
    EARLY = "early"
    REGULAR = "regular"
    AFTER_HOURS = "after_hours"


class ExecutionStrategy(StrEnum):
    WAIT_FOR_SPREADS = "wait_for_spreads"
    NORMAL = "normal"
    STANDARD = "standard"


#: Phase of an instant by its position among a day's six boundaries (see module docstring).
_PHASE_BY_SLOT = (
    MarketPhase.CLOSED,
    MarketPhase.PRE_MARKET,
    MarketPhase.OPENING,
    MarketPhase.EARLY,
    MarketPhase.REGULAR,
    MarketPhase.AFTER_HOURS,
    MarketPhase.CLOSED,
)

#: The phases in which nothing can trade (before the open is not one: an order then waits).
NOTHING_TRADES = frozenset({MarketPhase.CLOSED, MarketPhase.AFTER_HOURS})

_STRATEGY: dict[MarketPhase, ExecutionStrategy | None] = {
    MarketPhase.CLOSED: None,
    MarketPhase.PRE_MARKET: None,
    MarketPhase.OPENING: ExecutionStrategy.WAIT_FOR_SPREADS,
    MarketPhase.EARLY: ExecutionStrategy.NORMAL,
    MarketPhase.REGULAR: ExecutionStrategy.STANDARD,
    MarketPhase.AFTER_HOURS: None,
}


def strategy_for(phase: MarketPhase) -> ExecutionStrategy | None:
    """The execution strategy of a phase; None outside the regular session."""
    return _STRATEGY[phase]


def require_aware(value: dt.datetime, what: str) -> dt.datetime:
    """``value`` unchanged; a typed error naming ``what`` if it is not an aware datetime."""
    if not isinstance(value, dt.datetime):
        raise InvalidInputError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(
            f"{what} {value.isoformat()} has no time zone; pass an aware datetime (e.g. UTC)"
        )
    return value


#: ``%a`` in the C locale (the product never sets another).
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def format_et(value: dt.datetime) -> str:
    """``Fri 2026-11-27 09:30:00 ET``: how times appear in reasons and messages."""
    et = value.astimezone(NEW_YORK)
    return f"{_WEEKDAYS[et.weekday()]} {_clock(et)} ET"


def format_et_seconds(value: dt.datetime) -> str:
    """``2026-11-27 09:30:00 ET``, as the ladder words a closed market."""
    return f"{_clock(value.astimezone(NEW_YORK))} ET"


def _clock(t: dt.datetime) -> str:
    """``strftime("%Y-%m-%d %H:%M:%S")`` (as glibc spells it) without ``strftime``, which
    costs several times more: the ladder words a deadline on the first decision."""
    return "%d-%02d-%02d %02d:%02d:%02d" % (t.year, t.month, t.day, t.hour, t.minute, t.second)  # noqa: UP031


@dataclass(frozen=True, slots=True)
class Session:
    """One regular trading session; ``open`` and ``close`` are aware UTC datetimes."""

    date: dt.date
    open: dt.datetime
    close: dt.datetime
    early_close: bool

    __json_properties__: ClassVar[tuple[str, ...]] = (
        "open_et",
        "close_et",
        "opening_end",
        "early_end",
    )

    @property
    def opening_end(self) -> dt.datetime:
        """End of the opening window (open + 2 min), where wide spreads may be waited out."""
        return self.open + OPENING_WINDOW

    @property
    def early_end(self) -> dt.datetime:
        """End of the early window (open + 5 min): after it an order never waits."""
        return self.open + EARLY_WINDOW_END

    @property
    def open_et(self) -> dt.datetime:
        return self.open.astimezone(NEW_YORK)

    @property
    def close_et(self) -> dt.datetime:
        return self.close.astimezone(NEW_YORK)


@dataclass(frozen=True, slots=True)
class PhaseInfo:
    """Everything the calendar says about one instant."""

    at: dt.datetime
    phase: MarketPhase
    strategy: ExecutionStrategy | None
    session: Session | None
    next_open: dt.datetime

    __json_properties__: ClassVar[tuple[str, ...]] = ("at_et", "next_open_et")

    @property
    def at_et(self) -> dt.datetime:
        return self.at.astimezone(NEW_YORK)

    @property
    def next_open_et(self) -> dt.datetime:
        return self.next_open.astimezone(NEW_YORK)


class _Tables:
    """The calendar's sessions by day, from ``xnys.session_rows``, each made when first
    asked for (a command asks for a few of the window's 7,800 days)."""

    def __init__(self, rows: list[SessionRow]) -> None:
        self._rows = {row[0]: row for row in rows}
        self._days: dict[dt.date, tuple[Session, tuple[dt.datetime, ...]] | None] = {}
        self.opens = sorted(row[1] for row in rows)

    def day(self, day: dt.date) -> tuple[Session, tuple[dt.datetime, ...]] | None:
        """``day``'s session and its six phase boundaries (module docstring); None: closed."""
        if day in self._days:
            return self._days[day]
        row = self._rows.get(day.toordinal())
        found = None
        if row is not None:
            session = Session(
                date=day, open=from_micros(row[1]), close=from_micros(row[2]), early_close=row[3]
            )
            found = (
                session,
                (
                    _wall_clock_utc(day, PRE_MARKET_START),
                    session.open,
                    session.opening_end,
                    session.early_end,
                    session.close,
                    _wall_clock_utc(day, AFTER_HOURS_END),
                ),
            )
        self._days[day] = found
        return found


def _wall_clock_utc(day: dt.date, at: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, at, NEW_YORK).astimezone(UTC)


@cache
def _xnys_tables() -> _Tables:
    """The XNYS calendar, built once (``core.xnys``)."""
    return _Tables(session_rows())


class MarketCalendar:
    """NYSE sessions and phases. Pure: every answer is for the instant passed in.

    The underlying calendar is built once per process, on first use, and shared by
    every instance.
    """

    def __init__(self) -> None:
        self._tables = _xnys_tables()
        #: The New York day last asked about: (its start, its end (UTC), the day, its session).
        self._span: tuple[dt.datetime, dt.datetime, dt.date, Session | None] | None = None
        #: The phase last asked about: (from, until, phase, the day's session).
        self._phase: tuple[dt.datetime, dt.datetime, MarketPhase, Session | None] | None = None

    # -- days ---------------------------------------------------------------------------

    def session_for(self, day: dt.date) -> Session | None:
        """The session held on ``day``; None on weekends and holidays."""
        if isinstance(day, dt.datetime):
            raise InvalidInputError(
                f"session_for takes a date, not the datetime {day.isoformat()}; use session_at"
            )
        if not CALENDAR_START <= day <= CALENDAR_END:
            raise InvalidInputError(
                f"date {day.isoformat()} is outside the exchange calendar "
                f"({CALENDAR_START.isoformat()} to {CALENDAR_END.isoformat()})"
            )
        found = self._tables.day(day)
        return None if found is None else found[0]

    def is_trading_day(self, day: dt.date) -> bool:
        return self.session_for(day) is not None

    def is_holiday(self, day: dt.date) -> bool:
        """A weekday without a session (Thanksgiving, a national day of mourning...)."""
        return self.session_for(day) is None and day.weekday() < 5

    # -- instants -----------------------------------------------------------------------

    def session_at(self, instant: dt.datetime) -> Session | None:
        """The session of the New York calendar day containing ``instant`` (at any hour)."""
        require_aware(instant, "time")
        return self._new_york_day(instant)[3]

    def phase_at(self, instant: dt.datetime) -> MarketPhase:
        return self.market_span(instant)[2]

    def market_span(
        self, instant: dt.datetime
    ) -> tuple[dt.datetime, dt.datetime, MarketPhase, Session | None]:
        """``(since, until, phase_at(instant), session_at(instant))``: both hold for every
        instant in ``[since, until)`` (one phase, within one New York day), so a caller
        asking about many instants (a ladder, at each event) asks again only past them."""
        require_aware(instant, "time")
        # The phase holds from one boundary to the next: the last span asked about is kept.
        kept = self._phase
        if kept is not None and kept[0] <= instant < kept[1]:
            return kept
        span = self._new_york_day(instant)
        session = span[3]
        if session is None:
            kept = self._phase = (span[0], span[1], MarketPhase.CLOSED, None)
            return kept
        found = self._tables.day(span[2])
        assert found is not None
        bounds = found[1]
        slot = bisect_right(bounds, instant.astimezone(UTC))
        kept = self._phase = (
            bounds[slot - 1] if slot > 0 else span[0],
            bounds[slot] if slot < len(bounds) else span[1],
            _PHASE_BY_SLOT[slot],
            session,
        )
        return kept

    def _new_york_day(
        self, instant: dt.datetime
    ) -> tuple[dt.datetime, dt.datetime, dt.date, Session | None]:
        """The New York day containing ``instant`` (``instant.astimezone(NEW_YORK).date()``):
        its UTC span, the day and its session, kept while instants fall on that day, as a
        ladder's do (midnight is never skipped nor repeated by New York's clock changes,
        which happen at 02:00)."""
        span = self._span
        if span is not None and span[0] <= instant < span[1]:
            return span
        day = instant.astimezone(NEW_YORK).date()
        span = self._span = (
            _wall_clock_utc(day, dt.time(0)),
            _wall_clock_utc(day + dt.timedelta(days=1), dt.time(0)),
            day,
            self.session_for(day),
        )
        return span

    def strategy_at(self, instant: dt.datetime) -> ExecutionStrategy | None:
        return _STRATEGY[self.phase_at(instant)]

    def next_open(self, instant: dt.datetime) -> dt.datetime:
        """The first session open at or after ``instant`` (UTC).

        Before today's open that is today's open; from the open on it is the next
        session's.
        """
        require_aware(instant, "time")
        opens = self._tables.opens
        index = bisect_left(opens, to_micros(instant.astimezone(UTC)))
        if index == len(opens):
            raise InvalidInputError(
                f"no session open after {format_et(instant)}: the exchange calendar ends "
                f"{CALENDAR_END.isoformat()}"
            )
        return from_micros(opens[index])

    def require_open(self, instant: dt.datetime) -> None:
        """Raise ``MarketClosedError`` when nothing can trade at ``instant``.

        Before the open is not closed: an order then waits for the open.
        """
        phase = self.phase_at(instant)
        if phase in NOTHING_TRADES:
            raise MarketClosedError(
                f"market closed at {format_et_seconds(instant)} ({phase}); next open "
                f"{format_et_seconds(self.next_open(instant))}; no order sent"
            )

    def describe(self, instant: dt.datetime) -> PhaseInfo:
        phase = self.phase_at(instant)
        return PhaseInfo(
            at=instant,
            phase=phase,
            strategy=_STRATEGY[phase],
            session=self.session_at(instant),
            next_open=self.next_open(instant),
        )


@cache
def default_calendar() -> MarketCalendar:
    """The process-wide NYSE calendar."""
    return MarketCalendar()
