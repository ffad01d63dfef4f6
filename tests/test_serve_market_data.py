"""``serve``'s Market Data API v2: latest trades and bars, bars, snapshots and the data websocket.

Driven by unmodified alpaca-py. Trades come from the exchange's tape: derived from
the synthetic quotes (a mid move up prints at the old ask, down at the old bid),
or a replayed file's companion trades file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.live import StockDataStream
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestBarRequest,
    StockLatestTradeRequest,
    StockSnapshotRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

from alpaca_server import SESSION_MORNING, LocalAlpaca, run_local_alpaca
from serve_helpers import at, quote_file, replayed, stop_stream

UTC = dt.UTC
#: The first ten minutes of the exchange (its clock runs on while a test asks).
WINDOW = {"start": SESSION_MORNING, "end": SESSION_MORNING + dt.timedelta(minutes=9, seconds=59)}


@pytest.fixture
def local() -> Iterator[LocalAlpaca]:
    with run_local_alpaca() as exchange:
        exchange.advance(600)  # ten minutes of quotes, so trades and bars
        yield exchange


def data(local: LocalAlpaca) -> StockHistoricalDataClient:
    return StockHistoricalDataClient(local.key_id, local.secret_key, url_override=local.base_url)


def get(local: LocalAlpaca, path: str, **params: Any) -> requests.Response:
    return requests.get(local.base_url + path, params=params, headers=local.headers, timeout=30)


def test_latest_trades_and_bars_come_from_the_tape(local: LocalAlpaca) -> None:
    client = data(local)
    trades = client.get_stock_latest_trade(
        StockLatestTradeRequest(symbol_or_symbols=["SPY", "QQQ"])
    )
    bars = client.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols="SPY"))
    one = get(local, "/v2/stocks/SPY/trades/latest").json()
    now = SESSION_MORNING.astimezone(UTC) + dt.timedelta(minutes=10)
    assert set(trades) == {"SPY", "QQQ"}
    spy = trades["SPY"]
    assert spy.size % 100 == 0 and spy.conditions == ["@"] and spy.exchange == "V"
    assert now - dt.timedelta(minutes=1) < spy.timestamp <= now + dt.timedelta(seconds=5)
    assert one["symbol"] == "SPY" and one["trade"]["i"] >= spy.id  # the clock runs on
    bar = bars["SPY"]
    assert bar.timestamp == now.replace(second=0) - dt.timedelta(minutes=1)
    assert bar.low <= bar.vwap <= bar.high and bar.volume > 0 and bar.trade_count > 0


def test_bars_from_one_minute_to_one_day_add_up(local: LocalAlpaca) -> None:
    client = data(local)

    def bars(timeframe: TimeFrame) -> list[Any]:
        found = client.get_stock_bars(StockBarsRequest(symbol_or_symbols="SPY",
                                                       timeframe=timeframe, **WINDOW))  # fmt: skip
        return list(found.data.get("SPY", []))

    minutes = bars(TimeFrame.Minute)
    fives = bars(TimeFrame(5, TimeFrameUnit.Minute))
    hours = bars(TimeFrame.Hour)
    days = bars(TimeFrame.Day)
    assert len(minutes) == 10 and len(fives) == 2 and len(hours) == 1 and len(days) == 1
    for coarse in (fives, hours, days):
        assert sum(b.volume for b in coarse) == sum(b.volume for b in minutes)
        assert max(b.high for b in coarse) == max(b.high for b in minutes)
    assert days[0].timestamp == dt.datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 00:00 New York
    assert days[0].close == minutes[-1].close


def test_bars_page_with_a_token_by_symbol_then_time(local: LocalAlpaca) -> None:
    pages, token = [], None
    while True:
        params: dict[str, Any] = {
            "symbols": "SPY,QQQ",
            "timeframe": "1Min",
            "limit": 4,
            **{k: v.isoformat() for k, v in WINDOW.items()},
        }
        if token:
            params["page_token"] = token
        body = get(local, "/v2/stocks/bars", **params).json()
        pages.append({s: [b["t"] for b in rows] for s, rows in body["bars"].items()})
        token = body["next_page_token"]
        if token is None:
            break
    everything = data(local).get_stock_bars(StockBarsRequest(symbol_or_symbols=["SPY", "QQQ"],
                                                             timeframe=TimeFrame.Minute,
                                                             limit=15, **WINDOW))  # fmt: skip
    assert len(pages) == 5 and list(pages[0]) == ["QQQ"]
    assert sum(len(rows) for page in pages for rows in page.values()) == 20
    assert sum(len(v) for v in everything.data.values()) == 15


def test_bars_before_the_data_begins_and_weekly_bars_are_refused(local: LocalAlpaca) -> None:
    early = get(local, "/v2/stocks/bars", symbols="SPY", timeframe="1Min",
                start="2026-11-24T09:30:00-05:00")  # fmt: skip
    weekly = get(local, "/v2/stocks/SPY/bars", timeframe="1Week")
    overnight = get(local, "/v2/stocks/SPY/bars", timeframe="1Min",
                    start="2026-11-24T03:00:00-05:00", end="2026-11-24T03:59:00-05:00")  # fmt: skip
    with pytest.raises(APIError) as refused:
        data(local).get_stock_bars(StockBarsRequest(symbol_or_symbols="SPY",
                                                    timeframe=TimeFrame.Minute,
                                                    start=at(24, 9, 30)))  # fmt: skip
    assert early.status_code == 422 and "not modelled" in early.json()["message"]
    assert weekly.status_code == 422 and "not modelled" in weekly.json()["message"]
    assert overnight.status_code == 200 and overnight.json()["bars"] == []  # no trading then
    assert refused.value.status_code == 422


def test_snapshots_hold_the_latest_trade_quote_and_bars(local: LocalAlpaca) -> None:
    snapshots = data(local).get_stock_snapshot(
        StockSnapshotRequest(symbol_or_symbols=["SPY", "TQQQ"])
    )
    single = get(local, "/v2/stocks/TQQQ/snapshot").json()
    spy = snapshots["SPY"]
    assert spy.latest_trade is not None and spy.latest_quote is not None
    assert spy.minute_bar is not None and spy.daily_bar is not None
    assert spy.previous_daily_bar is None  # the exchange's data begins today
    assert spy.daily_bar.volume >= spy.minute_bar.volume
    assert single["symbol"] == "TQQQ" and single["latestTrade"]["p"] > 0


def _with_trades(tmp_path: Path, start: dt.datetime) -> Path:
    rows = [(start + dt.timedelta(seconds=s), "100.00", "100.02") for s in range(0, 300, 10)]
    quotes = quote_file(tmp_path / "demo_SPY_20261124_l1.csv.gz", rows)
    lines = ["ts_utc_ns,symbol,price,size,cond,corr"]
    for k, seconds in enumerate((5, 65, 125)):
        ns = int((start + dt.timedelta(seconds=seconds)).timestamp()) * 10**9
        lines.append(f"{ns},SPY,100.0{k},{100 * (k + 1)},@,0")
    (tmp_path / "demo_SPY_20261124_trades.csv.gz").write_bytes(gzip.compress(
        "\n".join(lines).encode()))  # fmt: skip
    return quotes


def test_a_replayed_files_trades_are_the_tape(tmp_path: Path) -> None:
    start = at(24, 10, 30)
    with run_local_alpaca(replayed(_with_trades(tmp_path, start), start)) as local:
        local.advance(240)
        latest = get(local, "/v2/stocks/SPY/trades/latest").json()["trade"]
        minutes = get(local, "/v2/stocks/SPY/bars", timeframe="1Min").json()["bars"]
    assert (latest["p"], latest["s"]) == (100.02, 300)
    assert [(b["o"], b["v"]) for b in minutes] == [(100.0, 100), (100.01, 200), (100.02, 300)]


async def test_trades_and_bars_on_the_data_websocket_with_alpaca_py(local: LocalAlpaca) -> None:
    trades: list[Any] = []
    bars: list[Any] = []
    got_bar = asyncio.Event()
    url = local.base_url.replace("http://", "ws://") + "/v2/iex"
    stream = StockDataStream(local.key_id, local.secret_key, feed=DataFeed.IEX, url_override=url)

    async def on_trade(trade: Any) -> None:
        trades.append(trade)

    async def on_bar(bar: Any) -> None:
        bars.append(bar)
        got_bar.set()

    stream.subscribe_trades(on_trade, "SPY")
    stream.subscribe_bars(on_bar, "SPY")
    task = asyncio.create_task(stream._run_forever())
    try:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(local.advance, 75)
        await asyncio.wait_for(got_bar.wait(), timeout=15)
    finally:
        await stop_stream(stream, task)
    assert trades and all(t.symbol == "SPY" and t.price > 0 for t in trades)
    assert [t.id for t in trades] == sorted(t.id for t in trades)
    assert bars[0].symbol == "SPY" and bars[0].timestamp.second == 0
    latest = data(local).get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="SPY"))
    assert latest["SPY"].id >= trades[-1].id
