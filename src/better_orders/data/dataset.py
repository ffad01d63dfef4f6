"""A dataset folder: symbol-days partitioned by symbol and date, in the shared schema.

::

    DIR/_dataset.json                              marks the folder as a dataset
    DIR/symbol=IBM/date=2013-10-07/quotes.parquet
    DIR/symbol=IBM/date=2013-10-07/trades.parquet
    DIR/symbol=IBM/date=2013-10-07/_manifest.json  written last: what the files hold

The layout is Hive's, so pyarrow, pandas, DuckDB or Dask read it as it is
(``_`` and ``.`` names are skipped by their dataset readers). A folder holding
anything else is refused rather than written into or read as quotes: a typo in
``--dataset`` must not scatter Parquet files through someone's documents.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from better_orders.data.csv_files import csv_trades_file
from better_orders.data.symbol_day import (
    MANIFEST_FILE,
    QUOTES_FILE,
    TMP_SUFFIX,
    TRADES_FILE,
    DatasetError,
    SymbolDay,
    parse_date_dir,
    parse_symbol_dir,
    write_atomically,
)

MARKER_FILE = "_dataset.json"
DATASET_ENV_VAR = "BETTER_ORDERS_DATASET"
_PARTITION_FILES = frozenset({QUOTES_FILE, TRADES_FILE, MANIFEST_FILE})


def default_dataset_path(env: dict[str, str] | None = None) -> Path:
    """``$BETTER_ORDERS_DATASET``, else ``dataset`` in the user data directory."""
    from platformdirs import user_data_dir

    from better_orders.config.paths import APP_NAME

    raw = (os.environ if env is None else env).get(DATASET_ENV_VAR, "").strip()
    if raw:
        return Path(raw).expanduser()
    return Path(user_data_dir(APP_NAME)) / "dataset"


@dataclass(frozen=True, slots=True)
class Dataset:
    root: Path

    @classmethod
    def for_reading(cls, root: str | os.PathLike[str]) -> Dataset:
        path = Path(root)
        if not path.exists():
            raise DatasetError(f"dataset folder {path} does not exist")
        if not path.is_dir():
            raise DatasetError(f"{path} is not a dataset folder (it is a file)")
        dataset = cls(path)
        dataset.check()
        return dataset

    @classmethod
    def for_writing(cls, root: str | os.PathLike[str]) -> Dataset:
        """The dataset at ``root``, made if missing; refused if the folder holds anything else."""
        path = Path(root)
        if path.exists() and not path.is_dir():
            raise DatasetError(f"--dataset {path} is a file, not a folder")
        dataset = cls(path)
        if path.exists():
            dataset.check()
        return dataset

    def create(self) -> None:
        """Make the folder and its marker (on the first write, not while validating input)."""
        self.root.mkdir(parents=True, exist_ok=True)
        marker = self.root / MARKER_FILE
        if not marker.exists():
            body = {"format": "better-orders dataset", "version": 1, "layout": "symbol=/date="}
            write_atomically(marker, (json.dumps(body) + "\n").encode())

    # -- validation ------------------------------------------------------------------------------

    def foreign_entries(self) -> list[str]:
        """Paths (relative to the root) of everything that is not part of a dataset."""
        foreign: list[str] = []
        for entry in _listing(self.root):
            if entry.name == MARKER_FILE and entry.is_file():
                continue
            if not (entry.is_dir() and parse_symbol_dir(entry.name)):
                foreign.append(entry.name)
                continue
            for day in _listing(entry):
                if not (day.is_dir() and parse_date_dir(day.name)):
                    foreign.append(f"{entry.name}/{day.name}")
                    continue
                foreign += [
                    f"{entry.name}/{day.name}/{f.name}"
                    for f in _listing(day)
                    if not _partition_member(f)
                ]
        return foreign

    def check(self) -> None:
        foreign = self.foreign_entries()
        if foreign:
            shown = ", ".join(foreign[:3]) + (
                f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            )
            raise DatasetError(
                f"{self.root} is not a dataset folder: it holds {shown}; give an empty or new "
                "folder, or one written by better-orders data fetch/import"
            )

    # -- contents --------------------------------------------------------------------------------

    def symbol_day(self, symbol: str, day: date) -> SymbolDay:
        return SymbolDay(self.root, symbol, day)

    def symbol_days(self, *, symbol: str | None = None) -> list[SymbolDay]:
        """Every symbol-day folder (complete or not), by symbol then date."""
        found = []
        for entry in _listing(self.root):
            name = parse_symbol_dir(entry.name)
            if name is None or not entry.is_dir() or (symbol is not None and name != symbol):
                continue
            for folder in _listing(entry):
                day = parse_date_dir(folder.name)
                if day is not None and folder.is_dir():
                    found.append(SymbolDay(self.root, name, day))
        return sorted(found, key=lambda s: (s.symbol, s.day))

    def complete_days(self, *, symbol: str | None = None) -> list[SymbolDay]:
        return [s for s in self.symbol_days(symbol=symbol) if s.complete]


def _listing(folder: Path) -> list[Path]:
    """Entries of ``folder`` but hidden ones (``.DS_Store``, a fetch's ``.partial``)."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _partition_member(path: Path) -> bool:
    if path.name in _PARTITION_FILES:
        return path.is_file()
    # A rename interrupted by a crash leaves ``quotes.parquet.tmp``: the next write replaces it.
    return path.is_file() and path.name.endswith(TMP_SUFFIX)


# -- paths given to tca and order ---------------------------------------------------------------


def symbol_days_at(
    path: str | os.PathLike[str], *, symbol: str | None = None
) -> list[SymbolDay] | None:
    """The symbol-days a path names, or None when it is no dataset's (a file, or a
    folder that is neither a dataset nor in one: read as a quote file, with its errors).

    A symbol-day folder (``DIR/symbol=X/date=Y``) is that day; a symbol folder
    (``DIR/symbol=X``) every day of the symbol; a dataset folder (one with the marker
    file or a ``symbol=`` folder) every symbol-day in it (only ``symbol``'s, when
    given). Every one must be complete: a replay does not run on part of what it was
    given, so a day fetched halfway or damaged is refused by name rather than left out.
    """
    folder = Path(path)
    if not folder.is_dir():
        return None
    if not _in_a_dataset(folder):
        return None
    single = SymbolDay.from_path(folder)
    if single is not None:
        root = single.root
        Dataset.for_reading(root)
        days = [single]
    else:
        named = parse_symbol_dir(folder.name)
        root = folder.parent if named is not None else folder
        days = Dataset.for_reading(root).symbol_days(symbol=named or symbol)
    listing = f"see better-orders data ls --dataset {root}"
    refused = [why for d in days if (why := d.refusal()) is not None]
    if refused:
        more = f" (and {len(refused) - 1} more not complete: {listing})" if len(refused) > 1 else ""
        raise DatasetError(refused[0] + more)
    if not days:
        which = f"no symbol-day of {symbol}" if symbol is not None else "no symbol-day"
        raise DatasetError(f"{folder} holds {which}: {listing}")
    return days


def _in_a_dataset(folder: Path) -> bool:
    if SymbolDay.from_path(folder) is not None or parse_symbol_dir(folder.name) is not None:
        return True
    if (folder / MARKER_FILE).is_file():
        return True
    return any(parse_symbol_dir(p.name) is not None for p in folder.iterdir())


def find_symbol_day(path: str | os.PathLike[str], symbol: str, day: date) -> SymbolDay | None:
    """The complete symbol-day of ``symbol`` on ``day`` under ``path`` (a dataset or symbol
    folder); None when ``path`` is a file or a single symbol-day folder (used as it is)."""
    folder = Path(path)
    if not folder.is_dir() or SymbolDay.from_path(folder) is not None:
        return None
    if not _in_a_dataset(folder):
        return None
    root = folder.parent if parse_symbol_dir(folder.name) is not None else folder
    found = Dataset.for_reading(root).symbol_day(symbol, day)
    if not found.path.is_dir():
        have = [str(s) for s in Dataset(root).complete_days(symbol=symbol)]
        listed = ", ".join(have[:5]) if have else "no day of it"
        raise DatasetError(f"dataset {root} has no {symbol} {day.isoformat()} (it has {listed})")
    refusal = found.refusal()
    if refusal is not None:
        raise DatasetError(refusal)
    return found


def find_trades_file(path: str | os.PathLike[str]) -> Path | None:
    """The trades of a quote file or symbol-day, if there are any beside it.

    A symbol-day folder (or its ``quotes.parquet``): its ``trades.parquet``; a
    shared-data CSV file: its ``*_trades`` companion (``csv_files.csv_trades_file``).
    A written symbol-day whose files do not match its manifest is refused: without its
    trades file it would be replayed as a day without prints.
    """
    given = Path(path)
    folder = given.parent if given.name == QUOTES_FILE else given
    day = SymbolDay.from_path(folder)
    if day is not None:
        refusal = day.refusal() if day.manifest_path.is_file() else None
        if refusal is not None:
            raise DatasetError(refusal)
        trades = folder / TRADES_FILE
        return trades if trades.is_file() else None
    return csv_trades_file(given)
