"""Fault switches of the local paper exchange: set at start-up (``--fault NAME=VALUE``) or at
run time (``POST /_faults``), read by the HTTP layer and by the simulated venue.

HTTP-level faults (latency, 429 bursts, 5xx, a 504 after the order was created,
refused replaces, a chosen submit error) are applied by ``app.py`` before or
after a handler runs. Venue-level faults (partial fills, a replace that loses
the race against a fill) act inside ``SimExchange`` through ``SwitchableFaultPlan``,
a ``FaultPlan`` whose hooks read these switches, so they can be turned off again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import to_decimal
from better_orders.venues.sim.faults import FaultPlan


@dataclass(slots=True)
class ServerFaults:
    """Every switch, with its meaning. Counters count down as faults are injected."""

    latency_ms: float = 0.0
    """Added before every REST answer."""
    rate_limit_burst: int = 0
    """The next N REST requests are answered 429 (nothing done)."""
    retry_after: float = 1.0
    """Seconds the 429s of ``rate_limit_burst`` ask the client to wait."""
    server_errors: int = 0
    """The next N REST requests are answered 500 (nothing done)."""
    lost_responses: int = 0
    """The next N order submits create the order, then answer 504."""
    replace_refused: int = 0
    """The next N replaces are answered 422."""
    replace_race: int = 0
    """The next N replaces lose the race: the old order fills before the replace lands."""
    cancel_race: int = 0
    """The next N cancels lose the race: the order fills before the cancel lands."""
    partial_fills: Decimal | None = None
    """Cap every fill at this many shares."""
    stream_down_seconds: float = 0.0
    """After a trade_updates drop, refuse reconnections for this long."""
    drop_stream_every: float = 0.0
    """Drop every trade_updates connection every this many seconds (0 = never)."""
    submit_errors: int = 0
    """The next N order submits are answered with ``submit_error`` (nothing done)."""
    submit_error: tuple[int, int, str] = (403, 40310000, "potential wash trade detected")
    """(HTTP status, Alpaca code, message) of ``submit_errors``."""
    race_orders: set[str] = field(default_factory=set)
    """Client order ids whose next cancel arrival fills them first (set by replaces)."""

    def take(self, name: str) -> bool:
        """Use one injection of counter ``name``; False when it is spent."""
        left = getattr(self, name)
        if left <= 0:
            return False
        setattr(self, name, left - 1)
        return True

    def update(self, values: dict[str, Any]) -> None:
        """Set switches from a JSON object or parsed CLI pairs (unknown names are errors)."""
        for name, value in values.items():
            setattr(self, name, _coerce(name, value))

    def reset(self) -> None:
        fresh = ServerFaults()
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, set):
                value = sorted(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


_SETTABLE = {f.name for f in dataclasses.fields(ServerFaults)} - {"race_orders"}


def _coerce(name: str, value: Any) -> Any:
    if name not in _SETTABLE:
        known = ", ".join(sorted(_SETTABLE))
        raise InvalidInputError(f"unknown fault {name!r}: use one of {known}")
    try:
        if name == "partial_fills":
            if value in (None, "", "none", "off", 0, "0"):
                return None
            cap = to_decimal(value, "partial_fills")
            if cap <= 0:
                raise InvalidInputError(f"partial_fills must be a positive share count, got {cap}")
            return cap
        if name == "submit_error":
            if isinstance(value, str):
                status, code, message = value.split(":", 2)
                return (int(status), int(code), message)
            status, code, message = value
            return (int(status), int(code), str(message))
        if name in ("latency_ms", "retry_after", "stream_down_seconds", "drop_stream_every"):
            number = float(value)
            if number < 0:
                raise InvalidInputError(f"fault {name} cannot be negative, got {value!r}")
            return number
        count = int(value)
        if count < 0:
            raise InvalidInputError(f"fault {name} cannot be negative, got {value!r}")
        return count
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"bad value for fault {name}: {value!r}") from None


def parse_fault_args(items: list[str]) -> dict[str, Any]:
    """``["latency_ms=50", "server_errors=2"]`` to checked values (``NAME=VALUE`` each)."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidInputError(f"--fault takes NAME=VALUE (e.g. latency_ms=50), got {item!r}")
        values[name.strip()] = _coerce(name.strip(), value.strip())
    return values


class SwitchableFaultPlan(FaultPlan):
    """The simulated venue's fault hooks, driven by ``ServerFaults`` (and reversible)."""

    def __init__(self, switches: ServerFaults) -> None:
        super().__init__()
        self.switches = switches

    @property
    def active(self) -> bool:
        return self.switches.partial_fills is not None or bool(self.switches.race_orders)

    def on_cancel_arrival(self, client_order_id: str) -> bool:
        if client_order_id in self.switches.race_orders:
            self.switches.race_orders.discard(client_order_id)
            self.injected["fill_during_cancel"] += 1
            return True
        return False

    def cap_fill(self, client_order_id: str, qty: Decimal) -> Decimal:
        cap = self.switches.partial_fills
        if cap is not None and qty > cap:
            self.injected["partial_fill"] += 1
            return cap
        return qty
