"""The asset master: the built-in list, asset files, and unknown symbols refused everywhere.

In ``serve`` as at Alpaca (404 on the asset, 422 on an order) and on the simulator
behind ``better-orders order`` and ``rebalance`` (one line, nothing sent).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

from alpaca_server import TEST_VENUE, run_local_alpaca
from better_orders.config.settings import DEFAULT_HIGH_VOLUME_ETFS, DEFAULT_LEVERAGED_ETFS
from better_orders.core.errors import InvalidInputError
from better_orders.server import ServerConfig
from better_orders.store.journal import Journal
from better_orders.venues.assets import asset_id, builtin_assets, load_asset_file
from better_orders.venues.sim.book import QuoteBook
from cli_runner import run_cli
from serve_helpers import at, trading


def test_the_built_in_list_has_the_configured_symbols_and_common_names() -> None:
    master = builtin_assets()
    for symbol in (*DEFAULT_LEVERAGED_ETFS, *DEFAULT_HIGH_VOLUME_ETFS, "SPY", "QQQ", "IWM", "AAPL"):
        assert symbol in master, symbol
    tqqq, brk = master.get("TQQQ"), master.get("BRK.A")
    assert tqqq is not None and brk is not None
    assert tqqq.exchange == "NASDAQ" and tqqq.maintenance_margin_requirement == 90
    assert brk.fractionable is False
    assert tqqq.id == asset_id("TQQQ") == str(uuid.UUID(tqqq.id))  # stable, a UUID
    assert master.get(tqqq.id) is tqqq  # found by id too
    assert len({a.id for a in master}) == len(master)


def test_asset_files_in_csv_and_json(tmp_path: Path) -> None:
    csv_file = tmp_path / "extra.csv"
    csv_file.write_text("symbol,name,fractionable,shortable\nzzzq,Test Corp,false,no\n")
    json_file = tmp_path / "extra.json"
    json_file.write_text(json.dumps([{"symbol": "SPY", "status": "inactive", "exchange": "arca"}]))
    (zzzq,) = load_asset_file(csv_file)
    (spy,) = load_asset_file(json_file)
    assert zzzq.symbol == "ZZZQ" and zzzq.name == "Test Corp"
    assert zzzq.fractionable is False and zzzq.shortable is False and zzzq.tradable is True
    assert spy.status == "inactive" and not spy.can_trade and spy.exchange == "ARCA"
    for bad, fragment in (
        ("symbol,fractionable\nAAA,maybe\n", "fractionable must be true or false"),
        ("name\nNo symbol\n", "needs a symbol"),
        ("symbol,maintenance_margin_requirement\nAAA,150\n", "percent 0-100"),
        ("symbol,id\nAAA,not-a-uuid\n", "not a UUID"),
    ):
        path = tmp_path / "bad.csv"
        path.write_text(bad)
        with pytest.raises(InvalidInputError, match=fragment):
            load_asset_file(path)


def test_serve_lists_the_master_and_an_asset_file(tmp_path: Path) -> None:
    extra = tmp_path / "extra.csv"
    extra.write_text("symbol,name,fractionable\nZZZQ,Test Corp,true\nSPY,SPDR S&P 500,false\n")
    with run_local_alpaca(ServerConfig(venue=replace(TEST_VENUE, asset_files=(extra,)))) as local:
        client = trading(local)
        zzzq = client.get_asset("ZZZQ")
        bought = client.submit_order(
            MarketOrderRequest(
                symbol="ZZZQ", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
        with pytest.raises(APIError) as whole_shares:
            client.submit_order(
                MarketOrderRequest(
                    symbol="SPY", qty=0.5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
                )
            )
    assert zzzq.name == "Test Corp" and zzzq.tradable
    assert bought.symbol == "ZZZQ"
    assert "requested asset is not fractionable" in str(whole_shares.value)


def test_serve_refuses_unknown_symbols_as_alpaca_does() -> None:
    with run_local_alpaca() as local:
        headers = local.headers
        asset = requests.get(local.base_url + "/v2/assets/ZZZZZ", headers=headers, timeout=5)
        order = requests.post(
            local.base_url + "/v2/orders",
            json={"symbol": "ZZZZZ", "qty": "1", "side": "buy", "type": "market",
                  "time_in_force": "day"},
            headers=headers,
            timeout=5,
        )  # fmt: skip
        quote = requests.get(
            local.base_url + "/v2/stocks/ZZZZZ/quotes/latest", headers=headers, timeout=5
        )
    assert asset.status_code == 404
    assert asset.json() == {"code": 40410000, "message": "asset not found for ZZZZZ"}
    assert order.status_code == 422
    assert order.json() == {"code": 42210000, "message": 'asset "ZZZZZ" not found'}
    assert quote.status_code == 404


def test_synthetic_quotes_exist_for_listed_symbols_only() -> None:
    listed = QuoteBook.synthetic(at(24, 10, 0), at(24, 9, 30), seed=1, listed=["SPY"])
    assert listed.knows("SPY") and not listed.knows("ZZZZZ") and not listed.knows("QQQ")


def test_order_on_the_simulator_refuses_an_unknown_symbol_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "j.sqlite3")
    code, _out, err = run_cli(["order", "buy", "ZZZZZ", "10", "--db", db], capsys)
    assert code != 0
    assert err.strip() == "error: unknown symbol ZZZZZ; no order sent"
    with Journal.open(Path(db)) as journal:
        assert journal.orders() == []


def test_rebalance_on_the_simulator_refuses_an_unknown_symbol_before_any_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "j.sqlite3")
    code, _out, err = run_cli(["rebalance", "ZZZZZ=0.5", "SPY=0.4", "--db", db], capsys)
    assert code != 0 and "unknown symbol(s): ZZZZZ; no order sent" in err
    with Journal.open(Path(db)) as journal:
        assert journal.orders() == []
