"""How long alerts take to reach their destinations: a local webhook and a local SMTP server.

Starts a JSON webhook receiver (``json://``) and an SMTP server (aiosmtpd, ``mailto://``)
on 127.0.0.1, sends alerts through Apprise the way a run does (``engine.alerts``), and
prints the time from each event to its arrival at the receiver; the target is 2 s.

    .venv/bin/python bench/alerts_latency.py [--alerts 20]
"""

from __future__ import annotations

import argparse
import email
import json
import logging
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TARGET_SECONDS = 2.0


@dataclass(slots=True)
class Received:
    """What a receiver got: each message's payload and the wall time it arrived."""

    items: list[tuple[datetime, Any]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def add(self, payload: Any) -> None:
        with self.arrived:
            self.items.append((datetime.now(UTC), payload))
            self.arrived.notify_all()

    def wait_for(self, markers: list[str], timeout: float) -> bool:
        """Until every marker has arrived (alerts may share a message)."""
        with self.arrived:
            return self.arrived.wait_for(
                lambda: all(self.arrival(m) is not None for m in markers), timeout
            )

    def arrival(self, marker: str) -> datetime | None:
        """When the first message carrying ``marker`` arrived."""
        for at, payload in self.items:
            if marker in json.dumps(payload):
                return at
        return None


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that keeps the JSON body of every POST."""

    def __init__(self) -> None:
        self.received = Received()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.add(json.loads(body or b"null"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, credentials: str = "") -> str:
        return f"json://{credentials}127.0.0.1:{self.port}/alerts"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """An SMTP server on 127.0.0.1 (aiosmtpd) that accepts one login and keeps each mail."""

    def __init__(self, user: str = "alerts", password: str = "S3cretPass") -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        # aiosmtpd logs a warning about its own internals on every login.
        logging.getLogger("mail.log").setLevel(logging.ERROR)

        self.received = Received()
        self.user, self.password = user, password
        received = self.received

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                received.add(readable(envelope.content))
                return "250 OK"

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> Any:
            ok = (
                isinstance(data, LoginPassword)
                and data.login == user.encode()
                and data.password == password.encode()
            )
            return AuthResult(success=ok)

        self.port = free_port()
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_require_tls=False,
        )

    def url(self) -> str:
        return (
            f"mailto://{self.user}:{self.password}@127.0.0.1:{self.port}?smtp=127.0.0.1"
            "&from=better-orders@example.com&to=ops@example.com&mode=insecure"
        )

    def __enter__(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def readable(content: bytes) -> str:
    """A mail as text: its subject, sender and recipient, and its plain-text body decoded."""
    mail = email.message_from_bytes(content)
    body = ""
    for part in mail.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            body = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
            break
    return f"Subject: {mail['Subject']}\nFrom: {mail['From']}\nTo: {mail['To']}\n\n{body}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(count: int) -> dict[str, list[float]]:
    """Send ``count`` alerts to both receivers; seconds from each event to its arrival."""
    from better_orders.engine.alerts import Alert, Alerts

    latencies: dict[str, list[float]] = {}
    with WebhookReceiver() as hook, SmtpReceiver() as smtp:
        alerts = Alerts([hook.url("bench:T0ken@"), smtp.url()])
        sent: list[tuple[str, Alert]] = []
        for n in range(count):
            marker = f"[alert {n:04d}]"
            alert = Alert("result", "Better Orders: run completed", f"{marker} traded $1,000.00")
            sent.append((marker, alert))
            alerts.send(alert)
            time.sleep(0.05)
        for name, receiver in (("json:// webhook", hook), ("mailto:// SMTP", smtp)):
            receiver.received.wait_for([m for m, _ in sent], timeout=60)
            latencies[name] = [
                (arrived - alert.at).total_seconds()
                for marker, alert in sent
                if (arrived := receiver.received.arrival(marker)) is not None
            ]
        alerts.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=20)
    opts = parser.parse_args()
    for name, values in measure(opts.alerts).items():
        worst = max(values) if values else float("nan")
        verdict = "within" if values and worst <= TARGET_SECONDS else "OVER"
        print(
            f"{name:16s} {len(values):3d}/{opts.alerts} delivered; event to arrival "
            f"median {statistics.median(values) * 1000:.0f} ms, max {worst * 1000:.0f} ms "
            f"({verdict} the {TARGET_SECONDS:g} s target)"
        )


if __name__ == "__main__":
    main()
