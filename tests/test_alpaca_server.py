"""The local Alpaca-compatible exchange, driven by unmodified alpaca-py clients over loopback.

What is checked is what a client sees: Alpaca's shapes (parsed by alpaca-py's own
models), status codes and error bodies, the trade_updates events, quotes over REST
and websocket, the fault switches and the request counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.live.stock import StockDataStream
from alpaca.data.requests import StockLatestQuoteRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
)
from alpaca.trading.stream import TradingStream

from alpaca_server import TEST_VENUE, LocalAlpaca, run_local_alpaca
from better_orders.core.errors import InvalidInputError
from better_orders.server import ServerConfig, VenueSettings, parse_fault_args
from better_orders.venues.sim.exchange import Latency
from serve_helpers import stop_stream


@pytest.fixture
def exchange() -> Iterator[LocalAlpaca]:
    with run_local_alpaca() as local:
        yield local


def trading(local: LocalAlpaca) -> TradingClient:
    return TradingClient(local.key_id, local.secret_key, url_override=local.base_url)


def data(local: LocalAlpaca) -> StockHistoricalDataClient:
    return StockHistoricalDataClient(local.key_id, local.secret_key, url_override=local.base_url)


def bid_ask(local: LocalAlpaca, symbol: str = "SPY") -> tuple[Decimal, Decimal]:
    quote = data(local).get_stock_latest_quote(
        StockLatestQuoteRequest(symbol_or_symbols=[symbol], feed=DataFeed.IEX)
    )[symbol]
    return Decimal(repr(quote.bid_price)), Decimal(repr(quote.ask_price))


def poll_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Ask the exchange again every 50 ms (well inside its request budget) until ``condition``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout}s"
        time.sleep(0.05)


def limit_order(
    symbol: str, qty: float, price: Decimal, side: OrderSide = OrderSide.BUY, **extra: Any
) -> LimitOrderRequest:
    return LimitOrderRequest(
        symbol=symbol,
        qty=qty,
        side=side,
        time_in_force=TimeInForce.DAY,
        limit_price=float(price),
        client_order_id=extra.pop("client_order_id", f"s-{uuid.uuid4().hex[:10]}"),
        **extra,
    )


class Events:
    """An unmodified ``TradingStream`` on the test's loop, collecting its trade updates."""

    def __init__(self, local: LocalAlpaca, raw: bool = False) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Condition()
        self.stream = TradingStream(
            local.key_id, local.secret_key, raw_data=raw, url_override=local.stream_url
        )
        self.stream.subscribe_trade_updates(self._on_update)
        self._task = asyncio.create_task(self.stream._run_forever())

    async def _on_update(self, update: Any) -> None:
        async with self._changed:
            self.items.append(update)
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        async def first() -> Any:
            async with self._changed:
                while True:
                    for item in self.items:
                        if predicate(item):
                            return item
                    await self._changed.wait()

        return await asyncio.wait_for(first(), timeout)

    async def connected(self, local: LocalAlpaca) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while local.stats()["stream"]["open"] < 1:
            assert loop.time() < deadline, "trading stream did not connect"
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        await self.stream.stop_ws()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        await self.stream.close()


def event(update: Any) -> str:
    """The event name of a parsed ``TradeUpdate`` (alpaca-py keeps unknown ones as text)."""
    value = update.event
    return str(value.value if hasattr(value, "value") else value)


@pytest.fixture
async def events(exchange: LocalAlpaca) -> AsyncIterator[Events]:
    collected = Events(exchange)
    await collected.connected(exchange)
    yield collected
    await collected.close()


# -- authentication and shapes ----------------------------------------------------------------


