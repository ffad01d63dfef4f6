"""``serve`` takes Alpaca's order types and time-in-force values and works them as Alpaca does.

Stops fire on the quote's mid; a trailing stop follows its high-water mark; ioc keeps
what fills at once, fok all or nothing; notional orders become fractional quantities.
Prices are checked on replayed quote files (500 x 500 shares unless said otherwise).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import (
    MarketOrderRequest,
    StopLimitOrderRequest,
    StopOrderRequest,
    TrailingStopOrderRequest,
)

from alpaca_server import LocalAlpaca, TradeUpdateLog, run_local_alpaca
from serve_helpers import at, limit, market, post_order, quote_file, replayed, trading

T0 = at(24, 10, 30)


def seconds(n: float) -> datetime:
    return at(24, 10, 30, int(n), int((n % 1) * 1_000_000))


def exchange_with(
    tmp_path: Path, rows: list[tuple[float, str, str]], size: int = 500
) -> AbstractContextManager[LocalAlpaca]:
    """A replaying exchange at 10:30 with these (seconds after 10:30, bid, ask) quotes."""
    path = quote_file(tmp_path / "q.csv.gz", [(seconds(s), b, a) for s, b, a in rows], size=size)
    return run_local_alpaca(replayed(path, T0))


def test_a_market_order_fills_at_the_ask(tmp_path: Path) -> None:
    with exchange_with(tmp_path, [(0, "100.00", "100.02")]) as local:
        client = trading(local)
        order = client.submit_order(market("SPY", 10))
        local.advance(1)
        filled = client.get_order_by_id(order.id)
    assert order.status is OrderStatus.PENDING_NEW
    assert filled.status is OrderStatus.FILLED
    assert Decimal(str(filled.filled_avg_price)) == Decimal("100.02")


def test_a_buy_stop_fires_when_the_mid_reaches_it_and_fills_as_a_market_order(
    tmp_path: Path,
) -> None:
    rows = [(0, "100.00", "100.02"), (5, "100.49", "100.51"), (10, "100.60", "100.62")]
    with exchange_with(tmp_path, rows) as local, TradeUpdateLog(local) as events:
        client = trading(local)
        stop = StopOrderRequest(
            symbol="SPY", qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, stop_price=100.5
        )
        order = client.submit_order(stop)
        local.advance(2)
        waiting = client.get_order_by_id(order.id)
        local.advance(6)
        events.wait_for(order.id, "fill")
        filled = client.get_order_by_id(order.id)
    assert order.status is OrderStatus.NEW and waiting.status is OrderStatus.NEW
    assert waiting.stop_price == "100.5" and waiting.filled_qty == "0"
    assert filled.status is OrderStatus.FILLED
    assert Decimal(str(filled.filled_avg_price)) == Decimal("100.51")  # the ask after the mid hit


def test_a_sell_stop_limit_becomes_a_limit_order_at_its_stop(tmp_path: Path) -> None:
    rows = [(0, "100.00", "100.02"), (5, "99.45", "99.47"), (10, "99.20", "99.22")]
    with exchange_with(tmp_path, rows) as local:
        client = trading(local)
        client.submit_order(market("SPY", 5))
        local.advance(1)
        stop_limit = StopLimitOrderRequest(
            symbol="SPY", qty=5, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
            stop_price=99.5, limit_price=99.4,
        )  # fmt: skip
        order = client.submit_order(stop_limit)
        local.advance(12)
        filled = client.get_order_by_id(order.id)
    assert filled.status is OrderStatus.FILLED
    assert Decimal(str(filled.filled_avg_price)) == Decimal("99.45")


def test_a_trailing_stop_by_price_follows_the_high_water_mark(tmp_path: Path) -> None:
    rows = [
        (0, "100.00", "100.02"),
        (5, "101.00", "101.02"),
        (10, "102.00", "102.02"),
        (15, "101.50", "101.52"),
        (20, "100.90", "100.92"),
    ]
    with exchange_with(tmp_path, rows) as local:
        client = trading(local)
        client.submit_order(market("SPY", 5))
        local.advance(1)
        trailing = TrailingStopOrderRequest(
            symbol="SPY", qty=5, side=OrderSide.SELL, time_in_force=TimeInForce.DAY, trail_price=1
        )
        order = client.submit_order(trailing)
        local.advance(16)  # after the top and a dip that does not reach the stop
        following = client.get_order_by_id(order.id)
        local.advance(5)
        filled = client.get_order_by_id(order.id)
    assert following.status is OrderStatus.NEW
    assert following.hwm == "102.01" and following.stop_price == "101.01"
    assert following.trail_price == "1"
    assert filled.status is OrderStatus.FILLED
    assert Decimal(str(filled.filled_avg_price)) == Decimal("100.9")


def test_a_trailing_stop_by_percent_buys_back_a_rebound(tmp_path: Path) -> None:
    rows = [(0, "100.00", "100.02"), (5, "98.00", "98.02"), (10, "99.10", "99.12")]
    with exchange_with(tmp_path, rows) as local:
        client = trading(local)
        trailing = TrailingStopOrderRequest(
            symbol="SPY", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, trail_percent=1
        )
        order = client.submit_order(trailing)
        local.advance(6)
        following = client.get_order_by_id(order.id)
        local.advance(5)
        filled = client.get_order_by_id(order.id)
    # 98.01 x 1.01 = 98.9901, onto the tick grid away from the market
    assert following.hwm == "98.01" and following.stop_price == "99"
    assert filled.status is OrderStatus.FILLED
    assert Decimal(str(filled.filled_avg_price)) == Decimal("99.12")


def test_ioc_keeps_what_fills_at_once_and_cancels_the_rest(tmp_path: Path) -> None:
    with (
        exchange_with(tmp_path, [(0, "100.00", "100.02")]) as local,
        TradeUpdateLog(local) as events,
    ):
        client = trading(local)
        order = client.submit_order(limit("SPY", 800, 100.05, time_in_force=TimeInForce.IOC))
        events.wait_for(order.id, "canceled")
        done = client.get_order_by_id(order.id)
    assert done.status is OrderStatus.CANCELED and done.filled_qty == "500"
    assert events.events(order.id) == ["new", "partial_fill", "canceled"]


def test_fok_fills_all_at_once_or_nothing(tmp_path: Path) -> None:
    with exchange_with(tmp_path, [(0, "100.00", "100.02")]) as local:
        client = trading(local)
        too_big = client.submit_order(limit("SPY", 800, 100.05, time_in_force=TimeInForce.FOK))
        fits = client.submit_order(market("SPY", 300, time_in_force=TimeInForce.FOK))
    assert too_big.status is OrderStatus.CANCELED and too_big.filled_qty == "0"
    assert fits.status is OrderStatus.FILLED and fits.filled_qty == "300"
    assert Decimal(str(fits.filled_avg_price)) == Decimal("100.02")


def test_a_notional_order_buys_a_fractional_quantity(tmp_path: Path) -> None:
    with exchange_with(tmp_path, [(0, "100.00", "100.02")]) as local:
        client = trading(local)
        order = client.submit_order(
            MarketOrderRequest(
                symbol="SPY", notional=1000, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
        local.advance(1)
        filled = client.get_order_by_id(order.id)
        position = client.get_open_position("SPY")
        with pytest.raises(APIError) as limit_refused:
            client.submit_order(
                MarketOrderRequest(
                    symbol="SPY", notional=1000, side=OrderSide.BUY, time_in_force=TimeInForce.GTC
                )
            )
    assert order.notional == "1000" and order.qty is None
    assert filled.status is OrderStatus.FILLED
    assert Decimal(str(filled.filled_qty)) == Decimal("9.998000399")  # 1000 / 100.02, down
    assert position.qty == "9.998000399"
    assert limit_refused.value.status_code == 422


def test_a_fractional_limit_day_order_fills(tmp_path: Path) -> None:
    with exchange_with(tmp_path, [(0, "100.00", "100.02")]) as local:
        client = trading(local)
        order = client.submit_order(limit("SPY", 0.25, 100.02))
        local.advance(1)
        filled = client.get_order_by_id(order.id)
    assert filled.status is OrderStatus.FILLED and filled.filled_qty == "0.25"


def test_an_asset_id_in_the_symbol_field(tmp_path: Path) -> None:
    with exchange_with(tmp_path, [(0, "100.00", "100.02")]) as local:
        client = trading(local)
        asset = client.get_asset("SPY")
        order = client.submit_order(market(str(asset.id), 1))
        by_id = client.get_asset(str(asset.id))
    assert order.symbol == "SPY" and order.asset_id == asset.id
    assert by_id.symbol == "SPY"


def test_time_in_force_a_type_does_not_take_is_refused() -> None:
    with run_local_alpaca() as local:
        stop = {"type": "stop", "stop_price": "700"}
        trailing = {"type": "trailing_stop", "trail_price": "1"}
        cases = [
            ({**stop, "time_in_force": "ioc"}, "market or limit"),
            ({**stop, "time_in_force": "day", "qty": "0.5"}, "fractional"),
            ({**trailing, "time_in_force": "opg"}, "market or limit"),
            (
                {"type": "limit", "limit_price": "1", "time_in_force": "day", "trail_price": "1"},
                "trail",
            ),
            ({"type": "trailing_stop", "time_in_force": "day"}, "trail_price or trail_percent"),
        ]
        answers = [
            post_order(local, {"symbol": "SPY", "qty": "1", "side": "buy", **body})
            for body, _ in cases
        ]
    for answer, (_, fragment) in zip(answers, cases, strict=True):
        assert answer.status_code == 422 and fragment in answer.json()["message"], answer.json()
