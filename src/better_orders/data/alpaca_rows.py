"""Alpaca's historical quote and trade JSON rows, to and from the shared schema.

A quote is ``{"t", "bp", "bs", "bx", "ap", "as", "ax", "c", "z"}`` and a trade
``{"t", "p", "s", "x", "c", "i", "z"}``: ``t`` RFC 3339 (up to nanoseconds, UTC),
prices in dollars. Alpaca's quote sizes are round lots of 100 shares (the schema
counts shares), trade sizes shares. A trade's conditions are a list of one-character
codes; the schema's ``cond`` is those codes side by side (``["@", "T"]`` -> ``"@T"``),
which is how the shared TAQ files write them too (``"F  I"``, blanks included).
Historical answers carry no correction flag, so ``corr`` is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from better_orders.data.schema import Kind, arrow_table

#: Shares per size unit of Alpaca's quotes (bid and ask sizes are in round lots).
QUOTE_LOT = 100


def parse_times(values: Sequence[str]) -> npt.NDArray[np.int64]:
    """RFC 3339 times to nanoseconds since the epoch, exactly (no float on the way)."""
    import pandas as pd

    if not values:
        return np.zeros(0, dtype=np.int64)
    parsed = pd.to_datetime(list(values), utc=True, format="ISO8601").as_unit("ns")
    return np.asarray(parsed.asi8, dtype=np.int64)


def format_times(ts_ns: npt.NDArray[np.int64]) -> list[str]:
    """Nanoseconds since the epoch as RFC 3339 UTC with nine decimals, as Alpaca writes them."""
    text = np.datetime_as_string(np.asarray(ts_ns, dtype=np.int64).astype("datetime64[ns]"))
    return [f"{t}Z" for t in text.tolist()]


def format_seconds(ns: int) -> str:
    """A whole-second instant as RFC 3339 UTC without decimals (``2013-10-07T13:25:00Z``)."""
    if ns % 1_000_000_000:
        raise ValueError(f"{ns} ns is not a whole second")
    return f"{np.datetime_as_string(np.datetime64(ns // 1_000_000_000, 's'))}Z"


def rows_table(kind: Kind, rows: Sequence[dict[str, Any]], symbol: str, source: str) -> Any:
    """One page of Alpaca rows as a pyarrow table in the shared schema (``source`` names
    where quotes came from; trades rows have no such column)."""
    ts = parse_times([r["t"] for r in rows])
    if kind == "quotes":
        columns: dict[str, Any] = {
            "ts_utc_ns": ts,
            "symbol": symbol,
            "bid_px": _floats(rows, "bp"),
            "bid_sz": _lots(rows, "bs"),
            "ask_px": _floats(rows, "ap"),
            "ask_sz": _lots(rows, "as"),
            "source": source,
        }
    else:
        columns = {
            "ts_utc_ns": ts,
            "symbol": symbol,
            "exchange": [str(r.get("x") or "") for r in rows],
            "price": _floats(rows, "p"),
            "size": np.rint(_floats(rows, "s")).astype(np.int64),
            "cond": ["".join(r.get("c") or ()) for r in rows],
            "corr": np.zeros(len(rows), dtype=np.int64),
        }
    return arrow_table(kind, columns)


def _floats(rows: Sequence[dict[str, Any]], key: str) -> npt.NDArray[np.float64]:
    return np.array([r[key] for r in rows], dtype=np.float64)


def _lots(rows: Sequence[dict[str, Any]], key: str) -> npt.NDArray[np.int64]:
    # Odd-lot sizes come back as fractions of a lot; rint undoes the float error exactly.
    return np.rint(_floats(rows, key) * QUOTE_LOT).astype(np.int64)


def quote_rows(frame: Any, lo: int, hi: int) -> list[dict[str, Any]]:
    """Rows ``lo:hi`` of a quotes DataFrame as Alpaca's JSON quotes (sizes in lots)."""
    part = frame.iloc[lo:hi]
    times = format_times(part["ts_utc_ns"].to_numpy())
    bid_px, ask_px = part["bid_px"].tolist(), part["ask_px"].tolist()
    bid_sz = [_as_lots(s) for s in part["bid_sz"].tolist()]
    ask_sz = [_as_lots(s) for s in part["ask_sz"].tolist()]
    return [
        {"t": t, "bx": "", "bp": bp, "bs": bs, "ax": "", "ap": ap, "as": az, "c": [], "z": ""}
        for t, bp, bs, ap, az in zip(times, bid_px, bid_sz, ask_px, ask_sz, strict=True)
    ]


def trade_rows(frame: Any, lo: int, hi: int) -> list[dict[str, Any]]:
    """Rows ``lo:hi`` of a trades DataFrame as Alpaca's JSON trades (``i`` = row number)."""
    part = frame.iloc[lo:hi]
    times = format_times(part["ts_utc_ns"].to_numpy())
    return [
        {"t": t, "x": x, "p": p, "s": s, "c": list(c), "i": i, "z": ""}
        for t, x, p, s, c, i in zip(
            times,
            part["exchange"].tolist(),
            part["price"].tolist(),
            part["size"].tolist(),
            part["cond"].tolist(),
            range(lo + 1, hi + 1),
            strict=True,
        )
    ]


def _as_lots(shares: int) -> int | float:
    lots, odd = divmod(int(shares), QUOTE_LOT)
    return lots if odd == 0 else int(shares) / QUOTE_LOT
