"""Bars of any timeframe from 1Min to 1Day, made from the tape's minute bars.

Timeframes as Alpaca spells them: ``<n>Min`` or ``<n>T`` (1-59), ``<n>Hour`` or
``<n>H`` (1-23), ``1Day`` or ``1D``. A bar is labelled with the start of its
interval: minutes and hours aligned from 00:00 UTC (so 5Min bars start at :00,
:05...), a day at 00:00 New York, and it holds every trade of the interval,
extended hours included (a day's bar is the whole New York day), as Alpaca's
bars do. Intervals without a trade have no bar. Weekly and monthly bars are not
modelled (refused).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from better_orders.core.market_calendar import NEW_YORK
from better_orders.server.errors import AlpacaError, bad_request, unprocessable
from better_orders.server.shapes import ts
from better_orders.server.tape import Bar

_PATTERN = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Timeframe:
    """A bar length: ``minutes`` (under a day), or a New York day when ``daily``."""

    minutes: int
    daily: bool = False

    @classmethod
    def parse(cls, text: str | None) -> Timeframe:
        if not text:
            raise bad_request("timeframe is required")
        found = _PATTERN.match(text.strip())
        if found is None:
            raise bad_request(f"invalid timeframe {text!r}")
        amount, unit = int(found.group(1)), found.group(2)
        if unit in ("Week", "W", "Month", "M"):
            raise unprocessable(f"timeframe {text} is not modelled by the local exchange")
        if unit in ("Min", "T") and 1 <= amount <= 59:
            return cls(amount)
        if unit in ("Hour", "H") and 1 <= amount <= 23:
            return cls(60 * amount)
        if unit in ("Day", "D") and amount == 1:
            return cls(1440, daily=True)
        raise bad_request(f"invalid timeframe {text!r}")

    def label(self, minute: dt.datetime) -> dt.datetime:
        """The start of the bar that the minute starting at ``minute`` belongs to."""
        if self.daily:
            day = minute.astimezone(NEW_YORK).date()
            return dt.datetime.combine(day, dt.time(), NEW_YORK).astimezone(dt.UTC)
        since = (minute - _EPOCH) // dt.timedelta(minutes=1)
        return _EPOCH + dt.timedelta(minutes=since - since % self.minutes)


def aggregate(minutes: Iterable[Bar], timeframe: Timeframe) -> list[Bar]:
    """Minute bars (in time order) merged into bars of ``timeframe``."""
    out: list[Bar] = []
    for minute in minutes:
        start = timeframe.label(minute.start)
        if out and out[-1].start == start:
            out[-1].merge(minute)
        else:
            out.append(
                Bar(
                    start,
                    minute.open,
                    minute.high,
                    minute.low,
                    minute.close,
                    minute.volume,
                    minute.trades,
                    minute.value,
                )
            )
    return out


def bar_json(bar: Bar) -> dict[str, Any]:
    return {
        "t": ts(bar.start),
        "o": float(bar.open),
        "h": float(bar.high),
        "l": float(bar.low),
        "c": float(bar.close),
        "v": bar.volume,
        "n": bar.trades,
        "vw": round(float(bar.vwap), 6),
    }


def not_covered(symbol: str, begins: dt.datetime) -> AlpacaError:
    return unprocessable(
        f"{symbol} market data before {ts(begins)} is not modelled: the local exchange's "
        "quotes begin when its clock started; ask from then on"
    )
