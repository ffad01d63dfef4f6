"""Recorded quote files replayed on the server's clock: moved in time so they start now.

The venue trades against the quotes (and the executions a file carries); the
tape (``tape``) also reads a quote file's companion ``*_trades`` file, moved by
the same offset, for the trades it reports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from better_orders.core.errors import InvalidInputError
from better_orders.data.dataset import find_trades_file
from better_orders.venues.sim.files import TradePrints, to_ns
from better_orders.venues.sim.replay import ReplayQuotes, merge_trades


def _shift_ns(offset: timedelta) -> np.int64:
    return np.int64(offset // timedelta(microseconds=1) * 1000)


def shifted_replay(source: ReplayQuotes, offset: timedelta) -> ReplayQuotes:
    """The same rows moved by ``offset`` in time (a recorded morning replayed from now)."""
    shift = _shift_ns(offset)
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


@dataclasses.dataclass(frozen=True, slots=True)
class Replay:
    """The replayed quotes by symbol, and how far in time they were moved."""

    sources: dict[str, ReplayQuotes]
    offset: timedelta

    def for_tape(self, symbol: str) -> ReplayQuotes | None:
        """``symbol``'s rows from the first, with its companion trades file merged in if any."""
        source = self.sources.get(symbol)
        if source is None:
            return None
        source = source.starting_at(None)
        companion = find_trades_file(source.path) if source.path is not None else None
        if source.has_executions or companion is None:
            return source
        prints = TradePrints.from_file(companion)
        moved = dataclasses.replace(prints, ts_ns=prints.ts_ns + _shift_ns(self.offset))
        return merge_trades(source, moved).with_symbol(symbol)


def load_replay(
    files: Iterable[QuoteFileSpec], start: datetime, replay_from: datetime | None
) -> Replay:
    """Quote files keyed by the symbol to trade them as, shifted so they begin at ``start``.

    Every file is moved by the same offset (the earliest first quote, or
    ``replay_from``, lands on ``start``), so several files stay in step.
    """
    loaded = read_sources(files)
    if not loaded:
        return Replay({}, timedelta(0))
    origin_ns = (
        to_ns(replay_from) if replay_from is not None else min(int(r.ts_ns[0]) for r in loaded)
    )
    offset = timedelta(microseconds=(to_ns(start) - origin_ns) // 1000)
    return Replay({s.symbol: shifted_replay(s, offset) for s in loaded}, offset)