def test_unknown_keys_are_refused_in_alpacas_error_shape(exchange: LocalAlpaca) -> None:
    response = requests.get(
        exchange.base_url + "/v2/account",
        headers={"APCA-API-KEY-ID": exchange.key_id, "APCA-API-SECRET-KEY": "wrong"},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json() == {"code": 40110000, "message": "request is not authorized"}
    client = TradingClient(exchange.key_id, "wrong", url_override=exchange.base_url)
    with pytest.raises(APIError) as refused:
        client.get_account()
    assert refused.value.status_code == 401
    assert refused.value.code == 40110000


def test_account_clock_assets_and_positions_parse_with_alpaca_py(exchange: LocalAlpaca) -> None:
    client = trading(exchange)
    account = client.get_account()
    assert account.status.value == "ACTIVE"
    assert Decimal(account.cash or "") == Decimal(100_000)
    assert Decimal(account.buying_power or "") == Decimal(400_000)  # a margin account, 4x
    assert account.multiplier == "4"
    clock = client.get_clock()
    assert clock.is_open is True  # the test venue pretends the session is under way
    assert clock.next_close > clock.timestamp
    asset = client.get_asset("SPY")
    assert asset.symbol == "SPY" and asset.tradable and asset.fractionable
    assert asset.asset_class.value == "us_equity"
    with pytest.raises(APIError) as missing:
        client.get_asset("NOPE")
    assert missing.value.status_code == 404 and missing.value.code == 40410000
    assert client.get_all_positions() == []
    response = requests.get(
        exchange.base_url + "/v2/clock",
        headers={"APCA-API-KEY-ID": exchange.key_id, "APCA-API-SECRET-KEY": exchange.secret_key},
        timeout=5,
    )
    assert response.headers["X-RateLimit-Limit"] == "200"
    assert int(response.headers["X-RateLimit-Remaining"]) < 200
    assert float(response.headers["X-RateLimit-Reset"]) > datetime.now(UTC).timestamp() - 1


def test_the_clock_follows_the_exchange_calendar_by_default() -> None:
    from better_orders.core.market_calendar import MarketPhase, default_calendar

    with run_local_alpaca(ServerConfig(venue=replace(TEST_VENUE, always_open=False))) as local:
        clock = trading(local).get_clock()
    calendar = default_calendar()
    phase = calendar.phase_at(clock.timestamp)
    expected = phase in (MarketPhase.OPENING, MarketPhase.EARLY, MarketPhase.REGULAR)
    assert clock.is_open is expected
    assert clock.next_open == calendar.next_open(clock.timestamp)


# -- orders -------------------------------------------------------------------------------------


async def test_an_order_fills_and_trade_updates_parse_with_alpaca_py(
    exchange: LocalAlpaca, events: Events
) -> None:
    client = trading(exchange)
    _bid, ask = bid_ask(exchange)
    request = limit_order("SPY", 5, ask + Decimal("0.05"))
    order = await asyncio.to_thread(client.submit_order, request)
    assert order.status in (OrderStatus.PENDING_NEW, OrderStatus.NEW)
    assert order.client_order_id == request.client_order_id

    fill: TradeUpdate = await events.wait_for(lambda u: event(u) == "fill")
    new: TradeUpdate = await events.wait_for(lambda u: event(u) == "new")
    assert new.order.id == order.id
    assert fill.order.id == order.id
    assert isinstance(fill.execution_id, uuid.UUID)
    assert fill.qty == 5 and fill.position_qty == 5
    assert fill.order.status is OrderStatus.FILLED
    assert fill.order.filled_qty == "5"
    price = Decimal(repr(fill.price))
    assert price <= ask + Decimal("0.05")
    assert Decimal(str(fill.order.filled_avg_price)) == price

    again = client.get_order_by_client_id(request.client_order_id)
    assert again.status is OrderStatus.FILLED and again.filled_at is not None
    positions = client.get_all_positions()
    assert [(p.symbol, p.qty) for p in positions] == [("SPY", "5")]
    cash = Decimal(client.get_account().cash or "")
    assert cash == Decimal(100_000) - 5 * price


def test_refusals_use_alpacas_status_codes_and_bodies(exchange: LocalAlpaca) -> None:
    client = trading(exchange)
    bid, ask = bid_ask(exchange)
    first = limit_order("SPY", 1, bid - Decimal(5), client_order_id="dup-1")
    client.submit_order(first)
    cases: list[tuple[Callable[[], object], int, int, str]] = [
        (lambda: client.submit_order(first), 422, 40010001, "client_order_id must be unique"),
        (
            lambda: client.submit_order(limit_order("SPY", 1, Decimal("412.315"))),
            422,
            42210000,
            "sub-penny increment",
        ),
        (
            lambda: client.submit_order(limit_order("SPY", 1000, ask)),
            403,
            40310000,
            "insufficient buying power",
        ),
        (
            lambda: client.submit_order(limit_order("NOPE", 1, Decimal(10))),
            422,
            42210000,
            'asset "NOPE" not found',
        ),
        (
            lambda: client.submit_order(
                limit_order("SPY", 1, bid - Decimal(6), side=OrderSide.SELL)
            ),
            403,
            40310000,
            "potential wash trade detected",
        ),
        (lambda: client.cancel_order_by_id(uuid.uuid4()), 404, 40410000, "order not found"),
    ]
    for call, status, code, message in cases:
        with pytest.raises(APIError) as refused:
            call()
        assert refused.value.status_code == status, message
        assert refused.value.code == code, message
        assert message in refused.value.message
    assert exchange.stats()["orders_created"] == 1


async def test_cancel_then_cancel_again(exchange: LocalAlpaca, events: Events) -> None:
    client = trading(exchange)
    bid, _ask = bid_ask(exchange)
    order = await asyncio.to_thread(client.submit_order, limit_order("SPY", 3, bid - Decimal(8)))
    await events.wait_for(lambda u: event(u) == "new")
    await asyncio.to_thread(client.cancel_order_by_id, order.id)
    canceled = await events.wait_for(lambda u: event(u) == "canceled")
    assert canceled.order.id == order.id
    assert canceled.order.status is OrderStatus.CANCELED
    with pytest.raises(APIError) as again:
        await asyncio.to_thread(client.cancel_order_by_id, order.id)
    assert again.value.status_code == 422
    assert 'already in "canceled" state' in again.value.message


async def test_replace_makes_a_new_order_and_links_both(
    exchange: LocalAlpaca, events: Events
) -> None:
    client = trading(exchange)
    bid, _ask = bid_ask(exchange)
    old = await asyncio.to_thread(client.submit_order, limit_order("SPY", 4, bid - Decimal(8)))
    await events.wait_for(lambda u: event(u) == "new" and u.order.id == old.id)

    new = await asyncio.to_thread(
        client.replace_order_by_id,
        old.id,
        ReplaceOrderRequest(qty=2, limit_price=float(bid - Decimal(9)), client_order_id="r-2"),
    )

    assert new.id != old.id and new.replaces == old.id
    assert new.client_order_id == "r-2" and new.qty == "2"
    replaced = await events.wait_for(lambda u: event(u) == "replaced")
    assert replaced.order.id == old.id and replaced.order.replaced_by == new.id
    assert replaced.order.status is OrderStatus.REPLACED
    await events.wait_for(lambda u: event(u) == "new" and u.order.id == new.id)
    pending = [event(u) for u in events.items if u.order.id == old.id]
    assert pending == ["new", "pending_replace", "replaced"]
    assert client.get_order_by_id(old.id).status is OrderStatus.REPLACED
    open_orders = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert [(o.id, o.limit_price) for o in open_orders] == [(new.id, str(bid - Decimal(9)))]


async def test_a_replace_that_loses_to_a_fill_sends_order_replace_rejected(
    exchange: LocalAlpaca,
) -> None:
    raw = Events(exchange, raw=True)
    await raw.connected(exchange)
    client = trading(exchange)
    bid, _ask = bid_ask(exchange)
    old = await asyncio.to_thread(client.submit_order, limit_order("SPY", 4, bid - Decimal(8)))
    await raw.wait_for(lambda m: m["data"]["event"] == "new")
    exchange.set_faults(replace_race=1)

    new = await asyncio.to_thread(
        client.replace_order_by_id, old.id, ReplaceOrderRequest(client_order_id="r-lost")
    )

    assert new.replaces == old.id
    lost = await raw.wait_for(lambda m: m["data"]["event"] == "order_replace_rejected")
    assert lost["data"]["order"]["id"] == str(old.id)
    assert lost["data"]["order"]["status"] == "filled"
    rejected = await raw.wait_for(lambda m: m["data"]["event"] == "rejected")
    assert rejected["data"]["order"]["client_order_id"] == "r-lost"
    assert client.get_order_by_id(old.id).status is OrderStatus.FILLED
    assert client.get_order_by_client_id("r-lost").status is OrderStatus.REJECTED
    assert client.get_all_positions()[0].qty == "4"
    await raw.close()


def test_replace_is_refused_while_pending_new_or_when_told_to() -> None:
    slow = replace(TEST_VENUE, latency=Latency(submit=timedelta(seconds=1)))
    with run_local_alpaca(ServerConfig(venue=slow)) as local:
        client = trading(local)
        bid, _ask = bid_ask(local)
        order = client.submit_order(limit_order("SPY", 1, bid - Decimal(8)))
        with pytest.raises(APIError) as early:
            client.replace_order_by_id(order.id, ReplaceOrderRequest(qty=2))
        assert early.value.status_code == 422 and "pending_new" in early.value.message
        poll_until(lambda: client.get_order_by_id(order.id).status is OrderStatus.NEW)
        local.set_faults(replace_refused=1)
        with pytest.raises(APIError) as refused:
            client.replace_order_by_id(order.id, ReplaceOrderRequest(qty=2))
        assert refused.value.status_code == 422 and "refused" in refused.value.message
        assert client.get_order_by_id(order.id).status is OrderStatus.NEW


def test_orders_list_by_status_and_symbol(exchange: LocalAlpaca) -> None:
    client = trading(exchange)
    bid, ask = bid_ask(exchange)
    resting = client.submit_order(limit_order("SPY", 1, bid - Decimal(8)))
    filled = client.submit_order(limit_order("SPY", 1, ask + Decimal("0.05")))
    poll_until(lambda: client.get_order_by_id(filled.id).status is OrderStatus.FILLED)
    open_ids = [o.id for o in client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))]
    closed = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    every = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, symbols=["SPY"]))
    none = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, symbols=["QQQ"]))
    assert open_ids == [resting.id]
    assert [o.id for o in closed] == [filled.id]
    assert {o.id for o in every} == {resting.id, filled.id}
    assert none == []
    responses = client.cancel_orders()
    assert [(r.id, r.status) for r in responses] == [(resting.id, 200)]


