"""The Alpaca adapter against the local Alpaca-compatible exchange, over real loopback sockets.

Every test starts its own exchange (a background thread on a free 127.0.0.1 port) so
faults and counters never leak between tests. Waiting is always for a condition
(an update, a connection state) with a deadline, never for a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pkgutil
import secrets
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from alpaca_server import TEST_VENUE, LocalAlpaca, run_local_alpaca
from better_orders.core.errors import BrokerError
from better_orders.core.market_calendar import MarketCalendar, MarketPhase, Session
from better_orders.core.model import (
    BrokerOrder,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from better_orders.engine.retry import BrokerRetry
from better_orders.server import ServerConfig
from better_orders.venues.alpaca.broker import AlpacaBroker
from better_orders.venues.alpaca.codec import order_from_json
from better_orders.venues.alpaca.connect import AlpacaSession, open_alpaca
from better_orders.venues.alpaca.credentials import Credentials, Secret
from better_orders.venues.alpaca.errors import AlpacaHTTPError, classify
from better_orders.venues.alpaca.quotes import AlpacaQuoteFeed
from better_orders.venues.alpaca.tracking import OrderTracker
from better_orders.venues.clock import OffsetClock
from better_orders.venues.sim.exchange import Latency
from ladder_kit import crossing_config

# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def exchange() -> Iterator[LocalAlpaca]:
    with run_local_alpaca() as local:
        yield local


@pytest.fixture
async def session(exchange: LocalAlpaca) -> AsyncIterator[AlpacaSession]:
    async with open_alpaca(exchange.credentials(), feed="iex", poll_interval=0.1) as opened:
        yield opened


class UpdateLog:
    """Collects a broker's order updates; ``wait_for`` returns the first matching one."""

    def __init__(self, broker: AlpacaBroker) -> None:
        self.items: list[OrderUpdate] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._run(broker))

    async def _run(self, broker: AlpacaBroker) -> None:
        async for update in broker.order_updates():
            async with self._changed:
                self.items.append(update)
                self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[OrderUpdate], bool], timeout: float = 5.0
    ) -> OrderUpdate:
        async def first() -> OrderUpdate:
            async with self._changed:
                while True:
                    for update in self.items:
                        if predicate(update):
                            return update
                    await self._changed.wait()

        return await asyncio.wait_for(first(), timeout)

    def of(self, coid: str) -> list[OrderUpdate]:
        return [u for u in self.items if u.client_order_id == coid]

    def fills(self, coid: str) -> Decimal:
        return sum((u.fill.qty for u in self.of(coid) if u.fill is not None), Decimal(0))

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for ``predicate`` to hold (checked every 10 ms), failing after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


def coid() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def limit(symbol: str, side: Side, qty: int | str, price: Decimal, client_id: str) -> OrderRequest:
    return OrderRequest(client_id, symbol, side, Decimal(qty), OrderType.LIMIT, price)


async def resting_buy(broker: AlpacaBroker, feed: AlpacaQuoteFeed, log: UpdateLog) -> OrderRequest:
    """A buy limit well under the bid, acknowledged ``new`` through the stream."""
    quote = await feed.latest_quote("SPY")
    request = limit("SPY", Side.BUY, 10, quote.bid - Decimal("20.00"), coid())
    await broker.submit_order(request)
    await log.wait_for(
        lambda u: u.client_order_id == request.client_order_id and u.status is OrderStatus.NEW
    )
    return request


# -- the happy path ----------------------------------------------------------------------------


async def test_marketable_order_fills_and_the_fill_arrives_through_the_stream(
    session: AlpacaSession, exchange: LocalAlpaca
) -> None:
    broker, feed, _clock = session
    assert broker.stream_connected
    log = UpdateLog(broker)
    quote = await feed.latest_quote("SPY")
    request = limit("SPY", Side.BUY, 7, quote.ask + Decimal("0.05"), coid())

    ack = await broker.submit_order(request)

    assert ack.client_order_id == request.client_order_id
    assert ack.status in (OrderStatus.PENDING_NEW, OrderStatus.NEW)
    assert uuid.UUID(ack.broker_order_id or "")
    filled = await log.wait_for(lambda u: u.status is OrderStatus.FILLED)
    assert filled.filled_qty == Decimal(7)
    assert filled.fill is not None
    assert uuid.UUID(filled.fill.exec_id)  # Alpaca's execution id, not a synthetic one
    assert filled.fill.price <= request.limit_price  # type: ignore[operator]
    assert log.fills(request.client_order_id) == Decimal(7)
    assert broker.synthetic_fills == 0
    order = await broker.get_order(request.client_order_id)
    assert order is not None and order.status is OrderStatus.FILLED
    assert order.filled_avg_price == filled.fill.price
    positions = {p.symbol: p for p in await broker.get_positions()}
    assert positions["SPY"].qty == Decimal(7)
    account = await broker.get_account()
    assert account.cash == Decimal(100_000) - Decimal(7) * filled.fill.price
    assert await broker.list_open_orders() == []
    await log.close()


