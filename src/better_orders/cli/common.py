"""Shared CLI plumbing: consoles, JSON output, parsing of times from the command line."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console

from better_orders.errors import InvalidInputError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

NEW_YORK = ZoneInfo("America/New_York")


def parse_instant(text: str) -> datetime:
    """Parse ``--at``: ISO-8601; a time without an offset is New York time.

    ``2026-11-27T09:30:30``, ``2026-11-27 09:30:30-05:00`` and ``2026-11-27T14:30:30Z``
    are all accepted. Returns an aware datetime.
    """
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"cannot parse time {text!r}: use ISO-8601, e.g. 2026-11-27T09:30:30 (New York time)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=NEW_YORK)
    return value


def to_jsonable(obj: Any) -> Any:
    """Decimals as strings (exact), datetimes as ISO-8601, dataclasses and enums unpacked."""
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        for name in getattr(type(obj), "__json_properties__", ()):
            out[name] = to_jsonable(getattr(obj, name))
        return out
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "model_dump"):
        return to_jsonable(obj.model_dump())
    return obj


def print_json(obj: Any) -> None:
    """Machine output: one JSON document on stdout, nothing else."""
    print(json.dumps(to_jsonable(obj), indent=2, sort_keys=False))
