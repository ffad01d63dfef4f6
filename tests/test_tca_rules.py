"""The opening-wait rules the replay evaluation tuned: the wait target, waiting again after
a miss, and holding a spread that comes in during a burst of quotes (pure ladder, no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from better_orders.config.params import ladder_params, spread_rules
from better_orders.config.policy_settings import SpreadSettings
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import (
    CancelOrder,
    Ladder,
    LadderState,
    ParentOrder,
    QuoteArrived,
    SetTimer,
    Start,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.market_calendar import default_calendar
from better_orders.core.model import AttemptKind, OrderStatus, OrderUpdate, Quote, Side
from better_orders.core.spread import wait_rule

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 24, 9, 30, 30, tzinfo=ET)


def q(bid: str, ask: str, at: timedelta, symbol: str = "ABC") -> Quote:
    return Quote(symbol, D(bid), D(ask), D(500), D(500), T0 + at)


def ladder(typical: float | None = None, **config: Any) -> Ladder:
    # The wait rules with idle waits (a resting slice is tested in test_ladder_rest.py).
    timing = {"rest_fraction": 0, **config.pop("timing", {})}
    cfg = BetterOrdersConfig.model_validate({"mode": "always", "timing": timing, **config})
    params = ladder_params(cfg, "ABC", typical_spread_bps=typical)
    return Ladder(ParentOrder("ABC", Side.BUY, D(100)), params, default_calendar(), str)


def submits(actions: list[object]) -> list[SubmitOrder]:
    return [a for a in actions if isinstance(a, SubmitOrder)]


S = timedelta(seconds=1)
MS = timedelta(milliseconds=1)


def test_wait_target_is_a_share_of_the_typical_spread_capped_in_bps() -> None:
    rules = spread_rules(SpreadSettings())
    assert rules.wait_ratio == D("0.5") and rules.wait_cap_bps == D(5)
    # 8 bps typical: wait while wider than 4 bps (and than the 3-cent floor).
    rule = wait_rule(rules, 8.0)
    assert rule.floor == D("0.03") and rule.target_bps == D(4)
    assert rule.worth_waiting(D("0.09"), D("200"))  # 4.5 bps
    assert not rule.worth_waiting(D("0.08"), D("200"))  # exactly 4 bps
    # A huge opening typical (30 bps) still only waits for 5 bps.
    assert wait_rule(rules, 30.0).target_bps == D(5)
    # 3 cents or less is never waited out, however it compares (a $20 ETF: 15 bps).
    assert not wait_rule(rules, 1.0).worth_waiting(D("0.03"), D("20"))
    # The seed's cents rule: wait while wider than 5 cents, whatever the price.
    cents = wait_rule(spread_rules(SpreadSettings(rule="cents")), 1.0)
    assert cents.worth_waiting(D("0.06"), D("600")) and not cents.worth_waiting(D("0.05"), D("1"))


def test_09_32_to_09_35_waits_too_but_never_past_09_35() -> None:
    lad = ladder(typical=10.0)
    start = T0 + timedelta(minutes=3, seconds=30)  # 09:34:00
    lad.handle(QuoteArrived(q("100.00", "100.20", timedelta(minutes=3, seconds=30)), start))
    actions = lad.handle(Start(start))
    assert submits(actions) == [] and lad.state is LadderState.SPREAD_WAIT
    assert [a.at for a in actions if isinstance(a, SetTimer)] == [
        datetime(2026, 11, 24, 9, 35, tzinfo=ET)
    ]


def test_a_miss_while_the_spread_is_wide_again_goes_back_to_waiting() -> None:
    lad = ladder(typical=10.0)  # wait for 5 bps: 5 cents at $100
    lad.handle(QuoteArrived(q("100.00", "100.20", 0 * S), T0))
    assert submits(lad.handle(Start(T0))) == []
    first = submits(lad.handle(QuoteArrived(q("100.10", "100.14", 5 * S), T0 + 5 * S)))
    assert [s.request.limit_price for s in first] == [D("100.15")]
    coid = first[0].request.client_order_id
    # Nothing fills; the spread is wide again when the attempt times out.
    lad.handle(QuoteArrived(q("100.05", "100.30", 5 * S + 10 * MS), T0 + 5 * S + 10 * MS))
    cancel = lad.handle(TimerFired(T0 + 7 * S))
    assert [a.client_order_id for a in cancel if isinstance(a, CancelOrder)] == [coid]
    after = lad.handle(OrderUpdate(coid, OrderStatus.CANCELED, D(0), T0 + 7 * S + 30 * MS))
    assert submits(after) == [] and lad.state is LadderState.SPREAD_WAIT
    assert any("waiting for it to come in again" in n for n in lad.notes)
    # It comes in again: a fresh entry, not a re-peg.
    again = submits(lad.handle(QuoteArrived(q("100.20", "100.24", 9 * S), T0 + 9 * S)))
    assert [(s.kind, s.request.limit_price) for s in again] == [
        (AttemptKind.AGGRESSIVE, D("100.25"))
    ]


def test_the_seed_behaviour_re_pegs_into_the_wide_spread() -> None:
    lad = ladder(typical=10.0, timing={"wait_again": False})
    lad.handle(QuoteArrived(q("100.00", "100.20", 0 * S), T0))
    lad.handle(Start(T0))
    first = submits(lad.handle(QuoteArrived(q("100.10", "100.14", 5 * S), T0 + 5 * S)))
    coid = first[0].request.client_order_id
    lad.handle(QuoteArrived(q("100.05", "100.30", 6 * S), T0 + 6 * S))
    lad.handle(TimerFired(T0 + 7 * S))
    repeg = submits(lad.handle(OrderUpdate(coid, OrderStatus.CANCELED, D(0), T0 + 7 * S)))
    # Into the wide spread, as far as the budget allows: ask + 1 tick (100.31) is beyond the
    # bound of 15 bps over the arrival mid (100.10 x 1.0015 = 100.25).
    assert [(s.kind, s.request.limit_price) for s in repeg] == [(AttemptKind.REPEG, D("100.25"))]


@pytest.mark.parametrize("gap", [timedelta(seconds=2), timedelta(milliseconds=20)])
def test_an_isolated_quote_is_acted_on_at_once(gap: timedelta) -> None:
    lad = ladder(typical=10.0)
    lad.handle(QuoteArrived(q("100.00", "100.20", 0 * S), T0))
    lad.handle(Start(T0))
    assert submits(lad.handle(QuoteArrived(q("100.10", "100.14", gap), T0 + gap)))


def test_a_spread_that_comes_in_inside_a_burst_must_hold() -> None:
    lad = ladder(typical=10.0)
    lad.handle(QuoteArrived(q("100.00", "100.20", 0 * S), T0))
    lad.handle(Start(T0))
    t1 = T0 + 3 * S
    # A sweep: three updates in the same millisecond, the middle one narrow.
    assert submits(lad.handle(QuoteArrived(q("100.02", "100.20", 3 * S), t1))) == []
    held = lad.handle(QuoteArrived(q("100.10", "100.14", 3 * S), t1))
    assert submits(held) == [] and lad.holding_since == t1
    assert [a.at for a in held if isinstance(a, SetTimer)] == [t1 + 20 * MS]
    assert submits(lad.handle(QuoteArrived(q("100.10", "100.30", 3 * S), t1))) == []
    assert lad.holding_since is None
    # The wait goes on; later the spread comes in inside a burst and stands: act.
    t2 = T0 + 10 * S
    lad.handle(QuoteArrived(q("100.00", "100.20", 10 * S), t2))
    assert submits(lad.handle(QuoteArrived(q("100.10", "100.14", 10 * S + MS), t2 + MS))) == []
    sent = submits(lad.handle(TimerFired(t2 + 21 * MS)))
    assert [s.request.limit_price for s in sent] == [D("100.15")]