async def test_quotes_arrive_from_the_quote_stream(session: AlpacaSession) -> None:
    _broker, feed, _clock = session
    assert feed.feed_name == "iex"
    seen = []
    async with contextlib.aclosing(feed.quotes(["SPY"], rest_fallback=False)) as stream:
        async for quote in stream:
            seen.append(quote)
            if len(seen) == 3:
                break
    assert all(q.symbol == "SPY" and q.bid < q.ask for q in seen)
    assert all(q.ts.tzinfo is not None for q in seen)
    assert feed.stream_connected is False  # closed with the iterator


async def test_feed_auto_picks_sip_when_permitted_and_iex_otherwise() -> None:
    with run_local_alpaca(ServerConfig(venue=TEST_VENUE, sip_allowed=False)) as local:
        async with open_alpaca(local.credentials(), feed="auto") as (_broker, feed, _clock):
            assert feed.feed_name == "iex"
            assert feed.name == "alpaca-iex"
    with run_local_alpaca() as local:
        async with open_alpaca(local.credentials(), feed="auto") as (_broker, feed, _clock):
            assert feed.feed_name == "sip"


# -- retries never duplicate -------------------------------------------------------------------


async def test_submit_after_a_504_is_found_by_client_order_id_not_sent_twice(
    session: AlpacaSession, exchange: LocalAlpaca
) -> None:
    broker, feed, clock = session
    quote = await feed.latest_quote("SPY")
    request = limit("SPY", Side.BUY, 3, quote.ask + Decimal("0.05"), coid())
    exchange.set_faults(lost_responses=1)

    ack = await BrokerRetry(broker, clock, broker.budget).submit(request)

    assert ack.client_order_id == request.client_order_id
    stats = exchange.stats()
    assert stats["requests"]["POST /v2/orders"] == 1
    assert stats["responses"]["504"] == 1
    assert stats["orders_created"] == 1
    assert stats["requests"]["GET /v2/orders:by_client_order_id"] >= 1


async def test_resubmit_after_a_504_and_a_failed_lookup_meets_the_duplicate_refusal(
    session: AlpacaSession, exchange: LocalAlpaca
) -> None:
    """504 on the POST, 500 on the look-up, so the adapter resubmits: Alpaca says the id is
    taken (422), the adapter looks again and returns the one order."""
    broker, feed, clock = session
    quote = await feed.latest_quote("SPY")
    request = limit("SPY", Side.BUY, 2, quote.bid - Decimal("5.00"), coid())
    exchange.set_faults(lost_responses=1)
    # The next request after the lost POST is the look-up: make it fail.
    original = broker.get_order
    calls = 0

    async def flaky_lookup(client_order_id: str) -> BrokerOrder | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            exchange.set_faults(server_errors=1)
        return await original(client_order_id)

    broker.get_order = flaky_lookup  # type: ignore[method-assign]

    ack = await BrokerRetry(broker, clock, broker.budget).submit(request)

    assert ack.client_order_id == request.client_order_id
    stats = exchange.stats()
    assert stats["requests"]["POST /v2/orders"] == 2
    assert stats["responses"]["504"] == 1
    assert stats["responses"]["500"] == 1
    assert stats["responses"]["422"] == 1  # client_order_id must be unique
    assert stats["orders_created"] == 1
    assert len(await broker.list_open_orders()) == 1


async def test_a_burst_of_429s_is_waited_out_and_nothing_is_lost(
    session: AlpacaSession, exchange: LocalAlpaca
) -> None:
    broker, feed, clock = session
    log = UpdateLog(broker)
    quote = await feed.latest_quote("SPY")
    request = limit("SPY", Side.BUY, 4, quote.ask + Decimal("0.05"), coid())
    exchange.set_faults(rate_limit_burst=3, retry_after=0.2)
    waited_before = broker.budget.waited_seconds

    ack = await BrokerRetry(broker, clock, broker.budget).submit(request)

    assert ack.client_order_id == request.client_order_id
    assert broker.budget.throttled == 3
    assert broker.budget.waited_seconds - waited_before >= 0.5  # 3 x Retry-After 0.2 s
    stats = exchange.stats()
    assert stats["responses"]["429"] == 3
    assert stats["requests"]["POST /v2/orders"] == 4
    assert stats["orders_created"] == 1
    filled = await log.wait_for(lambda u: u.status is OrderStatus.FILLED)
    assert filled.filled_qty == Decimal(4)
    await log.close()


async def test_the_budget_slows_down_before_the_server_says_429() -> None:
    config = ServerConfig(venue=TEST_VENUE, rate_limit_per_minute=6, rate_window_seconds=1.0)
    with run_local_alpaca(config) as local:
        broker = AlpacaBroker(local.credentials(), use_stream=False)
        try:
            for _ in range(10):
                account = await broker.get_account()
                assert account.cash == Decimal(100_000)
        finally:
            await broker.close()
        stats = local.stats()
    assert stats["requests"]["GET /v2/account"] == 10
    assert "429" not in stats["responses"]
    assert broker.budget.waited_seconds > 0


# -- the stream drops: polling takes over ------------------------------------------------------


