"""One symbol-day of a dataset: ``DIR/symbol=IBM/date=2013-10-07/``.

It holds ``quotes.parquet``, ``trades.parquet`` (when there are trades) and
``_manifest.json``, written last: a symbol-day is complete exactly when its
manifest exists. Each file is written to a temporary name and renamed, so a
process killed at any moment leaves either the old file or the new one, never half
of one. The manifest says what the files hold (rows, first and last instant) and
where they came from (``origin``), so listing a dataset reads no Parquet at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from better_orders.core.errors import InvalidInputError
from better_orders.data.schema import Kind

QUOTES_FILE = "quotes.parquet"
TRADES_FILE = "trades.parquet"
MANIFEST_FILE = "_manifest.json"
#: Pages of a fetch in progress (``partial``); dot-named so Parquet readers skip it.
PARTIAL_DIR = ".partial"
TMP_SUFFIX = ".tmp"
#: LZ4 decodes about twice as fast as zstd here for a third more disk: reads are the hot path.
COMPRESSION = "lz4"

_SYMBOL_DIR = re.compile(r"^symbol=([A-Z0-9][A-Z0-9.\-]{0,11})$")
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


class DatasetError(InvalidInputError):
    """A dataset folder cannot be used as asked; the message names the folder."""


def write_atomically(path: Path, data: bytes | None = None, *, writer: Any = None) -> None:
    """Write ``data`` (or call ``writer(tmp_path)``) to a temporary file, then rename it."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    if writer is not None:
        writer(tmp)
    else:
        assert data is not None
        tmp.write_bytes(data)
    os.replace(tmp, path)


def parse_symbol_dir(name: str) -> str | None:
    match = _SYMBOL_DIR.match(name)
    return match.group(1) if match else None


def parse_date_dir(name: str) -> date | None:
    match = _DATE_DIR.match(name)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class SymbolDay:
    root: Path
    symbol: str
    day: date

    @classmethod
    def from_path(cls, path: Path) -> SymbolDay | None:
        """The symbol-day a ``.../symbol=X/date=Y`` folder is, or None for any other path."""
        day = parse_date_dir(path.name)
        symbol = parse_symbol_dir(path.parent.name)
        if day is None or symbol is None:
            return None
        return cls(path.parent.parent, symbol, day)

    def __str__(self) -> str:
        return f"{self.symbol} {self.day.isoformat()}"

    @property
    def path(self) -> Path:
        return self.root / f"symbol={self.symbol}" / f"date={self.day.isoformat()}"

    def file(self, kind: Kind) -> Path:
        return self.path / (QUOTES_FILE if kind == "quotes" else TRADES_FILE)

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST_FILE

    @property
    def partial_path(self) -> Path:
        return self.path / PARTIAL_DIR

    # -- state -------------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any] | None:
        """The manifest of a complete symbol-day; None while it is missing or in progress."""
        try:
            loaded = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{self.manifest_path} cannot be read: {exc}") from None
        if not isinstance(loaded, dict):
            raise DatasetError(f"{self.manifest_path} is not a symbol-day manifest")
        return loaded

    @property
    def complete(self) -> bool:
        return self.manifest_path.is_file()

    @property
    def in_progress(self) -> bool:
        return not self.complete and self.partial_path.is_dir()

    # -- writing -----------------------------------------------------------------------------

    def discard(self) -> None:
        """Remove what a fetch in progress kept, then the symbol-day's folder and its
        symbol's if that left them empty (a complete symbol-day's files are kept)."""
        shutil.rmtree(self.partial_path, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.path.rmdir()  # only when empty
            self.path.parent.rmdir()  # likewise

    def write(
        self,
        quotes: Any,
        trades: Any | None,
        *,
        source: str,
        origin: dict[str, Any],
        venue: str | None = None,
    ) -> None:
        """Replace the symbol-day with these pyarrow tables; the manifest goes last.

        ``trades`` None means the source has no trades (a LOBSTER file): an old
        trades file is removed. The folder of a fetch in progress is removed after
        the manifest is written. ``venue`` names the single venue the quotes show
        (``nyse``), None for consolidated quotes: the replay tells that venue's prints
        from the others' by it.
        """
        import pyarrow.parquet as pq

        self.path.mkdir(parents=True, exist_ok=True)
        self.manifest_path.unlink(missing_ok=True)  # incomplete from here until the end
        for kind, table in (("quotes", quotes), ("trades", trades)):
            target = self.file(kind)  # type: ignore[arg-type]
            if table is None:
                target.unlink(missing_ok=True)
                continue
            write_atomically(
                target,
                writer=lambda tmp, t=table: pq.write_table(t, tmp, compression=COMPRESSION),
            )
        manifest = {
            "symbol": self.symbol,
            "date": self.day.isoformat(),
            "quotes": _extent(quotes),
            "trades": _extent(trades) if trades is not None else None,
            "source": source,
            "origin": origin,
            "venue": venue,
            "written": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_atomically(self.manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
        shutil.rmtree(self.partial_path, ignore_errors=True)


def _extent(table: Any) -> dict[str, Any]:
    """Rows, first and last instant (ns) of a table sorted by ``ts_utc_ns``."""
    n = table.num_rows
    if n == 0:
        return {"rows": 0, "first_ns": None, "last_ns": None}
    ts = table.column("ts_utc_ns")
    return {"rows": n, "first_ns": int(ts[0].as_py()), "last_ns": int(ts[n - 1].as_py())}
