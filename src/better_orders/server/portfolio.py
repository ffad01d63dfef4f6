"""``GET /v2/account/portfolio/history``: the account's equity over time, from its fills and marks.

The account as the exchange started (``AccountSnapshot``) plus every fill since
(the ledger's journal), in time order, give the cash and positions at any
instant; each position is marked at the close of the symbol's last minute bar
before that instant on the exchange's tape (before any trade, at the last fill
price, then the entry price). The history begins when the exchange's clock
started: earlier points are left out, as Alpaca leaves out the time before an
account existed.

Parameters, as Alpaca reads them: ``period`` (``<n>D``, ``W``, ``M`` or ``A``;
default 1M), ``timeframe`` (1Min, 5Min, 15Min, 1H, 1D; default 1Min under 7 days,
15Min under 30, else 1D; intraday only up to 30 days), ``date_end`` or ``end``
(default now), ``start``, ``intraday_reporting`` (``market_hours``: the regular
session, the default; ``extended_hours``: 04:00-20:00; ``extended_hours=true``
says the same), ``pnl_reset`` (``per_day``: intraday profit against the previous
close, the default; ``no_reset``: against the first point). Intraday points are
left-labelled (the start of each window) with the equity at its end; daily points
are labelled at 00:00 New York with the equity at that day's close (now, today).
Not modelled, refused: ``intraday_reporting=continuous`` (24-hour points),
``cashflow_types`` (there are no cash flows).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from better_orders.core.market_calendar import NEW_YORK, Session
from better_orders.core.model import Fill
from better_orders.server.errors import unprocessable
from better_orders.server.params import Query
from better_orders.server.sessions import ExchangeSessions, extended_end, extended_start

ZERO = Decimal(0)
TIMEFRAMES = {
    "1Min": dt.timedelta(minutes=1),
    "5Min": dt.timedelta(minutes=5),
    "15Min": dt.timedelta(minutes=15),
    "1H": dt.timedelta(hours=1),
    "1D": dt.timedelta(days=1),
}
_UNITS = {"D": 1, "W": 7, "M": 30, "A": 365}
_DAY = dt.timedelta(days=1)

#: The price of a symbol at an instant, None when nothing traded before it.
PriceAt = Callable[[str, dt.datetime], Decimal | None]


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    cash: Decimal
    positions: Mapping[str, Decimal]
    entry_prices: Mapping[str, Decimal]


class Ledger:
    """Cash and positions at any instant: the snapshot plus the fills up to it."""

    def __init__(self, opening: AccountSnapshot, fills: Sequence[Fill]) -> None:
        self.opening = opening
        self.fills = sorted(fills, key=lambda f: f.ts)
        self._times = [f.ts for f in self.fills]

    def equity(self, at: dt.datetime, price_at: PriceAt) -> Decimal:
        cash = self.opening.cash
        held = dict(self.opening.positions)
        last_fill: dict[str, Decimal] = {}
        for fill in self.fills[: bisect.bisect_right(self._times, at)]:
            signed = fill.qty * fill.side.sign
            cash -= signed * fill.price
            held[fill.symbol] = held.get(fill.symbol, ZERO) + signed
            last_fill[fill.symbol] = fill.price
        value = cash
        for symbol, qty in held.items():
            if qty:
                price = price_at(symbol, at) or last_fill.get(symbol)
                value += qty * (price or self.opening.entry_prices.get(symbol, ZERO))
        return value


@dataclass(frozen=True, slots=True)
class Request:
    timeframe: str
    start: dt.datetime
    end: dt.datetime
    extended: bool
    reset_daily: bool


def read_request(query: Query, now: dt.datetime) -> Request:
    if query.text("cashflow_types"):
        raise unprocessable("cashflow_types is not modelled: the account has no cash flows")
    reporting = query.choice(
        "intraday_reporting", ("market_hours", "extended_hours", "continuous"), ""
    )
    if reporting == "continuous":
        raise unprocessable("intraday_reporting=continuous is not modelled by the local exchange")
    extended = reporting == "extended_hours" or query.flag("extended_hours", False)
    reset_daily = query.choice("pnl_reset", ("per_day", "no_reset"), "per_day") == "per_day"
    period = _period(query.text("period"))
    start, end = query.instant("start"), query.instant("end")
    date_end = query.date("date_end")
    if date_end is not None:
        end = dt.datetime.combine(date_end + _DAY, dt.time(), NEW_YORK).astimezone(dt.UTC)
    given = sum(x is not None for x in (start, end, query.text("period")))
    if given > 2:
        raise unprocessable("only two of start, end (or date_end) and period can be given")
    if end is None:
        end = now if start is None or query.text("period") is None else start + period
    if start is None:
        start = end - period
    span = end - start
    default = "1Min" if span < 7 * _DAY else "15Min" if span < 30 * _DAY else "1D"
    timeframe = query.choice("timeframe", tuple(TIMEFRAMES), default)
    if timeframe != "1D" and span > 30 * _DAY:
        raise unprocessable("intraday timeframes cover at most 30 days; use 1D")
    return Request(timeframe, start, min(end, now), extended, reset_daily)


def _period(text: str | None) -> dt.timedelta:
    if text is None:
        return 30 * _DAY
    number, unit = text[:-1], text[-1:].upper()
    if not number.isdigit() or unit not in _UNITS or int(number) < 1:
        raise unprocessable(f"invalid period {text!r}: a number and D, W, M or A (e.g. 1M)")
    return int(number) * _UNITS[unit] * _DAY


def _sessions(sessions: ExchangeSessions, start: dt.datetime, end: dt.datetime) -> list[Session]:
    day = start.astimezone(NEW_YORK).date()
    last = end.astimezone(NEW_YORK).date()
    found = []
    while day <= last:
        session = sessions.calendar.session_for(day)
        if session is not None:
            found.append(session)
        day += _DAY
    return found


def history(
    request: Request,
    ledger: Ledger,
    price_at: PriceAt,
    sessions: ExchangeSessions,
    began: dt.datetime,
) -> dict[str, Any]:
    """Alpaca's portfolio history object for ``request`` (module docstring)."""
    labels: list[dt.datetime] = []
    ends: list[dt.datetime] = []
    bases: list[dt.datetime] = []
    step = TIMEFRAMES[request.timeframe]
    start = max(request.start, began)
    previous_close = began
    for session in _sessions(sessions, start - _DAY, request.end):
        if request.timeframe == "1D":
            label = dt.datetime.combine(session.date, dt.time(), NEW_YORK).astimezone(dt.UTC)
            close = min(session.close, request.end)
            first_day = start.astimezone(NEW_YORK).date()
            if session.date >= first_day and session.open <= request.end and close >= began:
                labels.append(label)
                ends.append(close)
                bases.append(began)
            continue
        day_open = extended_start(session) if request.extended else session.open
        day_close = extended_end(session) if request.extended else session.close
        at = day_open
        while at < day_close and at < request.end:
            if at + step > start:
                labels.append(at)
                ends.append(min(at + step, request.end))
                bases.append(max(previous_close, began) if request.reset_daily else start)
            at += step
        previous_close = session.close
    equity = [ledger.equity(e, price_at) for e in ends]
    if not request.reset_daily or request.timeframe == "1D":
        bases = [start] * len(ends)
    base_values = [ledger.equity(b, price_at) for b in bases]
    profit = [e - b for e, b in zip(equity, base_values, strict=True)]
    base = base_values[0] if base_values else ledger.equity(start, price_at)
    return {
        "timestamp": [int(label.timestamp()) for label in labels],
        "equity": [float(e) for e in equity],
        "profit_loss": [float(p) for p in profit],
        "profit_loss_pct": [
            float(p / b) if b else None for p, b in zip(profit, base_values, strict=True)
        ],
        "base_value": float(base),
        "base_value_asof": (bases[0] if bases else start).astimezone(NEW_YORK).date().isoformat(),
        "timeframe": request.timeframe,
        "cashflow": {},
    }
