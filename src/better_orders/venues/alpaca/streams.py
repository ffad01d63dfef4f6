"""Alpaca's websockets (``trade_updates`` and stock quotes), kept connected on the
caller's event loop and reporting when they come up and go down, so their users can
fall back to REST while they are down.

Why not alpaca-py's ``TradingStream`` / ``StockDataStream``: their public API runs a
stream only inside its own ``asyncio.run`` (``run()``, blocking a thread with a loop
of its own), says nothing when the connection comes up or drops, and retries refused
keys forever. This module speaks the two documented protocols with ``websockets``:

* trading (``wss://paper-api.alpaca.markets/stream``): ``authenticate`` with the keys,
  then ``listen`` to ``trade_updates``; Alpaca sends JSON, in binary frames or text;
* market data (``wss://stream.data.alpaca.markets/v2/{feed}``): ``connected``, then
  ``auth`` and ``subscribe`` to quotes; frames are JSON arrays of messages (this
  client never asks for msgpack). Prices are read as exact ``Decimal``.

A stream reconnects with backoff (0.5 s doubling to 30 s) until stopped. Keys that
are refused, or a feed the subscription does not cover, stop it for good: the reason
is left in ``refusal`` and its user falls back to REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from better_orders.venues.alpaca.credentials import Credentials
from better_orders.venues.alpaca.http import USER_AGENT
from better_orders.venues.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[None]]

#: Seconds: ping every 10, give up on a silent peer after 20, wait 10 for a handshake answer.
PING_INTERVAL, PING_TIMEOUT, ANSWER_TIMEOUT = 10.0, 20.0, 10.0
FIRST_DELAY, MAX_DELAY = 0.5, 30.0
#: Market data error codes that no reconnect can fix (Alpaca's stream documentation).
_DATA_REFUSALS = {402: "auth failed", 405: "symbol limit", 409: "insufficient subscription"}


class StreamRefused(Exception):
    """The server refused the keys or the subscription: reconnecting will not help."""


def _decode(frame: str | bytes) -> Any:
    text = frame.decode() if isinstance(frame, bytes) else frame
    return json.loads(text, parse_float=Decimal)


async def _answer(ws: ClientConnection) -> Any:
    async with asyncio.timeout(ANSWER_TIMEOUT):  # (not wait_for: it may swallow a cancel on 3.11)
        return _decode(await ws.recv())


class AlpacaStream:
    """One websocket connection, kept up until ``stop()``.

    ``handshake`` authenticates and subscribes on a fresh connection (raising
    ``StreamRefused`` when the server says no); ``dispatch`` reads one frame.
    ``on_state(True)`` follows each completed handshake, ``on_state(False)`` each loss.
    """

    def __init__(
        self,
        name: str,
        url: str,
        handshake: Callable[[ClientConnection], Awaitable[None]],
        dispatch: Callable[[Any], Awaitable[None]],
        on_state: Callable[[bool], None],
        *,
        refused_what: str,
        fallback: str,
    ) -> None:
        self.name = name
        self.url = url
        self._handshake = handshake
        self._dispatch = dispatch
        self._on_state = on_state
        self._refused_what = refused_what
        self._fallback = fallback
        self.refusal: str | None = None
        self._up = False
        self._stopping = False
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Connect and stay connected in a task, which ends only when stopped or refused."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)
        return self._task

    async def stop(self) -> None:
        """Close the connection and end the task; never raises."""
        self._stopping = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        task = self._task
        if task is not None and not task.done():
            await cancel_and_wait(task)
        self._set_up(False)

    def _set_up(self, up: bool) -> None:
        if up != self._up:
            self._up = up
            self._on_state(up)

    async def _read(self, frame: str | bytes) -> None:
        try:
            message = _decode(frame)
        except ValueError:
            log.error("%s: a frame that is not JSON: %r", self.name, frame[:200])
            return
        try:
            await self._dispatch(message)
        except Exception:
            # A handler's bug must not drop the connection; REST polling still reconciles.
            log.exception("%s: handling %r failed", self.name, message)

    async def _run(self) -> None:
        delay = FIRST_DELAY
        while not self._stopping:
            try:
                async with connect(
                    self.url,
                    user_agent_header=USER_AGENT,
                    open_timeout=ANSWER_TIMEOUT,
                    ping_interval=PING_INTERVAL,
                    ping_timeout=PING_TIMEOUT,
                    max_queue=1024,
                ) as ws:
                    self._ws = ws
                    await self._handshake(ws)
                    self._set_up(True)
                    delay = FIRST_DELAY
                    async for frame in ws:
                        await self._read(frame)
            except StreamRefused as refused:
                self.refusal = f"{self._refused_what} ({refused})"
                log.error("%s; %s", self.refusal, self._fallback)
                self._stopping = True
            except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
                if not self._stopping:
                    log.warning("%s: connection lost (%s); reconnecting", self.name, exc)
            finally:
                self._ws = None
                self._set_up(False)
            if not self._stopping:
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)


def trade_updates_stream(
    credentials: Credentials,
    on_state: Callable[[bool], None],
    on_update: Handler,
) -> AlpacaStream:
    """The account's ``trade_updates``, each message to ``on_update`` (not yet running)."""

    async def handshake(ws: ClientConnection) -> None:
        keys = {"key_id": credentials.key_id, "secret_key": credentials.secret_key.reveal()}
        await ws.send(json.dumps({"action": "authenticate", "data": keys}))
        answer = await _answer(ws)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict) or data.get("status") != "authorized":
            raise StreamRefused("failed to authenticate")
        await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))

    async def dispatch(message: Any) -> None:
        if isinstance(message, dict) and message.get("stream") == "trade_updates":
            await on_update(message)

    return AlpacaStream(
        "alpaca-trade-updates",
        credentials.trading_stream_url,
        handshake,
        dispatch,
        on_state,
        refused_what="trade_updates stream refused the keys",
        fallback="following orders by polling",
    )


