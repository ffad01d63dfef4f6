"""Run the local Alpaca-compatible exchange on a free loopback port, in a background thread.

In a test module::

    from alpaca_server import LocalAlpaca, run_local_alpaca

    @pytest.fixture
    def exchange() -> Iterator[LocalAlpaca]:
        with run_local_alpaca() as local:  # or run_local_alpaca(ServerConfig(...))
            yield local

    def test_something(exchange: LocalAlpaca) -> None:
        exchange.base_url                  # http://127.0.0.1:<port>, also the data URL
        exchange.credentials()             # paper Credentials pointed at it
        exchange.set_faults(lost_responses=1)
        exchange.requests_to("POST /v2/orders")
        exchange.advance(60)               # move the exchange's clock a minute on

``local_alpaca`` is the same as a ready-made fixture, for a ``conftest.py`` to import.
The uvicorn server runs in its own thread and event loop, so tests talk to it only
over sockets (HTTP and websockets), exactly as a real client would.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import uvicorn

from better_orders.server import ServerConfig, create_app
from better_orders.server.settings import VenueSettings
from better_orders.venues.alpaca.credentials import Credentials, Secret

#: A trading morning (Tuesday 2026-11-24, 10:30 New York): the exchange's clock starts
#: inside a regular session whatever the wall clock says, so tests do not depend on it.
SESSION_MORNING = datetime(2026, 11, 24, 10, 30, tzinfo=ZoneInfo("America/New_York"))
TEST_VENUE = VenueSettings(seed=7, clock_start=SESSION_MORNING, unknown_symbols=("NOPE",))


@dataclass(frozen=True)
class LocalAlpaca:
    base_url: str
    key_id: str
    secret_key: str

    @property
    def stream_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/stream"

    def credentials(self) -> Credentials:
        return Credentials(
            key_id=self.key_id,
            secret_key=Secret(self.secret_key),
            paper=True,
            base_url=self.base_url,
            data_url=self.base_url,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"APCA-API-KEY-ID": self.key_id, "APCA-API-SECRET-KEY": self.secret_key}

    def stats(self) -> dict[str, Any]:
        response = requests.get(self.base_url + "/_stats", headers=self.headers, timeout=5)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def requests_to(self, route: str) -> int:
        return int(self.stats()["requests"].get(route, 0))

    def set_faults(self, **switches: Any) -> dict[str, Any]:
        response = requests.post(
            self.base_url + "/_faults", json=switches, headers=self.headers, timeout=5
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def advance(self, seconds: float) -> datetime:
        """Move the exchange's clock forward; its new time."""
        response = requests.post(
            self.base_url + "/_clock", json={"advance": seconds}, headers=self.headers, timeout=60
        )
        response.raise_for_status()
        return datetime.fromisoformat(response.json()["now"])


def venue_at(start: datetime, **settings: Any) -> ServerConfig:
    """The test venue with its clock starting at ``start`` (and other settings changed)."""
    return ServerConfig(venue=replace(TEST_VENUE, clock_start=start, **settings))


class TradeUpdateLog:
    """The ``trade_updates`` stream read on a thread: ``wait_for`` the first matching message.

    A plain websocket client speaking Alpaca's protocol, for synchronous tests.
    """

    def __init__(self, local: LocalAlpaca) -> None:
        from websockets.sync.client import connect

        self.messages: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._connection = connect(local.stream_url)
        self._ws = self._connection.__enter__()
        auth = {"key_id": local.key_id, "secret_key": local.secret_key}
        self._ws.send(json.dumps({"action": "authenticate", "data": auth}))
        self._ws.recv(timeout=5)
        self._ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        self._ws.recv(timeout=5)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for raw in self._ws:
                message = json.loads(raw)
                if message.get("stream") != "trade_updates":
                    continue
                with self._changed:
                    self.messages.append(message["data"])
                    self._changed.notify_all()
        except Exception:
            return

    def events(self, order_id: object) -> list[str]:
        with self._changed:
            return [m["event"] for m in self.messages if m["order"]["id"] == str(order_id)]

    def wait_for(self, order_id: object, event: str, timeout: float = 5.0) -> dict[str, Any]:
        """The first ``event`` message of the order (its ``data``)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for message in self.messages:
                    if message["order"]["id"] == str(order_id) and message["event"] == event:
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [m["event"] for m in self.messages if m["order"]["id"] == str(order_id)]
                    raise AssertionError(f"no {event!r} for order {order_id} (saw {seen})")
                self._changed.wait(left)

    def close(self) -> None:
        self._connection.__exit__(None, None, None)
        self._thread.join(timeout=5)

    def __enter__(self) -> TradeUpdateLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def run_local_alpaca(config: ServerConfig | None = None) -> Iterator[LocalAlpaca]:
    """The exchange on 127.0.0.1:<free port> until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    port = sock.getsockname()[1]
    cfg = replace(config or ServerConfig(venue=TEST_VENUE), host="127.0.0.1", port=port)
    ready = threading.Event()
    app = create_app(cfg, on_ready=ready.set)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    )
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name=f"local-alpaca-{port}", daemon=True)
    thread.start()
    if not ready.wait(timeout=30) or failure:
        server.should_exit = True
        raise RuntimeError(f"local Alpaca exchange did not start: {failure!r}")
    try:
        key_id, secret_key = next(iter(cfg.keys.items()))
        yield LocalAlpaca(f"http://127.0.0.1:{port}", key_id, secret_key)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def local_alpaca() -> Iterator[LocalAlpaca]:
    with run_local_alpaca() as exchange:
        yield exchange
