"""The shared data folder's gzip CSV files: reading one in the schema, and finding its trades.

A quote file ``PREFIX_..._l1.csv.gz`` (or ``_bbo``, ``_quotes``, ``_nbbo``) has
its day's prints in ``PREFIX_trades.csv.gz`` beside it, when there are any
(``csv_trades_file``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from better_orders.data.schema import (
    EVENT_COLUMNS,
    INTEGER_COLUMNS,
    TEXT_COLUMNS,
    Kind,
    columns_of,
    has_events,
    missing_columns,
)

QUOTE_SUFFIXES = ("bbo", "l1", "quotes", "nbbo")


def read_csv(path: str | os.PathLike[str], kind: Kind) -> Any:
    """A shared-schema gzip/plain CSV file as a pandas DataFrame (``ts_et`` left as text).

    Condition codes and exchanges stay text (``cond`` ``2000`` is ``"2000"``, a
    blank ``cond`` the empty string); a missing column raises ``ValueError``.
    """
    import pandas as pd

    header = list(pd.read_csv(path, nrows=0).columns)
    missing = missing_columns(kind, header)
    if missing:
        raise ValueError(
            f"missing column(s) {', '.join(missing)} (it has: {', '.join(header) or 'none'})"
        )
    wanted = list(columns_of(kind))
    if kind == "quotes" and has_events(header):
        wanted += EVENT_COLUMNS
    dtypes = {c: "str" for c in wanted if c in TEXT_COLUMNS or c == "ts_et"}
    dtypes |= {c: "int64" for c in wanted if c in INTEGER_COLUMNS}
    dtypes |= {c: "float64" for c in ("bid_px", "ask_px", "price") if c in wanted}
    # Condition codes are text in which blanks matter ("C  I"): no NaN for an empty field.
    return pd.read_csv(path, usecols=wanted, dtype=dtypes, keep_default_na=False)[wanted]


def kind_of(path: str | os.PathLike[str]) -> Kind | None:
    """``quotes`` or ``trades`` from a CSV file's header; None when it is neither."""
    import pandas as pd

    header = list(pd.read_csv(path, nrows=0).columns)
    if not missing_columns("quotes", header):
        return "quotes"
    if not missing_columns("trades", header):
        return "trades"
    return None


def csv_trades_file(quote_file: str | os.PathLike[str]) -> Path | None:
    """The companion trades file of a single-venue quote file, if it sits beside it.

    For ``PREFIX_..._bbo.csv.gz`` or ``PREFIX_..._l1.csv.gz`` (any of the quote
    suffixes), the longest ``PREFIX_trades.<same suffix>`` in the same folder
    whose prefix still names the day (an 8-digit token): e.g.
    ``taq_XXX_20180102_nyse_bbo.csv.gz`` -> ``taq_XXX_20180102_trades.csv.gz``.
    """
    file = Path(quote_file)
    name = file.name
    suffix = next((s for s in (".csv.gz", ".csv") if name.endswith(s)), None)
    if suffix is None:
        return None
    tokens = name[: -len(suffix)].split("_")
    if len(tokens) < 2 or tokens[-1].lower() not in QUOTE_SUFFIXES:
        return None
    for k in range(len(tokens) - 1, 0, -1):
        prefix = tokens[:k]
        if not any(t.isdigit() and len(t) == 8 for t in prefix):
            break
        candidate = file.with_name("_".join(prefix) + "_trades" + suffix)
        if candidate.is_file():
            return candidate
    return None
