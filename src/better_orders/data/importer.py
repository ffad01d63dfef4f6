"""``data import``: shared-data gzip CSV files into a dataset, one symbol-day per day.

Each quote file comes with its companion trades file when one sits beside it
(``csv_files.csv_trades_file``); a trades file given on its own is accepted only
as the companion of a quote file also given, so ``data import quotes/*.csv.gz``
does what it says. Rows are kept exactly (``source`` included); a file spanning
several New York days becomes several symbol-days. Every file is checked before
anything is written.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from better_orders.core.errors import InvalidInputError
from better_orders.data.csv_files import csv_trades_file, kind_of, read_csv
from better_orders.data.dataset import Dataset
from better_orders.data.schema import Kind, arrow_table
from better_orders.data.symbol_day import SymbolDay
from better_orders.data.venue_names import venue_name


@dataclass(frozen=True, slots=True)
class Imported:
    day: SymbolDay
    quotes: int
    trades: int | None
    files: tuple[str, ...]


def plan_import(files: Sequence[Path]) -> list[tuple[Path, Path | None]]:
    """(quote file, its trades file or None) for every quote file among ``files``."""
    if not files:
        raise InvalidInputError("no file given: e.g. better-orders data import quotes/*.csv.gz")
    kinds: dict[Path, Kind] = {}
    for file in files:
        if not file.is_file():
            raise InvalidInputError(f"{file} does not exist (or is not a file)")
        try:
            kind = kind_of(file)
        except Exception as exc:  # pandas and zlib raise their own types for damaged files
            raise InvalidInputError(f"{file} cannot be read as CSV: {exc}") from None
        if kind is None:
            raise InvalidInputError(
                f"{file} is neither a quote nor a trades file of the shared data schema"
            )
        kinds[file] = kind
    pairs = [(f, csv_trades_file(f)) for f, k in kinds.items() if k == "quotes"]
    companions = {t.resolve() for _, t in pairs if t is not None}
    for file, kind in kinds.items():
        if kind == "trades" and file.resolve() not in companions:
            raise InvalidInputError(
                f"{file} is a trades file without its quote file among those given: "
                "import the quote file (its trades come with it)"
            )
    return pairs


def import_files(
    files: Sequence[Path],
    dataset: Dataset,
    *,
    on_day: Callable[[Imported], None] | None = None,
) -> list[Imported]:
    pairs = plan_import(files)
    dataset.create()
    done: list[Imported] = []
    for quote_file, trades_file in pairs:
        for item in _import_one(quote_file, trades_file, dataset):
            done.append(item)
            if on_day is not None:
                on_day(item)
    return done


def _import_one(quote_file: Path, trades_file: Path | None, dataset: Dataset) -> list[Imported]:
    quotes = _read(quote_file, "quotes")
    trades = _read(trades_file, "trades") if trades_file is not None else None
    symbols = sorted(set(quotes["symbol"].unique()))
    if len(symbols) != 1:
        raise InvalidInputError(
            f"{quote_file} holds {len(symbols)} symbols ({', '.join(symbols[:5])}): "
            "a symbol-day is one symbol"
        )
    symbol = symbols[0]
    names = (quote_file.name,) + ((trades_file.name,) if trades_file is not None else ())
    sources = sorted(set(quotes["source"].unique()))
    out = []
    quote_days = _days(quotes)
    trade_days = _days(trades) if trades is not None else None
    for day in sorted(set(quote_days)):
        q = quotes[quote_days == day]
        t = trades[trade_days == day] if trades is not None else None
        target = dataset.symbol_day(symbol, day)
        target.write(
            _table("quotes", q),
            _table("trades", t) if t is not None else None,
            source="; ".join(sources),
            origin={"kind": "import", "files": list(names)},
            venue=venue_name(quote_file),
        )
        out.append(Imported(target, len(q), len(t) if t is not None else None, names))
    return out


def _read(path: Path, kind: Kind) -> Any:
    try:
        frame = read_csv(path, kind)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError(f"{path} cannot be imported: {exc}") from None
    if len(frame) == 0:
        raise InvalidInputError(f"{path} holds no rows (only a header)")
    return frame


def _days(frame: Any) -> Any:
    """Each row's New York date, from ``ts_et`` (its first ten characters)."""
    text = frame["ts_et"].str.slice(0, 10).to_numpy(dtype=str)
    unique, which = np.unique(text, return_inverse=True)
    return np.array([date.fromisoformat(u) for u in unique], dtype=object)[which]


def _table(kind: Kind, frame: Any) -> Any:
    return arrow_table(kind, {c: frame[c].to_numpy() for c in frame.columns if c != "ts_et"})