async def test_a_fill_while_the_stream_is_down_is_picked_up_by_polling(
    session: AlpacaSession, exchange: LocalAlpaca
) -> None:
    broker, feed, _clock = session
    log = UpdateLog(broker)
    request = await resting_buy(broker, feed, log)
    order = await broker.get_order(request.client_order_id)
    assert order is not None

    exchange.set_faults(stream_down_seconds=2.0, drop_stream=True)
    await wait_until(lambda: not broker.stream_connected)
    # The cancel loses the race: the order fills at its limit while the stream is down.
    exchange.set_faults(cancel_race=1)
    await broker.cancel_order(request.client_order_id)

    filled = await log.wait_for(
        lambda u: u.client_order_id == request.client_order_id and u.status is OrderStatus.FILLED
    )
    assert filled.filled_qty == Decimal(10)
    assert filled.fill is not None
    assert filled.fill.exec_id == f"{order.broker_order_id}-cum-10"
    assert filled.fill.qty == Decimal(10)
    assert filled.fill.price == request.limit_price
    assert broker.synthetic_fills == 1
    assert broker.stream_drops == 1

    # The stream comes back; nothing is counted twice and nothing is left open.
    await wait_until(lambda: broker.stream_connected, timeout=15.0)
    assert broker.stream_connects == 2
    assert log.fills(request.client_order_id) == Decimal(10)
    assert await broker.list_open_orders() == []
    positions = {p.symbol: p.qty for p in await broker.get_positions()}
    assert positions["SPY"] == Decimal(10)
    await log.close()


async def test_without_a_stream_every_event_comes_from_polling() -> None:
    # A cash account: a sell of shares not held is refused (a margin account would short).
    venue = replace(TEST_VENUE, cash_account=True)
    with run_local_alpaca(ServerConfig(venue=venue)) as exchange:
        await _poll_a_refusal_and_a_fill(exchange)


async def _poll_a_refusal_and_a_fill(exchange: LocalAlpaca) -> None:
    async with open_alpaca(
        exchange.credentials(), feed="iex", poll_interval=0.05, use_stream=False
    ) as (broker, feed, _clock):
        log = UpdateLog(broker)
        quote = await feed.latest_quote("SPY")
        request = limit("SPY", Side.SELL, 1, quote.bid, coid())
        with pytest.raises(BrokerError) as refused:
            await broker.submit_order(request)  # nothing to sell yet
        assert refused.value.code == "insufficient_qty"
        request = limit("SPY", Side.BUY, 5, quote.ask + Decimal("0.05"), coid())
        await broker.submit_order(request)
        filled = await log.wait_for(lambda u: u.status is OrderStatus.FILLED)
        assert filled.filled_qty == Decimal(5)
        assert filled.fill is not None and filled.fill.exec_id.endswith("-cum-5")
        assert log.fills(request.client_order_id) == Decimal(5)
        await log.close()


# -- validation before the wire ----------------------------------------------------------------


async def test_sub_penny_prices_never_reach_the_wire(
    session: AlpacaSession, exchange: LocalAlpaca
) -> None:
    broker, _feed, _clock = session
    for price in (Decimal("412.315"), Decimal("1.001"), Decimal("0.12345")):
        with pytest.raises(BrokerError) as refused:
            await broker.submit_order(limit("SPY", Side.BUY, 1, price, coid()))
        assert refused.value.code == "invalid_price"
        assert str(price) in str(refused.value)
        assert "SPY" in str(refused.value)
    assert exchange.requests_to("POST /v2/orders") == 0


async def test_fractions_only_on_market_and_limit_day_orders_of_fractionable_assets() -> None:
    venue = replace(TEST_VENUE, non_fractionable_symbols=("TQQQ",))
    with run_local_alpaca(ServerConfig(venue=venue)) as local:
        broker = AlpacaBroker(local.credentials(), use_stream=False)
        try:
            market = OrderRequest(coid(), "TQQQ", Side.BUY, Decimal("0.5"), OrderType.MARKET)
            with pytest.raises(BrokerError) as asset_refused:
                await broker.submit_order(market)
            assert asset_refused.value.code == "not_fractionable"
            assert "TQQQ is not fractionable" in str(asset_refused.value)
            ioc = OrderRequest(
                coid(), "SPY", Side.BUY, Decimal("0.5"), OrderType.MARKET,
                time_in_force=TimeInForce.IOC,
            )  # fmt: skip
            with pytest.raises(BrokerError) as ioc_refused:
                await broker.submit_order(ioc)
            assert ioc_refused.value.code == "not_fractionable"
            assert "market or limit DAY orders" in str(ioc_refused.value)
            assert local.requests_to("POST /v2/orders") == 0
            resting = limit("SPY", Side.BUY, "0.5", Decimal("10.00"), coid())
            assert (await broker.submit_order(resting)).client_order_id == resting.client_order_id
            ok = OrderRequest(coid(), "SPY", Side.BUY, Decimal("0.5"), OrderType.MARKET)
            ack = await broker.submit_order(ok)
            assert ack.client_order_id == ok.client_order_id
        finally:
            await broker.close()
        stats = local.stats()
    assert stats["requests"]["POST /v2/orders"] == 2
    assert stats["requests"]["GET /v2/assets"] == 2  # TQQQ and SPY, each once


