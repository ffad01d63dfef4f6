"""The symbol-days an evaluation runs on: quote files named one by one, by folder or by glob.

``resolve_quote_files`` turns what a user typed after ``--quotes`` into quote files,
checking every one before anything is loaded or replayed, so bad input costs one
clear line and no work:

* a file is taken as it is, but it must look like a quote file (its header names
  the quote columns); a trades file or anything else is refused by name;
* a dataset folder (``data fetch``, ``data import``) gives its complete symbol-days:
  the whole dataset, one symbol's (``DIR/symbol=X``) or one day (``.../date=Y``);
* any other folder gives its quote files; the trades files beside them are companions
  (``sim.files.find_trades_file``) and are skipped; any other file in it is refused;
* a pattern with ``*``, ``?`` or ``[`` is expanded (``**`` across folders), must match
  something, and is then read like a folder's listing.

A file named twice is taken once; two sources of one symbol-day (a dataset's day and
the file it was imported from, a renamed copy) are refused: counted twice, the day
would weigh double in the pooled figures and, in ``tca tune``, be held out and
trained on at once.

The header is read from the first line only (gzip, plain CSV) or the Parquet
schema, and the symbol-day from the first row or a dataset folder's name, so
checking a folder of large files is instant.
"""

from __future__ import annotations

import csv
import glob
import gzip
import zlib
from collections.abc import Iterable, Sequence
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import NEW_YORK
from better_orders.core.model import normalize_symbol
from better_orders.data.dataset import symbol_days_at
from better_orders.data.symbol_day import SymbolDay
from better_orders.venues.sim.files import from_ns

#: The columns that make a file a quote file, and those of a trades file (``venues.sim.files``).
QUOTE_COLUMNS = ("ts_utc_ns", "bid_px", "ask_px", "bid_sz", "ask_sz")
TRADES_COLUMNS = ("ts_utc_ns", "price", "size")
_CSV_SUFFIXES = (".csv.gz", ".csv")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_GLOB_CHARS = frozenset("*?[")
_GZIP_MAGIC = b"\x1f\x8b"
_HEAD_BYTES = 64 * 1024


class FileKind(StrEnum):
    QUOTES = "quotes"
    TRADES = "trades"
    OTHER = "other"


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in _CSV_SUFFIXES + _PARQUET_SUFFIXES if name.endswith(s)), None)


def _header(path: Path) -> list[str]:
    """The column names of a CSV (plain or gzip) or Parquet file; ``ValueError`` if unreadable."""
    if _suffix(path) in _PARQUET_SUFFIXES:
        return list(_parquet(path).schema_arrow.names)
    return _csv_head(path, 1)[0]


def _parquet(path: Path) -> Any:
    """The open ``pyarrow.parquet.ParquetFile``; ``ValueError`` if it cannot be read."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError("reading Parquet needs pyarrow (the tca extra)") from None
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's own error types for a damaged file
        raise ValueError(f"not a readable Parquet file ({exc})") from None


def _csv_head(path: Path, rows: int) -> list[list[str]]:
    """The first ``rows`` lines of a CSV file (plain or gzip), split into fields (fewer when
    the file is shorter); ``ValueError`` if unreadable."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
        if head[:2] == _GZIP_MAGIC:
            with gzip.open(path, "rb") as gz:
                head = gz.read(_HEAD_BYTES)
        elif _suffix(path) == ".csv.gz":
            raise ValueError("not a gzip file")
        lines = [line.decode("utf-8") for line in head.split(b"\n", rows)[:rows]]
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot be read ({exc})") from None
    return [[c.strip() for c in row] for row in csv.reader(lines)] or [[]]


def _first_row(path: Path) -> dict[str, Any]:
    """The first row of a quote file, by column name; empty if it has none or is unreadable."""
    try:
        if _suffix(path) in _PARQUET_SUFFIXES:
            file = _parquet(path)
            wanted = [c for c in ("ts_utc_ns", "symbol") if c in file.schema_arrow.names]
            batch = next(file.iter_batches(batch_size=1, columns=wanted), None)
            return {} if batch is None or not batch.num_rows else batch.to_pylist()[0]
        rows = _csv_head(path, 2)
    except Exception:  # unreadable here: loading the file names the problem
        return {}
    return dict(zip(rows[0], rows[1], strict=False)) if len(rows) == 2 else {}


