"""One symbol-day of a dataset: ``DIR/symbol=IBM/date=2013-10-07/``.

It holds ``quotes.parquet``, ``trades.parquet`` (when there are trades) and
``_manifest.json``, written last. Each file is written to a temporary name and
renamed, so a process killed at any moment leaves either the old file or the new
one, never half of one. The manifest says what the files hold (rows, first and
last instant) and where they came from (``origin``), so listing a dataset reads no
rows: only each file's size and Parquet footer, to check it still holds what the
manifest says (``state``). A symbol-day is complete when its manifest exists and
its files match it; a file lost or truncated since is ``damaged``, never replayed
as if the day had no trades.
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
from typing import Any, Literal

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

REDO_HINT = "fetch or import it again (better-orders data fetch/import)"
FETCH_AGAIN_HINT = "run the same better-orders data fetch again to finish it"

_SYMBOL_DIR = re.compile(r"^symbol=([A-Z0-9][A-Z0-9.\-]{0,11})$")
_DATE_DIR = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


class DatasetError(InvalidInputError):
    """A dataset folder cannot be used as asked; the message names the folder."""


DayStatus = Literal["complete", "fetch in progress", "incomplete", "damaged"]


@dataclass(frozen=True, slots=True)
class DayState:
    status: DayStatus
    #: Why the symbol-day cannot be replayed (None when it is complete).
    reason: str | None = None


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

    def state(self) -> DayState:
        """Whether the symbol-day can be replayed, and why not: its manifest is missing (a
        fetch in progress, or a write cut short) or its files do not match it."""
        try:
            manifest = self.manifest()
        except DatasetError:
            return DayState("damaged", f"{MANIFEST_FILE} cannot be read")
        if manifest is None:
            if self.partial_path.is_dir():
                return DayState("fetch in progress", "a fetch is in progress or was interrupted")
            return DayState("incomplete", f"{MANIFEST_FILE}, written last, is missing")
        for kind in ("quotes", "trades"):
            problem = _file_problem(self.file(kind), kind, manifest.get(kind))
            if problem is not None:
                return DayState("damaged", problem)
        return DayState("complete")

    @property
    def complete(self) -> bool:
        return self.state().status == "complete"

    def refusal(self) -> str | None:
        """Why the symbol-day cannot be replayed, and what to do, in one line; None when
        it is complete."""
        state = self.state()
        if state.status == "complete":
            return None
        if state.status == "damaged":
            return f"symbol-day {self} is damaged ({self.path}): {state.reason}; {REDO_HINT}"
        again = FETCH_AGAIN_HINT if state.status == "fetch in progress" else REDO_HINT
        return f"symbol-day {self} is not complete ({self.path}): {state.reason}; {again}"

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


def _file_problem(path: Path, kind: Kind, extent: Any) -> str | None:
    """How ``path`` differs from the manifest's ``extent`` of it, or None when it does not.

    Existence, size and the row count in the Parquet footer: cheap enough for every
    listing, and what a file deleted, emptied or cut short by a full disk gets wrong.
    """
    if extent is None and kind == "trades":  # the source has no trades (a LOBSTER file)
        return (
            f"{path.name} is there, but {MANIFEST_FILE} lists no trades" if path.exists() else None
        )
    rows = extent.get("rows") if isinstance(extent, dict) else None
    if not isinstance(rows, int):
        return f"{MANIFEST_FILE} gives no row count of {kind}"
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"{path.name} is missing ({MANIFEST_FILE} lists {rows:,} {kind})"
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror})"
    if size == 0:
        return f"{path.name} is empty (0 bytes; {MANIFEST_FILE} lists {rows:,} {kind})"
    try:
        import pyarrow.parquet as pq
    except ImportError:  # reading the day will say the data extra is missing
        return None
    try:
        held = pq.read_metadata(path).num_rows
    except Exception as exc:  # pyarrow's own error types for a damaged file
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"{path.name} is not a readable Parquet file ({detail})"
    if held != rows:
        return f"{path.name} holds {held:,} rows, {MANIFEST_FILE} lists {rows:,} {kind}"
    return None


def _extent(table: Any) -> dict[str, Any]:
    """Rows, first and last instant (ns) of a table sorted by ``ts_utc_ns``."""
    n = table.num_rows
    if n == 0:
        return {"rows": 0, "first_ns": None, "last_ns": None}
    ts = table.column("ts_utc_ns")
    return {"rows": n, "first_ns": int(ts[0].as_py()), "last_ns": int(ts[n - 1].as_py())}
