"""``GET /v2/calendar``: the NYSE sessions the exchange trades by, in Alpaca's shape.

Each day: ``date``, ``open`` and ``close`` (New York ``HH:MM``, 13:00 on early-close
days), ``session_open`` and ``session_close`` (the extended day, ``HHMM``: 04:00 to
20:00, 17:00 on early-close days, as the exchange runs it) and ``settlement_date``
(the next trading day from 2024-05-28 on, when US equities moved to T+1; two trading
days before). ``start``
and ``end`` are inclusive dates; ``date_type=SETTLEMENT`` filters on the settlement
date instead. Without them the whole calendar the exchange has is listed; dates
outside it are refused, not answered with an empty list.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from better_orders.core.market_calendar import (
    NEW_YORK,
    PRE_MARKET_START,
    MarketCalendar,
    Session,
)
from better_orders.core.xnys import CALENDAR_END, CALENDAR_START
from better_orders.server.errors import unprocessable
from better_orders.server.http import json_response
from better_orders.server.params import Query
from better_orders.server.sessions import extended_end
from better_orders.server.venue import PaperVenue

T_PLUS_ONE_FROM = dt.date(2024, 5, 28)
_DAY = dt.timedelta(days=1)


def settlement_date(calendar: MarketCalendar, session: Session) -> dt.date:
    days = 1 if session.date >= T_PLUS_ONE_FROM else 2
    day = session.date
    while days:
        day += _DAY
        if day > CALENDAR_END:
            return day
        if calendar.is_trading_day(day):
            days -= 1
    return day


def _hhmm(value: dt.time, colon: bool) -> str:
    return value.strftime("%H:%M" if colon else "%H%M")


def day_json(calendar: MarketCalendar, session: Session) -> dict[str, Any]:
    return {
        "date": session.date.isoformat(),
        "open": _hhmm(session.open.astimezone(NEW_YORK).time(), True),
        "close": _hhmm(session.close.astimezone(NEW_YORK).time(), True),
        "session_open": _hhmm(PRE_MARKET_START, False),
        "session_close": _hhmm(extended_end(session).astimezone(NEW_YORK).time(), False),
        "settlement_date": settlement_date(calendar, session).isoformat(),
    }


async def get_calendar(request: Request, venue: PaperVenue) -> Response:
    query = Query(request.query_params)
    start = query.date("start") or CALENDAR_START
    end = query.date("end") or CALENDAR_END
    date_type = query.choice("date_type", ("TRADING", "SETTLEMENT"), "TRADING")
    for value, name in ((start, "start"), (end, "end")):
        if not CALENDAR_START <= value <= CALENDAR_END:
            raise unprocessable(
                f"{name} {value.isoformat()} is outside the exchange calendar "
                f"({CALENDAR_START.isoformat()} to {CALENDAR_END.isoformat()})"
            )
    calendar = venue.sessions.calendar
    # A settlement date falls at most a week after its trading day.
    first = start - 7 * _DAY if date_type == "SETTLEMENT" else start
    days = []
    day = max(first, CALENDAR_START)
    while day <= end:
        session = calendar.session_for(day)
        day += _DAY
        if session is None:
            continue
        entry = day_json(calendar, session)
        field = "settlement_date" if date_type == "SETTLEMENT" else "date"
        key = dt.date.fromisoformat(entry[field])
        if start <= key <= end:
            days.append(entry)
    return json_response(days)