def symbol_day_of(path: Path) -> tuple[str, date] | None:
    """The symbol and New York date of the quotes at ``path``, as the quotes themselves say.

    A dataset's symbol-day is named by its folder, without reading it; a file by the
    ``symbol`` and ``ts_utc_ns`` of its first row (a replay is of one day, and a file of
    several is refused when loaded). ``--symbol`` plays no part: it renames what is
    traded, so two stocks' files traded under one name stay two symbol-days. None when
    the first row does not say, e.g. a file without a symbol column.
    """
    day = SymbolDay.from_path(path)
    if day is not None:
        return day.symbol, day.day
    row = _first_row(path)
    try:
        symbol = normalize_symbol(str(row["symbol"]))
        first = from_ns(int(row["ts_utc_ns"]))
    except (KeyError, ValueError, TypeError, OverflowError, InvalidInputError):
        return None
    return symbol, first.astimezone(NEW_YORK).date()


def _refuse_repeated_days(paths: Sequence[Path]) -> None:
    """Two sources of one symbol-day are refused by name (module docstring)."""
    seen: dict[tuple[str, date], Path] = {}
    for path in paths:
        key = symbol_day_of(path)
        if key is None:
            continue
        first = seen.setdefault(key, path)
        if first is not path:
            symbol, day = key
            raise InvalidInputError(
                f"{symbol} {day.isoformat()} is given twice: {first} and {path}; "
                "pass each symbol-day once"
            )


def file_kind(path: Path) -> tuple[FileKind, str]:
    """Whether ``path`` is a quote file, a trades file or something else, and why."""
    if _suffix(path) is None:
        return FileKind.OTHER, "not a .csv.gz, .csv or .parquet file"
    try:
        columns = _header(path)
    except ValueError as exc:
        return FileKind.OTHER, str(exc)
    if all(c in columns for c in QUOTE_COLUMNS):
        return FileKind.QUOTES, ""
    if all(c in columns for c in TRADES_COLUMNS):
        return FileKind.TRADES, "a trades file"
    shown = ", ".join(columns[:8]) or "none"
    return FileKind.OTHER, f"its columns are {shown}; a quote file has {', '.join(QUOTE_COLUMNS)}"


def _listing(paths: Iterable[Path], where: str) -> list[Path]:
    """The quote files among ``paths`` (a folder's or a pattern's); companions skipped."""
    found: list[Path] = []
    for path in sorted(paths):
        if path.name.startswith(".") or path.is_dir():
            continue
        kind, why = file_kind(path)
        if kind is FileKind.QUOTES:
            found.append(path)
        elif kind is FileKind.OTHER:
            raise InvalidInputError(f"{where} holds {path.name}, which is not a quote file: {why}")
    if not found:
        raise InvalidInputError(f"{where} holds no quote file")
    return found


def resolve_quote_files(items: Sequence[str | Path]) -> list[Path]:
    """The quote files named by ``items`` (files, folders, glob patterns), in order, once each;
    two files of one symbol-day are refused (module docstring)."""
    if not items:
        raise InvalidInputError("no quote file given: use --quotes FILE, FOLDER or 'GLOB'...")
    out: list[Path] = []
    for item in items:
        text = str(item)
        path = Path(text).expanduser()
        days = symbol_days_at(path)
        if days is not None:
            out.extend(day.path for day in days)
        elif path.is_dir():
            out.extend(_listing(path.iterdir(), f"folder {path}"))
        elif path.is_file():
            kind, why = file_kind(path)
            if kind is not FileKind.QUOTES:
                raise InvalidInputError(f"{path} is not a quote file: {why}")
            out.append(path)
        elif _GLOB_CHARS & set(text):
            matches = [Path(m) for m in glob.glob(str(path), recursive=True)]
            if not matches:
                raise InvalidInputError(f"no file matches {text!r}")
            out.extend(_listing(matches, f"pattern {text!r}"))
        else:
            raise InvalidInputError(f"quote file {path} does not exist")
    # One file reached twice (by its name and through its folder, or by two spellings of
    # its path) is one source: kept once, as first named.
    once: dict[Path, Path] = {}
    for path in out:
        once.setdefault(path.resolve(), path)
    files = list(once.values())
    _refuse_repeated_days(files)
    _refuse_repeated_names(files)
    return files


def _refuse_repeated_names(paths: Sequence[Path]) -> None:
    """Two files of one name are refused: results are labelled by the file's name (a
    dataset's day by its symbol and date), and two days under one label would be merged
    into one row."""
    seen: dict[str, Path] = {}
    for path in paths:
        if SymbolDay.from_path(path) is not None:
            continue
        first = seen.setdefault(path.name, path)
        if first is not path:
            raise InvalidInputError(
                f"two quote files are named {path.name} ({first} and {path}): results are "
                "labelled by file name; give one of them another name"
            )
