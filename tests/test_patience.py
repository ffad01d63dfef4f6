"""The patient rest's pure decisions: the book's lean, the volatility bound, where (and
whether) an order rests before crossing, including the tick-bound play, and when the
slippage budget says to stop waiting."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from better_orders.core.errors import InvalidInputError
from better_orders.core.microprice import imbalance, lean, leans_against, microprice
from better_orders.core.model import Quote, Side
from better_orders.core.patience import (
    PatienceRules,
    budget_urgency,
    budget_urgent,
    rest_ended,
    rest_plan,
)
from better_orders.core.volatility import drift_bound_seconds, realized_volatility_bps

NOW = datetime(2024, 1, 9, 20, 45, tzinfo=UTC)


def q(bid: str, ask: str, bid_size: int = 100, ask_size: int = 100) -> Quote:
    return Quote("ABC", D(bid), D(ask), D(bid_size), D(ask_size), NOW)


# -- the book's lean ----------------------------------------------------------------------------


def test_microprice_weighs_each_touch_by_the_size_opposite() -> None:
    assert microprice(q("10.00", "10.02", 100, 300)) == D("10.005")  # thin bid: near the bid
    assert microprice(q("10.00", "10.02", 300, 100)) == D("10.015")
    assert microprice(q("10.00", "10.02", 0, 0)) is None
    assert imbalance(q("10.00", "10.02", 100, 300)) == 0.25


def test_lean_points_at_the_far_touch_for_either_side() -> None:
    thin_bid = q("10.00", "10.01", 100, 300)
    assert lean(Side.BUY, thin_bid) == -0.5  # a short queue ahead of a buy at the bid
    assert lean(Side.SELL, thin_bid) == 0.5  # a sell at the ask waits behind 300
    assert not leans_against(Side.BUY, thin_bid, D("0.3"))
    assert leans_against(Side.SELL, thin_bid, D("0.3"))
    # Exactly on the threshold does not lean against: (300 - 100) = 0.5 x 400.
    assert not leans_against(Side.SELL, thin_bid, D("0.5"))
    assert not leans_against(Side.BUY, q("10.00", "10.01", 0, 0), D(-1))  # no sizes: unknown


# -- short-horizon volatility --------------------------------------------------------------------


def test_realized_volatility_in_bps_per_square_root_second() -> None:
    up_down = [100.0, 100.01, 100.0, 100.01, 100.0]
    sigma = realized_volatility_bps(up_down, 1.0)
    assert sigma == pytest.approx(1.0, rel=1e-3)  # 1 bp a step, one step a second
    assert realized_volatility_bps(up_down, 4.0) == pytest.approx(0.5, rel=1e-3)
    assert realized_volatility_bps([100.0], 1.0) is None
    assert realized_volatility_bps([100.0, 100.0, 100.0], 1.0) == 0.0
    with pytest.raises(InvalidInputError):
        realized_volatility_bps(up_down, 0.0)


def test_a_wait_is_bounded_by_the_drift_the_spread_pays_for() -> None:
    # 2 bps of spread, 1 bp/sqrt(s) of volatility: k = 1 allows 4 s, k = 2 allows 16 s.
    assert drift_bound_seconds(2.0, 1.0, 1.0) == pytest.approx(4.0)
    assert drift_bound_seconds(2.0, 1.0, 2.0) == pytest.approx(16.0)
    assert drift_bound_seconds(2.0, None, 1.0) is None  # unknown: no bound
    assert drift_bound_seconds(2.0, 0.0, 1.0) is None  # a still market
    assert drift_bound_seconds(2.0, 1.0, 0.0) is None  # switched off
    assert drift_bound_seconds(0.0, 1.0, 1.0) == 0.0  # no spread: nothing to wait for


# -- rest or cross ---------------------------------------------------------------------------------

RULES = PatienceRules(opening_seconds=5, regular_seconds=20, at=D("0.5"), max_lean=D("0.3"))


def test_a_wide_spread_rests_at_the_mid_rounded_back_towards_its_own_side() -> None:
    quote = q("10.00", "10.05")
    buy = rest_plan(RULES, Side.BUY, quote, opening=False, bound=D("10.20"))
    sell = rest_plan(RULES, Side.SELL, quote, opening=False, bound=D("9.80"))
    assert buy is not None and (buy.price, buy.seconds) == (D("10.02"), 20)
    assert sell is not None and (sell.price, sell.seconds) == (D("10.03"), 20)
    opening = rest_plan(RULES, Side.BUY, quote, opening=True, bound=D("10.20"))
    assert opening is not None and opening.seconds == 5
    assert rest_plan(PatienceRules(), Side.BUY, quote, opening=False, bound=D("10.20")) is None


def test_tick_bound_play_joins_a_short_queue_and_crosses_a_long_one() -> None:
    short_queue = q("10.00", "10.01", 200, 900)  # a buy joins 200 at the bid, 900 offered
    long_queue = q("10.00", "10.01", 900, 200)
    join = rest_plan(RULES, Side.BUY, short_queue, opening=False, bound=D("10.20"))
    assert join is not None and join.price == D("10.00")
    assert rest_plan(RULES, Side.BUY, long_queue, opening=False, bound=D("10.20")) is None
    # The same books for a sell: the long queue is ahead of it on the first, not the second.
    assert rest_plan(RULES, Side.SELL, short_queue, opening=False, bound=D("9.80")) is None
    sell = rest_plan(RULES, Side.SELL, long_queue, opening=False, bound=D("9.80"))
    assert sell is not None and sell.price == D("10.01")


def test_the_volatility_bound_shortens_the_rest_or_makes_it_a_cross() -> None:
    rules = PatienceRules(regular_seconds=20, at=D(0), max_lean=D(1), drift_k=1.0)
    quote = q("100.00", "100.02")  # 2 bps
    short = rest_plan(rules, Side.BUY, quote, opening=False, bound=D(101), volatility_bps=1.0)
    assert short is not None and short.seconds == pytest.approx(4.0, rel=1e-3)  # 2 bps of 100.01
    calm = rest_plan(rules, Side.BUY, quote, opening=False, bound=D(101), volatility_bps=0.01)
    assert calm is not None and calm.seconds == 20
    wild = rest_plan(rules, Side.BUY, quote, opening=False, bound=D(101), volatility_bps=5.0)
    assert wild is None  # 0.16 s: not worth the cancel


def test_a_rest_never_prices_past_the_budget_nor_marketable() -> None:
    quote = q("10.00", "10.10")
    tight = rest_plan(RULES, Side.BUY, quote, opening=False, bound=D("10.03"))
    assert tight is not None and tight.price == D("10.03")
    assert rest_plan(RULES, Side.BUY, quote, opening=False, bound=D("9.99")) is None
    assert rest_plan(RULES, Side.BUY, q("10.00", "10.00"), opening=False, bound=D(11)) is None


def test_a_rest_ends_when_the_market_leaves_it_or_the_book_turns() -> None:
    limit = D("10.00")
    assert rest_ended(RULES, Side.BUY, q("10.00", "10.01", 200, 900), limit) is None
    assert rest_ended(RULES, Side.BUY, q("9.99", "10.00", 200, 900), limit) is None  # behind us
    moved = rest_ended(RULES, Side.BUY, q("10.01", "10.02", 200, 900), limit)
    assert moved is not None and "moved away" in moved
    turned = rest_ended(RULES, Side.BUY, q("10.00", "10.01", 900, 200), limit)
    assert turned is not None and "leans against" in turned
    assert rest_ended(RULES, Side.SELL, q("9.99", "10.00", 900, 200), limit) is None
    assert rest_ended(RULES, Side.SELL, q("9.98", "9.99", 900, 200), limit) is not None


# -- the budget's urgency -----------------------------------------------------------------------

URGENT = PatienceRules(regular_seconds=20, max_lean=D(1), budget_urgency=D("0.5"))


def test_a_wait_ends_once_the_far_touch_has_used_its_share_of_the_room_to_the_bound() -> None:
    # A buy arriving on 10.00 x 10.04 with its bound at 10.10: the ask has 6c to go.
    arrival, bound = q("10.00", "10.04"), D("10.10")
    assert budget_urgent(URGENT, Side.BUY, q("10.01", "10.06"), arrival, bound) is None  # 2c of 6
    urgent = budget_urgent(URGENT, Side.BUY, q("10.01", "10.07"), arrival, bound)  # half of it
    assert urgent is not None and "50% of the way from 10.04" in urgent
    assert budget_urgent(URGENT, Side.BUY, q("10.09", "10.10"), arrival, bound) is not None
    # Beyond the bound no cross could fill within the budget: waiting is all that is left.
    assert budget_urgent(URGENT, Side.BUY, q("10.09", "10.11"), arrival, bound) is None
    # Off (0), or an arrival whose far touch was already beyond the bound: never urgent.
    off = PatienceRules(regular_seconds=20)
    assert budget_urgent(off, Side.BUY, q("10.09", "10.10"), arrival, bound) is None
    assert budget_urgent(URGENT, Side.BUY, q("10.01", "10.08"), q("9.90", "10.12"), bound) is None


def test_for_a_sell_the_far_touch_is_the_bid_falling_towards_its_bound() -> None:
    arrival, bound = q("10.04", "10.08"), D("9.98")  # the bid has 6c to fall
    assert budget_urgent(URGENT, Side.SELL, q("10.02", "10.05"), arrival, bound) is None
    assert budget_urgent(URGENT, Side.SELL, q("10.01", "10.05"), arrival, bound) is not None
    assert budget_urgent(URGENT, Side.SELL, q("9.97", "10.00"), arrival, bound) is None
    # A far touch moving the good way is no hurry, however far the bound.
    assert budget_urgent(URGENT, Side.SELL, q("10.07", "10.08"), arrival, bound) is None


def test_a_patient_rest_ends_when_the_budget_urges_it() -> None:
    arrival, bound, limit = q("10.00", "10.04"), D("10.10"), D("10.02")
    urgency = budget_urgency(URGENT, Side.BUY, arrival, bound)
    calm = rest_ended(URGENT, Side.BUY, q("10.01", "10.05"), limit, urgency=urgency)
    assert calm is None
    ran = rest_ended(URGENT, Side.BUY, q("10.01", "10.08"), limit, urgency=urgency)
    assert ran is not None and "crossing while it can" in ran
    # Without the arrival (or the rule off) only the book and the market end a rest.
    assert rest_ended(URGENT, Side.BUY, q("10.01", "10.08"), limit) is None
