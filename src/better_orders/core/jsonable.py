"""Plain JSON data from the product's values, exactly.

Decimals become strings (never floats), datetimes ISO-8601, enums their value,
dataclasses dicts plus the properties they list in ``__json_properties__``.
Used for the journal's payloads and for every ``--json`` output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """Plain JSON data: Decimals as exact strings, datetimes as ISO-8601, enums as their
    value, dataclasses as dicts (plus the properties named in ``__json_properties__``)."""
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, PurePath):
        return str(obj)
    fields = fields_of(obj)
    if fields is not None:
        return to_jsonable(fields)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted((to_jsonable(v) for v in obj), key=repr)
    return obj


def fields_of(obj: Any) -> dict[str, Any] | None:
    """The fields of a dataclass instance or pydantic model; None for anything else."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        for name in getattr(type(obj), "__json_properties__", ()):
            out[name] = getattr(obj, name)
        return out
    dump = getattr(obj, "model_dump", None)
    if callable(dump) and not isinstance(obj, type):
        result = dump()
        return result if isinstance(result, dict) else None
    return None
