"""The execute-or-wait decision (ladder step 1).

Nothing here reads the clock: every function takes the instant as an argument.
Naive datetimes are refused, because a time without a zone is the classic
off-by-an-hour bug around a DST change. The phase and session of an instant come
from ``core.market_calendar``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, NamedTuple

from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import (
    NOTHING_TRADES,
    MarketCalendar,
    MarketPhase,
    Session,
    format_et,
    require_aware,
)


class TimingAction(StrEnum):
    EXECUTE = "execute"
    WAIT = "wait"
    WAIT_FOR_OPEN = "wait_for_open"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class TimingRules:
    """How long a wide spread may delay an order, and the pre-open advice, in seconds.

    The shell builds these from the validated ``timing`` settings
    (``config.params.timing_rules``); see :func:`timing_decision` for the waits.
    """

    opening_wait_max_seconds: float
    early_wait_max_seconds: float
    pre_open: Literal["wait", "refuse"]
    recommend_wait_wide_seconds: float
    recommend_wait_normal_seconds: float
    recommend_wait_tight_seconds: float


class TimingDecision(NamedTuple):
    """What to do now: execute, wait until ``until``, wait for the open, or refuse. (A named
    tuple: a ladder asks for one on many quotes, where a frozen dataclass costs more.)"""

    action: TimingAction
    until: dt.datetime | None
    reason: str


#: A ``quiet`` EXECUTE (``decide_timing``).
_EXECUTE = TimingDecision(TimingAction.EXECUTE, None, "")
#: Durations already made from seconds (a ladder asks for the same few settings each quote).
_DURATIONS: dict[float, dt.timedelta] = {}


def _check_seconds(value: float, what: str) -> dt.timedelta:
    # Only checked values are kept (never a bool: True would find 1.0's).
    found = _DURATIONS.get(value) if type(value) is float else None
    if found is None:
        if isinstance(value, bool) or not math.isfinite(value) or value < 0:
            raise InvalidInputError(
                f"{what} must be a finite number of seconds >= 0, not {value!r}"
            )
        if len(_DURATIONS) >= 256:
            _DURATIONS.clear()
        found = _DURATIONS[value] = dt.timedelta(seconds=value)
    return found


def timing_decision(
    phase: MarketPhase,
    spread_is_wide: bool,
    now: dt.datetime,
    session: Session | None,
    *,
    opening_wait_max_seconds: float,
    early_wait_max_seconds: float,
    waited_since: dt.datetime | None,
    next_open: dt.datetime | None = None,
    pre_open: Literal["wait", "refuse"] = "wait",
) -> TimingDecision:
    """Execute now, or wait (bounded) for a wide spread to normalise.

    - closed / after-hours: refuse, naming ``next_open`` when given.
    - pre-market: wait for ``session.open`` (or refuse when ``pre_open="refuse"``).
    - regular (from open + 5 min): execute, whatever the spread.
    - opening / early with a spread that is not wide: execute.
    - opening / early with a wide spread: wait until ``start + budget``, capped at
      ``session.early_end``, where ``start`` is ``waited_since`` (or ``now`` for a new
      wait) and the budget is ``opening_wait_max_seconds`` for a wait that began in the
      opening window, ``early_wait_max_seconds`` for one that began later. Keying the
      budget on when the wait began keeps the deadline fixed across repeated calls,
      also across 09:32. Once the deadline has passed: execute.
    """
    require_aware(now, "decision time")
    budgets = wait_budgets(opening_wait_max_seconds, early_wait_max_seconds)
    return decide_timing(
        phase,
        spread_is_wide,
        now,
        session,
        budgets,
        waited_since=waited_since,
        next_open=next_open,
        pre_open=pre_open,
    )


def decide_at(
    calendar: MarketCalendar,
    instant: dt.datetime,
    *,
    spread_is_wide: bool,
    timing: TimingRules,
    waited_since: dt.datetime | None = None,
) -> TimingDecision:
    """``timing_decision`` for ``instant`` with the phase, session and rules filled in."""
    phase = calendar.phase_at(instant)
    closed = phase in NOTHING_TRADES
    return timing_decision(
        phase,
        spread_is_wide,
        instant,
        calendar.session_at(instant),
        opening_wait_max_seconds=timing.opening_wait_max_seconds,
        early_wait_max_seconds=timing.early_wait_max_seconds,
        waited_since=waited_since,
        next_open=calendar.next_open(instant) if closed else None,
        pre_open=timing.pre_open,
    )


class WaitBudgets(NamedTuple):
    """``timing_decision``'s wait budgets, checked and as durations (``wait_budgets``)."""

    opening: dt.timedelta
    early: dt.timedelta


