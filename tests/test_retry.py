"""The one retry layer: a budget per request, and never a blind resend of a submit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal as D
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from better_orders.core.errors import BrokerError
from better_orders.core.model import (
    BrokerOrder,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from better_orders.engine.retry import BrokerRetry, OrderStateUnknown, RetryBudget
from better_orders.venues.rate_limit import RateLimiter
from better_orders.venues.sim.clock import SimClock, run_virtual

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=ZoneInfo("America/New_York"))
REQUEST = OrderRequest("bo-r1-1-1", "TQQQ", Side.BUY, D(10), OrderType.LIMIT, D("50.01"))


def timeout() -> BrokerError:
    return BrokerError("gateway timeout (504)", code="timeout", retryable=True)


class Scripted:
    """A broker answering from scripts; every call is logged."""

    name = "scripted"

    def __init__(self, submits: list[object], lookups: list[object]) -> None:
        self._submits: Iterator[object] = iter(submits)
        self._lookups: Iterator[object] = iter(lookups)
        self.calls: list[str] = []

    def _answer(self, script: Iterator[object]) -> Any:
        answer = next(script)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def submit_order(self, request: OrderRequest) -> OrderUpdate:
        self.calls.append("submit")
        answer: OrderUpdate = self._answer(self._submits)
        return answer

    async def get_order(self, client_order_id: str) -> BrokerOrder | None:
        self.calls.append("lookup")
        answer: BrokerOrder | None = self._answer(self._lookups)
        return answer

    async def cancel_order(self, client_order_id: str) -> None:
        self.calls.append("cancel")
        self._answer(self._submits)


def accepted() -> OrderUpdate:
    return OrderUpdate(REQUEST.client_order_id, OrderStatus.NEW, D(0), T0)


def at_broker() -> BrokerOrder:
    return BrokerOrder(
        client_order_id=REQUEST.client_order_id,
        broker_order_id="o-1",
        symbol="TQQQ",
        side=Side.BUY,
        qty=D(10),
        order_type=OrderType.LIMIT,
        limit_price=D("50.01"),
        status=OrderStatus.NEW,
        filled_qty=D(0),
        filled_avg_price=None,
    )


def submit(broker: Scripted, budget: RetryBudget | None = None) -> tuple[object, float]:
    async def main() -> tuple[object, float]:
        clock = SimClock(T0)
        calls = BrokerRetry(broker, clock, RateLimiter(clock, 600), budget)  # type: ignore[arg-type]
        try:
            result: object = await calls.submit(REQUEST)
        except BrokerError as exc:
            result = exc
        return result, (clock.now() - T0).total_seconds()

    return run_virtual(main(), start=T0)


def test_after_a_timeout_the_order_is_looked_up_before_anything_is_resent() -> None:
    broker = Scripted([timeout()], [at_broker()])
    result, _ = submit(broker)
    assert isinstance(result, OrderUpdate) and result.status is OrderStatus.NEW
    assert broker.calls == ["submit", "lookup"]  # found: never sent twice


def test_a_refusal_of_a_used_client_order_id_is_resolved_by_a_look_up() -> None:
    taken = BrokerError("client_order_id must be unique", code="duplicate_client_order_id")
    failed_lookup = BrokerError("internal server error (500)", code="server_error", retryable=True)
    broker = Scripted([timeout(), taken], [failed_lookup, at_broker()])
    result, _ = submit(broker)
    assert isinstance(result, OrderUpdate)
    assert broker.calls == ["submit", "lookup", "submit", "lookup"]


def test_the_budget_bounds_the_tries_and_a_last_look_up_decides() -> None:
    broker = Scripted([timeout()] * 10, [None] * 10)
    result, spent = submit(broker)
    assert isinstance(result, BrokerError) and result.code == "timeout"
    assert broker.calls.count("submit") == RetryBudget().attempts  # not 15
    assert broker.calls[-1] == "lookup"
    assert spent <= RetryBudget().within.total_seconds()


def test_an_order_nobody_can_find_is_reported_as_possibly_live() -> None:
    down = BrokerError("internal server error (500)", code="server_error", retryable=True)
    broker = Scripted([timeout()] * 2, [down] * 20)
    result, _ = submit(broker, RetryBudget(attempts=2))
    assert isinstance(result, OrderStateUnknown)
    assert "may be working at the broker" in str(result)


def test_rate_limited_tries_are_not_looked_up_and_wait_on_the_budget() -> None:
    limited = BrokerError("too many requests (429)", code="rate_limited", retryable=True)
    broker = Scripted([limited, limited, accepted()], [])
    result, spent = submit(broker)
    assert isinstance(result, OrderUpdate)
    assert broker.calls == ["submit", "submit", "submit"]  # a 429 created nothing
    assert spent == pytest.approx(2.0)  # 1 s of back-off per 429, on the virtual clock


def test_a_refused_submit_is_not_retried() -> None:
    refused = BrokerError("insufficient buying power", code="insufficient_buying_power")
    broker = Scripted([refused], [])
    result, _ = submit(broker)
    assert result is refused and broker.calls == ["submit"]


def test_waits_double_within_the_budget() -> None:
    broker = Scripted([timeout(), timeout(), timeout(), accepted()], [None, None, None])
    result, spent = submit(broker, RetryBudget(attempts=4, within=timedelta(seconds=60)))
    assert isinstance(result, OrderUpdate)
    assert spent == pytest.approx(0.25 + 0.5 + 1.0)