def test_closing_a_position_sells_it_at_market(exchange: LocalAlpaca) -> None:
    client = trading(exchange)
    _bid, ask = bid_ask(exchange)
    bought = client.submit_order(limit_order("SPY", 3, ask + Decimal("0.05")))
    poll_until(lambda: client.get_order_by_id(bought.id).status is OrderStatus.FILLED)
    sell = client.close_position("SPY")
    assert sell.side is OrderSide.SELL and sell.qty == "3" and sell.type is not None
    poll_until(lambda: client.get_all_positions() == [])
    with pytest.raises(APIError) as gone:
        client.close_position("SPY")
    assert gone.value.status_code == 404


def test_fractional_orders_are_day_market_or_limit_orders_and_the_rest_is_refused(
    exchange: LocalAlpaca,
) -> None:
    client = trading(exchange)
    bid, _ask = bid_ask(exchange)
    fractional_limit = client.submit_order(limit_order("SPY", 0.5, bid - 5))
    assert fractional_limit.qty == "0.5" and fractional_limit.status is OrderStatus.PENDING_NEW
    market = MarketOrderRequest(
        symbol="SPY", qty=0.5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
    )
    assert client.submit_order(market).qty == "0.5"
    fractional_gtc = LimitOrderRequest(
        symbol="SPY", qty=0.5, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        limit_price=float(bid - 5),
    )  # fmt: skip
    with pytest.raises(APIError) as not_day:
        client.submit_order(fractional_gtc)
    assert not_day.value.status_code == 422 and "fractional orders must be DAY" in str(
        not_day.value
    )
    whole_share_only = MarketOrderRequest(
        symbol="BRK.A", qty=0.5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
    )
    with pytest.raises(APIError) as not_fractionable:
        client.submit_order(whole_share_only)
    assert "requested asset is not fractionable" in str(not_fractionable.value)
    mleg = requests.post(
        exchange.base_url + "/v2/orders",
        json={"symbol": "SPY", "qty": "1", "side": "buy", "type": "market",
              "time_in_force": "day", "order_class": "mleg"},
        headers=exchange.headers,
        timeout=5,
    )  # fmt: skip
    assert mleg.status_code == 422 and "not modelled" in mleg.json()["message"]