async def test_extended_hours_only_on_day_limit_orders(exchange: LocalAlpaca) -> None:
    broker = AlpacaBroker(exchange.credentials(), use_stream=False, extended_hours=True)
    try:
        market = OrderRequest(coid(), "SPY", Side.BUY, Decimal(1), OrderType.MARKET)
        with pytest.raises(BrokerError) as refused:
            await broker.submit_order(market)
        assert refused.value.code == "invalid_order"
        assert exchange.requests_to("POST /v2/orders") == 0
        quote = await AlpacaQuoteFeed(exchange.credentials()).latest_quote("SPY")
        ack = await broker.submit_order(limit("SPY", Side.BUY, 1, quote.bid, coid()))
        assert ack.status is OrderStatus.PENDING_NEW
    finally:
        await broker.close()


# -- replace -----------------------------------------------------------------------------------


async def test_replace_gives_a_new_order_and_the_old_one_becomes_replaced(
    session: AlpacaSession, exchange: LocalAlpaca
) -> None:
    broker, feed, _clock = session
    log = UpdateLog(broker)
    request = await resting_buy(broker, feed, log)
    assert request.limit_price is not None
    new_price = request.limit_price - Decimal("1.00")
    new_id = coid()

    ack = await broker.replace_order(
        request.client_order_id, qty=Decimal(6), limit_price=new_price, new_client_order_id=new_id
    )

    assert ack.client_order_id == new_id
    old = await broker.get_order(request.client_order_id)
    assert ack.broker_order_id != (old.broker_order_id if old else None)
    await log.wait_for(
        lambda u: u.client_order_id == request.client_order_id and u.status is OrderStatus.REPLACED
    )
    await log.wait_for(lambda u: u.client_order_id == new_id and u.status is OrderStatus.NEW)
    open_orders = await broker.list_open_orders()
    assert [(o.client_order_id, o.qty, o.limit_price) for o in open_orders] == [
        (new_id, Decimal(6), new_price)
    ]
    replaced = await broker.get_order(request.client_order_id)
    assert replaced is not None and replaced.status is OrderStatus.REPLACED
    await log.close()


async def test_replace_racing_a_fill_fails_after_the_200(
    session: AlpacaSession, exchange: LocalAlpaca
) -> None:
    broker, feed, _clock = session
    log = UpdateLog(broker)
    request = await resting_buy(broker, feed, log)
    assert request.limit_price is not None
    exchange.set_faults(replace_race=1)
    new_id = coid()

    ack = await broker.replace_order(
        request.client_order_id,
        limit_price=request.limit_price + Decimal("0.01"),
        new_client_order_id=new_id,
    )

    assert ack.client_order_id == new_id  # Alpaca answered 200 ...
    rejected = await log.wait_for(
        lambda u: u.client_order_id == new_id and u.status is OrderStatus.REJECTED
    )  # ... and the replacement is rejected because the old order filled first
    assert rejected.filled_qty == 0
    race = await log.wait_for(lambda u: u.reason == "order_replace_rejected")
    assert race.client_order_id == request.client_order_id
    assert race.status is OrderStatus.FILLED
    assert log.fills(request.client_order_id) == Decimal(10)
    assert log.fills(new_id) == Decimal(0)
    fill_updates = [u for u in log.of(request.client_order_id) if u.fill is not None]
    assert [u.fill.price for u in fill_updates if u.fill] == [request.limit_price]
    assert await broker.list_open_orders() == []
    positions = {p.symbol: p.qty for p in await broker.get_positions()}
    assert positions["SPY"] == Decimal(10)  # the old order's quantity, never more
    await log.close()


async def test_replace_is_refused_while_the_order_is_pending_new() -> None:
    slow = replace(TEST_VENUE, latency=Latency(submit=timedelta(seconds=2)))
    with run_local_alpaca(ServerConfig(venue=slow)) as local:
        async with open_alpaca(local.credentials(), feed="iex") as (broker, feed, _clock):
            quote = await feed.latest_quote("SPY")
            request = limit("SPY", Side.BUY, 1, quote.bid - Decimal("10.00"), coid())
            ack = await broker.submit_order(request)
            assert ack.status is OrderStatus.PENDING_NEW  # the venue has not seen it yet
            with pytest.raises(BrokerError) as refused:
                await broker.replace_order(
                    request.client_order_id, limit_price=quote.bid, new_client_order_id=coid()
                )
        assert refused.value.code == "not_replaceable"
        assert refused.value.retryable
        assert "pending_new" in str(refused.value)
        assert local.requests_to("PATCH /v2/orders/{id}") == 0


async def test_replace_refused_by_alpaca_is_not_replaceable(
    session: AlpacaSession, exchange: LocalAlpaca
) -> None:
    broker, feed, _clock = session
    log = UpdateLog(broker)
    request = await resting_buy(broker, feed, log)
    exchange.set_faults(replace_refused=1)
    with pytest.raises(BrokerError) as refused:
        await broker.replace_order(
            request.client_order_id, qty=Decimal(3), new_client_order_id=coid()
        )
    assert refused.value.code == "not_replaceable"
    assert "422" in str(refused.value)
    assert [o.client_order_id for o in await broker.list_open_orders()] == [request.client_order_id]
    await log.close()


# -- refusals and their codes ------------------------------------------------------------------


