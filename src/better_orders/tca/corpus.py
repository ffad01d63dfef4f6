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

The header is read from the first line only (gzip, plain CSV) or the Parquet
schema, so checking a folder of large files is instant.
"""

from __future__ import annotations

import csv
import glob
import gzip
import zlib
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path

from better_orders.core.errors import InvalidInputError
from better_orders.data.dataset import symbol_days_at

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
    suffix = _suffix(path)
    if suffix in _PARQUET_SUFFIXES:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError("reading Parquet needs pyarrow (the tca extra)") from None
        try:
            return list(pq.read_schema(path).names)
        except Exception as exc:  # pyarrow's own error types for a damaged file
            raise ValueError(f"not a readable Parquet file ({exc})") from None
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
        if head[:2] == _GZIP_MAGIC:
            with gzip.open(path, "rb") as gz:
                head = gz.read(_HEAD_BYTES)
        elif suffix == ".csv.gz":
            raise ValueError("not a gzip file")
        line = head.split(b"\n", 1)[0].decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot be read ({exc})") from None
    first = next(csv.reader([line]), [])
    return [c.strip() for c in first]


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
    """The quote files named by ``items`` (files, folders, glob patterns), in order, once each."""
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
    return list(dict.fromkeys(out))