# -- market data ----------------------------------------------------------------------------------


async def test_quotes_over_rest_and_websocket_with_alpaca_py(exchange: LocalAlpaca) -> None:
    latest = data(exchange).get_stock_latest_quote(
        StockLatestQuoteRequest(symbol_or_symbols=["SPY", "QQQ", "NOPE"], feed=DataFeed.SIP)
    )
    assert set(latest) == {"SPY", "QQQ"}
    assert all(q.bid_price < q.ask_price for q in latest.values())

    received: list[Any] = []
    arrived = asyncio.Event()
    stream = StockDataStream(
        exchange.key_id,
        exchange.secret_key,
        feed=DataFeed.IEX,
        url_override=exchange.base_url.replace("http://", "ws://") + "/v2/iex",
    )

    async def on_quote(quote: Any) -> None:
        received.append(quote)
        if len(received) >= 3:
            arrived.set()

    stream.subscribe_quotes(on_quote, "SPY")
    task = asyncio.create_task(stream._run_forever())
    try:
        await asyncio.wait_for(arrived.wait(), timeout=10)
    finally:
        await stop_stream(stream, task)
    assert all(q.symbol == "SPY" and q.bid_price < q.ask_price for q in received)
    assert all(q.timestamp.tzinfo is not None for q in received)
    times = [q.timestamp for q in received]
    assert times == sorted(times)


