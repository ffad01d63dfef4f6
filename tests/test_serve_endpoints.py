"""``serve``'s Trading API endpoints beyond orders, driven by unmodified alpaca-py.

Calendar, the assets list, account configurations, account activities, portfolio
history, watchlists, closing positions by quantity, by percentage and all at once,
and the orders list's ``after`` / ``until`` paging. Numbers are checked on a
replayed SPY quote of 100.00 x 100.02 from Tuesday 2026-11-24 10:30 New York.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import AssetExchange, AssetStatus, OrderSide, QueryOrderStatus
from alpaca.trading.models import AccountConfiguration, TradeActivity
from alpaca.trading.requests import (
    ClosePositionRequest,
    CreateWatchlistRequest,
    GetAssetsRequest,
    GetCalendarRequest,
    GetOrdersRequest,
    GetPortfolioHistoryRequest,
    UpdateWatchlistRequest,
)

from alpaca_server import LocalAlpaca, run_local_alpaca
from serve_helpers import at, limit, market, quote_file, replayed, trading

T0 = at(24, 10, 30)


def exchange(tmp_path: Path, **settings: Any) -> AbstractContextManager[LocalAlpaca]:
    path = quote_file(tmp_path / "q.csv.gz", [(T0, "100.00", "100.02")])
    return run_local_alpaca(replayed(path, T0, **settings))


@pytest.fixture
def local() -> Iterator[LocalAlpaca]:
    with run_local_alpaca() as exchange:
        yield exchange


def refusal(error: APIError) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(str(error))
    return result


def test_the_calendar_lists_sessions_with_early_closes_and_settlement(local: LocalAlpaca) -> None:
    days = trading(local).get_calendar(GetCalendarRequest(start=dt.date(2026, 11, 24),
                                                          end=dt.date(2026, 11, 30)))  # fmt: skip
    assert [d.date for d in days] == [dt.date(2026, 11, d) for d in (24, 25, 27, 30)]
    early = days[2]
    assert (early.open.time(), early.close.time()) == (dt.time(9, 30), dt.time(13, 0))
    raw = requests.get(local.base_url + "/v2/calendar?start=2026-11-25&end=2026-11-25",
                       headers=local.headers, timeout=10).json()  # fmt: skip
    assert raw == [{"date": "2026-11-25", "open": "09:30", "close": "16:00",
                    "session_open": "0400", "session_close": "2000",
                    "settlement_date": "2026-11-27"}]  # fmt: skip
    half_day = requests.get(local.base_url + "/v2/calendar?start=2026-11-27&end=2026-11-27",
                            headers=local.headers, timeout=10).json()  # fmt: skip
    assert (half_day[0]["close"], half_day[0]["session_close"]) == ("13:00", "1700")
    outside = requests.get(local.base_url + "/v2/calendar?start=1990-01-01",
                           headers=local.headers, timeout=10)  # fmt: skip
    assert outside.status_code == 422 and "outside the exchange calendar" in outside.text


def test_the_assets_list_filters_by_status_exchange_and_attributes(local: LocalAlpaca) -> None:
    client = trading(local)
    everything = client.get_all_assets()
    nyse = client.get_all_assets(GetAssetsRequest(exchange=AssetExchange.NYSE))
    active = client.get_all_assets(GetAssetsRequest(status=AssetStatus.ACTIVE))
    fractional = client.get_all_assets(GetAssetsRequest(attributes="fractional_eh_enabled"))
    symbols = {a.symbol for a in everything}
    assert {"SPY", "TQQQ", "SOXL"} <= symbols and "NOPE" not in symbols
    assert nyse and all(a.exchange == AssetExchange.NYSE for a in nyse)
    assert len(active) == len(everything)
    assert fractional and all(a.fractionable for a in fractional)


def test_account_configurations_read_change_and_take_effect(local: LocalAlpaca) -> None:
    client = trading(local)
    config = client.get_account_configurations()
    assert (config.fractional_trading, config.no_shorting, config.suspend_trade) == (
        True, False, False)  # fmt: skip
    changed = config.model_copy(update={"no_shorting": True, "max_margin_multiplier": "2"})
    after = client.set_account_configurations(changed)
    assert isinstance(after, AccountConfiguration) and after.no_shorting is True
    assert client.get_account().multiplier == "2"
    with pytest.raises(APIError) as short:
        client.submit_order(market("SPY", 1, OrderSide.SELL))
    assert short.value.status_code == 403
    client.set_account_configurations(after.model_copy(update={"suspend_trade": True}))
    with pytest.raises(APIError) as suspended:
        client.submit_order(market("SPY", 1))
    assert "suspend" in refusal(suspended.value)["message"]
    options = requests.patch(local.base_url + "/v2/account/configurations",
                             json={"max_options_trading_level": 2}, headers=local.headers,
                             timeout=10)  # fmt: skip
    assert options.status_code == 422 and "not modelled" in options.json()["message"]


def test_fills_are_account_activities_paged_as_alpaca_pages_them(tmp_path: Path) -> None:
    with exchange(tmp_path) as local:
        client = trading(local)
        orders = [client.submit_order(market("SPY", n)) for n in (1, 2, 3)]
        local.advance(1)
        raw = client.get("/account/activities/FILL")
        first = client.get("/account/activities", {"page_size": 2, "direction": "asc"})
        rest = client.get(
            "/account/activities",
            {"page_size": 2, "direction": "asc", "page_token": first[-1]["id"]},
        )
        dividends = client.get("/account/activities/DIV")
        with pytest.raises(APIError) as bad:
            client.get("/account/activities/NOPE")
    fills = [TradeActivity(**a) for a in raw]
    assert [f.order_id for f in fills] == [o.id for o in reversed(orders)]  # newest first
    assert [f.qty for f in fills] == [3, 2, 1] and {f.price for f in fills} == {100.02}
    assert fills[0].cum_qty == 3 and fills[0].leaves_qty == 0
    assert [a["qty"] for a in first + rest] == ["1", "2", "3"]
    assert dividends == []
    assert bad.value.status_code == 422 and refusal(bad.value)["code"] == 40010001


def test_a_short_sales_fill_activity_says_sell_short(tmp_path: Path) -> None:
    # As Alpaca's trade activities do (alpaca-py's TradeActivity model cannot read it).
    with exchange(tmp_path) as local:
        client = trading(local)
        client.submit_order(market("SPY", 5, side=OrderSide.SELL))  # opens a short
        local.advance(1)
        client.submit_order(market("SPY", 5))  # covers it
        local.advance(1)
        client.submit_order(market("SPY", 2))
        local.advance(1)
        client.submit_order(market("SPY", 2, side=OrderSide.SELL))  # sells a long
        local.advance(1)
        raw = client.get("/account/activities/FILL", {"direction": "asc"})
    assert [(a["side"], a["qty"]) for a in raw] == [
        ("sell_short", "5"),
        ("buy", "5"),
        ("buy", "2"),
        ("sell", "2"),
    ]


def test_portfolio_history_values_the_account_from_its_fills_and_marks(tmp_path: Path) -> None:
    with exchange(tmp_path) as local:
        client = trading(local)
        before = client.get_portfolio_history(GetPortfolioHistoryRequest(period="1D"))
        client.submit_order(market("SPY", 100))
        local.advance(180)
        intraday = client.get_portfolio_history(
            GetPortfolioHistoryRequest(period="1D", timeframe="1Min")
        )
        daily = client.get_portfolio_history(GetPortfolioHistoryRequest(timeframe="1D"))
        with pytest.raises(APIError) as continuous:
            client.get_portfolio_history(
                GetPortfolioHistoryRequest(period="1D", intraday_reporting="continuous")
            )
    assert before.timeframe == "1Min" and before.base_value == 100_000
    first = dt.datetime.fromtimestamp(intraday.timestamp[0], dt.UTC)
    assert first == T0.astimezone(dt.UTC)  # the history begins when the exchange did
    # 100 bought at the 100.02 ask; no trade on the quote since, so marked at the fill price
    assert intraday.equity[-1] == 100_000
    assert len(intraday.timestamp) == 4 and intraday.profit_loss[-1] == 0
    assert len(daily.timestamp) == 1 and daily.equity == [100_000]
    assert continuous.value.status_code == 422


def test_watchlists_by_id_and_by_name(local: LocalAlpaca) -> None:
    client = trading(local)
    created = client.create_watchlist(CreateWatchlistRequest(name="core", symbols=["SPY"]))
    client.add_asset_to_watchlist_by_id(created.id, "TQQQ")
    renamed = client.update_watchlist_by_id(created.id, UpdateWatchlistRequest(name="main"))
    by_name = client.get("/watchlists:by_name", {"name": "main"})
    client.remove_asset_from_watchlist_by_id(created.id, "SPY")
    listed = client.get_watchlists()
    with pytest.raises(APIError) as unknown:
        client.create_watchlist(CreateWatchlistRequest(name="x", symbols=["NOPE"]))
    client.delete("/watchlists:by_name", {"name": "main"})
    with pytest.raises(APIError) as gone:
        client.get_watchlist_by_id(created.id)
    assert [a.symbol for a in renamed.assets or []] == ["SPY", "TQQQ"]
    assert by_name["id"] == str(created.id) and by_name["name"] == "main"
    assert [w.name for w in listed] == ["main"] and listed[0].assets is None
    assert unknown.value.status_code == 422 and gone.value.status_code == 404
    assert client.get_watchlists() == []


def test_closing_half_a_position_by_percentage(tmp_path: Path) -> None:
    with exchange(tmp_path) as local:
        client = trading(local)
        client.submit_order(market("SPY", 11))
        local.advance(1)
        half = client.close_position("SPY", ClosePositionRequest(percentage="50"))
        local.advance(1)
        left = client.get_open_position("SPY")
        by_qty = client.close_position("SPY", ClosePositionRequest(qty="2"))
        with pytest.raises(APIError) as too_small:
            client.close_position("SPY", ClosePositionRequest(percentage="1"))
    assert half.qty == "5"  # whole shares, rounded down, as Alpaca does
    assert Decimal(left.qty) == 6 and by_qty.qty == "2"
    assert too_small.value.status_code == 422


def test_close_all_positions_cancels_orders_first_and_answers_per_symbol(tmp_path: Path) -> None:
    with exchange(tmp_path) as local:
        client = trading(local)
        client.submit_order(market("SPY", 10))
        local.advance(1)
        client.submit_order(limit("SPY", 10, 120.0, OrderSide.SELL))  # holds the shares
        held = client.close_all_positions(cancel_orders=False)
        closed = client.close_all_positions(cancel_orders=True)
        local.advance(1)
        positions = client.get_all_positions()
    assert held[0].symbol == "SPY" and held[0].status == 403
    assert closed[0].status == 200 and closed[0].body.qty == "10"  # type: ignore[union-attr]
    assert positions == []


def test_the_orders_paging_recipe_ends(tmp_path: Path) -> None:
    with exchange(tmp_path) as local:
        client = trading(local)
        placed = []
        for _ in range(7):
            placed.append(client.submit_order(limit("SPY", 1, 90.0)).id)
            local.advance(0.01)
        seen: list[Any] = []
        until = None
        for _ in range(10):
            page = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=3,
                                                      until=until))  # fmt: skip
            if not page:
                break
            seen += [o.id for o in page]
            until = page[-1].submitted_at
        after = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, direction="asc",
                                                   after=page_time(client, placed[4])))  # fmt: skip
    assert seen == list(reversed(placed))
    assert [o.id for o in after] == placed[5:]


def page_time(client: Any, order_id: Any) -> dt.datetime:
    submitted: dt.datetime = client.get_order_by_id(order_id).submitted_at
    return submitted