async def test_cancel_of_a_filled_order_is_not_cancelable(session: AlpacaSession) -> None:
    broker, feed, _clock = session
    log = UpdateLog(broker)
    quote = await feed.latest_quote("SPY")
    request = limit("SPY", Side.BUY, 2, quote.ask + Decimal("0.05"), coid())
    await broker.submit_order(request)
    await log.wait_for(lambda u: u.status is OrderStatus.FILLED)
    with pytest.raises(BrokerError) as refused:
        await broker.cancel_order(request.client_order_id)
    assert refused.value.code == "not_cancelable"
    assert "filled" in str(refused.value)
    assert request.client_order_id in str(refused.value)
    await log.close()


async def test_cancel_of_an_open_order_ends_canceled(session: AlpacaSession) -> None:
    broker, feed, _clock = session
    log = UpdateLog(broker)
    request = await resting_buy(broker, feed, log)
    await broker.cancel_order(request.client_order_id)
    canceled = await log.wait_for(lambda u: u.status is OrderStatus.CANCELED)
    assert canceled.client_order_id == request.client_order_id
    assert canceled.filled_qty == 0
    with pytest.raises(BrokerError) as unknown:
        await broker.cancel_order("never-sent")
    assert unknown.value.code == "not_found"
    await log.close()


async def test_insufficient_buying_power_and_unknown_symbol(
    session: AlpacaSession, exchange: LocalAlpaca
) -> None:
    broker, feed, _clock = session
    quote = await feed.latest_quote("SPY")
    big = limit("SPY", Side.BUY, 1000, quote.ask, coid())  # ~ $650k on a $100k account
    with pytest.raises(BrokerError) as poor:
        await broker.submit_order(big)
    assert poor.value.code == "insufficient_buying_power"
    assert not poor.value.retryable
    assert "insufficient buying power" in str(poor.value)
    assert "403" in str(poor.value) and "40310000" in str(poor.value)
    assert big.client_order_id in str(poor.value)

    with pytest.raises(BrokerError) as unknown:
        await broker.submit_order(limit("NOPE", Side.BUY, 1, Decimal("10.00"), coid()))
    assert unknown.value.code == "unknown_symbol"
    assert "NOPE" in str(unknown.value)
    with pytest.raises(BrokerError) as asset:
        await broker.get_asset("NOPE")
    assert asset.value.code == "unknown_symbol"
    with pytest.raises(BrokerError) as no_quote:
        await feed.latest_quote("NOPE")
    assert no_quote.value.code == "no_quote"
    assert exchange.stats()["orders_created"] == 0


async def test_wash_trade_refusal(session: AlpacaSession, exchange: LocalAlpaca) -> None:
    broker, feed, _clock = session
    log = UpdateLog(broker)
    buy = await resting_buy(broker, feed, log)
    assert buy.limit_price is not None
    sell = limit("SPY", Side.SELL, 1, buy.limit_price, coid())
    with pytest.raises(BrokerError) as refused:
        await broker.submit_order(sell)
    assert refused.value.code == "wash_trade"
    assert "potential wash trade detected" in str(refused.value)
    await log.close()


@pytest.mark.parametrize(
    ("status", "message", "op", "code", "retryable"),
    [
        (403, "insufficient buying power", "submit", "insufficient_buying_power", False),
        (403, "potential wash trade detected. use complex orders", "submit", "wash_trade", False),
        (422, "invalid limit_price 1.001. sub-penny increment", "submit", "invalid_price", False),
        (403, "market is closed", "submit", "market_closed", False),
        (429, "rate limit exceeded", "submit", "rate_limited", True),
        (422, 'asset "ZZZZ" not found', "submit", "unknown_symbol", False),
        (422, "asset TSLA is not tradable", "submit", "not_tradable", False),
        (422, "asset BRK.A is not fractionable", "submit", "not_fractionable", False),
        (422, 'order is already in "filled" state', "cancel", "not_cancelable", False),
        (422, "order is not replaceable", "replace", "not_replaceable", False),
        (404, "order not found", "get", "not_found", False),
        (500, "internal server error occurred", "submit", "server_error", True),
        (504, "gateway timeout", "submit", "timeout", True),
        (401, "request is not authorized", "get", "unauthorized", False),
        (403, "forbidden", "get", "unauthorized", False),
        (422, "client_order_id must be unique", "submit", "duplicate_client_order_id", False),
    ],
)
def test_error_mapping(status: int, message: str, op: str, code: str, retryable: bool) -> None:
    failure = AlpacaHTTPError(message, status=status, code=status * 100000)
    assert classify(failure, op=op) == (code, retryable)


def test_timeouts_and_lost_connections_are_retryable() -> None:
    assert classify(AlpacaHTTPError("no answer", kind="timeout"), op="submit") == ("timeout", True)
    assert classify(AlpacaHTTPError("refused", kind="connection"), op="get") == (
        "server_error",
        True,
    )


async def test_submit_error_injected_on_the_wire_keeps_alpacas_message(
    session: AlpacaSession, exchange: LocalAlpaca
) -> None:
    broker, feed, _clock = session
    exchange.set_faults(submit_errors=1, submit_error=[403, 40310000, "market is closed"])
    quote = await feed.latest_quote("SPY")
    with pytest.raises(BrokerError) as refused:
        await broker.submit_order(limit("SPY", Side.BUY, 1, quote.bid, coid()))
    assert refused.value.code == "market_closed"
    assert "market is closed" in str(refused.value)


# -- exactly-once fills (no server) ------------------------------------------------------------


