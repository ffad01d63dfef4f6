"""Schedule points: their instants from the exchange calendar (early closes, DST), and
which firing is due at a given moment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import default_calendar
from better_orders.core.schedule import SchedulePoint, due_or_next, instants, missed

NY = ZoneInfo("America/New_York")


def et(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)


@pytest.mark.parametrize(
    ("text", "shown", "offset"),
    [
        ("open", "open", timedelta(0)),
        ("open+15m", "open+15m", timedelta(minutes=15)),
        ("OPEN + 90", "open+90m", timedelta(minutes=90)),
        ("open+2h", "open+2h", timedelta(hours=2)),
        ("close-15m", "close-15m", timedelta(minutes=-15)),
        ("close-1h", "close-1h", timedelta(hours=-1)),
    ],
)
def test_points_parse_and_print(text: str, shown: str, offset: timedelta) -> None:
    point = SchedulePoint.parse(text)
    assert str(point) == shown
    assert point.offset == offset


@pytest.mark.parametrize("text", ["close", "close+5m", "open-5m", "noon", "open+7h", "open+5x"])
def test_points_outside_a_session_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        SchedulePoint.parse(text)


def test_close_minus_15m_on_the_day_after_thanksgiving_is_12_45() -> None:
    cal = default_calendar()
    day = date(2026, 11, 27)
    session = cal.session_for(day)
    assert session is not None and session.early_close
    assert session.close == et(day, 13, 0)
    (firing,) = instants(cal, SchedulePoint.parse("close-15m"), day, 1)
    assert firing.at == et(day, 12, 45)
    assert "early close 13:00" in firing.describe()


@pytest.mark.parametrize(
    ("day", "utc_before", "utc_after"),
    [(date(2026, 3, 9), 14, 13), (date(2026, 11, 2), 13, 14)],
)
def test_the_open_follows_the_new_york_clock_across_dst(
    day: date, utc_before: int, utc_after: int
) -> None:
    cal = default_calendar()
    point = SchedulePoint.parse("open")
    # The calendar says this is the first session after the change: the one before it
    # opened at another UTC hour.
    prior = day - timedelta(days=1)
    while cal.session_for(prior) is None:
        prior -= timedelta(days=1)
    (before,) = instants(cal, point, prior, 1)
    (firing,) = instants(cal, point, day, 1)
    assert before.at.astimezone(UTC).hour == utc_before
    assert firing.at == et(day, 9, 30)
    assert firing.at.astimezone(UTC).hour == utc_after
    assert "UTC" in firing.describe()


def test_instants_skip_holidays_and_weekends() -> None:
    found = instants(default_calendar(), SchedulePoint.parse("open"), date(2026, 11, 25), 3)
    # Thanksgiving (Thursday 26th) is closed; the weekend too.
    assert [f.session.date for f in found] == [
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 11, 30),
    ]


def test_a_point_past_an_early_close_does_not_fire_that_day() -> None:
    found = instants(default_calendar(), SchedulePoint.parse("open+4h"), date(2026, 11, 27), 1)
    assert found[0].session.date == date(2026, 11, 30)


def test_due_from_the_instant_until_the_close_then_the_next_session() -> None:
    cal = default_calendar()
    point = SchedulePoint.parse("close-15m")
    day = date(2026, 11, 27)
    before, due = due_or_next(cal, point, et(day, 12, 44))
    assert not due and before.at == et(day, 12, 45)
    on_time, due = due_or_next(cal, point, et(day, 12, 45))
    assert due and on_time.at == et(day, 12, 45)
    late, due = due_or_next(cal, point, et(day, 12, 59))
    assert due and late.session.date == day
    after, due = due_or_next(cal, point, et(day, 13, 0))
    assert not due and after.at == et(date(2026, 11, 30), 15, 45)
    assert missed(cal, point, et(day, 13, 0)) is not None
    assert missed(cal, point, et(day, 12, 0)) is None


def test_a_handled_session_is_skipped() -> None:
    cal = default_calendar()
    day = date(2026, 11, 27)
    firing, due = due_or_next(cal, SchedulePoint.parse("close-15m"), et(day, 12, 50), after=day)
    assert not due and firing.session.date == date(2026, 11, 30)