def test_sip_is_refused_without_the_subscription() -> None:
    with run_local_alpaca(ServerConfig(venue=TEST_VENUE, sip_allowed=False)) as local:
        client = data(local)
        with pytest.raises(APIError) as refused:
            client.get_stock_latest_quote(
                StockLatestQuoteRequest(symbol_or_symbols=["SPY"], feed=DataFeed.SIP)
            )
        assert refused.value.status_code == 403
        iex = client.get_stock_latest_quote(
            StockLatestQuoteRequest(symbol_or_symbols=["SPY"], feed=DataFeed.IEX)
        )
        assert "SPY" in iex


def test_a_quote_file_is_replayed_from_now(tmp_path: Path) -> None:
    start = datetime(2018, 1, 2, 14, 30, tzinfo=UTC)
    rows = ["ts_utc_ns,symbol,bid_px,ask_px,bid_sz,ask_sz"]
    for i in range(50):
        ts = start + timedelta(seconds=i)
        ns = int(ts.timestamp()) * 1_000_000_000
        rows.append(f"{ns},XXX,{158 + i / 100:.2f},{158.03 + i / 100:.2f},300,400")
    path = tmp_path / "xxx.csv.gz"
    path.write_bytes(gzip.compress("\n".join(rows).encode()))
    venue = VenueSettings(quote_files=(("TQQQ", path),), always_open=True)
    with run_local_alpaca(ServerConfig(venue=venue)) as local:
        before = trading(local).get_clock().timestamp
        bid, ask = bid_ask(local, "TQQQ")
        quote = data(local).get_stock_latest_quote(
            StockLatestQuoteRequest(symbol_or_symbols=["TQQQ"], feed=DataFeed.IEX)
        )["TQQQ"]
        with pytest.raises(APIError):
            trading(local).get_asset("SPY")  # only the replayed symbol is listed
    assert Decimal("158.00") <= bid <= Decimal("158.49")
    assert ask - bid == Decimal("0.03")
    assert abs((quote.timestamp - before).total_seconds()) < 10  # shifted to the exchange's clock


def test_the_paper_account_persists_across_restarts(tmp_path: Path) -> None:
    venue = replace(TEST_VENUE, db_path=tmp_path / "paper.db")
    with run_local_alpaca(ServerConfig(venue=venue)) as local:
        client = trading(local)
        _bid, ask = bid_ask(local)
        order = client.submit_order(limit_order("SPY", 2, ask + Decimal("0.05")))
        poll_until(lambda: client.get_order_by_id(order.id).status is OrderStatus.FILLED)
        cash = client.get_account().cash
    with run_local_alpaca(ServerConfig(venue=venue)) as local:
        client = trading(local)
        assert [(p.symbol, p.qty) for p in client.get_all_positions()] == [("SPY", "2")]
        assert client.get_account().cash == cash


# -- faults and counters ---------------------------------------------------------------------------


def test_fault_switches_and_request_counts(exchange: LocalAlpaca) -> None:
    client = trading(exchange)
    exchange.set_faults(server_errors=1)
    with pytest.raises(APIError) as broken:
        client.get_account()
    assert broken.value.status_code == 500 and broken.value.code == 50010000
    assert client.get_account().status.value == "ACTIVE"
    exchange.set_faults(lost_responses=1)
    bid, _ask = bid_ask(exchange)
    raw = requests.post(
        exchange.base_url + "/v2/orders",
        json={"symbol": "SPY", "qty": "1", "side": "buy", "type": "limit",
              "time_in_force": "day", "limit_price": str(bid - 9), "client_order_id": "lost-1"},
        headers={"APCA-API-KEY-ID": exchange.key_id, "APCA-API-SECRET-KEY": exchange.secret_key},
        timeout=5,
    )  # fmt: skip
    assert raw.status_code == 504
    assert client.get_order_by_client_id("lost-1").client_order_id == "lost-1"  # created anyway
    stats = exchange.stats()
    assert stats["requests"]["GET /v2/account"] == 2
    assert stats["responses"]["500"] == 1 and stats["responses"]["504"] == 1
    assert stats["orders_created"] == 1
    bad = requests.post(
        exchange.base_url + "/_faults",
        json={"no_such_fault": 1},
        headers=exchange.headers,
        timeout=5,
    )
    assert bad.status_code == 400 and "no_such_fault" in bad.json()["message"]


