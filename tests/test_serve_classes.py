"""``serve`` works bracket, oco and oto orders as Alpaca does: held legs that trigger and cancel.

On replayed quotes (500 x 500 shares) from Tuesday 2026-11-24 10:30 New York.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderClass, OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)

from alpaca_server import LocalAlpaca, TradeUpdateLog, run_local_alpaca
from serve_helpers import at, market, quote_file, replayed, trading

T0 = at(24, 10, 30)
TAKE_PROFIT = TakeProfitRequest(limit_price=101.5)
STOP_LOSS = StopLossRequest(stop_price=99.0)


def exchange_with(
    tmp_path: Path, rows: list[tuple[int, str, str]]
) -> AbstractContextManager[LocalAlpaca]:
    """A replaying exchange at 10:30 with these (seconds after 10:30, bid, ask) quotes."""
    path = quote_file(tmp_path / "q.csv.gz", [(at(24, 10, 30, s), b, a) for s, b, a in rows])
    return run_local_alpaca(replayed(path, T0))


def bracket(**extra: object) -> MarketOrderRequest:
    return MarketOrderRequest(
        symbol="SPY", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        order_class=OrderClass.BRACKET, take_profit=TAKE_PROFIT, stop_loss=STOP_LOSS,
        **extra,
    )  # fmt: skip


def legs(order: object) -> dict[str, object]:
    found = {leg.type.value: leg for leg in order.legs or []}  # type: ignore[attr-defined]
    return found


def test_a_bracket_holds_its_legs_until_the_entry_fills_then_take_profit_cancels_the_stop(
    tmp_path: Path,
) -> None:
    rows = [(0, "100.00", "100.02"), (5, "101.00", "101.02"), (10, "102.00", "102.02")]
    with exchange_with(tmp_path, rows) as local, TradeUpdateLog(local) as events:
        client = trading(local)
        entry = client.submit_order(bracket())
        submitted = legs(entry)
        local.advance(1)
        after_entry = legs(client.get_order_by_id(entry.id))
        local.advance(10)
        take_profit, stop_loss = submitted["limit"], submitted["stop"]
        events.wait_for(take_profit.id, "fill")  # type: ignore[attr-defined]
        events.wait_for(stop_loss.id, "canceled")  # type: ignore[attr-defined]
        final = client.get_order_by_id(entry.id)
        positions = client.get_all_positions()
    assert entry.order_class is OrderClass.BRACKET and len(submitted) == 2
    assert {leg.status for leg in submitted.values()} == {OrderStatus.HELD}  # type: ignore[attr-defined]
    assert after_entry["limit"].status is OrderStatus.NEW  # type: ignore[attr-defined]
    assert after_entry["stop"].status is OrderStatus.HELD  # type: ignore[attr-defined]
    assert final.status is OrderStatus.FILLED
    final_legs = legs(final)
    assert final_legs["limit"].status is OrderStatus.FILLED  # type: ignore[attr-defined]
    # The take-profit rests at 101.50: a bid that jumps through it fills it at its own limit.
    assert Decimal(str(final_legs["limit"].filled_avg_price)) == Decimal("101.5")  # type: ignore[attr-defined]
    assert final_legs["stop"].status is OrderStatus.CANCELED  # type: ignore[attr-defined]
    assert final_legs["limit"].side is OrderSide.SELL  # type: ignore[attr-defined]
    assert positions == []


def test_a_bracket_stop_loss_fires_and_cancels_the_take_profit(tmp_path: Path) -> None:
    rows = [(0, "100.00", "100.02"), (5, "98.90", "98.92")]
    with exchange_with(tmp_path, rows) as local:
        client = trading(local)
        entry = client.submit_order(bracket())
        local.advance(7)
        final = legs(client.get_order_by_id(entry.id))
    assert final["stop"].status is OrderStatus.FILLED  # type: ignore[attr-defined]
    assert Decimal(str(final["stop"].filled_avg_price)) == Decimal("98.9")  # type: ignore[attr-defined]
    assert final["limit"].status is OrderStatus.CANCELED  # type: ignore[attr-defined]


def test_bracket_prices_must_bracket_the_entry() -> None:
    with run_local_alpaca() as local:
        client = trading(local)
        wrong = LimitOrderRequest(
            symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
            limit_price=500, order_class=OrderClass.BRACKET,
            take_profit=TakeProfitRequest(limit_price=500),
            stop_loss=StopLossRequest(stop_price=490),
        )  # fmt: skip
        with pytest.raises(APIError) as refused:
            client.submit_order(wrong)
        day_ioc = MarketOrderRequest(
            symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.IOC,
            order_class=OrderClass.BRACKET, take_profit=TAKE_PROFIT, stop_loss=STOP_LOSS,
        )  # fmt: skip
        with pytest.raises(APIError) as wrong_tif:
            client.submit_order(day_ioc)
    assert refused.value.status_code == 422
    assert "take_profit.limit_price must be >= base_price + 0.01" in str(refused.value)
    assert wrong_tif.value.status_code == 422


def test_an_oco_exit_pair_works_its_limit_and_its_stop_cancels_it(tmp_path: Path) -> None:
    rows = [(0, "100.00", "100.02"), (5, "100.50", "100.52"), (10, "98.90", "98.92")]
    with exchange_with(tmp_path, rows) as local:
        client = trading(local)
        client.submit_order(market("SPY", 10))
        local.advance(1)
        oco = LimitOrderRequest(
            symbol="SPY", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
            order_class=OrderClass.OCO, take_profit=TAKE_PROFIT, stop_loss=STOP_LOSS,
        )  # fmt: skip
        order = client.submit_order(oco)
        local.advance(6)
        working = client.get_order_by_id(order.id)
        local.advance(6)
        final = client.get_order_by_id(order.id)
    assert order.order_class is OrderClass.OCO and order.limit_price == "101.5"
    assert working.status is OrderStatus.NEW and working.legs is not None
    assert working.legs[0].status is OrderStatus.HELD and working.legs[0].stop_price == "99"
    assert final.status is OrderStatus.CANCELED
    assert final.legs is not None and final.legs[0].status is OrderStatus.FILLED
    assert Decimal(str(final.legs[0].filled_avg_price)) == Decimal("98.9")


def test_an_oto_leg_waits_for_its_entry_and_goes_with_it(tmp_path: Path) -> None:
    rows = [(0, "100.00", "100.02")]
    with exchange_with(tmp_path, rows) as local:
        client = trading(local)
        oto = LimitOrderRequest(
            symbol="SPY", qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
            limit_price=99.5, order_class=OrderClass.OTO, stop_loss=StopLossRequest(stop_price=98),
        )  # fmt: skip
        order = client.submit_order(oto)
        local.advance(1)
        waiting = client.get_order_by_id(order.id)
        client.cancel_order_by_id(order.id)
        local.advance(1)
        canceled = client.get_order_by_id(order.id)
    assert order.order_class is OrderClass.OTO and order.legs is not None and len(order.legs) == 1
    assert waiting.status is OrderStatus.NEW and waiting.legs is not None
    assert waiting.legs[0].status is OrderStatus.HELD
    assert canceled.status is OrderStatus.CANCELED
    assert canceled.legs is not None and canceled.legs[0].status is OrderStatus.CANCELED
