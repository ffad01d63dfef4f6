"""A simulator profile: the latency, resting-fill and partial-fill models the venue runs with.

``better-orders sim calibrate`` fits one from a journal of real runs (``tca.calibrate``)
and writes it as TOML; ``order``/``rebalance`` on the simulator and ``tca --journal``
read it with ``--sim-profile``. A profile holds only what the venue models:

* ``[latency]``: one-way delays in milliseconds (``exchange.Latency``);
* ``[resting] queue_share``: the share of the displayed size at a limit's price that is
  ahead of it when it joins the queue (1: behind everything shown, the venue's default;
  0: at the front), ``fills.requeue``;
* ``[partial] probability``: the chance that a fill of two shares or more is cut to half
  of what the book offered (``faults.FaultPlan.random``, kind ``partial_fill``).

``[fit]`` records what the profile was fitted from, for the reader; the venue ignores it.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from better_orders.core.errors import InvalidInputError
from better_orders.venues.sim.exchange import Latency
from better_orders.venues.sim.faults import FaultPlan

_LATENCIES = ("submit", "cancel", "update", "market_data")


@dataclass(frozen=True, slots=True)
class SimProfile:
    """The models a simulated venue runs with (see the module docstring)."""

    latency: Latency = field(default_factory=Latency)
    queue_share: Decimal = Decimal(1)
    partial_fill: float = 0.0
    #: What the profile was fitted from (counts, the journal, tolerances), for the reader.
    fit: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.queue_share <= Decimal(1):
            raise InvalidInputError(
                f"resting queue_share must be within 0..1, got {self.queue_share}"
            )
        if not 0.0 <= self.partial_fill <= 1.0:
            raise InvalidInputError(
                f"partial probability must be within 0..1, got {self.partial_fill}"
            )

    def faults(self, seed: int) -> FaultPlan | None:
        """The partial-fill model as the venue's fault plan (None when fills are never cut)."""
        if self.partial_fill <= 0:
            return None
        return FaultPlan.random(seed, {"partial_fill": self.partial_fill})

    # -- TOML ---------------------------------------------------------------------------------

    def to_toml(self) -> str:
        lines = ["# Simulator profile (better-orders sim calibrate); milliseconds.", "[latency]"]
        for name in _LATENCIES:
            ms = getattr(self.latency, name) / timedelta(milliseconds=1)
            lines.append(f"{name}_ms = {ms:g}")
        lines += ["", "[resting]", f"queue_share = {float(self.queue_share):g}"]
        lines += ["", "[partial]", f"probability = {self.partial_fill:.4g}"]
        if self.fit:
            lines += ["", "[fit]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in self.fit.items()]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> Path:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.to_toml())
        except OSError as exc:
            raise InvalidInputError(f"cannot write profile {path}: {exc.strerror or exc}") from None
        return path

    @classmethod
    def load(cls, path: Path) -> SimProfile:
        """Read a profile file; a missing file or a bad value is one clear error."""
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise InvalidInputError(f"simulator profile {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read simulator profile {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInputError(f"simulator profile {path} is not TOML: {exc}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "profile") -> SimProfile:
        unknown = sorted(set(data) - {"latency", "resting", "partial", "fit"})
        if unknown:
            raise InvalidInputError(
                f"{where}: unknown table(s) {', '.join(unknown)}; "
                "use [latency], [resting], [partial]"
            )
        lat = _table(data, "latency", where)
        extra = sorted(set(lat) - {f"{n}_ms" for n in _LATENCIES})
        if extra:
            raise InvalidInputError(f"{where}: unknown latency key(s) {', '.join(extra)}")
        delays = {
            n: timedelta(milliseconds=_number(lat, f"{n}_ms", where, getattr(Latency(), n)))
            for n in _LATENCIES
        }
        resting = _table(data, "resting", where)
        partial = _table(data, "partial", where)
        share = _number(resting, "queue_share", where, Decimal(1))
        try:
            return cls(
                latency=Latency(**delays),
                queue_share=Decimal(str(share)),
                partial_fill=float(_number(partial, "probability", where, 0.0)),
                fit=dict(_table(data, "fit", where)),
            )
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None


def _table(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise InvalidInputError(f"{where}: [{name}] must be a table")
    return table


def _number(table: dict[str, Any], key: str, where: str, default: Any) -> Any:
    if key not in table:
        return default / timedelta(milliseconds=1) if isinstance(default, timedelta) else default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{where}: {key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidInputError(f"{where}: {key} must be finite, got {value!r}")
    try:
        Decimal(str(value))
    except InvalidOperation:  # pragma: no cover - a finite float always converts
        raise InvalidInputError(f"{where}: {key} is not a number: {value!r}") from None
    return value


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
