"""Recorded quote files replayed on the server's clock: moved in time so they start now."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from better_orders.core.errors import InvalidInputError
from better_orders.venues.sim.files import to_ns
from better_orders.venues.sim.replay import ReplayQuotes


def shifted_replay(source: ReplayQuotes, offset: timedelta) -> ReplayQuotes:
    """The same rows moved by ``offset`` in time (a recorded morning replayed from now)."""
    shift = np.int64(offset // timedelta(microseconds=1) * 1000)
    return ReplayQuotes(
        symbol=source.symbol,
        ts_ns=source.ts_ns + shift,
        bid_e4=source.bid_e4,
        ask_e4=source.ask_e4,
        bid_sz=source.bid_sz,
        ask_sz=source.ask_sz,
        exec_px_e4=source.exec_px_e4,
        exec_sz=source.exec_sz,
        exec_dir=source.exec_dir,
        exec_hidden=source.exec_hidden,
        path=source.path,
    )


#: A quote file as given (``SYMBOL=`` trades it under another ticker), or already read.
QuoteFileSpec = tuple[str | None, Path | ReplayQuotes]


def read_sources(files: Iterable[QuoteFileSpec]) -> list[ReplayQuotes]:
    """The files' quotes, one file per symbol (``serve`` reads them before it starts)."""
    loaded = [
        path if isinstance(path, ReplayQuotes) else ReplayQuotes.from_file(path, symbol=symbol)
        for symbol, path in files
    ]
    symbols = [source.symbol for source in loaded]
    twice = sorted({s for s in symbols if symbols.count(s) > 1})
    if twice:
        raise InvalidInputError(f"two quote files for {', '.join(twice)}: give one per symbol")
    return loaded


def load_replay(
    files: Iterable[QuoteFileSpec], start: datetime, replay_from: datetime | None
) -> dict[str, ReplayQuotes]:
    """Quote files keyed by the symbol to trade them as, shifted so they begin at ``start``.

    Every file is moved by the same offset (the earliest first quote, or
    ``replay_from``, lands on ``start``), so several files stay in step.
    """
    loaded = read_sources(files)
    if not loaded:
        return {}
    origin_ns = (
        to_ns(replay_from) if replay_from is not None else min(int(r.ts_ns[0]) for r in loaded)
    )
    offset = timedelta(microseconds=(to_ns(start) - origin_ns) // 1000)
    return {source.symbol: shifted_replay(source, offset) for source in loaded}
