"""The shared data schema: the columns of quote and trades data and their types.

Quotes hold one row per top-of-book change: ``ts_utc_ns, ts_et, symbol, bid_px,
bid_sz, ask_px, ask_sz, source`` (LOBSTER files add ``event_type, event_size,
event_px, event_dir``); trades hold one row per print: ``ts_utc_ns, ts_et, symbol,
exchange, price, size, cond, corr``. Prices are dollars (float64, as the CSV files
write them), sizes shares, ``ts_utc_ns`` nanoseconds since the epoch (UTC).

``ts_et`` is the same instant in New York time. The CSV files write it as text
(``2013-10-07T09:30:00.072000-0400``); Parquet has types, so the dataset stores it
as a timestamp with the ``America/New_York`` zone (nanoseconds, equal to
``ts_utc_ns``): readers get a real time, and nothing is formatted row by row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

Kind = Literal["quotes", "trades"]

QUOTE_COLUMNS = ("ts_utc_ns", "ts_et", "symbol", "bid_px", "bid_sz", "ask_px", "ask_sz", "source")
#: LOBSTER's order-book event behind each quote row (1-5, 7; see the data README).
EVENT_COLUMNS = ("event_type", "event_size", "event_px", "event_dir")
TRADE_COLUMNS = ("ts_utc_ns", "ts_et", "symbol", "exchange", "price", "size", "cond", "corr")

NEW_YORK = "America/New_York"

#: Columns stored as text; every other column but ``ts_et`` is a number.
TEXT_COLUMNS = frozenset({"symbol", "source", "exchange", "cond"})
INTEGER_COLUMNS = frozenset({"ts_utc_ns", "bid_sz", "ask_sz", "size", "corr"})


def columns_of(kind: Kind) -> tuple[str, ...]:
    return QUOTE_COLUMNS if kind == "quotes" else TRADE_COLUMNS


def has_events(columns: Sequence[str]) -> bool:
    return all(c in columns for c in EVENT_COLUMNS)


def missing_columns(kind: Kind, present: Sequence[str]) -> list[str]:
    return [c for c in columns_of(kind) if c not in present]


def arrow_table(kind: Kind, columns: Mapping[str, Any]) -> Any:
    """A pyarrow Table of ``kind`` in the schema's order and types.

    ``columns`` holds arrays (or a DataFrame's columns) for every column but
    ``ts_et``, which is derived from ``ts_utc_ns``; event columns are kept for
    quotes when all four are given.
    """
    import pyarrow as pa

    ts = np.asarray(columns["ts_utc_ns"], dtype=np.int64)
    arrays: dict[str, Any] = {}
    names = list(columns_of(kind))
    if kind == "quotes" and has_events(list(columns)):
        names += EVENT_COLUMNS
    for name in names:
        if name == "ts_et":
            arrays[name] = pa.array(ts, type=pa.int64()).cast(pa.timestamp("ns", tz=NEW_YORK))
        elif name in TEXT_COLUMNS:
            arrays[name] = _text(columns[name], len(ts))
        elif name in INTEGER_COLUMNS:
            arrays[name] = pa.array(np.asarray(columns[name], dtype=np.int64))
        elif name in EVENT_COLUMNS:
            arrays[name] = pa.array(np.asarray(columns[name]))
        else:
            arrays[name] = pa.array(np.asarray(columns[name], dtype=np.float64))
    return pa.table(arrays)


def _text(values: Any, n: int) -> Any:
    """A string array; a single ``str`` is repeated ``n`` times without n Python objects."""
    import pyarrow as pa

    if isinstance(values, str):
        indices = pa.array(np.zeros(n, dtype=np.int32))
        return pa.DictionaryArray.from_arrays(indices, pa.array([values])).cast(pa.string())
    return pa.array(values, type=pa.string())
