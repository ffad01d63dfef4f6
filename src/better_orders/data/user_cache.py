"""The user cache folder, where results that are slow to compute are kept between runs.

``BETTER_ORDERS_CACHE`` names another folder (``off``: keep nothing). What is kept
there (the NYSE sessions, ``calendar_cache``; parsed quote files, ``quote_cache``)
can always be computed again: deleting the folder only costs time.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV_VAR = "BETTER_ORDERS_CACHE"


def cache_folder() -> Path | None:
    """Where the cache lives (None: ``BETTER_ORDERS_CACHE=off``)."""
    named = os.environ.get(CACHE_ENV_VAR, "")
    if named.lower() == "off":
        return None
    if named:
        return Path(named).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("better-orders"))
