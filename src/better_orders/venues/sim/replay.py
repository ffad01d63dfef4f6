"""Replayed quotes: a real day's top of book as integer arrays, with a replay cursor.

``ReplayQuotes`` is a ``QuoteSource`` over rows loaded from a file (``files``)
or built from ``Quote`` values; ``merge_trades`` adds a trades file's prints to
it as executions the exchange can fill resting orders against.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import NEW_YORK
from better_orders.core.model import Quote, normalize_symbol
from better_orders.venues.sim.files import (
    EPOCH,
    IntArray,
    TradePrints,
    from_ns,
    quote_venue,
    read_quote_file,
    to_ns,
)
from better_orders.venues.sim.source import Execution


def _price_e4(value: int) -> Decimal:
    """Integer 1/10000 dollars to a Decimal, in cents when it is a whole number of cents."""
    if value % 100 == 0:
        return Decimal(value // 100).scaleb(-2)
    return Decimal(value).scaleb(-4)


#: Rows whose ``Quote`` a replay keeps at most (then it starts afresh): decisions move
#: forward through a file, so the rows they revisit are recent ones.
_KEPT_ROWS = 1 << 16


class _Columns:
    """The arrays as Python lists, for reading single rows, and the values made from them.

    A replay reads single rows (the quote in force, the next row's time) thousands of
    times; a list index or a ``bisect`` costs a fraction of a numpy scalar access.
    Decisions close together in time replay the same rows, so what is built for a row
    (its ``Quote``, its ``Execution``) is kept and shared rather than built again.
    """

    __slots__ = (
        "ask_e4",
        "ask_sz",
        "bid_e4",
        "bid_sz",
        "exec_sz",
        "executions",
        "prices",
        "sizes",
        "ts_ns",
        "ts_us",
    )

    def __init__(self, quotes: ReplayQuotes) -> None:
        self.ts_ns: list[int] = quotes.ts_ns.tolist()
        self.ts_us: list[int] = quotes.ts_us.tolist()
        self.bid_e4: list[int] = quotes.bid_e4.tolist()
        self.ask_e4: list[int] = quotes.ask_e4.tolist()
        self.bid_sz: list[int] = quotes.bid_sz.tolist()
        self.ask_sz: list[int] = quotes.ask_sz.tolist()
        #: Prices (by 1/10000 dollars) and sizes as ``Decimal``: they repeat all day, so
        #: one ``Decimal`` per distinct value (a few thousand) serves every row.
        self.prices: dict[int, Decimal] = {}
        self.sizes: dict[int, Decimal] = {}
        self.exec_sz: list[int] | None = None if quotes.exec_sz is None else quotes.exec_sz.tolist()
        #: Row -> its execution, once asked for (``_KEPT_ROWS`` at most).
        self.executions: dict[int, Execution] = {}


class ReplayQuotes:
    """Real top of book from a file (or rows), as numpy arrays plus a replay cursor.

    Prices are int64 in units of $0.0001 (``bid_e4``, ``ask_e4``) so nothing is
    rounded; a ``Quote`` (with ``Decimal`` prices) is only built when one is
    emitted. ``index_at``/``quote_at`` answer "which quote was in force at t" for
    vectorised replay evaluation; ``starting_at`` gives an independent cursor over
    the same arrays at no copying cost.
    """

    def __init__(
        self,
        *,
        symbol: str,
        ts_ns: IntArray,
        bid_e4: IntArray,
        ask_e4: IntArray,
        bid_sz: IntArray,
        ask_sz: IntArray,
        exec_px_e4: IntArray | None = None,
        exec_sz: IntArray | None = None,
        exec_dir: IntArray | None = None,
        exec_hidden: npt.NDArray[np.bool_] | None = None,
        exec_away: npt.NDArray[np.bool_] | None = None,
        path: Path | None = None,
        start: datetime | None = None,
    ) -> None:
        n = len(ts_ns)
        arrays = [bid_e4, ask_e4, bid_sz, ask_sz]
        execs = [exec_px_e4, exec_sz, exec_dir, exec_hidden]
        if any(a is None for a in execs) and not all(a is None for a in execs):
            raise InvalidInputError("execution arrays must be given all together or not at all")
        if exec_away is not None and exec_dir is None:
            raise InvalidInputError("exec_away needs the execution arrays")
        if any(len(a) != n for a in [*arrays, *(e for e in [*execs, exec_away] if e is not None)]):
            raise InvalidInputError("quote arrays must all have the same length")
        self.symbol = normalize_symbol(symbol)
        self.path = path
        #: The trades file whose prints were merged in as executions, if any.
        self.trades_path: Path | None = None
        self.ts_ns = np.asarray(ts_ns, dtype=np.int64)
        self.ts_us = self.ts_ns // 1000  # the simulator's clock resolution
        self.bid_e4 = np.asarray(bid_e4, dtype=np.int64)
        self.ask_e4 = np.asarray(ask_e4, dtype=np.int64)
        self.bid_sz = np.asarray(bid_sz, dtype=np.int64)
        self.ask_sz = np.asarray(ask_sz, dtype=np.int64)
        self.exec_px_e4 = exec_px_e4
        self.exec_sz = exec_sz
        self.exec_dir = exec_dir
        self.exec_hidden = exec_hidden
        #: Prints on another venue than the quotes' (``merge_trades``); None: none are.
        self.exec_away = exec_away
        self._cursor = 0
        self._peek: tuple[int, datetime] = (-1, EPOCH)
        #: ``_Columns``, made on first use and shared with every cursor's clone.
        self._made: list[_Columns] = []
        #: Row -> its ``Quote`` (``_KEPT_ROWS`` at most), shared with every cursor's clone
        #: of the same symbol.
        self._quotes: dict[int, Quote] = {}
        self.last_execution: Execution | None = None
        if start is not None:
            self._cursor = max(0, self.index_at(start))

    def __len__(self) -> int:
        return len(self.ts_ns)

    def __repr__(self) -> str:
        origin = f" from {self.path}" if self.path else ""
        return f"<ReplayQuotes {self.symbol}: {len(self)} rows{origin}, cursor {self._cursor}>"

    @cached_property
    def _columns(self) -> _Columns:
        # Made once for the arrays and shared by every clone, made before or after.
        made = self._made
        if not made:
            made.append(_Columns(self))
        return made[0]

    @property
    def has_executions(self) -> bool:
        return self.exec_dir is not None

    @property
    def cursor(self) -> int:
        return self._cursor

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        symbol: str | None = None,
        start: datetime | None = None,
        trades: str | os.PathLike[str] | None = None,
    ) -> ReplayQuotes:
        """Load a quote file (gzip/plain CSV, or Parquet) in the shared data schema (``files``).

        ``symbol`` overrides the file's (pseudonymised) symbol. ``trades`` names a
        companion trades file of the same stock and day whose prints become
        executions (``merge_trades``). Every problem raises ``QuoteFileError``
        naming the file (and the row or column where it applies).
        """
        if trades is not None:
            loaded = cls.from_file(path, symbol=symbol)
            expect = loaded.symbol if symbol is None else None
            venue = quote_venue(path)
            merged = merge_trades(loaded, TradePrints.from_file(trades, symbol=expect, venue=venue))
            if start is not None:
                merged._cursor = max(0, merged.index_at(start))
            return merged
        file = Path(path)
        return cls(**read_quote_file(file, symbol=symbol), path=file, start=start)

    @classmethod
    def from_quotes(
        cls,
        quotes: Iterable[Quote],
        *,
        symbol: str | None = None,
        executions: Mapping[int, Execution] | None = None,
    ) -> ReplayQuotes:
        """Build a source from ``Quote`` values (scripted scenarios in tests and examples).

        ``executions`` maps a row index to the execution printed on that row.
        """
        rows: Sequence[Quote] = list(quotes)
        if not rows:
            raise InvalidInputError("from_quotes needs at least one quote")
        name = symbol or rows[0].symbol
        ts = np.array([to_ns(q.ts) for q in rows], dtype=np.int64)
        if (np.diff(ts) < 0).any():
            raise InvalidInputError(f"quotes for {name} must be in time order")

        def e4(value: Decimal, what: str) -> int:
            scaled = value.scaleb(4)
            if scaled != scaled.to_integral_value():
                raise InvalidInputError(f"{name} {what} {value} has more than 4 decimals")
            return int(scaled)

        extra: dict[str, Any] = {}
        if executions:
            n = len(rows)
            px, sz = np.zeros(n, np.int64), np.zeros(n, np.int64)
            direction, hidden = np.zeros(n, np.int64), np.zeros(n, np.bool_)
            away = np.zeros(n, np.bool_)
            for i, ex in executions.items():
                px[i], sz[i] = e4(ex.price, "execution price"), int(ex.size)
                direction[i], hidden[i] = (ex.direction > 0) - (ex.direction < 0), ex.hidden
                away[i] = ex.away
            extra = {"exec_px_e4": px, "exec_sz": sz, "exec_dir": direction, "exec_hidden": hidden}
            if away.any():
                extra["exec_away"] = away
        return cls(
            symbol=name,
            ts_ns=ts,
            bid_e4=np.array([e4(q.bid, "bid") for q in rows], dtype=np.int64),
            ask_e4=np.array([e4(q.ask, "ask") for q in rows], dtype=np.int64),
            bid_sz=np.array([int(q.bid_size) for q in rows], dtype=np.int64),
            ask_sz=np.array([int(q.ask_size) for q in rows], dtype=np.int64),
            **extra,
        )

    def starting_at(self, start: datetime | None) -> ReplayQuotes:
        """An independent cursor over the same arrays, first yielding the quote in force."""
        clone = self._clone()
        clone._cursor = 0 if start is None else max(0, self.index_at(start))
        clone.last_execution = None
        return clone

    def with_symbol(self, symbol: str) -> ReplayQuotes:
        """The same rows under another ticker (files use pseudonyms like XXX)."""
        clone = self._clone()
        clone.symbol = normalize_symbol(symbol)
        clone._quotes = {}
        return clone

    def _clone(self) -> ReplayQuotes:
        """A shallow copy (``copy.copy``'s result, made directly: a replay makes one per
        decision)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    # -- random access ---------------------------------------------------------------------

    def index_at(self, ts: datetime | int) -> int:
        """Index of the quote in force at ``ts`` (datetime, or int nanoseconds); -1 if none yet.

        Compared at microsecond resolution, the simulator's, so
        ``index_at(quote_at(i).ts)`` is the last row of that microsecond.
        """
        us = (to_ns(ts) if isinstance(ts, datetime) else int(ts)) // 1000
        return bisect_right(self._columns.ts_us, us) - 1

    def quote_at(self, i: int) -> Quote:
        found = self._quotes.get(i)
        return found if found is not None else self._make_quote(i, None)

    def _make_quote(self, i: int, ts: datetime | None) -> Quote:
        """Row ``i``'s quote (at ``ts`` when the caller has its time), kept for the next ask."""
        if not 0 <= i < len(self.ts_ns):
            raise IndexError(
                f"no {self.symbol} quote at row {i}: the file has rows 0..{len(self.ts_ns) - 1}"
                + (" (index -1 means no quote was in force yet)" if i == -1 else "")
            )
        c = self._columns
        prices, sizes = c.prices, c.sizes
        bid_e4, ask_e4, bid_sz, ask_sz = c.bid_e4[i], c.ask_e4[i], c.bid_sz[i], c.ask_sz[i]
        bid, ask = prices.get(bid_e4), prices.get(ask_e4)
        if bid is None:
            bid = prices[bid_e4] = _price_e4(bid_e4)
        if ask is None:
            ask = prices[ask_e4] = _price_e4(ask_e4)
        bid_size, ask_size = sizes.get(bid_sz), sizes.get(ask_sz)
        if bid_size is None:
            bid_size = sizes[bid_sz] = Decimal(bid_sz)
        if ask_size is None:
            ask_size = sizes[ask_sz] = Decimal(ask_sz)
        quote = Quote(self.symbol, bid, ask, bid_size, ask_size, ts or from_ns(c.ts_ns[i]))
        quotes = self._quotes
        if len(quotes) >= _KEPT_ROWS:
            quotes.clear()
        quotes[i] = quote
        return quote

    def execution_at(self, i: int) -> Execution | None:
        c = self._columns
        sizes = c.exec_sz
        # Rows without an execution hold size 0 (direction 0 is a print of unknown side).
        if self.exec_dir is None or sizes is None or sizes[i] <= 0:
            return None
        executions = c.executions
        found = executions.get(i)
        if found is None:
            assert self.exec_px_e4 is not None
            found = Execution(
                price=_price_e4(int(self.exec_px_e4[i])),
                size=Decimal(sizes[i]),
                direction=int(self.exec_dir[i]),
                hidden=bool(self.exec_hidden[i]) if self.exec_hidden is not None else False,
                away=bool(self.exec_away[i]) if self.exec_away is not None else False,
            )
            if len(executions) >= _KEPT_ROWS:
                executions.clear()
            executions[i] = found
        return found

    # -- QuoteSource -------------------------------------------------------------------------

    def peek_time(self) -> datetime | None:
        peek = self._peek
        if peek[0] == self._cursor:
            return peek[1]
        i = self._cursor
        if i >= len(self.ts_ns):
            return None
        found = self._quotes.get(i)
        self._peek = (i, found.ts if found is not None else from_ns(self._columns.ts_ns[i]))
        return self._peek[1]

    def pop(self) -> Quote:
        i = self._cursor
        quote = self._quotes.get(i)
        if quote is None:
            peek = self._peek
            quote = self._make_quote(i, peek[1] if peek[0] == i else None)
        self.last_execution = None if self.exec_dir is None else self.execution_at(i)
        self._cursor = i + 1
        return quote

    def skip_to(self, when: datetime) -> None:
        self._cursor = max(self._cursor, self.index_at(when))


def _ny_day(ns: int) -> str:
    return from_ns(ns).astimezone(NEW_YORK).date().isoformat()


def merge_trades(quotes: ReplayQuotes, prints: TradePrints) -> ReplayQuotes:
    """``quotes`` with one extra row per print, carrying it as an execution of unknown direction.

    A print row repeats the book in force (the last quote row at or before the
    print; prints before the first quote are dropped) and sorts after the quote
    rows of its instant. The exchange neither publishes it nor lets it replenish
    the displayed size: it only matches the print against resting limits (the
    rule is in ``fills``; prints marked ``away`` by ``TradePrints`` count only
    through our limit). Rows the quote file already carries as executions
    (LOBSTER) are kept as they are. Prints of another day than the quotes' are refused
    (``InvalidInputError``): they would fill nothing and pass for a quiet tape.
    """
    n = len(quotes)
    if len(prints.ts_ns) and n:
        days = {_ny_day(int(quotes.ts_ns[0])), _ny_day(int(quotes.ts_ns[-1]))}
        printed = {_ny_day(int(prints.ts_ns[0])), _ny_day(int(prints.ts_ns[-1]))}
        if not printed & days:
            raise InvalidInputError(
                f"the trades of {', '.join(sorted(printed))} are not of the quotes' day "
                f"({', '.join(sorted(days))}): give the trades file of the same day"
            )
    where = np.searchsorted(quotes.ts_ns, prints.ts_ns, side="right") - 1
    live = where >= 0
    at = where[live]
    m = len(at)
    ins = at + 1

    def put(arr: Any, values: Any) -> Any:
        return np.insert(arr, ins, values)

    if quotes.exec_dir is not None:
        assert quotes.exec_px_e4 is not None and quotes.exec_sz is not None
        assert quotes.exec_hidden is not None
        px0, sz0 = quotes.exec_px_e4, quotes.exec_sz
        dir0, hid0 = quotes.exec_dir, quotes.exec_hidden
    else:
        px0, sz0 = np.zeros(n, np.int64), np.zeros(n, np.int64)
        dir0, hid0 = np.zeros(n, np.int64), np.zeros(n, np.bool_)
    merged = ReplayQuotes(
        symbol=quotes.symbol,
        ts_ns=put(quotes.ts_ns, prints.ts_ns[live]),
        bid_e4=put(quotes.bid_e4, quotes.bid_e4[at]),
        ask_e4=put(quotes.ask_e4, quotes.ask_e4[at]),
        bid_sz=put(quotes.bid_sz, quotes.bid_sz[at]),
        ask_sz=put(quotes.ask_sz, quotes.ask_sz[at]),
        exec_px_e4=put(px0, prints.price_e4[live]),
        exec_sz=put(sz0, prints.size[live]),
        exec_dir=put(dir0, np.zeros(m, np.int64)),
        exec_hidden=put(hid0, np.zeros(m, np.bool_)),
        exec_away=_merged_away(quotes, prints, put, live),
        path=quotes.path,
    )
    merged.trades_path = prints.path
    return merged


def _merged_away(
    quotes: ReplayQuotes, prints: TradePrints, put: Callable[[Any, Any], Any], live: Any
) -> npt.NDArray[np.bool_] | None:
    """``merge_trades``' ``exec_away``: which merged rows are prints on another venue."""
    if prints.away is None and quotes.exec_away is None:
        return None
    before = quotes.exec_away if quotes.exec_away is not None else np.zeros(len(quotes), np.bool_)
    added = prints.away[live] if prints.away is not None else np.zeros(int(live.sum()), np.bool_)
    merged: npt.NDArray[np.bool_] = put(before, added)
    return merged
