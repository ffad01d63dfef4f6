"""``serve`` with alpaca-trade-api, Alpaca's legacy SDK: its trade stream and its error parsing.

The SDK connects its ``TradingStream`` to ``/stream/`` and reads JSON from binary
frames; its REST client turns an error answer into ``APIError`` only when the body
is JSON with a ``message``, so every error path must answer that way. The SDK pins
websockets below 11, which the rest of the project has outgrown: it is installed
without its dependencies (``pip install --no-deps alpaca-trade-api``, as CI does)
and its own imports are in the dev extra.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from alpaca_server import LocalAlpaca, run_local_alpaca
from serve_helpers import stop_stream

rest = pytest.importorskip(
    "alpaca_trade_api.rest",
    reason="alpaca-trade-api is installed without its pins: pip install --no-deps "
    "alpaca-trade-api==3.2.0",
)
stream = pytest.importorskip("alpaca_trade_api.stream")


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAlpaca]:
    monkeypatch.setenv("APCA_RETRY_MAX", "0")  # a 429 is answered, not slept on
    with run_local_alpaca() as exchange:
        yield exchange


def client(local: LocalAlpaca, secret: str | None = None) -> Any:
    return rest.REST(local.key_id, secret or local.secret_key, base_url=local.base_url)


async def test_the_legacy_trade_stream_connects_and_hears_fills(local: LocalAlpaca) -> None:
    updates: list[Any] = []
    filled = asyncio.Event()
    trade_stream = stream.TradingStream(local.key_id, local.secret_key, local.base_url)

    async def on_update(update: Any) -> None:
        updates.append(update)
        if update.event == "fill":
            filled.set()

    trade_stream.subscribe_trade_updates(on_update)
    task = asyncio.create_task(trade_stream._run_forever())
    try:
        await asyncio.sleep(1.0)  # connect, authenticate and listen
        order = await asyncio.to_thread(
            client(local).submit_order, "SPY", 3, "buy", "market", "day"
        )
        await asyncio.wait_for(filled.wait(), timeout=10)
    finally:
        await stop_stream(trade_stream, task)
    fill = next(u for u in updates if u.event == "fill")
    assert fill.order["id"] == order.id and fill.order["filled_qty"] == "3"
    assert local.stats()["stream"]["connections"] >= 1


def test_the_legacy_rest_client_parses_every_error_path(local: LocalAlpaca) -> None:
    api = client(local)
    calls = {
        401: lambda: client(local, "wrong secret").get_account(),
        403: lambda: api.submit_order("SPY", 100_000, "buy", "market", "day"),
        404: lambda: api.get_order("00000000-0000-0000-0000-000000000000"),
        405: lambda: api._request("PUT", "/account"),
        422: lambda: api.submit_order("SPY", -1, "buy", "market", "day"),
        413: lambda: api._request("POST", "/orders", {"pad": "x" * 70_000}),
        400: lambda: api._request("GET", "/orders", {"status": "nope"}),
    }
    seen = {}
    for status, call in calls.items():
        with pytest.raises(rest.APIError) as error:
            call()
        seen[status] = (error.value.status_code, error.value.code)
    unknown = requests.get(local.base_url + "/v2/no/such/route", headers=local.headers, timeout=10)
    with pytest.raises(rest.APIError) as missing:
        api._request("GET", "/no/such/route")
    local.set_faults(rate_limit_burst=1)
    with pytest.raises(rest.APIError) as limited:
        api.get_account()
    local.set_faults(server_errors=1)
    with pytest.raises(rest.APIError) as failed:
        api.get_clock()
    assert {status: got[0] for status, got in seen.items()} == {s: s for s in calls}
    assert all(code // 100_000 == status for status, (_, code) in seen.items())
    assert unknown.json()["code"] == 40410000 and missing.value.status_code == 404
    assert limited.value.status_code == 429 and failed.value.status_code == 500


def test_the_legacy_rest_client_reads_activities_and_closes_part_of_a_position() -> None:
    with run_local_alpaca() as local:
        api = client(local)
        api.submit_order("SPY", 4, "buy", "market", "day")
        local.advance(1)
        activities = api.get_activities(activity_types="FILL")
        closed = api.close_position("SPY", qty=2)
    assert [a.qty for a in activities] == ["4"] and activities[0].side == "buy"
    assert closed.qty == "2"