_NOW = datetime(2026, 11, 27, 14, 30, 2, tzinfo=UTC)


def _order(status: str, filled: str, avg: str | None, coid: str = "c-1") -> dict[str, Any]:
    return {
        "id": "8d1b5a61-2f3c-4a55-9c1e-6f0b7f4e2a10",
        "client_order_id": coid,
        "symbol": "TQQQ",
        "side": "buy",
        "qty": "10",
        "type": "limit",
        "limit_price": "51.02",
        "status": status,
        "filled_qty": filled,
        "filled_avg_price": avg,
        "submitted_at": "2026-11-27T14:30:00.123456789Z",
    }


def _fill_event(exec_id: str, qty: str, price: str, order: dict[str, Any]) -> dict[str, Any]:
    event = "fill" if order["status"] == "filled" else "partial_fill"
    return {
        "stream": "trade_updates",
        "data": {
            "event": event,
            "execution_id": exec_id,
            "qty": qty,
            "price": price,
            "timestamp": "2026-11-27T14:30:01.5Z",
            "order": order,
        },
    }


def test_a_duplicated_fill_event_is_counted_once() -> None:
    orders = OrderTracker()
    event = _fill_event("e-1", "4", "51.01", _order("partially_filled", "4", "51.01"))
    first = orders.on_trade_update(event, _NOW)
    second = orders.on_trade_update(event, _NOW)
    assert [u.fill.qty for u in first if u.fill] == [Decimal(4)]
    assert second == []
    assert orders.duplicate_events == 1


def test_rest_then_stream_never_double_counts_and_gaps_become_synthetic_fills() -> None:
    orders = OrderTracker()
    track = orders.remember(order_from_json(_order("new", "0", None)))
    now = _NOW
    # REST sees 4 filled at 51.01 before the stream says anything.
    polled = orders.reconcile(track, order_from_json(_order("partially_filled", "4", "51.01")), now)
    assert [(u.fill.exec_id, u.fill.qty, u.fill.price) for u in polled if u.fill] == [
        ("8d1b5a61-2f3c-4a55-9c1e-6f0b7f4e2a10-cum-4", Decimal(4), Decimal("51.01"))
    ]
    # The late stream event for those same 4 shares adds no fill.
    late = orders.on_trade_update(
        _fill_event("e-1", "4", "51.01", _order("partially_filled", "4", "51.01")), now
    )
    assert all(u.fill is None for u in late)
    # A missed execution (2 @ 51.02) and then a seen one (4 @ 51.02): a synthetic fill for
    # the gap, then the real one; the total is exactly the cumulative 10.
    final = _order("filled", "10", "51.016")
    updates = orders.on_trade_update(_fill_event("e-3", "4", "51.02", final), now)
    fills = [u.fill for u in updates if u.fill]
    assert [(f.qty, f.price) for f in fills] == [
        (Decimal(2), Decimal("51.02")),
        (Decimal(4), Decimal("51.02")),
    ]
    assert fills[0].exec_id.endswith("-cum-6") and fills[1].exec_id == "e-3"
    assert updates[-1].status is OrderStatus.FILLED and updates[-1].filled_qty == 10
    assert track.reported_qty == Decimal(10)
    # A stale "new" after the fill never undoes the terminal status.
    assert orders.reconcile(track, order_from_json(_order("new", "0", None)), now) == []


def test_statuses_map_to_the_core_vocabulary() -> None:
    for alpaca, ours in [
        ("pending_replace", OrderStatus.PENDING_REPLACE),
        ("pending_cancel", OrderStatus.PENDING_CANCEL),
        ("replaced", OrderStatus.REPLACED),
        ("done_for_day", OrderStatus.DONE_FOR_DAY),
        ("expired", OrderStatus.EXPIRED),
        ("accepted", OrderStatus.ACCEPTED),
        ("held", OrderStatus.ACCEPTED),
    ]:
        assert order_from_json(_order(alpaca, "0", None)).status is ours
    with pytest.raises(BrokerError) as unknown:
        order_from_json(_order("teleported", "0", None))
    assert unknown.value.code == "bad_response"


# -- secrets -----------------------------------------------------------------------------------


FAKE_KEY_ID = "PKFAKE" + secrets.token_hex(7).upper()
#: Made at run time: a value that must never show up in any output or file.
FAKE_SECRET = secrets.token_urlsafe(24)


async def _exchange_offset(creds: Credentials) -> timedelta:
    probe = AlpacaBroker(creds, use_stream=False)
    try:
        market = await probe.get_market_clock()
    finally:
        await probe.close()
    return market.timestamp - datetime.now(UTC)


class RegularHours(MarketCalendar):
    """Always mid-session: the ladder's phase rules do not depend on when the test runs."""

    def phase_at(self, instant: datetime) -> MarketPhase:
        return MarketPhase.REGULAR

    def session_at(self, instant: datetime) -> Session | None:
        return Session(
            date=instant.date(),
            open=instant - timedelta(hours=2),
            close=instant + timedelta(hours=4),
            early_close=False,
        )

    def session_for(self, day: date) -> Session | None:
        start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=14, minutes=30)
        return Session(date=day, open=start, close=start + timedelta(hours=6.5), early_close=False)


