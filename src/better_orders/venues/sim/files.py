"""Reading the shared data folder's quote and trades files into integer arrays.

The schema: one row per top-of-book change, ``ts_utc_ns, symbol, bid_px, ask_px,
bid_sz, ask_sz`` (gzip/plain CSV, or Parquet), optionally with LOBSTER's
``event_type, event_size, event_px, event_dir``; trades files hold ``ts_utc_ns,
symbol, price, size, cond, corr``. A symbol-day folder of a dataset
(``DIR/symbol=X/date=Y``, ``better_orders.data``) is read as its ``quotes.parquet``
and ``trades.parquet``. Prices become int64 in units of $0.0001 so nothing is
rounded. Every problem raises ``QuoteFileError`` naming the file (and the row or
column where it applies).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import normalize_symbol
from better_orders.data import quote_cache
from better_orders.data.schema import Kind
from better_orders.data.symbol_day import SymbolDay
from better_orders.data.venue_names import VENUE_CODES, venue_name
from better_orders.venues.sim.quote_csv import QuoteTable, read_csv_columns
from better_orders.venues.sim.source import require_aware

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)

IntArray = npt.NDArray[np.int64]

_REQUIRED = ("ts_utc_ns", "bid_px", "ask_px", "bid_sz", "ask_sz")
_EVENT_COLUMNS = ("event_type", "event_size", "event_px", "event_dir")
_DTYPES: dict[str, Any] = {
    "ts_utc_ns": "int64",
    "bid_px": "float64",
    "ask_px": "float64",
    "bid_sz": "float64",
    "ask_sz": "float64",
    "event_type": "float64",
    "event_size": "float64",
    "event_px": "float64",
    "event_dir": "float64",
    "symbol": "string",
}


class QuoteFileError(InvalidInputError):
    """A quote file cannot be used; the message names the file and the problem."""


def to_ns(ts: datetime) -> int:
    """Nanoseconds since the epoch for an aware datetime (exact, integer arithmetic)."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        require_aware(ts, "time")  # raises, naming the time
    return ((ts - EPOCH) // _ONE_US) * 1000


def from_ns(ns: int) -> datetime:
    """An aware UTC datetime (microsecond resolution: the sub-microsecond part is dropped)."""
    return EPOCH + timedelta(microseconds=ns // 1000)


def read_quote_file(file: Path, *, symbol: str | None) -> dict[str, Any]:
    """A quote file's rows as the keyword arguments of ``ReplayQuotes`` (``symbol`` included).

    ``symbol`` overrides the file's (pseudonymised) symbol; without it the file
    must hold exactly one. Execution arrays are present only for LOBSTER files. A
    CSV file's arrays may come from ``data.quote_cache`` (parsed by an earlier run).
    """
    name = file.name.lower()
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        return quote_cache.keep(file, symbol, lambda: _read_quote_file(file, symbol))
    return _read_quote_file(file, symbol)


def _read_quote_file(file: Path, symbol: str | None) -> dict[str, Any]:
    day = SymbolDay.from_path(file)
    if symbol is None and day is not None:
        symbol = day.symbol  # a dataset's symbol-day says whose quotes it holds
    need_symbol = symbol is None
    fast = read_csv_columns(file, _REQUIRED, _EVENT_COLUMNS, need_symbol=need_symbol)
    if fast is not None:
        try:
            return _quote_columns(file, fast, symbol)
        except QuoteFileError:
            pass  # read again by pandas, whose reading names the problem
    frame = _read_frame(file, need_symbol=need_symbol)
    return _quote_columns(file, QuoteTable.of_frame(frame, need_symbol=need_symbol), symbol)


def _quote_columns(file: Path, frame: QuoteTable, symbol: str | None) -> dict[str, Any]:
    """``read_quote_file``'s work once the columns are read."""
    n = frame.rows
    data = frame.columns
    if n == 0:
        raise QuoteFileError(f"quote file {file} holds no quote rows (only a header)")
    if symbol is None:
        names = frame.symbols or []
        if len(names) != 1:
            shown = ", ".join(sorted(str(s) for s in names)[:5]) or "none"
            raise QuoteFileError(
                f"quote file {file} must hold exactly one symbol, found: {shown}; "
                "pass symbol= to choose"
            )
        symbol = str(names[0])
    try:
        name = normalize_symbol(symbol)
    except InvalidInputError as exc:
        raise QuoteFileError(f"quote file {file}: {exc}") from None
    ts = data["ts_utc_ns"]
    backwards = np.flatnonzero(np.diff(ts) < 0)
    if len(backwards):
        i = int(backwards[0]) + 1
        raise QuoteFileError(
            f"quote file {file} is not sorted by time: row {i + 1} "
            f"({from_ns(int(ts[i])).isoformat()}) is earlier than row {i} "
            f"({from_ns(int(ts[i - 1])).isoformat()})"
        )
    columns: dict[str, Any] = {
        "symbol": name,
        "ts_ns": ts,
        "bid_e4": _prices(data["bid_px"], "bid_px", file),
        "ask_e4": _prices(data["ask_px"], "ask_px", file),
        "bid_sz": _sizes(data["bid_sz"], "bid_sz", file),
        "ask_sz": _sizes(data["ask_sz"], "ask_sz", file),
    }
    if all(c in data for c in _EVENT_COLUMNS):
        etype = data["event_type"]
        is_exec = np.isin(etype, (4.0, 5.0))
        px = data["event_px"]
        size = data["event_size"]
        direction = data["event_dir"]
        bad = is_exec & ~(np.isfinite(px) & (px > 0) & np.isfinite(size) & (size > 0))
        bad |= is_exec & ~np.isin(direction, (1.0, -1.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise QuoteFileError(
                f"quote file {file}: row {i + 1} is an execution without a valid "
                f"event_px/event_size/event_dir ({px[i]}, {size[i]}, {direction[i]})"
            )
        columns["exec_px_e4"] = np.where(is_exec, np.rint(np.nan_to_num(px) * 1e4), 0).astype(
            np.int64
        )
        columns["exec_sz"] = np.where(is_exec, np.nan_to_num(size), 0).astype(np.int64)
        columns["exec_dir"] = np.where(is_exec, direction, 0).astype(np.int64)
        columns["exec_hidden"] = etype == 5.0
    return columns


def _read_frame(file: Path, *, need_symbol: bool) -> Any:
    """The file's columns we use, as a pandas DataFrame; typed errors for every failure."""
    import pandas as pd  # heavy: only when a file is actually loaded

    file = _data_file(file, "quotes")
    if not file.exists():
        raise QuoteFileError(f"quote file {file} does not exist")
    if not file.is_file() or not os.access(file, os.R_OK):
        raise QuoteFileError(f"quote file {file} is not a readable file")
    if file.stat().st_size == 0:
        raise QuoteFileError(f"quote file {file} is empty")
    parquet = _is_parquet(file)
    try:
        if parquet:
            # Without pyarrow this is a ModuleNotFoundError, which the command turns into
            # its one line naming the extra to install (exit 1), as for every extra.
            import pyarrow.parquet as pq

            columns = list(pq.read_schema(file).names)
        else:
            columns = list(pd.read_csv(file, nrows=0).columns)
        wanted = list(_REQUIRED) + (["symbol"] if need_symbol else [])
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise QuoteFileError(
                f"quote file {file} is missing column(s) {', '.join(missing)} "
                f"(it has: {', '.join(map(str, columns)) or 'none'})"
            )
        use = wanted + [c for c in _EVENT_COLUMNS if c in columns]
        if parquet:
            frame = _read_parquet(file, use)
            if frame["ts_utc_ns"].isna().any():
                raise ValueError("ts_utc_ns has missing values")
            return frame
        return pd.read_csv(file, usecols=use, dtype={c: _DTYPES[c] for c in use})
    except (QuoteFileError, ModuleNotFoundError):
        raise
    except pd.errors.EmptyDataError:
        raise QuoteFileError(f"quote file {file} is empty") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        what = "a valid gzip file" if file.suffix == ".gz" else "readable"
        raise QuoteFileError(
            f"quote file {file} is not {what} (corrupt or truncated?): {exc}"
        ) from None
    except (ValueError, TypeError, pd.errors.ParserError) as exc:
        raise QuoteFileError(f"quote file {file} cannot be parsed: {exc}") from None
    except Exception as exc:  # pyarrow raises its own types for damaged Parquet files
        raise QuoteFileError(f"quote file {file} cannot be read: {exc}") from None


def _prices(values: npt.NDArray[np.float64], column: str, file: Path) -> IntArray:
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise QuoteFileError(f"quote file {file}: row {i + 1} has no valid {column} ({values[i]})")
    negative = values < 0
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise QuoteFileError(f"quote file {file}: row {i + 1} has a negative {column} {values[i]}")
    scaled = values * 1e4
    e4 = np.rint(scaled)
    off = np.abs(scaled - e4) > 1e-3
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise QuoteFileError(
            f"quote file {file}: row {i + 1} {column} {values[i]} has more than 4 decimals"
        )
    result: IntArray = e4.astype(np.int64)
    return result


def _sizes(values: npt.NDArray[np.float64], column: str, file: Path) -> IntArray:
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise QuoteFileError(f"quote file {file}: row {i + 1} has an invalid {column} {values[i]}")
    result: IntArray = values.astype(np.int64)
    return result


# -- trade prints --------------------------------------------------------------------------

#: Sale-condition codes (TAQ / CTA-UTP) of prints a resting displayed limit could have
#: traded in: regular (blank, ``@``), intermarket sweep ``F``, odd lot ``I``, automatic
#: execution ``E``, opening/re-opening/closing prints ``O``/``5``/``6``, cross ``X``.
#: Any other code makes the print unfillable: extended hours ``T``/``U``, out of
#: sequence ``Z``/``L``, derivatively priced ``4``, average price ``B``/``W``,
#: contingent/qualified contingent ``V``/``7``, next day/cash/seller ``N``/``C``/``R``,
#: prior reference ``P``, price variation ``H``, and the official open/close reports
#: ``Q``/``M`` (which repeat a print already on the tape).
FILLABLE_CONDITIONS = frozenset(" @FIEO56X")

#: The same choice for AlgoSeek trades (the ``lean*`` files), whose condition is a
#: hexadecimal bit set (QuantConnect Lean's ``TradeConditionFlags``): regular (bit 0),
#: intermarket sweep (5), opening/closing/re-opening prints (6, 7, 8), cross (21),
#: automatic execution (28), trade-through exempt (29, set with most sweeps) and odd lot
#: (31). Any other bit makes the print unfillable: cash, next day, seller (1-3),
#: derivatively priced (9), Form T and extended hours (10, 13), sold last and out of
#: sequence (11, 14), average price (20), price variation (22), official open/close
#: (24, 26), prior reference price (25), and the rest.
FILLABLE_FLAGS = sum(1 << bit for bit in (0, 5, 6, 7, 8, 21, 28, 29, 31))
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")


def fillable_conditions(conds: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Which sale conditions a resting displayed limit could have traded in.

    A file whose every condition is 1-8 hex digits (none blank: a regular TAQ print
    is blank or ``@``) holds AlgoSeek flags (``FILLABLE_FLAGS``); any other file holds
    TAQ / CTA-UTP letter codes (``FILLABLE_CONDITIONS``).
    """
    if len(conds) and all(_HEX.fullmatch(c) for c in conds):
        return np.array([int(c, 16) & ~FILLABLE_FLAGS == 0 for c in conds], dtype=np.bool_)
    return np.array([set(c) <= FILLABLE_CONDITIONS for c in conds], dtype=np.bool_)


@dataclass(frozen=True, slots=True)
class TradePrints:
    """Fillable prints of a trades file (columns ``ts_utc_ns, symbol, price, size, cond, corr``).

    Dropped on loading: corrected or cancelled prints (``corr`` != 0), prints with a
    sale condition a resting limit could not have traded in (``fillable_conditions``),
    and sub-penny prints at $1 or more (midpoint or price-improved trades against
    hidden or retail flow, which a displayed limit on the penny grid would not have
    met). ``dropped`` counts them.
    """

    ts_ns: IntArray
    price_e4: IntArray
    size: IntArray
    path: Path | None = None
    dropped: int = 0
    #: Per print: it happened on another venue than the quotes' (``from_file(venue=...)``).
    away: npt.NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return len(self.ts_ns)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        symbol: str | None = None,
        venue: Sequence[str] = (),
    ) -> TradePrints:
        """Load a trades file (CSV, Parquet, or a symbol-day's); with ``symbol``, it must be
        that stock's (a typed error if not).

        ``venue``: the exchange codes of a single-venue quote file (``quote_venue``);
        prints on other exchanges are then marked ``away``.
        """
        import pandas as pd

        file = _data_file(Path(path), "trades")
        if not file.is_file():
            raise QuoteFileError(f"trades file {file} does not exist")
        wanted = ("ts_utc_ns", "price", "size", "cond", "corr")
        try:
            columns = _columns(file)
            missing = [c for c in wanted if c not in columns]
            if missing:
                raise QuoteFileError(
                    f"trades file {file} is missing column(s) {', '.join(missing)} "
                    f"(it has: {', '.join(map(str, columns)) or 'none'})"
                )
            use = list(wanted) + [c for c in ("symbol", "exchange") if c in columns]
            if _is_parquet(file):
                frame = _read_parquet(file, use)
            else:
                frame = pd.read_csv(
                    file,
                    usecols=use,
                    dtype={
                        "ts_utc_ns": "int64",
                        "price": "float64",
                        "size": "float64",
                        "cond": "string",
                        "corr": "float64",
                        "symbol": "string",
                        "exchange": "string",
                    },
                    keep_default_na=False,
                    na_values={"price": [""], "size": [""], "corr": [""]},
                )
        except (QuoteFileError, ModuleNotFoundError):  # no pyarrow: the command names the extra
            raise
        except pd.errors.EmptyDataError:
            raise QuoteFileError(f"trades file {file} is empty") from None
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
            raise QuoteFileError(f"trades file {file} cannot be read: {exc}") from None
        except Exception as exc:  # pyarrow raises its own types for damaged Parquet files
            raise QuoteFileError(f"trades file {file} cannot be read: {exc}") from None
        if symbol is not None and "symbol" in frame.columns:
            names = sorted({str(x) for x in frame["symbol"].dropna().unique()})
            if names and names != [symbol]:
                raise QuoteFileError(
                    f"trades file {file} is for {', '.join(names[:5])}, not {symbol}"
                )
        ts = frame["ts_utc_ns"].to_numpy(dtype=np.int64)
        px = frame["price"].to_numpy(dtype=np.float64)
        size = frame["size"].to_numpy(dtype=np.float64)
        corr = frame["corr"].to_numpy(dtype=np.float64)
        valid = np.isfinite(px) & (px > 0) & np.isfinite(size) & (size > 0)
        # Judged once per distinct condition, not per print: a day has a handful of them.
        codes, distinct = pd.factorize(frame["cond"].fillna(""))
        fillable = fillable_conditions([str(c) for c in distinct])[codes]
        e4 = np.rint(np.nan_to_num(px) * 1e4).astype(np.int64)
        on_grid = np.abs(np.nan_to_num(px) * 1e4 - e4) <= 1e-3
        penny = (e4 % 100 == 0) | (e4 < 10_000)
        keep = valid & (corr == 0) & fillable & on_grid & penny
        away = None
        if venue and "exchange" in frame.columns:
            exchanges = frame["exchange"].fillna("").to_numpy(dtype=object)
            away = ~np.isin(exchanges, list(venue))
        order = np.argsort(ts[keep], kind="stable")
        return cls(
            ts_ns=ts[keep][order],
            price_e4=e4[keep][order],
            size=size[keep][order].astype(np.int64),
            path=file,
            dropped=int(len(ts) - int(keep.sum())),
            away=None if away is None else away[keep][order],
        )


def quote_venue(quote_file: str | os.PathLike[str]) -> tuple[str, ...]:
    """The exchange codes of a single venue's quote file: named by its file name, or, for
    a dataset's symbol-day, by its manifest (``venue``, kept from the imported file's
    name). Empty for consolidated quotes."""
    path = Path(quote_file)
    name = venue_name(path)
    if name is None:
        day = SymbolDay.from_path(path) or SymbolDay.from_path(path.parent)
        manifest = day.manifest() if day is not None else None
        name = manifest.get("venue") if manifest is not None else None
    return VENUE_CODES.get(name, ()) if isinstance(name, str) else ()


def _is_parquet(file: Path) -> bool:
    return file.suffix.lower() in (".parquet", ".pq")


def _read_parquet(file: Path, columns: list[str]) -> Any:
    """Parquet columns as a DataFrame; text as categories (a day repeats a few values)."""
    import pyarrow.parquet as pq

    text = [c for c in ("symbol", "cond") if c in columns]
    # ParquetFile, not read_table: no dataset discovery, a few ms instead of tens per file.
    # Columns are read on pyarrow's threads; a block per column (``split_blocks``) spares
    # pandas a copy of them all into one block: a fifth of the time to convert.
    table = pq.ParquetFile(file, read_dictionary=text).read(columns=columns)
    return table.to_pandas(split_blocks=True)


def _columns(file: Path) -> list[str]:
    """The column names of a CSV or Parquet file, reading no rows."""
    if _is_parquet(file):
        import pyarrow.parquet as pq

        return list(pq.read_schema(file).names)
    import pandas as pd

    return [str(c) for c in pd.read_csv(file, nrows=0).columns]


def _data_file(path: Path, kind: Kind) -> Path:
    """``path``, or the ``kind`` file of the symbol-day folder ``path`` names."""
    if not path.is_dir():
        return path
    day = SymbolDay.from_path(path)
    if day is None:
        raise QuoteFileError(
            f"{kind[:-1]} file {path} is not a readable file but a folder: give a file, or a "
            "symbol-day folder of a dataset (DIR/symbol=SYMBOL/date=YYYY-MM-DD)"
        )
    return day.file(kind)