def _data_error(messages: Any) -> tuple[int, str] | None:
    for message in messages if isinstance(messages, list) else [messages]:
        if isinstance(message, dict) and message.get("T") == "error":
            return int(message.get("code") or 0), str(message.get("msg") or "error")
    return None


def quote_stream(
    credentials: Credentials,
    feed: str,
    symbols: list[str],
    on_state: Callable[[bool], None],
    on_quote: Handler,
) -> AlpacaStream:
    """Quotes of ``symbols`` on ``feed`` (``iex`` or ``sip``) to ``on_quote`` (not yet running)."""

    async def expect(ws: ClientConnection, what: str) -> Any:
        answer = await _answer(ws)
        error = _data_error(answer)
        if error is not None:
            code, text = error
            if code in _DATA_REFUSALS:
                raise StreamRefused(text)
            raise ValueError(f"{text} ({code})")
        if what and not any(isinstance(m, dict) and m.get("msg") == what for m in answer):
            raise ValueError(f"expected {what!r}, got {answer!r}"[:200])
        return answer

    async def dispatch(messages: Any) -> None:
        for message in messages if isinstance(messages, list) else [messages]:
            if not isinstance(message, dict):
                continue
            if message.get("T") == "q":
                await on_quote(message)
            elif message.get("T") == "error":
                log.error("quote stream error: %s (%s)", message.get("msg"), message.get("code"))

    async def handshake(ws: ClientConnection) -> None:
        await expect(ws, "connected")
        secret = credentials.secret_key.reveal()
        await ws.send(json.dumps({"action": "auth", "key": credentials.key_id, "secret": secret}))
        await expect(ws, "authenticated")
        await ws.send(json.dumps({"action": "subscribe", "quotes": symbols}))
        await dispatch(await expect(ws, ""))  # quotes may share the subscription's frame

    return AlpacaStream(
        "alpaca-quotes",
        credentials.data_stream_url(feed),
        handshake,
        dispatch,
        on_state,
        refused_what="quote stream refused",
        fallback="using REST quotes",
    )