def wait_budgets(opening_wait_max_seconds: float, early_wait_max_seconds: float) -> WaitBudgets:
    return WaitBudgets(
        _check_seconds(opening_wait_max_seconds, "opening_wait_max_seconds"),
        _check_seconds(early_wait_max_seconds, "early_wait_max_seconds"),
    )


def decide_timing(
    phase: MarketPhase,
    spread_is_wide: bool,
    now: dt.datetime,
    session: Session | None,
    budgets: WaitBudgets,
    *,
    waited_since: dt.datetime | None,
    next_open: dt.datetime | None = None,
    pre_open: Literal["wait", "refuse"] = "wait",
    quiet: bool = False,
) -> TimingDecision:
    """``timing_decision`` for an aware ``now``, with its budgets already checked (a ladder
    checks them once per order). ``quiet``: an EXECUTE or a WAIT carries no reason (wording
    one costs more than deciding: a caller words what it keeps, with ``wait_reason``)."""
    opening_budget, early_budget = budgets
    if waited_since is not None:
        require_aware(waited_since, "wait start")
        if waited_since > now:
            raise InvalidInputError(
                f"wait start {format_et(waited_since)} is after the decision time {format_et(now)}"
            )

    if phase in NOTHING_TRADES:
        state = "closed" if phase is MarketPhase.CLOSED else "in after-hours"
        upcoming = format_et(next_open) if next_open is not None else "unknown"
        return TimingDecision(
            TimingAction.REFUSE,
            None,
            f"market is {state} at {format_et(now)}; next open {upcoming}; no order sent",
        )
    if session is None:
        raise InvalidInputError(f"phase {phase} at {format_et(now)} needs that day's session")
    if phase is MarketPhase.PRE_MARKET:
        if pre_open == "refuse":
            return TimingDecision(
                TimingAction.REFUSE,
                None,
                f"pre-market at {format_et(now)} and timing.pre_open is 'refuse'; "
                f"next open {format_et(session.open)}; no order sent",
            )
        return TimingDecision(
            TimingAction.WAIT_FOR_OPEN,
            session.open,
            f"pre-market at {format_et(now)}; waiting for the open {format_et(session.open)}",
        )
    if phase is MarketPhase.REGULAR:
        return TimingDecision(
            TimingAction.EXECUTE,
            None,
            "past the opening windows (open + 5 min): executing whatever the spread",
        )
    if not spread_is_wide:
        if quiet:
            return _EXECUTE
        return TimingDecision(TimingAction.EXECUTE, None, f"{phase} window, spread not wide")

    start = now if waited_since is None else max(waited_since, session.open)
    if start < session.opening_end:
        budget, setting = opening_budget, "opening_wait_max_seconds"
    else:
        budget, setting = early_budget, "early_wait_max_seconds"
    until = min(start + budget, session.early_end)
    if now >= until:
        if quiet:
            return _EXECUTE
        waited = (now - start).total_seconds()
        return TimingDecision(
            TimingAction.EXECUTE,
            None,
            f"spread still wide after {waited:g}s; wait limit reached "
            f"({setting} = {budget.total_seconds():g}s, never past open + 5 min)",
        )
    return TimingDecision(TimingAction.WAIT, until, "" if quiet else wait_reason(phase, until))


def wait_reason(phase: MarketPhase, until: dt.datetime) -> str:
    """Why a wide spread is waited out in ``phase`` until ``until`` (``decide_timing``)."""
    return f"wide spread in the {phase} window; waiting until {format_et(until)} to normalise"


def recommended_wait_seconds(spread_class: str, timing: TimingRules) -> float:
    """Pre-open advice: how long to wait after the open for a spread of this class."""
    key = str(getattr(spread_class, "value", spread_class)).strip().lower()
    table = {
        "wide": timing.recommend_wait_wide_seconds,
        "normal": timing.recommend_wait_normal_seconds,
        "tight": timing.recommend_wait_tight_seconds,
    }
    if key not in table:
        raise InvalidInputError(f"unknown spread class {spread_class!r}: use tight, normal or wide")
    return table[key]
