"""``data import``: shared-data gzip CSV files into a dataset, one symbol-day per day.

Each quote file comes with its companion trades file when one sits beside it
(``csv_files.csv_trades_file``); a trades file given on its own is accepted only
as the companion of a quote file also given, so ``data import quotes/*.csv.gz``
does what it says. Rows are kept exactly (``source`` included); a file spanning
several New York days becomes several symbol-days.

Every file is read in full and checked before anything is written, then read again
to write it: a damaged file found halfway must leave the dataset as it was, and
holding every file's rows at once would not fit in memory for a large import.
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
        if file.is_dir():
            raise InvalidInputError(f"{file} is a folder: give the quote files in it")
        if not file.is_file():
            raise InvalidInputError(f"{file} does not exist")
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
    """Import ``files`` into ``dataset``; nothing is written unless every file is good."""
    pairs = plan_import(files)
    claimed: dict[tuple[str, date], Path] = {}
    for quote_file, trades_file in pairs:  # the check: read, split, dropped
        source = _Source.read(quote_file, trades_file)
        for day in source.days:
            other = claimed.setdefault((source.symbol, day), quote_file)
            if other != quote_file:
                raise InvalidInputError(
                    f"{other} and {quote_file} both hold {source.symbol} {day.isoformat()}: "
                    "import one of them"
                )
    dataset.create()
    done: list[Imported] = []
    for quote_file, trades_file in pairs:
        for item in _Source.read(quote_file, trades_file).write(dataset):
            done.append(item)
            if on_day is not None:
                on_day(item)
    return done


@dataclass(frozen=True, slots=True)
class _Source:
    """A quote file and its trades, read and checked: one symbol, its New York days."""

    quote_file: Path
    trades_file: Path | None
    quotes: Any
    trades: Any | None
    symbol: str
    quote_days: Any
    trade_days: Any | None

    @classmethod
    def read(cls, quote_file: Path, trades_file: Path | None) -> _Source:
        quotes = _read(quote_file, "quotes")
        trades = _read(trades_file, "trades") if trades_file is not None else None
        symbols = sorted(set(quotes["symbol"].unique()))
        if len(symbols) != 1:
            raise InvalidInputError(
                f"{quote_file} holds {len(symbols)} symbols ({', '.join(symbols[:5])}): "
                "a symbol-day is one symbol"
            )
        trade_days = None
        quote_days = _days(quotes, quote_file)
        if trades is not None and trades_file is not None:
            trade_days = _days(trades, trades_file)
            # Trades of a day without quotes would have no symbol-day to go to: refused
            # rather than dropped without a word.
            orphans = sorted(set(trade_days) - set(quote_days))
            if orphans:
                days = ", ".join(d.isoformat() for d in orphans[:3])
                more = f" and {len(orphans) - 3} more" if len(orphans) > 3 else ""
                raise InvalidInputError(
                    f"{trades_file} holds trades on {days}{more}, when {quote_file} holds no "
                    "quotes: they would be lost; import the quotes of those days too, or "
                    "leave their trades out"
                )
        return cls(
            quote_file,
            trades_file,
            quotes,
            trades,
            symbols[0],
            quote_days,
            trade_days,
        )

    @property
    def days(self) -> list[date]:
        return sorted(set(self.quote_days))

    def write(self, dataset: Dataset) -> list[Imported]:
        names = (self.quote_file.name,) + (
            (self.trades_file.name,) if self.trades_file is not None else ()
        )
        sources = sorted(set(self.quotes["source"].unique()))
        out = []
        for day in self.days:
            q = self.quotes[self.quote_days == day]
            t = self.trades[self.trade_days == day] if self.trades is not None else None
            target = dataset.symbol_day(self.symbol, day)
            target.write(
                _table("quotes", q),
                _table("trades", t) if t is not None else None,
                source="; ".join(sources),
                origin={"kind": "import", "files": list(names)},
                venue=venue_name(self.quote_file),
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


def _days(frame: Any, path: Path) -> Any:
    """Each row's New York date, from ``ts_et`` (its first ten characters)."""
    text = frame["ts_et"].str.slice(0, 10).to_numpy(dtype=str)
    unique, which = np.unique(text, return_inverse=True)
    days = []
    for day in unique:
        try:
            days.append(date.fromisoformat(day))
        except ValueError:
            raise InvalidInputError(
                f"{path} cannot be imported: ts_et {day!r}... is not a New York date and time"
            ) from None
    return np.array(days, dtype=object)[which]


def _table(kind: Kind, frame: Any) -> Any:
    return arrow_table(kind, {c: frame[c].to_numpy() for c in frame.columns if c != "ts_et"})