async def test_partial_fills_fault_splits_every_fill(exchange: LocalAlpaca, events: Events) -> None:
    exchange.set_faults(partial_fills=3)
    client = trading(exchange)
    _bid, ask = bid_ask(exchange)
    order = await asyncio.to_thread(
        client.submit_order, limit_order("SPY", 7, ask + Decimal("0.50"))
    )
    await events.wait_for(lambda u: event(u) == "fill" and u.order.id == order.id)
    fills = [u for u in events.items if event(u) in ("partial_fill", "fill")]
    assert [u.qty for u in fills] == [3, 3, 1]
    assert [u.order.filled_qty for u in fills] == ["3", "6", "7"]
    assert len({u.execution_id for u in fills}) == 3


def test_the_request_budget_answers_429_with_its_headers() -> None:
    config = ServerConfig(venue=TEST_VENUE, rate_limit_per_minute=3, rate_window_seconds=30)
    with run_local_alpaca(config) as local:
        headers = {"APCA-API-KEY-ID": local.key_id, "APCA-API-SECRET-KEY": local.secret_key}
        answers = [
            requests.get(local.base_url + "/v2/clock", headers=headers, timeout=5) for _ in range(4)
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[3].json() == {"code": 42910000, "message": "rate limit exceeded"}
    assert int(answers[3].headers["Retry-After"]) >= 1


async def test_dropping_the_trading_stream_refuses_reconnects_for_a_while(
    exchange: LocalAlpaca, events: Events
) -> None:
    answer = exchange.set_faults(stream_down_seconds=30, drop_stream=True)
    assert answer["dropped"] == 1
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while exchange.stats()["stream"]["refused"] < 1:
        assert loop.time() < deadline, "the client did not try to reconnect"
        await asyncio.sleep(0.05)
    assert exchange.stats()["stream"]["open"] == 0


def test_fault_arguments_are_checked() -> None:
    parsed = parse_fault_args(["latency_ms=50", "partial_fills=5", "submit_error=403:40310000:no"])
    assert parsed == {
        "latency_ms": 50.0,
        "partial_fills": Decimal(5),
        "submit_error": (403, 40310000, "no"),
    }
    for bad in ("latency_ms", "nope=1", "server_errors=-1", "partial_fills=-1", "retry_after=x"):
        with pytest.raises(InvalidInputError):
            parse_fault_args([bad])


def test_serve_command_builds_the_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import better_orders.server
    from better_orders.cli import app as cli_app

    seen: list[ServerConfig] = []
    # The command imports the server (the [server] extra) when it runs, from the package.
    monkeypatch.setattr(
        better_orders.server, "serve", lambda config, on_ready=None: seen.append(config)
    )
    extra = tmp_path / "extra.csv"
    extra.write_text("symbol\nZZZQ\n")
    cli_app.main(
        [
            "serve", "--port", "9911", "--always-open", "--seed", "3", "--fault", "latency_ms=5",
            "--fault", "server_errors=2", "--unlisted", "nope", "--not-fractionable", "brk.a",
            "--no-sip", "--rate-limit", "50", "--assets", str(extra), "--cash-account",
            "--replace-remainder",
        ]
    )  # fmt: skip
    (config,) = seen
    assert config.venue.asset_files == (extra,)
    assert config.venue.cash_account and config.venue.replace_remainder
    assert config.port == 9911 and config.host == "127.0.0.1"
    assert config.faults == {"latency_ms": 5.0, "server_errors": 2}
    assert config.venue.always_open and config.venue.seed == 3
    assert config.venue.unknown_symbols == ("NOPE",)
    assert config.venue.non_fractionable_symbols == ("BRK.A",)
    assert config.sip_allowed is False and config.rate_limit_per_minute == 50
    with pytest.raises(SystemExit) as bad:
        cli_app.main(["serve", "--fault", "bogus=1"])
    assert bad.value.code == 2
    with pytest.raises(SystemExit) as no_file:
        cli_app.main(["serve", "--assets", str(tmp_path / "missing.csv")])
    assert no_file.value.code == 2 and seen == [config]
