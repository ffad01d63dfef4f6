"""The NYSE (XNYS) schedule from ``exchange_calendars``, as plain rows.

One row per session in the calendar window: the day, its open and close (UTC,
microseconds since the epoch) and whether it closes early. ``core.market_calendar``
builds its sessions and phases from them.

Building the calendar (``exchange_calendars``, with pandas) takes about a second,
more than the rest of a short command. A shell may keep the rows between runs:
``keep_rows_with`` installs a keeper that is handed the function computing them
and returns them, from its store or by calling it (``data.calendar_cache``).
Without one they are computed in every process.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = dt.timedelta(microseconds=1)

#: The calendar window. exchange_calendars' default ends late next year; an explicit
#: window keeps results stable and lets historical quote files (2005 on) be replayed.
CALENDAR_START = dt.date(2005, 1, 1)
CALENDAR_END = dt.date(2035, 12, 31)

_PANDAS_TZ_VALUES_WARNING = r".*returning an ndarray that drops timezone information"

#: (day as ``date.toordinal()``, open, close (UTC microseconds since the epoch), early close).
SessionRow = tuple[int, int, int, bool]
#: Given the function that computes the rows, the rows (kept, or computed and kept).
RowKeeper = Callable[[Callable[[], list[SessionRow]]], list[SessionRow]]

_keeper: RowKeeper | None = None


def keep_rows_with(keeper: RowKeeper | None) -> None:
    """Install (or with None remove) the keeper ``session_rows`` hands its computation to.

    A process's calendar is built once, on first use: install it before that.
    """
    global _keeper
    _keeper = keeper


def row_keeper() -> RowKeeper | None:
    """The keeper installed by ``keep_rows_with``, if any."""
    return _keeper


def session_rows() -> list[SessionRow]:
    """Every session of the calendar window, in date order (module docstring)."""
    return computed_rows() if _keeper is None else _keeper(computed_rows)


def computed_rows() -> list[SessionRow]:
    """The rows, computed with ``exchange_calendars`` (slow: see the module docstring)."""
    import exchange_calendars as xcals  # pandas-heavy: imported on first use only

    with warnings.catch_warnings():
        # exchange_calendars 4.13 reads tz-aware Series.values, which pandas 3 deprecates;
        # the values it gets are still correct UTC instants.
        warnings.filterwarnings("ignore", _PANDAS_TZ_VALUES_WARNING, DeprecationWarning)
        calendar = xcals.get_calendar(
            "XNYS", start=CALENDAR_START.isoformat(), end=CALENDAR_END.isoformat()
        )
    schedule = calendar.schedule
    early = {ts.date() for ts in calendar.early_closes}
    rows: list[SessionRow] = []
    for label, open_ts, close_ts in zip(
        schedule.index, schedule["open"], schedule["close"], strict=True
    ):
        day = label.date()
        rows.append(
            (
                day.toordinal(),
                to_micros(open_ts.to_pydatetime().astimezone(UTC)),
                to_micros(close_ts.to_pydatetime().astimezone(UTC)),
                day in early,
            )
        )
    return rows


def to_micros(instant: dt.datetime) -> int:
    """An aware instant as UTC microseconds since the epoch (exact)."""
    return (instant - EPOCH) // ONE_MICROSECOND


def from_micros(micros: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=micros)
