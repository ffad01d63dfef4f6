"""``serve`` follows the exchange calendar as Alpaca does: queued orders, extended hours,
opening and closing auctions, DAY expiry (early closes included), gtc over the night.

Driven by unmodified alpaca-py; the exchange's clock starts where each test needs it
and ``/_clock`` moves it on. Auction prices are checked on replayed quote files whose
quotes are known to the cent.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderStatus, TimeInForce

from alpaca_server import TradeUpdateLog, run_local_alpaca, venue_at
from serve_helpers import at, limit, market, quote_file, replayed, trading

# -- queued outside the regular session ----------------------------------------------------------


def test_a_market_order_before_the_open_is_queued_and_fills_at_the_open() -> None:
    with run_local_alpaca(venue_at(at(24, 9, 25))) as local, TradeUpdateLog(local) as events:
        client = trading(local)
        order = client.submit_order(market("SPY", 5))
        assert order.status is OrderStatus.ACCEPTED
        local.advance(60)
        assert client.get_order_by_id(order.id).status is OrderStatus.ACCEPTED
        local.advance(5 * 60)
        fill = events.wait_for(order.id, "fill")
        filled = client.get_order_by_id(order.id)
    assert filled.status is OrderStatus.FILLED and filled.filled_qty == "5"
    assert filled.filled_at is not None and filled.filled_at >= at(24, 9, 30)
    assert events.events(order.id) == ["new", "fill"]
    assert Decimal(fill["price"]) > 0


def test_on_a_saturday_an_order_waits_for_mondays_open() -> None:
    with run_local_alpaca(venue_at(at(28, 12, 0))) as local:
        client = trading(local)
        clock = client.get_clock()
        order = client.submit_order(market("SPY", 1))
        local.advance(120)
        again = client.get_order_by_id(order.id)
    assert clock.is_open is False
    assert clock.next_open == at(30, 9, 30)
    assert order.status is OrderStatus.ACCEPTED and again.status is OrderStatus.ACCEPTED
    assert again.filled_qty == "0"


def test_extended_hours_are_for_day_limit_orders_marked_so() -> None:
    with run_local_alpaca(venue_at(at(24, 8, 0))) as local:
        client = trading(local)
        with pytest.raises(APIError) as market_refused:
            client.submit_order(market("SPY", 1, extended_hours=True))
        assert market_refused.value.status_code == 422
        assert "extended hours order must be DAY limit orders" in str(market_refused.value)
        with pytest.raises(APIError) as gtc_refused:
            client.submit_order(
                limit("SPY", 1, 700.0, extended_hours=True, time_in_force=TimeInForce.GTC)
            )
        assert gtc_refused.value.status_code == 422
        eligible = client.submit_order(limit("SPY", 2, 700.0, extended_hours=True))
        queued = client.submit_order(limit("SPY", 2, 700.0))
        local.advance(5)
        eligible_now = client.get_order_by_id(eligible.id)
        queued_now = client.get_order_by_id(queued.id)
    assert eligible_now.status is OrderStatus.FILLED and eligible_now.extended_hours is True
    assert Decimal(str(eligible_now.filled_avg_price)) <= Decimal(700)
    assert queued.status is OrderStatus.ACCEPTED and queued_now.status is OrderStatus.ACCEPTED


# -- auctions ------------------------------------------------------------------------------------


def test_opg_orders_fill_in_the_opening_auction_at_the_mid_of_the_first_quote(
    tmp_path: Path,
) -> None:
    rows = [
        (at(24, 9, 26), "99.00", "100.00"),
        (at(24, 9, 30, 1), "101.00", "101.02"),
        (at(24, 9, 30, 2), "102.00", "102.02"),
    ]
    config = replayed(quote_file(tmp_path / "q.csv.gz", rows), at(24, 9, 27))
    with run_local_alpaca(config) as local, TradeUpdateLog(local) as events:
        client = trading(local)
        moo = client.submit_order(market("SPY", 10, time_in_force=TimeInForce.OPG))
        loo = client.submit_order(limit("SPY", 10, 100.50, time_in_force=TimeInForce.OPG))
        local.advance(60)  # 09:28: too late for this morning
        with pytest.raises(APIError) as late:
            client.submit_order(market("SPY", 1, time_in_force=TimeInForce.OPG))
        local.advance(3 * 60)
        events.wait_for(moo.id, "fill")
        events.wait_for(loo.id, "canceled")
        moo_now, loo_now = client.get_order_by_id(moo.id), client.get_order_by_id(loo.id)
    assert moo.status is OrderStatus.NEW and loo.status is OrderStatus.NEW
    assert late.value.status_code == 422 and "opg" in str(late.value)
    assert moo_now.status is OrderStatus.FILLED and moo_now.filled_qty == "10"
    assert Decimal(str(moo_now.filled_avg_price)) == Decimal("101.01")  # the first quote's mid
    assert loo_now.status is OrderStatus.CANCELED and loo_now.filled_qty == "0"


def test_cls_orders_fill_in_the_closing_auction_at_the_mid_of_the_last_quote(
    tmp_path: Path,
) -> None:
    rows = [
        (at(24, 15, 48), "99.00", "99.02"),
        (at(24, 15, 59, 58), "100.00", "100.04"),
        (at(24, 16, 0, 1), "103.00", "103.02"),
    ]
    config = replayed(quote_file(tmp_path / "q.csv.gz", rows), at(24, 15, 49))
    with run_local_alpaca(config) as local, TradeUpdateLog(local) as events:
        client = trading(local)
        moc = client.submit_order(market("SPY", 10, time_in_force=TimeInForce.CLS))
        loc = client.submit_order(limit("SPY", 10, 99.50, time_in_force=TimeInForce.CLS))
        local.advance(90)  # 15:50:30: past the cut-off
        with pytest.raises(APIError) as late:
            client.submit_order(market("SPY", 1, time_in_force=TimeInForce.CLS))
        local.advance(10 * 60)
        events.wait_for(moc.id, "fill")
        events.wait_for(loc.id, "canceled")
        moc_now, loc_now = client.get_order_by_id(moc.id), client.get_order_by_id(loc.id)
    assert late.value.status_code == 422 and "cls" in str(late.value)
    assert moc_now.status is OrderStatus.FILLED
    assert Decimal(str(moc_now.filled_avg_price)) == Decimal("100.02")  # the last quote's mid
    assert loc_now.status is OrderStatus.CANCELED


def test_an_opg_order_after_7_pm_goes_to_the_next_opening_auction() -> None:
    with run_local_alpaca(venue_at(at(24, 19, 30))) as local:
        order = trading(local).submit_order(market("SPY", 1, time_in_force=TimeInForce.OPG))
    assert order.status is OrderStatus.ACCEPTED


# -- DAY expiry and gtc --------------------------------------------------------------------------


def test_day_orders_expire_at_an_early_close_and_gtc_orders_do_not() -> None:
    with run_local_alpaca(venue_at(at(27, 12, 59, 50))) as local, TradeUpdateLog(local) as events:
        client = trading(local)
        clock = client.get_clock()
        day = client.submit_order(limit("SPY", 1, 500.0))
        gtc = client.submit_order(limit("SPY", 1, 500.0, time_in_force=TimeInForce.GTC))
        local.advance(20)
        expired = events.wait_for(day.id, "expired")
        day_now, gtc_now = client.get_order_by_id(day.id), client.get_order_by_id(gtc.id)
    assert clock.next_close == at(27, 13, 0)
    assert expired["order"]["status"] == "expired"
    assert day_now.status is OrderStatus.EXPIRED and day_now.expired_at is not None
    assert day_now.expired_at >= at(27, 13, 0)
    assert gtc_now.status is OrderStatus.NEW and events.events(gtc.id) == ["new"]


def test_at_the_close_only_extended_hours_orders_go_on_trading(tmp_path: Path) -> None:
    # The ask comes through all three limits 10 ms after the close: sooner than a cancel
    # sent at the close would reach the venue.
    rows = [
        (at(24, 15, 59, 50), "100.00", "101.00"),
        (at(24, 16, 0, 0, 10_000), "99.00", "99.50"),
        (at(24, 16, 0, 5), "99.00", "99.50"),
    ]
    config = replayed(quote_file(tmp_path / "q.csv.gz", rows), at(24, 15, 59, 55))
    with run_local_alpaca(config) as local, TradeUpdateLog(local) as events:
        client = trading(local)
        day = client.submit_order(limit("SPY", 3, 100.50))
        gtc = client.submit_order(limit("SPY", 3, 100.50, time_in_force=TimeInForce.GTC))
        extended = client.submit_order(limit("SPY", 3, 100.50, extended_hours=True))
        local.advance(20)
        events.wait_for(day.id, "expired")
        day_now, gtc_now = client.get_order_by_id(day.id), client.get_order_by_id(gtc.id)
        extended_now = client.get_order_by_id(extended.id)
        position = client.get_open_position("SPY")
    assert day_now.status is OrderStatus.EXPIRED and day_now.filled_qty == "0"
    assert events.events(day.id) == ["new", "expired"]
    assert gtc_now.status is OrderStatus.NEW and gtc_now.filled_qty == "0"
    assert extended_now.status is OrderStatus.FILLED and extended_now.filled_qty == "3"
    assert extended_now.filled_at == at(24, 16, 0, 0, 10_000)
    assert position.qty == "3"


def test_a_gtc_order_works_again_the_next_session(tmp_path: Path) -> None:
    rows = [
        (at(24, 15, 58), "100.00", "101.00"),
        (at(25, 9, 30, 5), "100.30", "100.40"),
    ]
    config = replayed(quote_file(tmp_path / "q.csv.gz", rows), at(24, 15, 59))
    with run_local_alpaca(config) as local:
        client = trading(local)
        gtc = client.submit_order(limit("SPY", 3, 100.50, time_in_force=TimeInForce.GTC))
        day = client.submit_order(limit("SPY", 3, 100.50))
        local.advance(5 * 60)  # past Tuesday's close
        overnight = client.get_order_by_id(gtc.id)
        local.advance(timedelta(hours=17, minutes=40).total_seconds())
        gtc_now, day_now = client.get_order_by_id(gtc.id), client.get_order_by_id(day.id)
    assert overnight.status is OrderStatus.NEW
    assert day_now.status is OrderStatus.EXPIRED
    assert gtc_now.status is OrderStatus.FILLED
    # Back at work from the open, it rests at 100.50 (the last quote's ask is 101.00); the ask
    # that comes through it fills it at its own limit, never at the better quote.
    assert Decimal(str(gtc_now.filled_avg_price)) == Decimal("100.50")
    assert gtc_now.filled_at is not None and gtc_now.filled_at >= at(25, 9, 30)
