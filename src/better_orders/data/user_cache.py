"""The user cache folder, where results that are slow to compute are kept between runs.

``BETTER_ORDERS_CACHE`` names another folder (``off``: keep nothing). What is kept
there (the NYSE sessions, ``calendar_cache``; parsed quote files, ``quote_cache``)
can always be computed again: deleting the folder only costs time, and a folder
that cannot be written only means computing every time.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

CACHE_ENV_VAR = "BETTER_ORDERS_CACHE"

T = TypeVar("T")


def cache_folder() -> Path | None:
    """Where the cache lives (None: ``BETTER_ORDERS_CACHE=off``)."""
    named = os.environ.get(CACHE_ENV_VAR, "")
    if named.lower() == "off":
        return None
    if named:
        return Path(named).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("better-orders"))


def kept(
    path: Path,
    load: Callable[[Path], T | None],
    compute: Callable[[], T],
    save: Callable[[BinaryIO, T], None],
) -> T:
    """``load(path)`` when it gives a value (None: missing, stale or unreadable), else
    ``compute()``'s, which ``save`` then writes to ``path`` (never half a file: it is
    written beside it and moved into place). Failing to write is not an error."""
    found = load(path)
    if found is not None:
        return found
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    except OSError:
        return value
    try:
        with os.fdopen(fd, "wb") as out:
            save(out, value)
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
    return value
