"""Market phases from the NYSE calendar and the execute-or-wait decision."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from better_orders.config.params import timing_rules
from better_orders.config.policy_settings import TimingSettings
from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import (
    ExecutionStrategy,
    MarketCalendar,
    MarketPhase,
    Session,
    default_calendar,
)
from better_orders.core.timing import (
    TimingAction,
    decide_at,
    recommended_wait_seconds,
    timing_decision,
)

# exchange_calendars (the oracle below) trips a pandas 3 deprecation in its own code.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*returning an ndarray that drops timezone information:DeprecationWarning"
)

NY = ZoneInfo("America/New_York")


def et(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> datetime:
    """A New York wall-clock instant (DST resolved by zoneinfo)."""
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=NY)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture(scope="module")
def cal() -> MarketCalendar:
    return default_calendar()


def session(cal: MarketCalendar, day: date) -> Session:
    found = cal.session_for(day)
    assert found is not None, f"{day} should be a trading day"
    return found


# -- phases on a normal day ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "phase", "strategy"),
    [
        (et(2026, 11, 24, 0, 0), MarketPhase.CLOSED, None),
        (et(2026, 11, 24, 3, 59, 59), MarketPhase.CLOSED, None),
        (et(2026, 11, 24, 4, 0), MarketPhase.PRE_MARKET, None),
        (et(2026, 11, 24, 9, 29, 59, 999_999), MarketPhase.PRE_MARKET, None),
        (et(2026, 11, 24, 9, 30), MarketPhase.OPENING, ExecutionStrategy.WAIT_FOR_SPREADS),
        (
            et(2026, 11, 24, 9, 31, 59, 999_000),
            MarketPhase.OPENING,
            ExecutionStrategy.WAIT_FOR_SPREADS,
        ),
        (et(2026, 11, 24, 9, 32), MarketPhase.EARLY, ExecutionStrategy.NORMAL),
        (et(2026, 11, 24, 9, 34, 59, 999_999), MarketPhase.EARLY, ExecutionStrategy.NORMAL),
        (et(2026, 11, 24, 9, 35), MarketPhase.REGULAR, ExecutionStrategy.STANDARD),
        (et(2026, 11, 24, 12, 0), MarketPhase.REGULAR, ExecutionStrategy.STANDARD),
        (et(2026, 11, 24, 15, 59, 59), MarketPhase.REGULAR, ExecutionStrategy.STANDARD),
        (et(2026, 11, 24, 16, 0), MarketPhase.AFTER_HOURS, None),
        (et(2026, 11, 24, 19, 59, 59), MarketPhase.AFTER_HOURS, None),
        (et(2026, 11, 24, 20, 0), MarketPhase.CLOSED, None),
        (et(2026, 11, 24, 23, 59), MarketPhase.CLOSED, None),
    ],
)
def test_phases_of_a_normal_day(
    cal: MarketCalendar,
    instant: datetime,
    phase: MarketPhase,
    strategy: ExecutionStrategy | None,
) -> None:
    assert cal.phase_at(instant) is phase
    assert cal.strategy_at(instant) == strategy
    # The same instant expressed in UTC gives the same answer.
    assert cal.phase_at(instant.astimezone(UTC)) is phase


def test_normal_day_session(cal: MarketCalendar) -> None:
    s = session(cal, date(2026, 11, 24))
    assert s.date == date(2026, 11, 24)
    assert s.open == utc(2026, 11, 24, 14, 30)
    assert s.close == utc(2026, 11, 24, 21, 0)
    assert s.open.utcoffset() == timedelta(0)
    assert s.open_et == et(2026, 11, 24, 9, 30)
    assert (s.open_et.hour, s.open_et.minute) == (9, 30)
    assert (s.close_et.hour, s.close_et.minute) == (16, 0)
    assert s.early_close is False
    assert s.opening_end == utc(2026, 11, 24, 14, 32)
    assert s.early_end == utc(2026, 11, 24, 14, 35)


def test_session_at_is_the_new_york_day(cal: MarketCalendar) -> None:
    # 02:00 UTC on the 25th is 21:00 ET on the 24th: that day's session, market closed.
    late = utc(2026, 11, 25, 2, 0)
    assert cal.session_at(late) == cal.session_for(date(2026, 11, 24))
    assert cal.phase_at(late) is MarketPhase.CLOSED
    # 02:00 ET: the session of the day it belongs to, before pre-market.
    early = et(2026, 11, 24, 2, 0)
    assert cal.session_at(early) == cal.session_for(date(2026, 11, 24))
    assert cal.phase_at(early) is MarketPhase.CLOSED


# -- holidays, weekends, early closes ---------------------------------------------------


def test_thanksgiving_is_closed(cal: MarketCalendar) -> None:
    day = date(2026, 11, 26)
    assert cal.session_for(day) is None
    assert cal.is_holiday(day)
    assert not cal.is_trading_day(day)
    noon = et(2026, 11, 26, 10, 0)
    assert cal.phase_at(noon) is MarketPhase.CLOSED
    assert cal.strategy_at(noon) is None
    assert cal.session_at(noon) is None
    assert cal.next_open(noon) == et(2026, 11, 27, 9, 30)
    assert cal.next_open(noon) == utc(2026, 11, 27, 14, 30)


def test_day_after_thanksgiving_closes_at_13(cal: MarketCalendar) -> None:
    s = session(cal, date(2026, 11, 27))
    assert s.early_close is True
    assert s.open == et(2026, 11, 27, 9, 30)
    assert s.close == et(2026, 11, 27, 13, 0)
    assert s.close == utc(2026, 11, 27, 18, 0)
    assert cal.phase_at(et(2026, 11, 27, 12, 0)) is MarketPhase.REGULAR
    assert cal.phase_at(et(2026, 11, 27, 12, 59, 59)) is MarketPhase.REGULAR
    assert cal.phase_at(et(2026, 11, 27, 13, 0)) is MarketPhase.AFTER_HOURS
    assert cal.phase_at(et(2026, 11, 27, 13, 30)) is MarketPhase.AFTER_HOURS
    assert cal.phase_at(et(2026, 11, 27, 16, 30)) is MarketPhase.AFTER_HOURS
    assert cal.phase_at(et(2026, 11, 27, 20, 0)) is MarketPhase.CLOSED
    # After the Friday close the next open is Monday's.
    assert cal.next_open(et(2026, 11, 27, 13, 30)) == et(2026, 11, 30, 9, 30)


def test_christmas_eve_is_an_early_close_and_christmas_a_holiday(cal: MarketCalendar) -> None:
    eve = session(cal, date(2026, 12, 24))
    assert eve.early_close is True
    assert eve.close == et(2026, 12, 24, 13, 0)
    assert cal.is_holiday(date(2026, 12, 25))
    assert cal.next_open(et(2026, 12, 24, 14, 0)) == et(2026, 12, 28, 9, 30)


def test_weekend(cal: MarketCalendar) -> None:
    saturday = date(2026, 11, 28)
    assert cal.session_for(saturday) is None
    assert not cal.is_holiday(saturday)
    assert not cal.is_trading_day(saturday)
    for instant in (et(2026, 11, 28, 9, 31), et(2026, 11, 29, 12, 0)):
        assert cal.phase_at(instant) is MarketPhase.CLOSED
        assert cal.strategy_at(instant) is None
        assert cal.next_open(instant) == et(2026, 11, 30, 9, 30)


def test_unscheduled_closure_comes_from_the_calendar(cal: MarketCalendar) -> None:
    # Hurricane Sandy closed the NYSE on 2012-10-29 and 30.
    assert cal.is_holiday(date(2012, 10, 29))
    assert cal.phase_at(et(2012, 10, 29, 10, 0)) is MarketPhase.CLOSED
    assert cal.next_open(et(2012, 10, 29, 10, 0)) == et(2012, 10, 31, 9, 30)


# -- daylight saving -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "open_utc", "close_utc"),
    [
        (date(2026, 3, 6), utc(2026, 3, 6, 14, 30), utc(2026, 3, 6, 21, 0)),  # EST, Friday
        (date(2026, 3, 9), utc(2026, 3, 9, 13, 30), utc(2026, 3, 9, 20, 0)),  # EDT, Monday
        (date(2026, 10, 30), utc(2026, 10, 30, 13, 30), utc(2026, 10, 30, 20, 0)),  # EDT
        (date(2026, 11, 2), utc(2026, 11, 2, 14, 30), utc(2026, 11, 2, 21, 0)),  # EST
    ],
)
def test_dst_changes_move_the_open_in_utc(
    cal: MarketCalendar, day: date, open_utc: datetime, close_utc: datetime
) -> None:
    s = session(cal, day)
    assert s.open == open_utc
    assert s.close == close_utc
    assert (s.open_et.hour, s.open_et.minute) == (9, 30)
    assert cal.phase_at(open_utc) is MarketPhase.OPENING
    assert cal.phase_at(open_utc - timedelta(microseconds=1)) is MarketPhase.PRE_MARKET
    assert cal.phase_at(open_utc + timedelta(minutes=2)) is MarketPhase.EARLY
    assert cal.phase_at(open_utc + timedelta(minutes=5)) is MarketPhase.REGULAR


def test_same_utc_time_differs_across_dst(cal: MarketCalendar) -> None:
    # 13:30 UTC is 09:30 EDT on Monday 9 March but 08:30 EST on Friday 6 March.
    assert cal.phase_at(utc(2026, 3, 9, 13, 30)) is MarketPhase.OPENING
    assert cal.phase_at(utc(2026, 3, 6, 13, 30)) is MarketPhase.PRE_MARKET
    # 14:00 UTC is 10:00 EDT on Friday 30 October but 09:00 EST on Monday 2 November.
    assert cal.phase_at(utc(2026, 10, 30, 14, 0)) is MarketPhase.REGULAR
    assert cal.phase_at(utc(2026, 11, 2, 14, 0)) is MarketPhase.PRE_MARKET
    # Pre-market starts at 04:00 New York time whatever the offset.
    assert cal.phase_at(utc(2026, 3, 9, 8, 0)) is MarketPhase.PRE_MARKET
    assert cal.phase_at(utc(2026, 3, 6, 8, 59)) is MarketPhase.CLOSED


@pytest.mark.parametrize(
    ("day", "open_utc"),
    [
        (date(2012, 6, 21), utc(2012, 6, 21, 13, 30)),
        (date(2018, 1, 2), utc(2018, 1, 2, 14, 30)),
    ],
)
def test_historical_sessions(cal: MarketCalendar, day: date, open_utc: datetime) -> None:
    s = session(cal, day)
    assert s.open == open_utc
    assert s.open_et == datetime.combine(day, datetime.min.time(), NY).replace(hour=9, minute=30)
    assert s.early_close is False
    assert cal.phase_at(open_utc + timedelta(seconds=30)) is MarketPhase.OPENING


def test_next_open_boundaries(cal: MarketCalendar) -> None:
    today_open = et(2026, 11, 24, 9, 30)
    assert cal.next_open(et(2026, 11, 24, 9, 29, 59)) == today_open
    assert cal.next_open(today_open) == today_open
    assert cal.next_open(et(2026, 11, 24, 9, 30, 1)) == et(2026, 11, 25, 9, 30)
    assert cal.next_open(et(2026, 11, 25, 17, 0)) == et(2026, 11, 27, 9, 30)


def test_describe_bundles_everything(cal: MarketCalendar) -> None:
    info = cal.describe(et(2026, 11, 27, 9, 33))
    assert info.phase is MarketPhase.EARLY
    assert info.strategy is ExecutionStrategy.NORMAL
    assert info.session is not None
    assert info.session.early_close is True
    assert info.session.close == et(2026, 11, 27, 13, 0)
    assert info.next_open == et(2026, 11, 30, 9, 30)


# -- bad input ---------------------------------------------------------------------------


def test_naive_datetimes_are_rejected(cal: MarketCalendar) -> None:
    naive = datetime(2026, 11, 24, 9, 30)
    for call in (cal.phase_at, cal.session_at, cal.strategy_at, cal.next_open, cal.describe):
        with pytest.raises(InvalidInputError, match="no time zone"):
            call(naive)
    s = session(cal, date(2026, 11, 24))
    with pytest.raises(InvalidInputError, match="no time zone"):
        timing_decision(
            MarketPhase.OPENING,
            True,
            naive,
            s,
            opening_wait_max_seconds=90,
            early_wait_max_seconds=0,
            waited_since=None,
        )
    with pytest.raises(InvalidInputError, match="no time zone"):
        timing_decision(
            MarketPhase.OPENING,
            True,
            s.open,
            s,
            opening_wait_max_seconds=90,
            early_wait_max_seconds=0,
            waited_since=naive,
        )


def test_dates_outside_the_calendar_are_errors(cal: MarketCalendar) -> None:
    with pytest.raises(InvalidInputError, match="2040-01-03"):
        cal.session_for(date(2040, 1, 3))
    with pytest.raises(InvalidInputError, match="outside the exchange calendar"):
        cal.phase_at(et(1999, 6, 1, 10, 0))
    with pytest.raises(InvalidInputError, match="use session_at"):
        cal.session_for(et(2026, 11, 24, 10, 0))


# -- step 1: execute or wait -------------------------------------------------------------

NOV24 = date(2026, 11, 24)


def decide(
    cal: MarketCalendar,
    now: datetime,
    *,
    wide: bool = True,
    opening_max: float = 90,
    early_max: float = 0,
    waited_since: datetime | None = None,
) -> tuple[TimingAction, datetime | None]:
    """Call ``timing_decision`` with the phase and session the calendar gives for ``now``."""
    d = timing_decision(
        cal.phase_at(now),
        wide,
        now,
        cal.session_at(now),
        opening_wait_max_seconds=opening_max,
        early_wait_max_seconds=early_max,
        waited_since=waited_since,
        next_open=cal.next_open(now),
    )
    return d.action, d.until


def test_wide_spread_at_the_open_waits_a_bounded_time(cal: MarketCalendar) -> None:
    start = et(2026, 11, 24, 9, 30, 10)
    deadline = et(2026, 11, 24, 9, 31, 40)
    assert decide(cal, start) == (TimingAction.WAIT, deadline)
    # Asking again while waiting keeps the same deadline.
    later = et(2026, 11, 24, 9, 31, 0)
    assert decide(cal, later, waited_since=start) == (TimingAction.WAIT, deadline)
    # At the deadline the order goes, spread or not.
    assert decide(cal, deadline, waited_since=start) == (TimingAction.EXECUTE, None)


def test_opening_wait_never_extends_past_open_plus_5_minutes(cal: MarketCalendar) -> None:
    s = session(cal, NOV24)
    start = et(2026, 11, 24, 9, 31)
    assert decide(cal, start, opening_max=600) == (TimingAction.WAIT, s.early_end)
    assert s.early_end == et(2026, 11, 24, 9, 35)
    # The same wait continues into the early window with the same deadline...
    assert decide(cal, et(2026, 11, 24, 9, 34), opening_max=600, waited_since=start) == (
        TimingAction.WAIT,
        s.early_end,
    )
    # ...and ends at 09:35 at the latest.
    assert decide(cal, s.early_end, opening_max=600, waited_since=start) == (
        TimingAction.EXECUTE,
        None,
    )


def test_after_0935_never_waits(cal: MarketCalendar) -> None:
    for now in (et(2026, 11, 24, 9, 35), et(2026, 11, 24, 9, 36), et(2026, 11, 24, 15, 0)):
        d = timing_decision(
            MarketPhase.REGULAR,
            True,
            now,
            session(cal, NOV24),
            opening_wait_max_seconds=3600,
            early_wait_max_seconds=3600,
            waited_since=et(2026, 11, 24, 9, 34),
        )
        assert d.action is TimingAction.EXECUTE
        assert d.until is None


def test_early_window_uses_its_own_budget(cal: MarketCalendar) -> None:
    at_0933 = et(2026, 11, 24, 9, 33)
    # The default (0 s) executes at once in 09:32-09:35.
    assert decide(cal, at_0933, early_max=0) == (TimingAction.EXECUTE, None)
    assert decide(cal, at_0933, early_max=60) == (TimingAction.WAIT, et(2026, 11, 24, 9, 34))
    assert decide(cal, at_0933, early_max=600) == (TimingAction.WAIT, et(2026, 11, 24, 9, 35))


def test_tight_spread_executes_now(cal: MarketCalendar) -> None:
    for now in (et(2026, 11, 24, 9, 30), et(2026, 11, 24, 9, 33)):
        assert decide(cal, now, wide=False, early_max=60) == (TimingAction.EXECUTE, None)


def test_windows_follow_the_actual_open_across_dst(cal: MarketCalendar) -> None:
    now = utc(2026, 3, 9, 13, 30, 30)  # 09:30:30 EDT
    assert decide(cal, now) == (TimingAction.WAIT, utc(2026, 3, 9, 13, 32, 0))


def test_pre_market_waits_for_the_open(cal: MarketCalendar) -> None:
    now = et(2026, 11, 24, 8, 0)
    assert decide(cal, now) == (TimingAction.WAIT_FOR_OPEN, et(2026, 11, 24, 9, 30))
    refused = timing_decision(
        MarketPhase.PRE_MARKET,
        False,
        now,
        session(cal, NOV24),
        opening_wait_max_seconds=90,
        early_wait_max_seconds=0,
        waited_since=None,
        pre_open="refuse",
    )
    assert refused.action is TimingAction.REFUSE
    assert "2026-11-24 09:30:00 ET" in refused.reason


def test_closed_and_after_hours_refuse_naming_the_next_open(cal: MarketCalendar) -> None:
    thanksgiving = decide_at(
        cal, et(2026, 11, 26, 10, 0), spread_is_wide=False, timing=timing_rules(TimingSettings())
    )
    assert thanksgiving.action is TimingAction.REFUSE
    assert thanksgiving.until is None
    assert "next open Fri 2026-11-27 09:30:00 ET" in thanksgiving.reason
    after = decide_at(
        cal, et(2026, 11, 27, 13, 30), spread_is_wide=False, timing=timing_rules(TimingSettings())
    )
    assert after.action is TimingAction.REFUSE
    assert "next open Mon 2026-11-30 09:30:00 ET" in after.reason


def test_calendar_decide_uses_the_timing_rules(cal: MarketCalendar) -> None:
    timing = timing_rules(TimingSettings(opening_wait_max_seconds=45))
    now = et(2026, 11, 24, 9, 30, 30)
    d = decide_at(cal, now, spread_is_wide=True, timing=timing)
    assert (d.action, d.until) == (TimingAction.WAIT, et(2026, 11, 24, 9, 31, 15))
    refuse = timing_rules(TimingSettings(pre_open="refuse"))
    pre = decide_at(cal, et(2026, 11, 24, 9, 0), spread_is_wide=True, timing=refuse)
    assert pre.action is TimingAction.REFUSE


def test_timing_decision_rejects_inconsistent_input(cal: MarketCalendar) -> None:
    s = session(cal, NOV24)
    now = et(2026, 11, 24, 9, 31)
    with pytest.raises(InvalidInputError, match="after the decision time"):
        timing_decision(
            MarketPhase.OPENING,
            True,
            now,
            s,
            opening_wait_max_seconds=90,
            early_wait_max_seconds=0,
            waited_since=et(2026, 11, 24, 9, 31, 1),
        )
    with pytest.raises(InvalidInputError, match="opening_wait_max_seconds"):
        timing_decision(
            MarketPhase.OPENING,
            True,
            now,
            s,
            opening_wait_max_seconds=-1,
            early_wait_max_seconds=0,
            waited_since=None,
        )
    with pytest.raises(InvalidInputError, match="session"):
        timing_decision(
            MarketPhase.OPENING,
            True,
            now,
            None,
            opening_wait_max_seconds=90,
            early_wait_max_seconds=0,
            waited_since=None,
        )


def test_recommended_wait_seconds() -> None:
    timing = timing_rules(TimingSettings())
    assert recommended_wait_seconds("wide", timing) == 120
    assert recommended_wait_seconds("NORMAL", timing) == 60
    assert recommended_wait_seconds("tight", timing) == 0
    custom = timing_rules(TimingSettings(recommend_wait_wide_seconds=30))
    assert recommended_wait_seconds("wide", custom) == 30
    with pytest.raises(InvalidInputError, match="unknown spread class 'huge'"):
        recommended_wait_seconds("huge", timing)


# -- properties --------------------------------------------------------------------------

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    _XNYS = xcals.get_calendar("XNYS", start="2025-12-01", end="2027-01-31")
_SESSIONS_2026 = [
    s
    for d in pd.date_range("2026-01-01", "2026-12-31")
    if (s := default_calendar().session_for(d.date())) is not None
]
_INSTANTS_2026 = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2026, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
)
_IN_SESSION = {MarketPhase.OPENING, MarketPhase.EARLY, MarketPhase.REGULAR}


@settings(max_examples=300, deadline=None)
@given(instant=_INSTANTS_2026)
def test_phase_agrees_with_session_and_exchange(instant: datetime) -> None:
    cal = default_calendar()
    phase = cal.phase_at(instant)
    s = cal.session_at(instant)
    local = instant.astimezone(NY)
    if s is None:
        assert phase is MarketPhase.CLOSED
    else:
        assert s.date == local.date()
    assert (phase in _IN_SESSION) == _XNYS.is_open_at_time(pd.Timestamp(instant), side="left")
    if phase in _IN_SESSION:
        assert s is not None and s.open <= instant < s.close
    if phase is MarketPhase.PRE_MARKET:
        assert s is not None and local.hour >= 4 and instant < s.open
    if phase is MarketPhase.AFTER_HOURS:
        assert s is not None and s.close <= instant and local.hour < 20
    nxt = cal.next_open(instant)
    assert nxt >= instant
    assert cal.phase_at(nxt) is MarketPhase.OPENING


@settings(max_examples=300, deadline=None)
@given(
    s=st.sampled_from(_SESSIONS_2026),
    offset_ms=st.integers(min_value=-60_000, max_value=8 * 60_000),
    waited_ms=st.integers(min_value=0, max_value=10 * 60_000),
    opening_max=st.floats(min_value=0, max_value=1_000),
    early_max=st.floats(min_value=0, max_value=1_000),
    wide=st.booleans(),
    fresh=st.booleans(),
)
def test_wait_deadline_never_passes_early_end(
    s: Session,
    offset_ms: int,
    waited_ms: int,
    opening_max: float,
    early_max: float,
    wide: bool,
    fresh: bool,
) -> None:
    cal = default_calendar()
    now = s.open + timedelta(milliseconds=offset_ms)
    waited_since = None if fresh else now - timedelta(milliseconds=waited_ms)
    phase = cal.phase_at(now)
    d = timing_decision(
        phase,
        wide,
        now,
        s,
        opening_wait_max_seconds=opening_max,
        early_wait_max_seconds=early_max,
        waited_since=waited_since,
    )
    if d.action is TimingAction.WAIT:
        assert d.until is not None
        assert now < d.until <= s.early_end
        assert wide and phase in (MarketPhase.OPENING, MarketPhase.EARLY)
        # Asking again at any later moment before the deadline keeps the deadline.
        start = now if waited_since is None else waited_since
        probe = now + (d.until - now) / 2
        again = timing_decision(
            cal.phase_at(probe),
            wide,
            probe,
            s,
            opening_wait_max_seconds=opening_max,
            early_wait_max_seconds=early_max,
            waited_since=start,
        )
        assert (again.action, again.until) == (TimingAction.WAIT, d.until)
    if phase is MarketPhase.REGULAR or (phase in _IN_SESSION and not wide):
        assert d.action is TimingAction.EXECUTE
    if phase is MarketPhase.PRE_MARKET:
        assert (d.action, d.until) == (TimingAction.WAIT_FOR_OPEN, s.open)
