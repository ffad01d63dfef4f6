"""The two websockets: ``/stream`` (trading, ``trade_updates``) and ``/v2/{feed}`` (quotes).

Trading stream (JSON text frames)::

    -> {"action": "authenticate", "data": {"key_id": K, "secret_key": S}}
    <- {"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}}
    -> {"action": "listen", "data": {"streams": ["trade_updates"]}}
    <- {"stream": "listening", "data": {"streams": ["trade_updates"]}}
    <- {"stream": "trade_updates", "data": {"event": "fill", "order": {...}, ...}}

Market data stream (msgpack when the client sends ``Content-Type: application/msgpack``,
as alpaca-py does, JSON otherwise)::

    <- [{"T": "success", "msg": "connected"}]
    -> {"action": "auth", "key": K, "secret": S}
    <- [{"T": "success", "msg": "authenticated"}]
    -> {"action": "subscribe", "quotes": ["SPY"]}
    <- [{"T": "subscription", "quotes": ["SPY"], ...}]
    <- [{"T": "q", "S": "SPY", "bp": ..., "ap": ..., "t": <timestamp>, ...}]

Each connection has one task that both reads and writes, so frames are never
interleaved; events wait in a queue until that task sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgpack
from starlette.websockets import WebSocket, WebSocketDisconnect

from better_orders.core.model import Quote
from better_orders.server.venue import PaperVenue

log = logging.getLogger(__name__)

_SUBSCRIPTION_CHANNELS = (
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
    "corrections",
    "cancelErrors",
)
FEEDS = ("iex", "sip", "delayed_sip", "test")


class StreamHub:
    """The open trading-stream connections, so faults can drop them all at once."""

    def __init__(self) -> None:
        self.kills: set[asyncio.Event] = set()
        self.down_until = 0.0
        self.connections = 0
        self.refused = 0
        self.drops = 0
        self.data_connections = 0

    def drop_all(self, down_seconds: float = 0.0) -> int:
        """Close every trade_updates connection; refuse new ones for ``down_seconds``."""
        self.down_until = max(self.down_until, time.time() + down_seconds)
        dropped = len(self.kills)
        for kill in list(self.kills):
            kill.set()
        self.drops += dropped
        return dropped


async def _serve_socket(
    ws: WebSocket,
    outgoing: asyncio.Queue[Any],
    on_message: Callable[[Any], Awaitable[bool]],
    send: Callable[[Any], Awaitable[None]],
    decode: Callable[[Mapping[str, Any]], Any],
    kill: asyncio.Event | None = None,
) -> None:
    """Read and write one connection until it closes, ``on_message`` says stop, or ``kill``."""
    recv: asyncio.Future[Any] = asyncio.ensure_future(ws.receive())
    item: asyncio.Future[Any] = asyncio.ensure_future(outgoing.get())
    killed: asyncio.Future[Any] = asyncio.ensure_future(
        kill.wait() if kill is not None else asyncio.Event().wait()
    )
    try:
        while True:
            done, _ = await asyncio.wait({recv, item, killed}, return_when=asyncio.FIRST_COMPLETED)
            if killed in done:
                await ws.close(code=1011)
                return
            if item in done:
                await send(item.result())
                item = asyncio.ensure_future(outgoing.get())
            if recv in done:
                message = recv.result()
                if message["type"] == "websocket.disconnect":
                    return
                try:
                    payload = decode(message)
                except (ValueError, msgpack.UnpackException):
                    payload = None
                if not await on_message(payload):
                    await ws.close(code=1008)
                    return
                recv = asyncio.ensure_future(ws.receive())
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        for pending in (recv, item, killed):
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending


def _decode_json(message: Mapping[str, Any]) -> Any:
    text = message.get("text")
    if text is None:
        raw = message.get("bytes") or b""
        text = raw.decode()
    return json.loads(text)


async def trading_stream(
    ws: WebSocket, venue: PaperVenue, hub: StreamHub, keys: Mapping[str, str]
) -> None:
    if time.time() < hub.down_until:
        hub.refused += 1
        await ws.close(code=1013)  # before accept: the handshake fails, the client retries
        return
    await ws.accept()
    hub.connections += 1
    kill = asyncio.Event()
    hub.kills.add(kill)
    outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    authorized = False

    async def send(message: Any) -> None:
        await ws.send_text(json.dumps(message))

    async def on_message(payload: Any) -> bool:
        nonlocal authorized
        if not isinstance(payload, dict):
            await send({"stream": "error", "data": {"error_message": "invalid syntax"}})
            return True
        action = payload.get("action")
        raw_data = payload.get("data")
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        if action in ("authenticate", "auth"):
            key = data.get("key_id") or payload.get("key")
            secret = data.get("secret_key") or payload.get("secret")
            authorized = isinstance(key, str) and keys.get(key) == secret
            status = "authorized" if authorized else "unauthorized"
            await send(
                {"stream": "authorization", "data": {"status": status, "action": "authenticate"}}
            )
            return authorized
        if not authorized:
            await send(
                {
                    "stream": "authorization",
                    "data": {"status": "unauthorized", "action": str(action)},
                }
            )
            return False
        if action == "listen":
            streams = [s for s in data.get("streams") or [] if s == "trade_updates"]
            if streams:
                venue.updates.listeners.add(outgoing)
            else:
                venue.updates.listeners.discard(outgoing)
            await send({"stream": "listening", "data": {"streams": streams}})
            return True
        await send({"stream": "error", "data": {"error_message": f"unknown action {action!r}"}})
        return True

    try:
        await _serve_socket(ws, outgoing, on_message, send, _decode_json, kill)
    finally:
        venue.updates.listeners.discard(outgoing)
        hub.kills.discard(kill)


def _quote_message(quote: Quote, packed: bool) -> dict[str, Any]:
    t: Any
    if packed:
        t = msgpack.Timestamp.from_datetime(quote.ts)
    else:
        t = quote.ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "T": "q",
        "S": quote.symbol,
        "bx": "V",
        "bp": float(quote.bid),
        "bs": int(quote.bid_size),
        "ax": "V",
        "ap": float(quote.ask),
        "as": int(quote.ask_size),
        "c": ["R"],
        "z": "B",
        "t": t,
    }


async def data_stream(
    ws: WebSocket,
    venue: PaperVenue,
    hub: StreamHub,
    keys: Mapping[str, str],
    *,
    feed: str,
    sip_allowed: bool,
) -> None:
    packed = "msgpack" in (ws.headers.get("content-type") or "").lower()
    await ws.accept()
    hub.data_connections += 1
    outgoing: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    authorized = False
    symbols: set[str] = set()
    quote_task: asyncio.Task[None] | None = None

    async def send(message: Any) -> None:
        if packed:
            await ws.send_bytes(msgpack.packb(message))
        else:
            await ws.send_text(json.dumps(message))

    def decode(message: Mapping[str, Any]) -> Any:
        raw = message.get("bytes")
        if raw is not None and packed:
            return msgpack.unpackb(raw)
        return _decode_json(message)

    async def forward(names: list[str]) -> None:
        async for quote in venue.sim.feed.quotes(names):
            outgoing.put_nowait([_quote_message(quote, packed)])

    def subscription() -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"T": "subscription"}
        for channel in _SUBSCRIPTION_CHANNELS:
            entry[channel] = sorted(symbols) if channel == "quotes" else []
        return [entry]

    async def resubscribe() -> None:
        nonlocal quote_task
        if quote_task is not None:
            quote_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await quote_task
            quote_task = None
        if symbols:
            quote_task = asyncio.create_task(forward(sorted(symbols)), name="quote-stream")

    async def on_message(payload: Any) -> bool:
        nonlocal authorized
        if not isinstance(payload, dict):
            await send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
            return True
        action = payload.get("action")
        if action == "auth":
            key, secret = payload.get("key"), payload.get("secret")
            authorized = isinstance(key, str) and keys.get(key) == secret
            if not authorized:
                await send([{"T": "error", "code": 402, "msg": "auth failed"}])
                return False
            if feed == "sip" and not sip_allowed:
                await send([{"T": "error", "code": 409, "msg": "insufficient subscription"}])
                return False
            await send([{"T": "success", "msg": "authenticated"}])
            return True
        if not authorized:
            await send([{"T": "error", "code": 401, "msg": "not authenticated"}])
            return False
        if action in ("subscribe", "unsubscribe"):
            wanted = payload.get("quotes") or []
            names = {venue.listed(str(s)) for s in wanted}
            listed = {n for n in names if n is not None}
            if action == "subscribe":
                symbols.update(listed)
            else:
                symbols.difference_update(listed)
            await resubscribe()
            await send(subscription())
            return True
        await send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
        return True

    await send([{"T": "success", "msg": "connected"}])
    if feed not in FEEDS:
        await send([{"T": "error", "code": 404, "msg": f"unknown feed {feed}"}])
        await ws.close(code=1008)
        return
    try:
        await _serve_socket(ws, outgoing, on_message, send, decode)
    finally:
        if quote_task is not None:
            quote_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await quote_task
