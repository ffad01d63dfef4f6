"""alpaca-py's websockets (``trade_updates`` and stock quotes), reporting when they
come up and go down, so their users can fall back to REST while they are down.

Both streams run on the caller's event loop. Subclassing overrides alpaca-py's
``_start_ws`` and ``close`` and starts ``_run_forever`` directly: alpaca-py has no
public way to learn the connection state or to run a stream as a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from alpaca.data.enums import DataFeed
from alpaca.data.live.stock import StockDataStream
from alpaca.trading.stream import TradingStream

from better_orders.venues.alpaca.credentials import Credentials

log = logging.getLogger(__name__)

_WS_PARAMS = {"ping_interval": 10, "ping_timeout": 20, "max_queue": 1024}


class _ReportingStream:
    """Mixin for alpaca-py's streams: says when the connection comes up and goes down.

    A refused authentication stops the stream (alpaca-py would retry the same keys
    forever) and leaves the reason in ``refusal``; its user then falls back to REST.
    """

    _refused_what = "stream refused"
    _fallback = "using REST"

    def __init__(self, on_state: Callable[[bool], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_state = on_state
        self.refusal: str | None = None

    async def _start_ws(self) -> None:
        try:
            await super()._start_ws()  # type: ignore[misc]
        except ValueError as exc:
            self.refusal = f"{self._refused_what} ({exc})"
            log.error("%s; %s", self.refusal, self._fallback)
            await self.stop_ws()  # type: ignore[attr-defined]
            return
        self._on_state(True)

    async def close(self) -> None:
        try:
            await super().close()  # type: ignore[misc]
        finally:
            self._on_state(False)


class TradeUpdatesStream(_ReportingStream, TradingStream):
    _refused_what = "trade_updates stream refused the keys"
    _fallback = "following orders by polling"


class QuoteStream(_ReportingStream, StockDataStream):
    _refused_what = "quote stream refused"
    _fallback = "using REST quotes"


def trade_updates_stream(
    credentials: Credentials,
    on_state: Callable[[bool], None],
    on_update: Callable[[Any], Awaitable[None]],
) -> TradeUpdatesStream:
    """The account's ``trade_updates``, each message to ``on_update`` (not yet running)."""
    stream = TradeUpdatesStream(
        on_state,
        api_key=credentials.key_id,
        secret_key=credentials.secret_key.reveal(),
        paper=credentials.paper,
        raw_data=True,
        url_override=credentials.trading_stream_url,
        websocket_params=dict(_WS_PARAMS),
    )
    stream.subscribe_trade_updates(on_update)
    return stream


def quote_stream(
    credentials: Credentials,
    feed: str,
    symbols: list[str],
    on_state: Callable[[bool], None],
    on_quote: Callable[[Any], Awaitable[None]],
) -> QuoteStream:
    """Quotes of ``symbols`` on ``feed`` (``iex`` or ``sip``) to ``on_quote`` (not yet running)."""
    stream = QuoteStream(
        on_state,
        api_key=credentials.key_id,
        secret_key=credentials.secret_key.reveal(),
        raw_data=True,
        feed=DataFeed(feed),
        url_override=credentials.data_stream_url(feed),
        websocket_params=dict(_WS_PARAMS),
    )
    stream.subscribe_quotes(on_quote, *symbols)
    return stream


def run_stream(stream: TradeUpdatesStream | QuoteStream, name: str) -> asyncio.Task[None]:
    """Connect and keep ``stream`` connected in a task; it ends only when stopped."""
    return asyncio.create_task(stream._run_forever(), name=name)


async def stop_stream(
    stream: TradeUpdatesStream | QuoteStream | None, *tasks: asyncio.Task[Any] | None
) -> None:
    """Stop ``stream`` and cancel ``tasks`` (its runner among them); never raises, so a
    shutdown always finishes."""
    if stream is not None:
        with contextlib.suppress(Exception):
            await stream.stop_ws()
    for task in tasks:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if stream is not None:
        with contextlib.suppress(Exception):
            await stream.close()
