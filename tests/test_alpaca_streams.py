"""The adapter's websocket client against small servers speaking Alpaca's protocols as Alpaca
does (binary trading frames, quotes in the subscription's frame, refusals), over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from better_orders.venues.alpaca.credentials import Credentials, Secret
from better_orders.venues.alpaca.streams import quote_stream, trade_updates_stream

Handler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def alpaca_like(handler: Handler) -> AsyncIterator[tuple[Credentials, list[str]]]:
    """A websocket server on a free port; the credentials that point at it, and the paths
    of the connections it accepted."""
    paths: list[str] = []

    async def handle(ws: ServerConnection) -> None:
        assert ws.request is not None
        paths.append(ws.request.path)
        await handler(ws)

    async with serve(handle, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        root = f"http://127.0.0.1:{port}"
        yield Credentials("KEY", Secret("SECRET"), base_url=root, data_url=root), paths


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


FILL = {
    "stream": "trade_updates",
    "data": {"event": "fill", "execution_id": "e-1", "qty": 0.5, "price": 51.02, "order": {}},
}


async def test_trade_updates_in_binary_frames_and_the_connection_state() -> None:
    async def handler(ws: ServerConnection) -> None:
        auth = json.loads(await ws.recv())
        assert auth == {"action": "authenticate", "data": {"key_id": "KEY", "secret_key": "SECRET"}}
        ok = {"stream": "authorization", "data": {"status": "authorized"}}
        await ws.send(json.dumps(ok).encode())  # Alpaca's trading stream sends binary frames
        listen = json.loads(await ws.recv())
        assert listen == {"action": "listen", "data": {"streams": ["trade_updates"]}}
        await ws.send(json.dumps({"stream": "listening", "data": {}}).encode())
        await ws.send(json.dumps(FILL).encode())
        await ws.wait_closed()

    async with alpaca_like(handler) as (creds, paths):
        states: list[bool] = []
        got: asyncio.Queue[Any] = asyncio.Queue()
        stream = trade_updates_stream(creds, states.append, got.put)
        stream.start()
        message = await asyncio.wait_for(got.get(), 5)
        await stream.stop()
    assert message["data"]["qty"] == Decimal("0.5")  # JSON numbers read exactly
    assert message["data"]["price"] == Decimal("51.02")
    assert states == [True, False]
    assert paths == ["/stream"]
    assert stream.refusal is None


async def test_refused_keys_stop_the_stream_for_good() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        no = {"stream": "authorization", "data": {"status": "unauthorized"}}
        await ws.send(json.dumps(no))
        await ws.close()

    async with alpaca_like(handler) as (creds, paths):
        states: list[bool] = []
        stream = trade_updates_stream(creds, states.append, lambda _m: asyncio.sleep(0))
        await asyncio.wait_for(stream.start(), 5)  # ends by itself: no reconnect
    assert stream.refusal is not None and "refused the keys" in stream.refusal
    assert states == [] and len(paths) == 1


async def test_quotes_reconnect_after_a_drop_and_may_share_the_subscription_frame() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.send(json.dumps([{"T": "success", "msg": "connected"}]))
        auth = json.loads(await ws.recv())
        assert auth == {"action": "auth", "key": "KEY", "secret": "SECRET"}
        await ws.send(json.dumps([{"T": "success", "msg": "authenticated"}]))
        assert json.loads(await ws.recv()) == {"action": "subscribe", "quotes": ["SPY"]}
        quote = {"T": "q", "S": "SPY", "bp": 652.51, "ap": 652.53, "t": "2026-11-24T15:00:00Z"}
        await ws.send(json.dumps([{"T": "subscription", "quotes": ["SPY"]}, quote]))
        if connections == 1:
            await ws.close(code=1011)  # dropped: the client comes back
            return
        await ws.wait_closed()

    async with alpaca_like(handler) as (creds, paths):
        states: list[bool] = []
        got: asyncio.Queue[Any] = asyncio.Queue()
        stream = quote_stream(creds, "iex", ["SPY"], states.append, got.put)
        stream.start()
        first = await asyncio.wait_for(got.get(), 5)
        second = await asyncio.wait_for(got.get(), 5)
        await wait_until(lambda: states == [True, False, True])
        await stream.stop()
    assert first["bp"] == Decimal("652.51") and second["ap"] == Decimal("652.53")
    assert paths == ["/v2/iex", "/v2/iex"]
    assert states == [True, False, True, False]


async def test_an_insufficient_subscription_is_a_refusal() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps([{"T": "success", "msg": "connected"}]))
        await ws.recv()
        await ws.send(json.dumps([{"T": "error", "code": 409, "msg": "insufficient subscription"}]))
        await ws.close()

    async with alpaca_like(handler) as (creds, _paths):
        stream = quote_stream(creds, "sip", ["SPY"], lambda _up: None, lambda _m: asyncio.sleep(0))
        await asyncio.wait_for(stream.start(), 5)
    assert stream.refusal == "quote stream refused (insufficient subscription)"