async def test_the_runner_and_ladder_fill_one_order_and_secrets_stay_out_of_everything(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    from better_orders.config.settings import TcaSettings
    from better_orders.engine.execution import OrderSpec, execute
    from better_orders.store.journal import Journal

    caplog.set_level(logging.DEBUG)
    config = ServerConfig(venue=TEST_VENUE, keys={FAKE_KEY_ID: FAKE_SECRET})
    journal_path = tmp_path / "journal.db"
    with run_local_alpaca(config) as local:
        creds = replace(local.credentials(), key_id=FAKE_KEY_ID, secret_key=Secret(FAKE_SECRET))
        # Decide on the exchange's time, as ``better-orders --broker alpaca`` does.
        offset = await _exchange_offset(creds)
        async with open_alpaca(creds, feed="iex", poll_interval=0.1, clock=OffsetClock(offset)) as (
            broker,
            feed,
            clock,
        ):
            with Journal.open(journal_path) as journal:
                journal.start_run("alpaca-e2e", "order", {"credentials": repr(creds)}, broker.name)
                reports = await execute(
                    [OrderSpec.parse("SPY", "10", "buy")],
                    broker=broker,
                    feed=feed,
                    clock=clock,
                    journal=journal,
                    # The quote half a second after each fill, on the broker's clock.
                    # One marketable limit (no patient rest first).
                    config=crossing_config(tca=TcaSettings(markout_seconds=(0.5,))),
                    run_id="alpaca-e2e",
                    calendar=RegularHours(),
                )
                journal.finish_run("alpaca-e2e", "completed", None)
                marks = journal.quote_marks("alpaca-e2e")
                fills = journal.fills(run_id="alpaca-e2e")
            kinds = sorted((m.kind.value, m.after_ms) for m in marks)
            assert kinds == sorted([("arrival", 0)] + [("fill", 0), ("after", 500)] * len(fills))
            report = reports[0]
            assert report.filled_qty == Decimal(10)
            assert report.complete and report.error is None
            assert report.unfilled_qty == 0
            assert report.avg_fill_price is not None
            assert len(report.attempts) == 1 and not report.fallback_used
            assert sum(f.qty for f in report.fills) == Decimal(10)
            assert await broker.list_open_orders() == []
            positions = {p.symbol: p.qty for p in await broker.get_positions()}
            assert positions["SPY"] == Decimal(10)
            # An error about the keys does not carry them either.
            wrong = replace(creds, secret_key=Secret(FAKE_SECRET + "x"))
            bad = AlpacaBroker(wrong, use_stream=False)
            with pytest.raises(BrokerError) as unauthorized:
                await bad.get_account()
            assert unauthorized.value.code == "unauthorized"
            await bad.close()
            texts = [repr(creds), str(creds), f"{creds}", str(unauthorized.value), repr(report)]
    with sqlite3.connect(journal_path) as db:
        dump = "\n".join(db.iterdump())
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    captured = capsys.readouterr()
    haystacks = [*texts, dump, caplog.text, captured.out, captured.err]
    assert f"****{FAKE_KEY_ID[-4:]}" in repr(creds)
    assert all(FAKE_SECRET not in text for text in haystacks)
    assert FAKE_SECRET.encode() not in files
    assert FAKE_KEY_ID not in repr(creds)


# -- credentials and the live opt-in -----------------------------------------------------------


def test_keys_come_from_the_environment_and_never_show_the_secret() -> None:
    from better_orders.core.errors import ConfigError

    env = {"APCA_API_KEY_ID": FAKE_KEY_ID, "APCA_API_SECRET_KEY": FAKE_SECRET}
    creds = Credentials.from_env(env)
    assert creds.paper and creds.trading_url == "https://paper-api.alpaca.markets"
    assert creds.trading_stream_url == "wss://paper-api.alpaca.markets/stream"
    assert creds.data_stream_url("iex") == "wss://stream.data.alpaca.markets/v2/iex"
    assert creds.secret_key.reveal() == FAKE_SECRET
    shown = (repr(creds), str(creds), f"{creds}", repr(creds.secret_key), f"{creds.secret_key}")
    for text in shown:
        assert FAKE_SECRET not in text
        assert FAKE_KEY_ID not in text
    assert f"****{FAKE_KEY_ID[-4:]}" in str(creds)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(creds.secret_key)

    urls = {
        "APCA_API_BASE_URL": "http://127.0.0.1:8765/",
        "APCA_API_DATA_URL": "http://127.0.0.1:8765",
    }
    local = Credentials.from_env({**env, **urls})
    assert local.trading_url == "http://127.0.0.1:8765"
    assert local.trading_stream_url == "ws://127.0.0.1:8765/stream"
    assert local.data_stream_url("sip") == "ws://127.0.0.1:8765/v2/sip"

    with pytest.raises(ConfigError) as missing:
        Credentials.from_env({"APCA_API_KEY_ID": FAKE_KEY_ID})
    assert "APCA_API_SECRET_KEY" in str(missing.value)
    assert FAKE_KEY_ID not in str(missing.value)
    with pytest.raises(ConfigError) as live_url:
        Credentials.from_env({**env, "APCA_API_BASE_URL": "https://api.alpaca.markets"})
    assert "--live" in str(live_url.value)
    assert Credentials.from_env(env, live=True).trading_url == "https://api.alpaca.markets"
    with pytest.raises(ConfigError):
        paper_url = {**env, "APCA_API_BASE_URL": "https://paper-api.alpaca.markets"}
        Credentials.from_env(paper_url, live=True)
    with pytest.raises(ConfigError) as with_path:
        Credentials.from_env({**env, "APCA_API_BASE_URL": "https://paper-api.alpaca.markets/v2"})
    assert "/v2" in str(with_path.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.alpaca.markets:443",  # a port
        "https://api.alpaca.markets.",  # the fully qualified name
        "HTTPS://API.Alpaca.Markets:443/",
    ],
)
def test_the_live_api_is_recognised_however_its_url_is_written(url: str) -> None:
    from better_orders.core.errors import ConfigError

    env = {"APCA_API_KEY_ID": FAKE_KEY_ID, "APCA_API_SECRET_KEY": FAKE_SECRET}
    with pytest.raises(ConfigError, match="--live"):
        Credentials.from_env({**env, "APCA_API_BASE_URL": url})
    assert not Credentials.from_env({**env, "APCA_API_BASE_URL": url}, live=True).paper


