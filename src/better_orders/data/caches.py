"""What a process keeps in the user cache: parsed quote files and the NYSE calendar.

The command line keeps both (``data.quote_cache``, ``data.calendar_cache``); the
worker processes a command starts for it (a Dask cluster's, ``tca tune``'s pool) are
told whether it does and follow it, so a run's workers read the cache exactly when
the run itself does.
"""

from __future__ import annotations

from better_orders.data import calendar_cache, quote_cache


def in_use() -> bool:
    """Whether this process keeps parsed quote files and the calendar in the user cache."""
    return quote_cache.enabled() and calendar_cache.installed()


def use(on: bool = True) -> None:
    """Keep both from now on (``on``); nothing to do if they are kept already or not ``on``."""
    if on and not in_use():
        calendar_cache.install()
        quote_cache.enable()
