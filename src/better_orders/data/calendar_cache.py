"""The NYSE sessions (``core.xnys``), kept on disk between runs.

Building them with ``exchange_calendars`` (and pandas) costs about a second in every
process; reading them back costs milliseconds. They are kept as JSON in the user
cache folder, under a key naming the installed ``exchange_calendars`` (its
distribution's folder, version included) and the calendar window, so an upgrade or
another window builds them again. Anything unreadable is built again and
rewritten (``user_cache``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import BinaryIO

from better_orders.core import xnys
from better_orders.core.xnys import SessionRow
from better_orders.data.user_cache import cache_folder, kept

#: Bumped when the rows' meaning or layout changes.
_FORMAT = 1


def install() -> None:
    """Have ``core.xnys`` keep its rows here (before the process's calendar is built)."""
    xnys.keep_rows_with(keep)


def installed() -> bool:
    """Whether ``core.xnys`` keeps its rows here (``install``)."""
    return xnys.row_keeper() is keep


def keep(compute: Callable[[], list[SessionRow]]) -> list[SessionRow]:
    """The rows from the cache when its key matches, else ``compute()``'s, then cached."""
    folder, key = cache_folder(), _key()
    if folder is None or key is None:
        return compute()
    return kept(folder / "xnys-sessions.json", lambda path: _read(path, key), compute, _writer(key))


def _key() -> str | None:
    """The installed exchange_calendars and the window (None: not found, keep nothing)."""
    try:
        spec = find_spec("exchange_calendars")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    site = Path(spec.origin).resolve().parent.parent
    dists = sorted(p.name for p in site.glob("exchange_calendars-*.dist-info"))
    if len(dists) != 1:
        return None
    return f"{_FORMAT}:{dists[0]}:{xnys.CALENDAR_START}:{xnys.CALENDAR_END}"


def _read(path: Path, key: str) -> list[SessionRow] | None:
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        if kept["key"] != key:
            return None
        rows: list[SessionRow] = [(int(d), int(o), int(c), bool(e)) for d, o, c, e in kept["rows"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return rows


def _writer(key: str) -> Callable[[BinaryIO, list[SessionRow]], None]:
    def write(out: BinaryIO, rows: list[SessionRow]) -> None:
        out.write(json.dumps({"key": key, "rows": rows}, separators=(",", ":")).encode())

    return write
