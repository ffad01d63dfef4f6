"""The market data websocket (``/v2/{feed}``): the ``quotes``, ``trades`` and ``bars`` channels.

msgpack in binary frames when the client sends ``Content-Type: application/msgpack``
(as alpaca-py does; timestamps are msgpack timestamps), JSON in text frames
otherwise, as Alpaca's::

    <- [{"T": "success", "msg": "connected"}]
    -> {"action": "auth", "key": K, "secret": S}
    <- [{"T": "success", "msg": "authenticated"}]
    -> {"action": "subscribe", "quotes": ["SPY"], "trades": ["SPY"], "bars": ["SPY"]}
    <- [{"T": "subscription", "quotes": ["SPY"], "trades": ["SPY"], "bars": ["SPY"], ...}]
    <- [{"T": "q", "S": "SPY", "bp": ..., "ap": ..., "t": <timestamp>, ...}]
    <- [{"T": "t", "S": "SPY", "p": ..., "s": ..., "i": ..., "t": <timestamp>, ...}]
    <- [{"T": "b", "S": "SPY", "o": ..., "h": ..., "l": ..., "c": ..., "v": ..., ...}]

Quotes are the exchange's as it publishes them; trades are its tape's (``tape``),
sent as the tape reaches them; a minute bar goes out once the exchange's clock is
past its minute, and with it, on ``dailyBars``, the day's bar so far. The tape
never revises a bar, corrects or cancels a trade, so ``updatedBars``,
``corrections`` and ``cancelErrors`` can be subscribed and stay silent, truthfully.
Not modelled, refused with an error message: ``statuses``, ``lulds`` and the
``*`` wildcard.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import msgpack
from starlette.websockets import WebSocket

from better_orders.core.model import Quote
from better_orders.server.bars import Timeframe, aggregate, bar_json
from better_orders.server.streams import StreamHub, decode_json, serve_socket
from better_orders.server.tape import Bar, Trade
from better_orders.server.venue import PaperVenue
from better_orders.venues.tasks import cancel_and_wait

FEEDS = ("iex", "sip", "delayed_sip", "test")
MODELLED = ("trades", "quotes", "bars", "dailyBars")
SILENT = ("updatedBars", "corrections", "cancelErrors")
REFUSED = ("statuses", "lulds")
_DAY = Timeframe(1440, daily=True)


def _time(value: dt.datetime, packed: bool) -> Any:
    if packed:
        return msgpack.Timestamp.from_datetime(value)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def quote_message(quote: Quote, packed: bool) -> dict[str, Any]:
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
        "t": _time(quote.ts, packed),
    }


def trade_message(symbol: str, trade: Trade, packed: bool) -> dict[str, Any]:
    return {
        "T": "t",
        "S": symbol,
        "i": trade.id,
        "x": "V",
        "p": float(trade.price),
        "s": trade.size,
        "c": list(trade.conditions),
        "z": "B",
        "t": _time(trade.ts, packed),
    }


def bar_message(kind: str, symbol: str, bar: Bar, packed: bool) -> dict[str, Any]:
    return {"T": kind, "S": symbol, **bar_json(bar), "t": _time(bar.start, packed)}


class _Subscriptions:
    """One connection's channels, and what it has been sent of the tape."""

    def __init__(self) -> None:
        self.channels: dict[str, set[str]] = {c: set() for c in (*MODELLED, *SILENT)}
        self.bars_sent: dict[str, dt.datetime] = {}

    def symbols(self) -> list[str]:
        return sorted(set().union(*(self.channels[c] for c in MODELLED)))

    def message(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"T": "subscription"}
        for channel in (*MODELLED, *SILENT, *REFUSED):
            entry[channel] = sorted(self.channels.get(channel, ()))
        return [entry]


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
    subs = _Subscriptions()
    forwarder: asyncio.Task[None] | None = None
    listening: dict[str, Any] = {}

    async def send(message: Any) -> None:
        if packed:
            await ws.send_bytes(msgpack.packb(message))
        else:
            await ws.send_text(json.dumps(message))

    def decode(message: Mapping[str, Any]) -> Any:
        raw = message.get("bytes")
        if raw is not None and packed:
            return msgpack.unpackb(raw)
        return decode_json(message)

    def on_trade(symbol: str) -> Any:
        def listener(trade: Trade) -> None:
            if symbol in subs.channels["trades"]:
                outgoing.put_nowait([trade_message(symbol, trade, packed)])

        return listener

    def follow_tape(symbol: str) -> None:
        """Catch the tape up; send the minute bar (and day's bar) once its minute is over."""
        tape = venue.tape.of(symbol)
        if tape is None:
            return
        if symbol not in listening:
            listening[symbol] = on_trade(symbol)
            tape.listeners.append(listening[symbol])
            latest = tape.latest_bar(venue.now())
            if latest is not None:
                subs.bars_sent[symbol] = latest.start  # only bars completed from now on
            return
        latest = tape.latest_bar(venue.now())
        if latest is None or subs.bars_sent.get(symbol) == latest.start:
            return
        subs.bars_sent[symbol] = latest.start
        if symbol in subs.channels["bars"]:
            outgoing.put_nowait([bar_message("b", symbol, latest, packed)])
        if symbol in subs.channels["dailyBars"]:
            day = aggregate(tape.minute_bars(_DAY.label(latest.start), latest.start), _DAY)
            outgoing.put_nowait([bar_message("d", symbol, day[-1], packed)])

    def on_tape(symbol: str) -> bool:
        return any(symbol in subs.channels[c] for c in ("trades", "bars", "dailyBars"))

    async def forward(names: list[str]) -> None:
        for name in names:
            if on_tape(name):
                follow_tape(name)
        quotes = venue.sim.feed.quotes(names)
        try:
            async for quote in quotes:
                if quote.symbol in subs.channels["quotes"]:
                    outgoing.put_nowait([quote_message(quote, packed)])
                if on_tape(quote.symbol):
                    follow_tape(quote.symbol)
        finally:
            # A cancelled forwarder's subscription would otherwise queue every quote forever.
            close = getattr(quotes, "aclose", None)
            if close is not None:
                await close()

    async def resubscribe() -> None:
        nonlocal forwarder
        if forwarder is not None:
            await cancel_and_wait(forwarder, report=True)
            forwarder = None
        if subs.symbols():
            forwarder = asyncio.create_task(forward(subs.symbols()), name="data-stream")

    async def change(action: str, payload: Mapping[str, Any]) -> None:
        for channel in REFUSED:
            if payload.get(channel):
                msg = f"{channel} are not modelled by the local exchange"
                await send([{"T": "error", "code": 410, "msg": msg}])
        for channel in (*MODELLED, *SILENT):
            wanted = payload.get(channel) or []
            if not isinstance(wanted, list):
                continue
            if "*" in wanted:
                msg = "wildcard subscriptions are not modelled by the local exchange"
                await send([{"T": "error", "code": 410, "msg": msg}])
            names = {venue.listed(str(s)) for s in wanted if s != "*"}
            listed = {n for n in names if n is not None}
            if action == "subscribe":
                subs.channels[channel].update(listed)
            else:
                subs.channels[channel].difference_update(listed)
        await resubscribe()
        await send(subs.message())

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
            await change(action, payload)
            return True
        await send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
        return True

    await send([{"T": "success", "msg": "connected"}])
    if feed not in FEEDS:
        await send([{"T": "error", "code": 404, "msg": f"unknown feed {feed}"}])
        await ws.close(code=1008)
        return
    try:
        await serve_socket(ws, outgoing, on_message, send, decode)
    finally:
        if forwarder is not None:
            await cancel_and_wait(forwarder)
        for symbol, listener in listening.items():
            tape = venue.tape.of(symbol)
            if tape is not None and listener in tape.listeners:
                tape.listeners.remove(listener)
