"""The local exchange's historical quotes and trades: Alpaca's shapes, paging, limits, 429s.

Served from the example files shipped with the package (IBM, AIG and BAC on
2013-10-07, 09:29-09:40 ET), so these tests need no other data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import numpy as np
import pytest

from alpaca_server import TEST_VENUE, LocalAlpaca, run_local_alpaca
from better_orders.data.csv_files import read_csv
from better_orders.data.example_data import example_quote_files
from better_orders.server import ServerConfig
from better_orders.server.market_data import parse_time

OPEN = "2013-10-07T13:30:00Z"
CLOSE = "2013-10-07T20:00:00Z"


def history() -> tuple[tuple[str | None, Any], ...]:
    return tuple((None, f) for f in example_quote_files())


@pytest.fixture(scope="module")
def exchange() -> Iterator[LocalAlpaca]:
    with run_local_alpaca(ServerConfig(venue=TEST_VENUE, history=history())) as local:
        yield local


def get(exchange: LocalAlpaca, path: str, **params: Any) -> httpx.Response:
    headers = {"APCA-API-KEY-ID": exchange.key_id, "APCA-API-SECRET-KEY": exchange.secret_key}
    return httpx.get(exchange.base_url + path, params=params, headers=headers, timeout=30)


def all_pages(exchange: LocalAlpaca, path: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        page = get(exchange, path, **params, **({"page_token": token} if token else {}))
        assert page.status_code == 200, page.text
        body = page.json()
        kind = "quotes" if "quotes" in body else "trades"
        rows += body[kind]
        token = body["next_page_token"]
        if token is None:
            return rows


def source(symbol: str, kind: str) -> Any:
    quotes = next(f for f in example_quote_files() if f"_{symbol}_" in f.name)
    path = quotes if kind == "quotes" else quotes.with_name(quotes.name.replace("_l1", "_trades"))
    return read_csv(path, kind)  # type: ignore[arg-type]


def test_quotes_of_one_symbol_page_through_every_row_in_alpacas_shape(
    exchange: LocalAlpaca,
) -> None:
    first = get(exchange, "/v2/stocks/IBM/quotes", start=OPEN, end=CLOSE, limit=500)
    body = first.json()
    assert set(body) == {"quotes", "symbol", "next_page_token"}
    assert body["symbol"] == "IBM" and len(body["quotes"]) == 500
    row = body["quotes"][0]
    assert set(row) == {"t", "bx", "bp", "bs", "ax", "ap", "as", "c", "z"}
    assert row["t"] == "2013-10-07T13:30:00.072000000Z"
    assert (row["bp"], row["bs"], row["ap"], row["as"]) == (181.69, 2, 181.9, 1)  # round lots
    assert first.headers["X-RateLimit-Limit"] == "200"
    rows = all_pages(exchange, "/v2/stocks/IBM/quotes", start=OPEN, end=CLOSE, limit=500)
    expected = source("IBM", "quotes")
    assert [parse_time(r["t"], "t") for r in rows] == expected["ts_utc_ns"].tolist()
    assert [r["ap"] for r in rows] == expected["ask_px"].tolist()
    assert [round(r["as"] * 100) for r in rows] == expected["ask_sz"].tolist()


def test_trades_carry_exchange_size_and_each_condition_code(exchange: LocalAlpaca) -> None:
    rows = all_pages(exchange, "/v2/stocks/IBM/trades", start="2013-10-07", limit=10_000)
    expected = source("IBM", "trades")
    assert len(rows) == len(expected)
    assert set(rows[0]) == {"t", "x", "p", "s", "c", "i", "z"}
    assert ["".join(r["c"]) for r in rows] == expected["cond"].tolist()
    assert [r["x"] for r in rows] == expected["exchange"].tolist()
    assert [r["s"] for r in rows] == expected["size"].tolist()
    assert [r["i"] for r in rows] == list(range(1, len(rows) + 1))


def test_start_and_end_are_inclusive_and_desc_sorts_newest_first(exchange: LocalAlpaca) -> None:
    ts = source("IBM", "quotes")["ts_utc_ns"].to_numpy()
    start, end = "2013-10-07T13:30:00.072000000Z", "2013-10-07T13:31:00Z"
    rows = all_pages(exchange, "/v2/stocks/IBM/quotes", start=start, end=end, limit=7)
    inside = ts[(ts >= parse_time(start, "s")) & (ts <= parse_time(end, "e"))]
    assert [parse_time(r["t"], "t") for r in rows] == inside.tolist()
    newest = all_pages(
        exchange, "/v2/stocks/IBM/quotes", start=start, end=end, sort="desc", limit=9
    )
    assert [parse_time(r["t"], "t") for r in newest] == inside[::-1].tolist()


def test_several_symbols_page_by_symbol_then_time(exchange: LocalAlpaca) -> None:
    pages, token = [], None
    while True:
        params: dict[str, Any] = {"symbols": "IBM,AIG", "start": OPEN, "limit": 1000}
        answer = get(
            exchange, "/v2/stocks/quotes", **params, **({"page_token": token} if token else {})
        )
        body = answer.json()
        assert set(body) == {"quotes", "next_page_token"}
        assert sum(len(v) for v in body["quotes"].values()) <= 1000
        pages.append(body["quotes"])
        token = body["next_page_token"]
        if token is None:
            break
    merged: dict[str, list[Any]] = {}
    for page in pages:
        for symbol, rows in page.items():
            merged.setdefault(symbol, []).extend(rows)
    assert list(merged) == ["AIG", "IBM"]
    for symbol in merged:
        single = all_pages(exchange, f"/v2/stocks/{symbol}/quotes", start=OPEN, limit=10_000)
        assert merged[symbol] == single


def test_a_symbol_without_a_file_has_no_rows(exchange: LocalAlpaca) -> None:
    body = get(exchange, "/v2/stocks/TQQQ/quotes", start=OPEN).json()
    assert body == {"quotes": [], "symbol": "TQQQ", "next_page_token": None}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": "0"}, "invalid limit"),
        ({"limit": "10001"}, "invalid limit"),
        ({"start": "yesterday"}, "invalid start"),
        ({"start": CLOSE, "end": OPEN}, "end must not be before start"),
        ({"page_token": "bm9wZQ"}, "invalid page_token"),
        ({"sort": "sideways"}, "invalid sort"),
        ({"feed": "nasdaq"}, "invalid feed"),
    ],
)
def test_bad_parameters_are_refused_in_alpacas_error_shape(
    exchange: LocalAlpaca, params: dict[str, str], fragment: str
) -> None:
    answer = get(exchange, "/v2/stocks/IBM/quotes", **params)
    assert answer.status_code == 400
    assert answer.json()["code"] == 40010000 and fragment in answer.json()["message"]


def test_the_request_budget_answers_429_with_retry_after() -> None:
    config = ServerConfig(venue=TEST_VENUE, history=history(), rate_limit_per_minute=3)
    with run_local_alpaca(config) as local:
        answers = [get(local, "/v2/stocks/IBM/trades", start=OPEN) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[2].headers["X-RateLimit-Remaining"] == "0"
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert answers[3].json()["code"] == 42910000


def test_sip_is_refused_where_the_plan_has_none() -> None:
    config = ServerConfig(venue=TEST_VENUE, history=history(), sip_allowed=False)
    with run_local_alpaca(config) as local:
        assert get(local, "/v2/stocks/IBM/quotes", feed="sip").status_code == 403
        assert get(local, "/v2/stocks/IBM/quotes", feed="iex").status_code == 200


def test_alpaca_pys_historical_client_reads_the_same_rows(exchange: LocalAlpaca) -> None:
    from datetime import datetime

    from alpaca.data.historical.stock import StockHistoricalDataClient
    from alpaca.data.requests import StockQuotesRequest, StockTradesRequest

    client = StockHistoricalDataClient(
        exchange.key_id, exchange.secret_key, url_override=exchange.base_url
    )
    start, end = datetime.fromisoformat(OPEN), datetime.fromisoformat(CLOSE)
    quotes = client.get_stock_quotes(
        StockQuotesRequest(symbol_or_symbols=["IBM", "BAC"], start=start, end=end)
    )
    assert len(quotes.data["IBM"]) == len(source("IBM", "quotes"))
    assert len(quotes.data["BAC"]) == len(source("BAC", "quotes"))
    bid = np.array([q.bid_price for q in quotes.data["BAC"]])
    assert np.array_equal(bid, source("BAC", "quotes")["bid_px"].to_numpy())
    day = datetime.fromisoformat("2013-10-07T00:00:00Z")
    trades = client.get_stock_trades(StockTradesRequest(symbol_or_symbols="AIG", start=day))
    assert len(trades.data["AIG"]) == len(source("AIG", "trades"))


def test_serve_accepts_history_beside_the_replayed_quotes() -> None:
    quotes = example_quote_files()[0]
    venue = replace(TEST_VENUE, quote_files=((None, quotes),))
    with run_local_alpaca(ServerConfig(venue=venue)) as local:
        rows = all_pages(local, "/v2/stocks/AIG/quotes", start=OPEN, limit=10_000)
    assert len(rows) == len(source("AIG", "quotes"))


def test_a_damaged_dataset_day_is_refused_when_the_server_starts(tmp_path: Any) -> None:
    from better_orders.core.errors import InvalidInputError
    from better_orders.data.dataset import Dataset
    from better_orders.data.importer import import_files
    from better_orders.server.market_data import HistoryStore

    ibm = next(f for f in example_quote_files() if "IBM" in f.name)
    import_files([ibm], Dataset.for_writing(tmp_path / "ds"))
    day = tmp_path / "ds" / "symbol=IBM" / "date=2013-10-07"
    assert HistoryStore([(None, day)]).symbols == ["IBM"]
    (day / "trades.parquet").unlink()
    with pytest.raises(InvalidInputError, match="symbol-day IBM 2013-10-07 is damaged"):
        HistoryStore([(None, day)])
