"""``serve``'s paper account is Alpaca's margin account (or a cash account on request), its
refusals carry Alpaca's codes and bodies, and a replace keeps Alpaca's quantity rule.

Numbers are checked on a replayed SPY quote of 100.00 x 100.02 (500 x 500 shares)
from Tuesday 2026-11-24 10:30 New York, with $100,000 of cash.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import MarketOrderRequest, ReplaceOrderRequest

from alpaca_server import LocalAlpaca, TradeUpdateLog, run_local_alpaca
from serve_helpers import at, limit, market, quote_file, replayed, trading

T0 = at(24, 10, 30)


def exchange(tmp_path: Path, **settings: Any) -> AbstractContextManager[LocalAlpaca]:
    path = quote_file(tmp_path / "q.csv.gz", [(T0, "100.00", "100.02")])
    return run_local_alpaca(replayed(path, T0, **settings))


def body(error: APIError) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(str(error))
    return result


def test_a_paper_account_is_a_margin_account_with_day_trading_buying_power(
    tmp_path: Path,
) -> None:
    with exchange(tmp_path) as local:
        client = trading(local)
        fresh = client.get_account()
        client.submit_order(limit("SPY", 500, 100.02))
        local.advance(1)
        client.submit_order(limit("SPY", 99, 90.0))  # rests: holds 99 x 90 of buying power
        after = client.get_account()
    assert fresh.multiplier == "4" and fresh.shorting_enabled is True
    assert Decimal(fresh.buying_power or "") == Decimal(400_000)
    assert Decimal(fresh.daytrading_buying_power or "") == Decimal(400_000)
    assert Decimal(fresh.regt_buying_power or "") == Decimal(200_000)
    assert Decimal(fresh.last_equity or "") == Decimal(100_000)
    assert Decimal(after.cash or "") == Decimal(100_000) - Decimal("50010")
    assert Decimal(after.equity or "") == Decimal("99995")  # 500 at the 100.01 mid
    assert Decimal(after.long_market_value or "") == Decimal("50005")
    # 4 x $100,000, less what was opened today, less what the open buy holds
    assert Decimal(after.buying_power or "") == Decimal(400_000) - Decimal(50_010) - Decimal(8_910)
    assert Decimal(after.initial_margin or "") == Decimal("25002.5")
    assert Decimal(after.maintenance_margin or "") == Decimal("15001.5")  # 30%


def test_shortable_names_can_be_sold_short(tmp_path: Path) -> None:
    with exchange(tmp_path) as local:
        client = trading(local)
        short = client.submit_order(market("SPY", 100, side=OrderSide.SELL))
        local.advance(1)
        position = client.get_open_position("SPY")
        account = client.get_account()
    assert short.position_intent is not None and short.position_intent.value == "sell_to_open"
    assert position.side.value == "short" and position.qty == "-100"
    assert Decimal(position.avg_entry_price) == Decimal("100")
    assert Decimal(account.short_market_value or "") == Decimal("-10001")
    assert Decimal(account.buying_power or "") == Decimal(400_000) - Decimal(10_000)


def test_short_sales_need_an_easy_to_borrow_name_and_whole_shares() -> None:
    with run_local_alpaca() as local:
        client = trading(local)
        with pytest.raises(APIError) as hard_to_borrow:
            client.submit_order(market("UVXY", 10, side=OrderSide.SELL))
        with pytest.raises(APIError) as fractional:
            client.submit_order(market("SPY", 0.5, side=OrderSide.SELL))
        assets = client.get_asset("UVXY"), client.get_asset("SPY")
    assert hard_to_borrow.value.status_code == 403
    assert "cannot be sold short" in str(hard_to_borrow.value)
    assert fractional.value.status_code == 403 and "fractional" in str(fractional.value)
    assert assets[0].easy_to_borrow is False and assets[1].easy_to_borrow is True


def test_qty_available_is_net_of_open_sells_and_overselling_is_refused(tmp_path: Path) -> None:
    with exchange(tmp_path) as local:
        client = trading(local)
        client.submit_order(limit("SPY", 10, 100.02))
        local.advance(1)
        offer = client.submit_order(limit("SPY", 4, 200.0, side=OrderSide.SELL))
        position = client.get_open_position("SPY")
        with pytest.raises(APIError) as oversold:
            client.submit_order(limit("SPY", 7, 200.0, side=OrderSide.SELL))
    assert position.qty == "10" and position.qty_available == "6"
    assert oversold.value.status_code == 403
    assert body(oversold.value) == {
        "available": "6",
        "code": 40310000,
        "existing_qty": "10",
        "held_for_orders": "4",
        "message": "insufficient qty available for order (requested: 7, available: 6)",
        "related_orders": [str(offer.id)],
        "symbol": "SPY",
    }


def test_refusals_carry_alpacas_codes_and_bodies(tmp_path: Path) -> None:
    with exchange(tmp_path) as local:
        client = trading(local)
        with pytest.raises(APIError) as poor:
            client.submit_order(limit("SPY", 5000, 100.02))
        first = client.submit_order(limit("SPY", 1, 90.0, client_order_id="once"))
        with pytest.raises(APIError) as duplicate:
            client.submit_order(limit("SPY", 1, 90.0, client_order_id="once"))
    assert poor.value.status_code == 403
    assert body(poor.value) == {
        "buying_power": "400000.00",
        "code": 40310000,
        "cost_basis": "500100.00",
        "message": "insufficient buying power",
    }
    assert first.client_order_id == "once"
    assert duplicate.value.status_code == 422
    assert body(duplicate.value) == {"code": 40010001, "message": "client_order_id must be unique"}


def test_a_cash_account_buys_with_its_cash_and_never_shorts(tmp_path: Path) -> None:
    with exchange(tmp_path, cash_account=True) as local:
        client = trading(local)
        account = client.get_account()
        with pytest.raises(APIError) as no_short:
            client.submit_order(market("SPY", 1, side=OrderSide.SELL))
        with pytest.raises(APIError) as poor:
            client.submit_order(limit("SPY", 1000, 100.02))
    assert account.multiplier == "1" and account.shorting_enabled is False
    assert Decimal(account.buying_power or "") == Decimal(100_000)
    assert no_short.value.status_code == 403
    assert "insufficient qty available" in str(no_short.value)
    assert body(poor.value)["buying_power"] == "100000.00"


def test_a_margin_account_that_owes_cash_restarts_from_its_file(tmp_path: Path) -> None:
    saved = {"db_path": tmp_path / "paper.db", "starting_cash": Decimal(10_000)}
    with exchange(tmp_path, **saved) as local:
        client = trading(local)
        client.submit_order(limit("SPY", 150, 100.02))  # $15,003 on $10,000 of cash
        local.advance(1)
        before = client.get_account()
    with exchange(tmp_path, **saved) as local:
        account = requests.get(local.base_url + "/v2/account", headers=local.headers, timeout=5)
        positions = trading(local).get_all_positions()
    assert account.status_code == 200
    assert Decimal(before.cash or "") == Decimal(-5003)
    assert Decimal(account.json()["cash"]) == Decimal(-5003)
    assert [(p.symbol, p.qty, Decimal(p.avg_entry_price)) for p in positions] == [
        ("SPY", "150", Decimal("100.02"))
    ]


def test_a_position_opened_today_shows_yesterdays_close_and_its_pl_since_entry() -> None:
    from alpaca_server import venue_at
    from serve_helpers import at

    with run_local_alpaca(venue_at(at(24, 15, 59))) as local:
        client = trading(local)
        local.advance(17.5 * 3600 + 60)  # the next session's open
        client.submit_order(market("KO", 4))
        local.advance(2)
        (position,) = client.get_all_positions()
        snapshot = requests.get(
            local.base_url + "/v2/stocks/KO/snapshot", headers=local.headers, timeout=30
        ).json()
    yesterday = Decimal(str(snapshot["prevDailyBar"]["c"]))
    price, entry = Decimal(position.current_price or ""), Decimal(position.avg_entry_price)
    assert Decimal(position.lastday_price or "") == yesterday != price
    assert Decimal(position.change_today or "") == ((price - yesterday) / yesterday).quantize(
        Decimal("0.000001")
    )
    # Its day began at its entry, not at yesterday's close.
    assert Decimal(position.unrealized_intraday_pl or "") == 4 * (price - entry)
    assert position.unrealized_intraday_pl == position.unrealized_pl


def _replace_a_partial_fill(local: LocalAlpaca, **change: Any) -> tuple[Any, Any]:
    """800 bid at 100.02 against 500 offered (500 fill), then a replace; (old, new) settled."""
    client = trading(local)
    with TradeUpdateLog(local) as events:
        old = client.submit_order(limit("SPY", 800, 100.02))
        events.wait_for(old.id, "partial_fill")
        new = client.replace_order_by_id(old.id, ReplaceOrderRequest(**change))
        events.wait_for(old.id, "replaced")
    return client.get_order_by_id(old.id), client.get_order_by_id(new.id)


def test_a_replace_of_a_partially_filled_order_keeps_the_original_quantity(
    tmp_path: Path,
) -> None:
    with exchange(tmp_path) as local:
        old, new = _replace_a_partial_fill(local, limit_price=100.01)
    with exchange(tmp_path) as local:
        _old, explicit = _replace_a_partial_fill(local, qty=300)
    assert old.status is OrderStatus.REPLACED and old.filled_qty == "500"
    assert old.replaced_by == new.id and new.replaces == old.id
    assert new.qty == "800" and new.filled_qty == "0"  # 500 + 800 can fill: Alpaca's rule
    assert explicit.qty == "300"


def test_replace_remainder_sizes_the_replacement_to_what_is_left(tmp_path: Path) -> None:
    with exchange(tmp_path, replace_remainder=True) as local:
        _old, new = _replace_a_partial_fill(local, limit_price=100.01)
    with exchange(tmp_path, replace_remainder=True) as local:
        _old2, total = _replace_a_partial_fill(local, qty=600)
    assert new.qty == "300"  # 800 in all, 500 filled
    assert total.qty == "100"  # 600 in all, 500 filled


def test_a_replace_passes_a_new_orders_checks_without_the_old_orders_hold(
    tmp_path: Path,
) -> None:
    with exchange(tmp_path) as local:
        client = trading(local)
        resting = client.submit_order(limit("SPY", 1000, 90.0))  # holds $90,000
        local.advance(1)
        with pytest.raises(APIError) as poor:  # 5,000 x 90 = $450,000 > $400,000
            client.replace_order_by_id(resting.id, ReplaceOrderRequest(qty=5000))
        # $396,000 fits once the old order's $90,000 no longer counts against it.
        bigger = client.replace_order_by_id(resting.id, ReplaceOrderRequest(qty=4400))
        local.advance(1)
        held = Decimal(400_000) - Decimal(client.get_account().buying_power or "")
        higher = client.replace_order_by_id(bigger.id, ReplaceOrderRequest(limit_price=90.5))
        local.advance(1)
        held_higher = Decimal(400_000) - Decimal(client.get_account().buying_power or "")
    assert poor.value.status_code == 403
    assert body(poor.value)["message"] == "insufficient buying power"
    assert body(poor.value)["cost_basis"] == "450000.00"
    assert bigger.qty == "4400"
    assert held == Decimal(4400 * 90)  # the replacement's own value, not the old order's
    assert higher.limit_price == "90.5" and held_higher == Decimal("398200")  # 4,400 x 90.50


def test_a_replace_never_sells_more_than_the_position(tmp_path: Path) -> None:
    with exchange(tmp_path, cash_account=True) as local:
        client = trading(local)
        client.submit_order(market("SPY", 10))
        local.advance(1)
        sell = client.submit_order(limit("SPY", 10, 101.0, side=OrderSide.SELL))
        local.advance(1)
        with pytest.raises(APIError) as flip:
            client.replace_order_by_id(sell.id, ReplaceOrderRequest(qty=25, limit_price=99.0))
        smaller = client.replace_order_by_id(sell.id, ReplaceOrderRequest(qty=6))
        local.advance(1)
        position = client.get_open_position("SPY")
    assert flip.value.status_code == 403
    assert "insufficient qty available for order (requested: 25, available: 10)" in str(flip.value)
    assert smaller.qty == "6" and position.qty == "10"  # nothing sold: 101 is above the bid


def test_notional_and_fractional_orders_keep_their_quantity_on_replace(tmp_path: Path) -> None:
    with exchange(tmp_path) as local:
        client = trading(local)
        fractional = client.submit_order(limit("SPY", 0.5, 90.0))
        local.advance(1)
        with pytest.raises(APIError) as refused:
            client.replace_order_by_id(fractional.id, ReplaceOrderRequest(qty=2))
        notional = client.submit_order(
            MarketOrderRequest(
                symbol="SPY", notional=500, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
    assert refused.value.status_code == 422 and "fractional" in str(refused.value)
    assert notional.notional == "500"
