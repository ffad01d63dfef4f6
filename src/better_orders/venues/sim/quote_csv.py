"""A quote file's columns as numpy arrays, and a gzip or plain CSV read without pandas.

pandas takes longer to import than a day of quotes takes to read, and ``tca`` needs
nothing else from it. Where pyarrow is installed (the ``tca`` and ``parquet``
extras; pandas itself loads it when it is there) ``read_csv_columns`` reads a
well-formed file with ``pyarrow.csv``, several times faster than pandas. Anything
it does not handle (no pyarrow, another compression, a missing value where there
must be none, a header without a wanted column, a field it cannot parse) gives
None, and ``files.read_quote_file`` reads the file with pandas instead, whose
messages say what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

#: The integer column (nanoseconds); every other numeric column is read as float64.
TIME_COLUMN = "ts_utc_ns"


@dataclass(frozen=True, slots=True)
class QuoteTable:
    """A quote file's rows: its numeric columns (``TIME_COLUMN`` as int64, the rest float64,
    NaN where pandas read a missing value) and, when read, the distinct symbols it names."""

    rows: int
    columns: dict[str, npt.NDArray[Any]]
    symbols: list[str] | None = None

    @classmethod
    def of_frame(cls, frame: Any, *, need_symbol: bool) -> QuoteTable:
        """From a pandas DataFrame (``files._read_frame``)."""
        columns = {
            str(name): frame[name].to_numpy(dtype=np.int64 if name == TIME_COLUMN else np.float64)
            for name in frame.columns
            if name != "symbol"
        }
        symbols = None
        if need_symbol:
            symbols = [str(s) for s in frame["symbol"].dropna().unique()]
        return cls(len(frame), columns, symbols)


def read_csv_columns(
    file: Path, required: Sequence[str], optional: Sequence[str], *, need_symbol: bool
) -> QuoteTable | None:
    """The ``required`` columns (and those of ``optional`` the file has) of a ``.csv`` or
    ``.csv.gz`` file, or None when the file is not one this reader handles (module
    docstring)."""
    name = file.name.lower()
    if not (name.endswith(".csv") or name.endswith(".csv.gz")):
        return None
    try:
        import pyarrow as pa
        import pyarrow.csv as pv
    except ImportError:
        return None  # a base install: pandas reads it

    wanted = [*required, *(["symbol"] if need_symbol else [])]
    try:
        with pv.open_csv(file, read_options=pv.ReadOptions(block_size=1 << 16)) as reader:
            header = reader.schema.names  # from the first block only
    except (pa.ArrowException, OSError, EOFError, ValueError):
        return None
    if len(set(header)) != len(header) or any(c not in header for c in wanted):
        return None
    use = [*wanted, *(c for c in optional if c in header)]
    kinds = {c: pa.float64() for c in use} | {TIME_COLUMN: pa.int64(), "symbol": pa.string()}
    try:
        table = pv.read_csv(
            file,
            convert_options=pv.ConvertOptions(
                include_columns=use, column_types={c: kinds[c] for c in use}
            ),
        )
    except (pa.ArrowException, OSError, EOFError, ValueError):
        return None
    numeric = [c for c in use if c != "symbol"]
    if any(table[c].null_count for c in numeric):
        return None  # missing values: pandas reads them (as NaN) and says what is wrong
    columns = {c: _values(table[c], np.int64 if c == TIME_COLUMN else np.float64) for c in numeric}
    symbols = None
    if need_symbol:
        column = table["symbol"]
        distinct = column.unique().to_pylist()
        if column.null_count or any(not s for s in distinct):
            return None  # a missing symbol: pandas decides
        symbols = [str(s) for s in distinct]
    return QuoteTable(table.num_rows, columns, symbols)


def _values(column: Any, dtype: type[Any]) -> npt.NDArray[Any]:
    """A numeric column without missing values as a numpy array of its own (read from the
    column's buffer: pyarrow's ``to_numpy`` would import pandas)."""
    array = column.combine_chunks()
    itemsize = np.dtype(dtype).itemsize
    data = array.buffers()[1]
    if data is None:
        return np.zeros(0, dtype=dtype)
    values: npt.NDArray[Any] = np.frombuffer(
        data, dtype=dtype, count=len(array), offset=array.offset * itemsize
    ).copy()
    return values
