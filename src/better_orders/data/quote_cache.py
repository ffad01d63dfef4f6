"""Parsed quote files, kept on disk between runs as numpy arrays.

Reading a day of quotes from gzip CSV (and importing pyarrow to do it) costs a few
tenths of a second in every process; loading the arrays it gave costs milliseconds.
Once ``enable``d (the command line does, as it does for ``calendar_cache``),
``keep`` stores what a reader returned for a CSV file in the user cache folder
(``user_cache``) as an uncompressed ``.npz``, under a key naming the file (its
resolved path, size and modification time in nanoseconds), the symbol it was read
under and this format, so an edited or replaced file is read again. Only readings
that succeeded are kept; anything unreadable is read again and rewritten, and a
folder that cannot be written only means reading the file every time. At most
``MAX_ENTRIES`` files and ``MAX_BYTES`` are kept, the least recently used going first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from better_orders.data.user_cache import cache_folder, kept

#: Bumped when the arrays' meaning or layout changes.
_FORMAT = 1
#: Quote files kept at most, and their bytes at most (a day of quotes takes about 65
#: bytes a row: a few to a few tens of megabytes).
MAX_ENTRIES = 32
MAX_BYTES = 1 << 30
_SUBFOLDER = "quotes"
_KEY = "_key"
_SYMBOL = "_symbol"

#: ``files.read_quote_file``'s result: ``symbol`` (a str) and the arrays.
Columns = dict[str, Any]

_enabled = False


def enable(on: bool = True) -> None:
    """Keep parsed quote files from now on (``on``), or stop keeping them."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    """Whether parsed quote files are kept (``enable``)."""
    return _enabled


def keep(file: Path, symbol: str | None, read: Callable[[], Columns]) -> Columns:
    """``read()``'s columns for ``file`` read under ``symbol``: from the cache when its key
    matches, else read, then kept (module docstring)."""
    found = entry(file, symbol) if _enabled else None
    if found is None:
        return read()
    path, key = found
    return kept(path, lambda p: _load(p, key), read, _saver(path.parent, key))


def entry(file: Path, symbol: str | None) -> tuple[Path, str] | None:
    """Where ``file``'s columns are kept and the key they are kept under (None: nowhere)."""
    folder = cache_folder()
    if folder is None:
        return None
    try:
        stat = file.stat()
        resolved = file.resolve()
    except OSError:
        return None
    key = f"{_FORMAT}|{resolved}|{stat.st_size}|{stat.st_mtime_ns}|{symbol or ''}"
    name = hashlib.sha256(key.encode()).hexdigest()[:32]
    return folder / _SUBFOLDER / f"{name}.npz", key


def _load(path: Path, key: str) -> Columns | None:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored[_KEY]) != key:
                return None
            columns: Columns = {n: stored[n] for n in stored.files if n not in (_KEY, _SYMBOL)}
            columns["symbol"] = str(stored[_SYMBOL])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    return columns


def _saver(folder: Path, key: str) -> Callable[[BinaryIO, Columns], None]:
    def save(out: BinaryIO, columns: Columns) -> None:
        import numpy as np

        arrays = {n: v for n, v in columns.items() if n != "symbol"}
        _prune(folder, MAX_ENTRIES - 1, MAX_BYTES - sum(a.nbytes for a in arrays.values()))
        np.savez(out, **arrays, _key=np.array(key), _symbol=np.array(columns["symbol"]))

    return save


def _prune(folder: Path, entries: int, size: int) -> None:
    """Remove the least recently used entries until at most ``entries`` of at most ``size``
    bytes are left (files being written, named with a leading dot, are not entries)."""
    with contextlib.suppress(OSError):
        found = [(p.stat(), p) for p in folder.glob("*.npz") if not p.name.startswith(".")]
        found.sort(key=lambda entry: entry[0].st_mtime_ns)
        left, total = len(found), sum(stat.st_size for stat, _ in found)
        for stat, path in found:
            if left <= entries and total <= size:
                break
            path.unlink()
            left, total = left - 1, total - stat.st_size
