"""Alerts through Apprise, delivered off the trading path.

Each destination (one Apprise URL) has its own thread and queue: ``send`` only
enqueues, so a run is never delayed by an alert, and a slow or failing destination
never delays another. A delivery that fails is logged (``WARNING``, the URL masked)
and counted; it never raises into a run. ``close`` gives the queued alerts a bounded
time to go out before the command exits.

Alerts sent together (a run's result, its rejects, its incomplete legs), or waiting
in a queue together, go out as one message. That bounds how often a destination is
written to, so Apprise's own spacing between two sends (5.5 s for most services,
e-mail among them), which would hold a short run's result behind its start, is not
needed: each delivery uses a fresh Apprise object.

Secrets: a URL is only ever shown masked (``core.secret_urls``), and every message
logged here, and Apprise's own log records, are scrubbed of the URLs' secret parts.

Apprise is the ``alerts`` extra, imported only when a URL is configured.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Any

from better_orders.core.errors import ConfigError
from better_orders.core.secret_urls import MASK, Scrubber, mask_url

log = logging.getLogger(__name__)


class AlertLevel(StrEnum):
    """Apprise's notification types."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Alert:
    """One message: what happened (``kind``), a title, a body, and how bad it is."""

    kind: str
    title: str
    body: str
    level: AlertLevel = AlertLevel.INFO
    #: When the event happened (wall clock), for delivery latency.
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


#: Delivers one alert to one URL; True when the destination took it.
Sender = Callable[[str, Alert], bool]


@dataclass(slots=True)
class Delivery:
    """How delivery went, for one destination (the URL masked)."""

    destination: str
    delivered: int = 0
    failed: int = 0
    #: Seconds from each alert's event to its delivery.
    latencies: list[float] = field(default_factory=list)


class _ScrubRecords(logging.Filter):
    """Apprise's own log records, with the configured URLs' secrets removed."""

    def __init__(self, scrub: Scrubber) -> None:
        super().__init__()
        self._scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._scrub(record.getMessage())
        record.args = None
        return True


class Alerts:
    """Send alerts to every configured destination (see the module docstring).

    With no URL it does nothing. ``sender`` replaces Apprise (tests).
    """

    def __init__(
        self,
        urls: Iterable[str],
        *,
        timeout_seconds: float = 10.0,
        sender: Sender | None = None,
    ) -> None:
        self.urls = _listed(urls)
        self.scrub = Scrubber(self.urls)
        self.timeout_seconds = timeout_seconds
        self._filter: _ScrubRecords | None = None
        if self.urls and sender is None:
            check_urls(self.urls)
            sender = _apprise_sender()
            # Apprise logs a URL each time it loads one, at every send.
            self._filter = _ScrubRecords(self.scrub)
            logging.getLogger("apprise").addFilter(self._filter)
        self._destinations = [
            _Destination(url, sender, self.scrub) for url in self.urls if sender is not None
        ]
        self._closed = False

    @property
    def enabled(self) -> bool:
        return bool(self._destinations)

    @property
    def deliveries(self) -> list[Delivery]:
        return [d.stats for d in self._destinations]

    def send(self, *alerts: Alert) -> None:
        """Queue ``alerts`` (one message) for every destination; returns at once, never raises."""
        if self._closed or not alerts:
            return
        for destination in self._destinations:
            destination.queue.put(alerts)

    def close(self, timeout_seconds: float | None = None) -> None:
        """Let queued alerts go out (for at most the timeout), then stop the threads."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + (
            self.timeout_seconds if timeout_seconds is None else timeout_seconds
        )
        for destination in self._destinations:
            destination.queue.put(None)
        for destination in self._destinations:
            destination.thread.join(max(0.0, deadline - time.monotonic()))
            if destination.thread.is_alive():
                log.warning(
                    "alerts to %s still undelivered at exit (%d waiting)",
                    destination.stats.destination,
                    destination.queue.qsize(),
                )
        if self._filter is not None:
            logging.getLogger("apprise").removeFilter(self._filter)

    def __enter__(self) -> Alerts:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Destination:
    """One URL's queue and delivery thread."""

    def __init__(self, url: str, sender: Sender, scrub: Scrubber) -> None:
        self.url = url
        self.stats = Delivery(mask_url(url))
        self.queue: queue.SimpleQueue[tuple[Alert, ...] | None] = queue.SimpleQueue()
        self._sender = sender
        self._scrub = scrub
        self.thread = threading.Thread(
            target=self._deliver_all, name=f"alerts {self.stats.destination}", daemon=True
        )
        self.thread.start()

    def _deliver_all(self) -> None:
        stopping = False
        while not stopping:
            first = self.queue.get()
            if first is None:
                return
            batch = list(first)
            while not self.queue.empty():  # whatever waits goes out in the same message
                more = self.queue.get()
                if more is None:
                    stopping = True
                    break
                batch.extend(more)
            self._deliver(batch)

    def _deliver(self, batch: list[Alert]) -> None:
        try:
            ok = self._sender(self.url, combined(batch))
            problem = "the destination refused it or did not answer"
        except Exception as exc:  # a failing destination must never fail a run
            ok, problem = False, f"{type(exc).__name__}: {exc}"
        if ok:
            self.stats.delivered += len(batch)
            now = datetime.now(UTC)
            self.stats.latencies.extend((now - a.at).total_seconds() for a in batch)
        else:
            self.stats.failed += len(batch)
            log.warning(
                "alert %s to %s not delivered: %s",
                ", ".join(a.kind for a in batch),
                self.stats.destination,
                self._scrub(problem),
            )


