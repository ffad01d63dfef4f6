"""A symbol-day fetch in progress: the pages kept so far, and where to continue.

In ``DAY/.partial/``: one Parquet file per page (``quotes-00000.parquet``, ...) and
``progress.json``, which says for quotes and for trades how many pages are kept,
the page token of the next one, and whether the last page has come. A page is
written (to a temporary name, then renamed) before the progress that counts it,
so after a crash the progress never counts a page that is not on disk; a page
on disk that the progress does not count is fetched again and overwritten. Pages
are numbered, so nothing is ever kept twice.

The progress records what was asked (feed, window): a later fetch asking for
something else starts the day afresh rather than splice two different requests.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from typing import Any

from better_orders.data.schema import Kind, arrow_table
from better_orders.data.symbol_day import SymbolDay, write_atomically

PROGRESS_FILE = "progress.json"
KINDS: tuple[Kind, Kind] = ("quotes", "trades")


@dataclass(slots=True)
class KindProgress:
    pages: int = 0
    rows: int = 0
    next_token: str | None = None
    done: bool = False


@dataclass(slots=True)
class PartialFetch:
    day: SymbolDay
    request: dict[str, Any]
    progress: dict[Kind, KindProgress] = field(default_factory=dict)
    #: True when pages kept by an earlier, interrupted run are continued.
    resumed: bool = False

    @classmethod
    def open(cls, day: SymbolDay, request: dict[str, Any]) -> PartialFetch:
        """Continue the day's fetch if one asking the same is in progress; else start afresh."""
        folder = day.partial_path
        saved = _load(folder / PROGRESS_FILE)
        if saved is not None and saved.get("request") == request:
            kinds = {k: KindProgress(**saved[k]) for k in KINDS}
            resumed = any(p.pages for p in kinds.values())
            return cls(day, request, kinds, resumed)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        fresh = cls(day, request, {k: KindProgress() for k in KINDS})
        fresh._save()
        return fresh

    def add_page(self, kind: Kind, table: Any, next_token: str | None) -> None:
        """Keep one page, then count it."""
        import pyarrow.parquet as pq

        state = self.progress[kind]
        path = self.day.partial_path / f"{kind}-{state.pages:05d}.parquet"
        write_atomically(path, writer=lambda tmp: pq.write_table(table, tmp))
        state.pages += 1
        state.rows += table.num_rows
        state.next_token = next_token
        state.done = next_token is None
        self._save()

    def table(self, kind: Kind, *, symbol: str, source: str) -> Any:
        """Every kept page of ``kind``, in order, as one table."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        pages = [
            pq.read_table(self.day.partial_path / f"{kind}-{i:05d}.parquet")
            for i in range(self.progress[kind].pages)
        ]
        if not pages:
            empty: dict[str, Any] = {"ts_utc_ns": [], "symbol": symbol, "source": source}
            numbers = ("bid_px", "bid_sz", "ask_px", "ask_sz", "price", "size", "corr")
            empty |= {c: [] for c in numbers} | {"exchange": [], "cond": []}
            return arrow_table(kind, empty)
        return pa.concat_tables(pages)

    def _save(self) -> None:
        body = {"request": self.request} | {
            k: {"pages": p.pages, "rows": p.rows, "next_token": p.next_token, "done": p.done}
            for k, p in self.progress.items()
        }
        write_atomically(self.day.partial_path / PROGRESS_FILE, json.dumps(body).encode())


def _load(path: Any) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None