@pytest.mark.parametrize("variable", ["APCA_API_BASE_URL", "APCA_API_DATA_URL"])
def test_a_url_carrying_a_password_is_refused_without_showing_it(variable: str) -> None:
    from better_orders.core.errors import ConfigError

    env = {"APCA_API_KEY_ID": FAKE_KEY_ID, "APCA_API_SECRET_KEY": FAKE_SECRET}
    with pytest.raises(ConfigError, match="must not carry a user or password") as refused:
        Credentials.from_env({**env, variable: "http://URLUSER:URLPASS5678@127.0.0.1:8080"})
    assert "URLPASS5678" not in str(refused.value)


def test_live_trading_needs_live_and_a_confirmation() -> None:
    from better_orders.venues.alpaca.credentials import (
        LiveTradingRefused,
        require_live_opt_in,
        typed_confirmation,
    )

    shown: list[str] = []
    asked: list[str] = []

    def confirm_no(prompt: str) -> bool:
        asked.append(prompt)
        return False

    def confirm_yes(prompt: str) -> bool:
        asked.append(prompt)
        return True

    summary = "account PA123456 (ACTIVE), equity $25,000.00"
    with pytest.raises(LiveTradingRefused) as no_flag:
        require_live_opt_in(False, True, summary, confirm_yes, echo=shown.append)
    assert "--live" in str(no_flag.value)
    assert asked == [] and shown == []

    with pytest.raises(LiveTradingRefused) as not_confirmed:
        require_live_opt_in(True, False, summary, confirm_no, echo=shown.append)
    assert "not confirmed" in str(not_confirmed.value)
    assert any(summary in line for line in shown)
    assert len(asked) == 1 and "LIVE" in asked[0]

    shown.clear()
    asked.clear()
    require_live_opt_in(True, False, summary, confirm_yes, echo=shown.append)
    assert any(summary in line for line in shown) and len(asked) == 1

    shown.clear()
    asked.clear()
    require_live_opt_in(True, True, summary, confirm_no, echo=shown.append)
    assert asked == [] and any(summary in line for line in shown)

    assert typed_confirmation(read=lambda _p: " LIVE\n")("?") is True
    assert typed_confirmation(read=lambda _p: "live")("?") is False

    def eof(_prompt: str) -> str:
        raise EOFError

    with pytest.raises(LiveTradingRefused):
        require_live_opt_in(True, False, summary, typed_confirmation(read=eof), echo=shown.append)


# -- layering ----------------------------------------------------------------------------------


def test_the_adapter_imports_nothing_of_the_simulator() -> None:
    """Importing every module of ``venues.alpaca`` (in a fresh interpreter) loads no
    ``venues.sim`` module: the adapter stands on its own."""
    import better_orders.venues.alpaca as package

    names = [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('better_orders.venues.sim')))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "better_orders.venues.alpaca.broker" in names
    assert done.stdout.strip() == "[]"


async def test_rest_polling_ends_when_cancelled_as_the_stream_state_changes() -> None:
    # Shutting down stops the quote stream (setting the state event) and cancels the REST
    # poller in the same instant. asyncio.wait_for on 3.11 returned the event's result and
    # dropped the cancel: the poller polled forever and the command never exited.
    feed = AlpacaQuoteFeed(
        Credentials(
            "KEY", Secret("SECRET"), base_url="http://127.0.0.1:9", data_url="http://127.0.0.1:9"
        ),
        poll_interval=60.0,
    )

    async def no_quotes(symbols: list[str]) -> dict[str, Any]:
        return {}

    feed.latest_quotes = no_quotes  # type: ignore[method-assign]
    queue: asyncio.Queue[Any] = asyncio.Queue()
    changed = asyncio.Event()
    poller = asyncio.create_task(feed._poll_while_down(["SPY"], queue, changed, {"up": False}))
    for _ in range(5):  # let it poll once and wait on the event
        await asyncio.sleep(0)
    changed.set()
    poller.cancel()
    done, _ = await asyncio.wait({poller}, timeout=2.0)
    assert poller in done and poller.cancelled()
    await feed.close()