_SEVERITY = [AlertLevel.INFO, AlertLevel.SUCCESS, AlertLevel.WARNING, AlertLevel.FAILURE]


def combined(batch: list[Alert]) -> Alert:
    """Several alerts as one message: the gravest one's title first, every body below."""
    if len(batch) == 1:
        return batch[0]
    gravest = max(batch, key=lambda a: _SEVERITY.index(a.level))
    body = "\n\n".join(f"{a.title}\n{a.body}" for a in batch)
    return Alert(
        "+".join(a.kind for a in batch),
        f"{gravest.title} (+{len(batch) - 1} more)",
        body,
        gravest.level,
        min(a.at for a in batch),
    )


def _listed(urls: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(u.strip() for u in urls if u.strip()))


#: Where Apprise lists its services and the URL each takes.
APPRISE_WIKI = "https://github.com/caronc/apprise/wiki"


def check_urls(urls: Iterable[str]) -> None:
    """``ConfigError`` naming, masked, every URL Apprise cannot use, and why; nothing is sent.

    What a run refuses at its start, so that a dry run can refuse it too. Apprise is the
    alerts extra: ``ModuleNotFoundError`` without it, which the CLI names.
    """
    listed = _listed(urls)
    if not listed:
        return
    import apprise

    scrub = _ScrubRecords(Scrubber(listed))  # Apprise logs the URLs it cannot load
    logging.getLogger("apprise").addFilter(scrub)
    try:
        refused = [url for url in listed if not apprise.Apprise().add(url)]
    finally:
        logging.getLogger("apprise").removeFilter(scrub)
    if refused:
        services = _apprise_services(apprise)
        raise ConfigError("; ".join(_refusal(url, services) for url in refused))


def _apprise_services(apprise: Any) -> dict[str, tuple[str, bool, str]]:
    """Each scheme Apprise knows: (its service, whether it can run here, its setup page)."""
    found: dict[str, tuple[str, bool, str]] = {}
    for schema in apprise.Apprise().details(show_disabled=True).get("schemas", ()):
        service = (
            str(schema.get("service_name") or "?"),
            bool(schema.get("enabled", True)),
            str(schema.get("setup_url") or APPRISE_WIKI),
        )
        for key in ("protocols", "secure_protocols"):
            schemes = schema.get(key) or ()
            for scheme in (schemes,) if isinstance(schemes, str) else schemes:
                found[str(scheme).lower()] = service
    return found


def _refusal(url: str, services: dict[str, tuple[str, bool, str]]) -> str:
    """Why Apprise refused ``url``, the URL masked."""
    masked = mask_url(url)
    shown = f"alert URL {masked}"
    if masked == MASK:  # no scheme://
        return f"{shown}: not a URL (an Apprise URL is service://..., see {APPRISE_WIKI})"
    scheme = url.partition("://")[0]
    known = services.get(scheme.lower())
    if known is None:
        return f"{shown}: Apprise has no {scheme}:// service (see {APPRISE_WIKI})"
    service, enabled, setup = known
    if not enabled:
        return f"{shown}: Apprise's {service} service cannot run on this machine (see {setup})"
    return f"{shown}: not a valid {service} URL (see {setup})"


def _apprise_sender() -> Sender:
    """Delivery through Apprise, of URLs ``check_urls`` passed."""
    import apprise  # the alerts extra; the CLI names it when it is missing

    def send(url: str, alert: Alert) -> bool:
        client = apprise.Apprise()  # fresh: no spacing kept from the last send (see above)
        client.add(url)
        result = client.notify(
            body=alert.body,
            title=alert.title,
            notify_type=apprise.NotifyType(alert.level.value),
        )
        return bool(result)

    return send
