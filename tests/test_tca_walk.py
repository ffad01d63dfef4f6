"""The walk-the-book baseline: ``pricing.walk_limit`` and the built-in ``walk`` policy."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.core.ladder import (
    Ladder,
    QuoteArrived,
    SetTimer,
    Start,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.ladder import ParentOrder as Parent
from better_orders.core.market_calendar import default_calendar
from better_orders.core.model import AttemptKind, OrderStatus, OrderType, OrderUpdate, Quote, Side
from better_orders.core.pricing import walk_limit
from better_orders.tca.policies import BUILTIN_POLICIES

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=ET)


def quote(bid: str, ask: str, ts: datetime = T0) -> Quote:
    return Quote("ABC", D(bid), D(ask), D(1000), D(1000), ts)


@pytest.mark.parametrize(
    ("side", "fraction", "expected"),
    [
        (Side.BUY, "0.5", "50.05"),
        (Side.BUY, "0.75", "50.07"),  # 50.075 rounded away from the ask
        (Side.BUY, "0.95", "50.09"),  # 50.095
        (Side.BUY, "1", "50.10"),
        (Side.BUY, "0", "50.00"),
        (Side.SELL, "0.5", "50.05"),
        (Side.SELL, "0.75", "50.03"),  # 50.025 rounded away from the bid
        (Side.SELL, "0.95", "50.01"),  # 50.005
        (Side.SELL, "1", "50.00"),
    ],
)
def test_walk_limit_is_a_share_of_the_spread_from_the_near_touch(
    side: Side, fraction: str, expected: str
) -> None:
    assert walk_limit(side, quote("50.00", "50.10"), D(fraction)) == D(expected)


def test_walk_limit_on_a_one_tick_spread_joins_the_near_touch() -> None:
    q = quote("14.00", "14.01")
    assert [walk_limit(Side.BUY, q, D(f)) for f in ("0.5", "0.75", "0.95")] == [D("14.00")] * 3
    assert [walk_limit(Side.SELL, q, D(f)) for f in ("0.5", "0.75", "0.95")] == [D("14.01")] * 3


def test_walk_limit_refuses_a_fraction_outside_the_spread() -> None:
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        walk_limit(Side.BUY, quote("50.00", "50.10"), D("1.5"))


def test_walk_fractions_are_validated_by_the_configuration() -> None:
    with pytest.raises(ValidationError, match="between 0 and 1"):
        BetterOrdersConfig.model_validate({"ladder": {"walk_fractions": [0.5, 2]}})
    cfg = BetterOrdersConfig.model_validate({"ladder": {"walk_fractions": ["0.5", "0.9"]}})
    assert ladder_params(cfg, "ABC").walk_fractions == (D("0.5"), D("0.9"))
    assert ladder_params(BetterOrdersConfig(), "ABC").walk_fractions == ()


def _cancelled(coid: str, now: datetime) -> OrderUpdate:
    return OrderUpdate(client_order_id=coid, status=OrderStatus.CANCELED, filled_qty=D(0), ts=now)


def test_walk_policy_steps_mid_75_95_every_10_s_then_market() -> None:
    cfg = BUILTIN_POLICIES["walk"].config(BetterOrdersConfig())
    params = ladder_params(cfg, "ABC")
    ladder = Ladder(Parent("ABC", Side.BUY, D(100)), params, default_calendar(), lambda n: f"w-{n}")
    ladder.handle(QuoteArrived(quote("50.00", "50.10"), T0))
    actions = ladder.handle(Start(T0))
    sent = [a for a in actions if isinstance(a, SubmitOrder)]
    assert [a.at for a in actions if isinstance(a, SetTimer)] == [T0 + timedelta(seconds=10)]
    now = T0
    for n in (1, 2, 3):
        assert len(sent) == n
        now += timedelta(seconds=10)
        ladder.handle(QuoteArrived(quote("50.00", "50.10", now), now))
        ladder.handle(TimerFired(now))
        actions = ladder.handle(_cancelled(f"w-{n}", now))
        sent += [a for a in actions if isinstance(a, SubmitOrder)]
    kinds = [s.kind for s in sent]
    limits = [s.request.limit_price for s in sent]
    assert kinds[0] is AttemptKind.PASSIVE and kinds[-1] is AttemptKind.FALLBACK_MARKET
    assert limits == [D("50.05"), D("50.07"), D("50.09"), None]
    assert sent[-1].request.order_type is OrderType.MARKET
