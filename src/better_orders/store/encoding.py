"""How values are kept in the journal's TEXT columns, and read back equal.

* **Exact money.** Decimals are stored as text and come back equal, digit for digit.
* **Times that sort.** Aware times are stored in UTC with fixed-width microseconds, so
  ordering by the text orders by time.
* **No secrets.** The journal has no field for credentials; as a second line of
  defence, values under credential-like keys (``secret``, ``api_key``, ``password``...)
  in params and reports are replaced by ``"[redacted]"`` before they are stored.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any

from better_orders.core.errors import JournalError
from better_orders.core.jsonable import fields_of, to_jsonable

_CREDENTIAL_KEY_RE = re.compile(
    r"secret|passw|api[_-]?key|apca|credential|private[_-]?key|auth[_-]?token", re.IGNORECASE
)
_REDACTED = "[redacted]"


def to_json(obj: Any) -> str:
    """Compact JSON text of ``obj`` (see ``to_jsonable``); ``JournalError`` if it has none."""
    try:
        return json.dumps(to_jsonable(obj), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise JournalError(f"cannot record {type(obj).__name__} as JSON: {exc}") from None


def params_hash(params: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a run's params: equal requests hash equal.

    Keys are sorted and Decimals normalised (``10``, ``10.0`` and ``1E+1`` are one
    quantity), so "the same targets run again" is found whatever way they were typed.
    """
    canonical = json.dumps(
        _canonical(redact(params)), sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        normal = obj.normalize()
        return "0" if normal.is_zero() else format(normal, "f")
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    fields = fields_of(obj)
    if fields is not None:
        return _canonical(fields)
    if isinstance(obj, Enum | datetime | date | PurePath | set | frozenset):
        return to_jsonable(obj)
    return obj


def redact(obj: Any) -> Any:
    """Replace values under credential-like keys, at any depth."""
    fields = fields_of(obj)
    if fields is not None:
        obj = fields
    if isinstance(obj, Mapping):
        return {
            k: _REDACTED if _CREDENTIAL_KEY_RE.search(str(k)) else redact(v) for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [redact(v) for v in obj]
    return obj


def ts_text(value: datetime) -> str:
    """ISO-8601 with fixed-width microseconds; aware times in UTC so the text sorts by time."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def opt_ts(text: str | None) -> datetime | None:
    return None if text is None else parse_ts(text)


def dec_or_none(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def dec_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)
