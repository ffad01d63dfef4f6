"""Guards for unattended runs: a whole plan is checked before any of it is sent.

A scheduled run has nobody watching it, so what a person would catch at a glance is
checked on the plan instead, and a guard that trips refuses the *whole* run (never
half of it): ``GuardTrippedError`` with one line naming the guard and the numbers.

* ``max_deployed``: the fraction of equity invested once the plan is traded (a plan
  that lowers the fraction is let through, since it moves the right way).
* ``max_turnover``: traded notional (sells and buys) over equity, for one run.
* ``max_target_age``: targets older than this (a file's modification time, or the
  ``as_of`` its producer wrote) are stale: yesterday's signal is not today's.
* The risk limits of single orders and of a run (``PlanLimits``), applied to the
  planned trades up front, so that a run is not refused halfway, after its sells.

Pure: the plan, the limits and ``now`` are arguments.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from better_orders.core.errors import GuardTrippedError, InvalidInputError
from better_orders.core.market_calendar import format_et
from better_orders.core.model import ZERO
from better_orders.core.plan import Plan

_DURATION_RE = re.compile(r"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>s|m|min|h|d)?")
_UNITS = {
    None: dt.timedelta(seconds=1),
    "s": dt.timedelta(seconds=1),
    "m": dt.timedelta(minutes=1),
    "min": dt.timedelta(minutes=1),
    "h": dt.timedelta(hours=1),
    "d": dt.timedelta(days=1),
}


def parse_age(text: str) -> dt.timedelta:
    """``90m``, ``20h``, ``1d``, ``3600`` (seconds) as a duration; 0 (any unit) turns the
    guard off, as 0 does for every guard."""
    match = _DURATION_RE.fullmatch(text.strip().lower())
    if match is None:
        raise InvalidInputError(
            f"age {text!r}: give a duration, e.g. 90m, 20h, 1d or seconds (0: no limit)"
        )
    return float(match["amount"]) * _UNITS[match["unit"]]


def describe_age(age: dt.timedelta) -> str:
    """``2d 3h``, ``20h 5m``, ``45s``: an age as a person reads it."""
    seconds = int(age.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    text = " ".join(p for p in parts if p)
    return text or f"{secs}s"


#: How far after now targets may be dated (clocks a little apart) before they are refused.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class GuardLimits:
    """The guards in force; None turns one off."""

    max_deployed: Decimal | None = None
    max_turnover: Decimal | None = None
    max_target_age: dt.timedelta | None = None

    def __post_init__(self) -> None:
        for name in ("max_deployed", "max_turnover"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise InvalidInputError(f"guard {name} must be above 0, got {value}")
        if self.max_target_age is not None and self.max_target_age <= dt.timedelta(0):
            raise InvalidInputError("guard max_target_age must be a positive duration")


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """The risk limits of single orders and of a run, as a plan is checked against them."""

    max_order_notional: Decimal
    max_order_qty: Decimal
    max_run_notional: Decimal


def deployed_now(plan: Plan) -> Decimal:
    """The fraction of equity invested before the plan is traded."""
    if plan.portfolio_value <= 0:
        return ZERO
    return sum(plan.current_values.values(), ZERO) / plan.portfolio_value


def deployed_after(plan: Plan) -> Decimal:
    """The fraction of equity invested once every planned trade is done at its price."""
    if plan.portfolio_value <= 0:
        return ZERO
    invested = sum(plan.current_values.values(), ZERO) + plan.buy_notional - plan.sell_notional
    return invested / plan.portfolio_value


def turnover(plan: Plan) -> Decimal:
    """Planned traded notional (sells and buys) over equity."""
    if plan.portfolio_value <= 0:
        return ZERO
    return (plan.buy_notional + plan.sell_notional) / plan.portfolio_value


def check_plan(plan: Plan, limits: GuardLimits, risk: PlanLimits | None = None) -> None:
    """Raise ``GuardTrippedError`` if the plan breaks a guard (or, given, a risk limit)."""
    equity = f"equity ${plan.portfolio_value:,.2f}"
    if limits.max_deployed is not None:
        after = deployed_after(plan)
        if after > limits.max_deployed and after > deployed_now(plan):
            raise GuardTrippedError(
                f"guard max_deployed: the plan would leave {after:.2%} of {equity} invested, "
                f"above {limits.max_deployed:.2%}; no order sent"
            )
    if limits.max_turnover is not None:
        traded = turnover(plan)
        if traded > limits.max_turnover:
            notional = plan.buy_notional + plan.sell_notional
            raise GuardTrippedError(
                f"guard max_turnover: the plan trades ${notional:,.2f}, {traded:.2%} of "
                f"{equity}, above {limits.max_turnover:.2%}; no order sent"
            )
    if risk is not None:
        _check_risk(plan, risk)


def _check_risk(plan: Plan, risk: PlanLimits) -> None:
    for trade in plan.trades:
        if trade.qty > risk.max_order_qty:
            raise GuardTrippedError(
                f"risk limit: {trade.side.value} {trade.qty} {trade.symbol} exceeds max_order_qty "
                f"{risk.max_order_qty}; no order sent"
            )
        if trade.notional > risk.max_order_notional:
            raise GuardTrippedError(
                f"risk limit: {trade.side.value} {trade.symbol} ${trade.notional:,.2f} exceeds "
                f"max_order_notional ${risk.max_order_notional:,.2f}; no order sent"
            )
    total = plan.buy_notional + plan.sell_notional
    if total > risk.max_run_notional:
        raise GuardTrippedError(
            f"risk limit: the plan trades ${total:,.2f}, beyond max_run_notional "
            f"${risk.max_run_notional:,.2f}; no order sent"
        )


def check_target_age(
    written: dt.datetime, now: dt.datetime, max_age: dt.timedelta | None, what: str
) -> None:
    """Refuse targets written longer than ``max_age`` before ``now`` (``what`` names them),
    or more than ``FUTURE_TOLERANCE`` after it: a time from the future is a wrong clock or
    time zone, and would pass any age."""
    if max_age is None:
        return
    age = now - written
    if -age > FUTURE_TOLERANCE:
        raise GuardTrippedError(
            f"guard max_target_age: {what} is dated {format_et(written)}, "
            f"{describe_age(-age)} after now ({format_et(now)}): a wrong clock or time "
            "zone (an as_of without one is New York time); no order sent"
        )
    if age > max_age:
        raise GuardTrippedError(
            f"guard max_target_age: {what} is {describe_age(age)} old (from "
            f"{format_et(written)}), older than {describe_age(max_age)}; no order sent"
        )
