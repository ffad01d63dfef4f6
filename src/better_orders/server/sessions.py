"""When the local exchange trades, from the NYSE calendar: sessions, extended hours, auctions.

Alpaca's rules, as its documentation states them (times New York):

- Regular session: the calendar's open to its close (13:00 on early-close days).
- Extended hours: 04:00 to the open and the close to 20:00 on trading days (to 17:00
  after an early close), for DAY limit orders marked ``extended_hours`` only. The
  overnight session is not modelled.
- ``opg``: orders submitted up to 09:28 (open - 2 min) of a trading day join that
  day's opening auction; from then until 19:00 they are rejected; after 19:00, or on
  a closed day, they are queued for the next session's opening auction.
- ``cls``: up to 15:50 (close - 10 min; 12:50 on early-close days) they join that
  day's closing auction; from then until 19:00 rejected; later, the next session's.

Nothing here reads a clock: instants are arguments. ``Boundary`` values are the
instants at which the exchange's order handling changes (``boundaries_after``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from better_orders.core.market_calendar import (
    AFTER_HOURS_END,
    NEW_YORK,
    PRE_MARKET_START,
    MarketCalendar,
    Session,
)

#: After an early close the extended session runs four hours, to 17:00, not to 20:00.
EARLY_CLOSE_AFTER_HOURS = dt.timedelta(hours=4)
OPG_CUTOFF = dt.timedelta(minutes=2)
CLS_CUTOFF = dt.timedelta(minutes=10)
#: After this New York time, opg and cls orders go to the next session instead of failing.
NEXT_SESSION_FROM = dt.time(19, 0)


class BoundaryKind(StrEnum):
    PRE_MARKET = "pre_market"
    OPEN = "open"
    CLOSE = "close"
    AFTER_HOURS_END = "after_hours_end"


@dataclass(frozen=True, slots=True)
class Boundary:
    at: dt.datetime
    kind: BoundaryKind
    session: Session


def _at(day: dt.date, when: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, when, NEW_YORK).astimezone(dt.UTC)


def extended_start(session: Session) -> dt.datetime:
    return _at(session.date, PRE_MARKET_START)


def extended_end(session: Session) -> dt.datetime:
    """20:00, or 17:00 after an early close (13:00), as Alpaca's calendar gives it."""
    if session.early_close:
        return session.close + EARLY_CLOSE_AFTER_HOURS
    return _at(session.date, AFTER_HOURS_END)


def cls_cutoff(session: Session) -> dt.datetime:
    return session.close - CLS_CUTOFF


class ExchangeSessions:
    """The calendar as the order handling needs it."""

    def __init__(self, calendar: MarketCalendar) -> None:
        self.calendar = calendar

    def day(self, now: dt.datetime) -> Session | None:
        """The session of ``now``'s New York date (at any hour), None on a closed day."""
        return self.calendar.session_at(now)

    def regular(self, now: dt.datetime) -> Session | None:
        """The regular session under way at ``now``."""
        session = self.day(now)
        if session is not None and session.open <= now < session.close:
            return session
        return None

    def extended(self, now: dt.datetime) -> Session | None:
        """The session whose extended hours (pre-market or after-hours) contain ``now``."""
        session = self.day(now)
        if session is None or self.regular(now) is not None:
            return None
        return session if extended_start(session) <= now < extended_end(session) else None

    def next_session(self, now: dt.datetime) -> Session:
        """The first session opening at or after ``now``."""
        session = self.calendar.session_at(self.calendar.next_open(now))
        assert session is not None
        return session

    def current_or_next(self, now: dt.datetime) -> Session:
        """The regular session under way, else the next one."""
        return self.regular(now) or self.next_session(now)

    def extended_current_or_next(self, now: dt.datetime) -> Session:
        """The session whose extended day (04:00-20:00) is under way or comes next."""
        session = self.day(now)
        if session is not None and now < extended_end(session):
            return session
        return self.next_session(now)

    def trading_until(self, now: dt.datetime, *, extended_hours: bool) -> dt.datetime:
        """When an order working at ``now`` stops trading: the close of the regular session
        under way or next, or for an extended-hours order the end of its extended day."""
        if extended_hours:
            return extended_end(self.extended_current_or_next(now))
        return self.current_or_next(now).close

    def opg_session(self, now: dt.datetime) -> Session | None:
        """The session whose opening auction an opg order submitted now joins (None: refused)."""
        return self._auction_session(now, lambda s: s.open - OPG_CUTOFF)

    def cls_session(self, now: dt.datetime) -> Session | None:
        """The session whose closing auction a cls order submitted now joins (None: refused)."""
        return self._auction_session(now, cls_cutoff)

    def _auction_session(
        self, now: dt.datetime, cutoff: Callable[[Session], dt.datetime]
    ) -> Session | None:
        today = self.day(now)
        if today is not None and now < cutoff(today):
            return today
        local = now.astimezone(NEW_YORK)
        if today is not None and local.time() < NEXT_SESSION_FROM:
            return None
        return self.next_session(now if today is None else _at(local.date(), dt.time(23, 59)))

    def trades_between(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether any trading hours (04:00-20:00 of a trading day) fall in ``[start, end)``."""
        day = start.astimezone(NEW_YORK).date()
        while start < end and _at(day, PRE_MARKET_START) < end:
            session = self.calendar.session_for(day)
            day += dt.timedelta(days=1)
            if session is None:
                continue
            if extended_start(session) < end and start < extended_end(session):
                return True
        return False

    def boundaries_after(self, after: dt.datetime) -> Iterator[Boundary]:
        """Every boundary strictly after ``after``, in time order (endless)."""
        day = after.astimezone(NEW_YORK).date()
        while True:
            session = self.calendar.session_for(day)
            if session is not None:
                for at, kind in (
                    (extended_start(session), BoundaryKind.PRE_MARKET),
                    (session.open, BoundaryKind.OPEN),
                    (session.close, BoundaryKind.CLOSE),
                    (extended_end(session), BoundaryKind.AFTER_HOURS_END),
                ):
                    if at > after:
                        yield Boundary(at, kind, session)
            day += dt.timedelta(days=1)
