"""Quote sources for the simulated exchange: synthetic (calibrated per symbol class), file replay.

A ``QuoteSource`` yields one symbol's top of book in time order; a ``QuoteBook``
holds one source per symbol and merges them by time for the exchange.

Both kinds share one rule: a source added or restarted at instant T first yields
the quote *in force* at T (its timestamp may be earlier than T), then every later
change. A decision taken at T therefore always sees the book as it stood at T.

Calibration of ``SyntheticQuotes`` (from the real files in the shared data folder,
whose single-venue spreads for $158-$585 stocks are 2-5x wider in 09:30-09:35
than in 10:00-16:00, and whose displayed sizes are mostly 100-400 shares):
the spread of a symbol class is its base spread (1 tick for high-volume ETFs,
1-2 ticks for leveraged ETFs, a few cents for stocks above $150) times an
opening factor drawn per day in 3-8x for the first minute, decaying back to
~1x by open + 5 min; pre-market quotes are wider still, thinner and slower.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import math
import os
import random
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from better_orders.config.settings import BetterOrdersConfig, SymbolClass
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote, Side, normalize_symbol
from better_orders.core.ticks import tick_size

NEW_YORK = ZoneInfo("America/New_York")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_SESSION_SECONDS = 23_400.0  # 09:30-16:00, for turning a daily volatility into per-second


class QuoteFileError(InvalidInputError):
    """A quote file cannot be used; the message names the file and the problem."""


def stable_hash(text: str) -> int:
    """A 64-bit hash that is the same in every process (unlike the salted built-in ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{what} {value.isoformat()} has no time zone: give an aware time")
    return value.astimezone(UTC)


def to_ns(ts: datetime) -> int:
    """Nanoseconds since the epoch for an aware datetime (exact, integer arithmetic)."""
    return ((_require_aware(ts, "time") - EPOCH) // _ONE_US) * 1000


def from_ns(ns: int) -> datetime:
    """An aware UTC datetime (microsecond resolution: the sub-microsecond part is dropped)."""
    return EPOCH + timedelta(microseconds=ns // 1000)


def _price_e4(value: int) -> Decimal:
    """Integer 1/10000 dollars to a Decimal, in cents when it is a whole number of cents."""
    if value % 100 == 0:
        return Decimal(value // 100).scaleb(-2)
    return Decimal(value).scaleb(-4)


@dataclass(frozen=True, slots=True)
class Execution:
    """A real trade on the row that carries it (LOBSTER types 4/5, or a trades-file print).

    ``direction`` follows LOBSTER: +1 = a resting *buy* order was executed (a seller
    hit the bid), -1 = a resting sell order was executed (a buyer lifted the offer),
    0 = a consolidated print whose aggressor is unknown (see ``merge_trades``).
    """

    price: Decimal
    size: Decimal
    direction: int
    hidden: bool = False

    @property
    def resting_side(self) -> Side | None:
        """The side of the resting orders this execution traded against (None: unknown)."""
        if self.direction == 0:
            return None
        return Side.BUY if self.direction > 0 else Side.SELL

    @property
    def is_print(self) -> bool:
        """A print from a trades file: any venue, direction unknown."""
        return self.direction == 0


class MarketEvent(NamedTuple):
    """One row of a source: the quote, and the execution that caused it, if any."""

    quote: Quote
    execution: Execution | None


@runtime_checkable
class QuoteSource(Protocol):
    """One symbol's top of book in time order (see the module docstring for the start rule)."""

    symbol: str

    def peek_time(self) -> datetime | None:
        """Time of the next row, or None when the source is exhausted."""
        ...

    def pop(self) -> Quote:
        """The next row's quote (its execution, if any, is then ``last_execution``)."""
        ...

    @property
    def last_execution(self) -> Execution | None: ...

    def skip_to(self, when: datetime) -> None:
        """Discard rows so the next one is the quote in force at ``when`` (or the first after)."""
        ...


# -- synthetic quotes --------------------------------------------------------------------

#: Approximate prices of well-known symbols, so synthetic quotes look like the real thing.
REFERENCE_PRICES: dict[str, Decimal] = {
    "TQQQ": Decimal("75"),
    "SQQQ": Decimal("20"),
    "SOXL": Decimal("30"),
    "SPXL": Decimal("180"),
    "UPRO": Decimal("100"),
    "TECL": Decimal("90"),
    "TNA": Decimal("45"),
    "FAS": Decimal("170"),
    "LABU": Decimal("110"),
    "SPY": Decimal("660"),
    "QQQ": Decimal("600"),
    "IWM": Decimal("240"),
    "TLT": Decimal("90"),
    "XLF": Decimal("52"),
}


def reference_price(symbol: str) -> Decimal:
    """The table price, else a stable pseudo-random price in $20-$400 (whole cents)."""
    known = REFERENCE_PRICES.get(symbol)
    if known is not None:
        return known
    cents = 2_000 + stable_hash("price:" + symbol) % 38_001
    return Decimal(cents).scaleb(-2)


@dataclass(frozen=True, slots=True)
class SymbolProfile:
    """How one symbol's synthetic quotes behave. ``for_symbol`` picks one per symbol class."""

    symbol_class: SymbolClass
    ref_price: Decimal
    spread_ticks: int
    daily_vol: float
    size_lots: tuple[int, int]
    lot: int = 100
    interval_ms: tuple[float, float] = (20.0, 500.0)
    open_widening: tuple[float, float] = (3.0, 8.0)
    open_wide_seconds: float = 60.0
    narrow_seconds: float = 300.0
    pre_open_widening: tuple[float, float] = (4.0, 12.0)
    pre_open_size_factor: float = 0.25
    pre_open_interval_factor: float = 4.0
    jumps_per_hour: float = 4.0
    jump_bps: tuple[float, float] = (5.0, 25.0)

    def __post_init__(self) -> None:
        if self.ref_price <= 0:
            raise InvalidInputError(f"reference price must be positive, got {self.ref_price}")
        if self.spread_ticks < 1:
            raise InvalidInputError(f"base spread must be at least 1 tick, got {self.spread_ticks}")
        for name in ("size_lots", "interval_ms", "open_widening", "pre_open_widening", "jump_bps"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise InvalidInputError(f"{name} must be 0 < low <= high, got ({low}, {high})")
        if self.narrow_seconds <= self.open_wide_seconds:
            raise InvalidInputError("narrow_seconds must be longer than open_wide_seconds")

    @classmethod
    def for_symbol(cls, symbol: str, config: BetterOrdersConfig | None = None) -> SymbolProfile:
        symbol = normalize_symbol(symbol)
        klass = (config or _DEFAULT_CONFIG).symbol_class(symbol)
        price = reference_price(symbol)
        if klass is SymbolClass.HIGH_VOLUME_ETF:
            return cls(klass, price, spread_ticks=1, daily_vol=0.009, size_lots=(2, 30))
        if klass is SymbolClass.LEVERAGED_ETF:
            ticks = 1 if price < 100 else 2
            return cls(klass, price, spread_ticks=ticks, daily_vol=0.035, size_lots=(3, 50))
        if price < 50:
            ticks = 1
        elif price < 150:
            ticks = 2
        else:
            ticks = min(8, max(3, round(float(price) / 50)))
        return cls(klass, price, spread_ticks=ticks, daily_vol=0.018, size_lots=(1, 5))


_DEFAULT_CONFIG = BetterOrdersConfig()


class _Row(NamedTuple):
    offset_us: int
    bid: int  # in ticks
    ask: int
    bid_lots: int
    ask_lots: int


class SyntheticQuotes:
    """Deterministic synthetic top of book: same symbol, seed and times give the same quotes.

    A random walk of the mid in ticks (volatility from the profile, more at the open)
    with occasional jumps; the spread and sizes follow the opening/pre-market shape
    described in the module docstring. The first quote is at ``start``; with ``end``
    the source stops after that instant.
    """

    def __init__(
        self,
        symbol: str,
        *,
        start: datetime,
        session_open: datetime,
        seed: int,
        profile: SymbolProfile | None = None,
        end: datetime | None = None,
    ) -> None:
        self.symbol = normalize_symbol(symbol)
        self.profile = profile or SymbolProfile.for_symbol(self.symbol)
        self.start = _require_aware(start, "start")
        self.session_open = _require_aware(session_open, "session open")
        self.end = _require_aware(end, "end") if end is not None else None
        self._end_us = (self.end - self.start) // _ONE_US if self.end is not None else None
        self._open_us = (self.session_open - self.start) // _ONE_US
        # Each trading day has its own path (and a level within +/-2% of the reference).
        day = self.session_open.astimezone(NEW_YORK).date().isoformat()
        self._rng = random.Random(seed ^ stable_hash(f"{self.symbol}@{day}"))
        p = self.profile
        self._tick = tick_size(p.ref_price)
        rng = self._rng
        self._center = float(p.ref_price / self._tick) * (1.0 + rng.uniform(-0.02, 0.02))
        self._open_factor = rng.uniform(*p.open_widening)
        self._pre_factor = rng.uniform(*p.pre_open_widening)
        self._tau = (p.narrow_seconds - p.open_wide_seconds) / 3.0
        self._sigma = (
            float(p.ref_price) * p.daily_vol / math.sqrt(_SESSION_SECONDS) / float(self._tick)
        )
        self._log_interval = (math.log(p.interval_ms[0]), math.log(p.interval_ms[1]))
        self._log_lots = (math.log(p.size_lots[0]), math.log(p.size_lots[1] + 1))
        self._offset_us = 0
        self._buffer: deque[_Row] = deque()
        self._first = True
        self.last_execution: Execution | None = None

    # -- the shape of the day --------------------------------------------------------------

    def widening(self, offset_us: int) -> float:
        """Spread multiple at ``offset_us`` after start: pre-market, first minute, decay, 1."""
        since_open = (offset_us - self._open_us) / 1e6
        if since_open < 0:
            return self._pre_factor
        p = self.profile
        if since_open < p.open_wide_seconds:
            return self._open_factor
        decay = math.exp(-(since_open - p.open_wide_seconds) / self._tau)
        return 1.0 + (self._open_factor - 1.0) * decay

    def _generate(self) -> _Row:
        rng, p = self._rng, self.profile
        if self._first:
            self._first = False
            dt_us = 0
        else:
            interval_ms = math.exp(rng.uniform(*self._log_interval))
            if self._offset_us < self._open_us:
                interval_ms *= p.pre_open_interval_factor
            dt_us = max(1, int(interval_ms * 1000))
        self._offset_us += dt_us
        factor = self.widening(self._offset_us)
        # Draw every variate on every row so the stream never depends on branches taken.
        step = rng.gauss(0.0, 1.0)
        jump_u, jump_size, jump_sign = rng.random(), rng.uniform(*p.jump_bps), rng.random()
        jitter, extra = rng.uniform(0.8, 1.3), rng.random()
        bid_u, ask_u = rng.uniform(*self._log_lots), rng.uniform(*self._log_lots)
        dt_s = dt_us / 1e6
        # The open is more volatile than the rest of the day; pre-market is thin, not busier.
        boost = 1.0 if self._offset_us < self._open_us else min(factor, 4.0)
        self._center += step * self._sigma * math.sqrt(dt_s * boost)
        if jump_u < p.jumps_per_hour * dt_s / 3600.0:
            sign = 1.0 if jump_sign < 0.5 else -1.0
            self._center += sign * jump_size / 1e4 * self._center
        spread = max(1, round(p.spread_ticks * factor * jitter)) + (1 if extra < 0.08 else 0)
        bid = max(1, round(self._center - spread / 2.0))
        ask = bid + spread
        self._center = max(self._center, spread / 2.0 + 1.0)
        if self._offset_us < self._open_us:
            size_factor = p.pre_open_size_factor
        else:
            size_factor = 1.0 / math.sqrt(factor)
        bid_lots = max(1, int(math.exp(bid_u) * size_factor))
        ask_lots = max(1, int(math.exp(ask_u) * size_factor))
        return _Row(self._offset_us, bid, ask, bid_lots, ask_lots)

    def _fill_buffer(self, n: int) -> bool:
        while len(self._buffer) < n:
            row = self._generate()
            if self._end_us is not None and row.offset_us > self._end_us:
                return False
            self._buffer.append(row)
        return True

    # -- QuoteSource -------------------------------------------------------------------------

    def peek_time(self) -> datetime | None:
        if not self._fill_buffer(1):
            return None
        return self.start + timedelta(microseconds=self._buffer[0].offset_us)

    def pop(self) -> Quote:
        if not self._fill_buffer(1):
            raise IndexError(f"synthetic quotes for {self.symbol} ended at {self.end}")
        row = self._buffer.popleft()
        tick, lot = self._tick, self.profile.lot
        return Quote(
            symbol=self.symbol,
            bid=(row.bid * tick),
            ask=(row.ask * tick),
            bid_size=Decimal(row.bid_lots * lot),
            ask_size=Decimal(row.ask_lots * lot),
            ts=self.start + timedelta(microseconds=row.offset_us),
        )

    def skip_to(self, when: datetime) -> None:
        target = (_require_aware(when, "time") - self.start) // _ONE_US
        while self._fill_buffer(2) and self._buffer[1].offset_us <= target:
            self._buffer.popleft()


# -- replayed quotes -----------------------------------------------------------------------

_REQUIRED = ("ts_utc_ns", "bid_px", "ask_px", "bid_sz", "ask_sz")
_EVENT_COLUMNS = ("event_type", "event_size", "event_px", "event_dir")
_DTYPES: dict[str, Any] = {
    "ts_utc_ns": "int64",
    "bid_px": "float64",
    "ask_px": "float64",
    "bid_sz": "float64",
    "ask_sz": "float64",
    "event_type": "float64",
    "event_size": "float64",
    "event_px": "float64",
    "event_dir": "float64",
    "symbol": "string",
}

IntArray = npt.NDArray[np.int64]


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
        path: Path | None = None,
        start: datetime | None = None,
    ) -> None:
        n = len(ts_ns)
        arrays = [bid_e4, ask_e4, bid_sz, ask_sz]
        execs = [exec_px_e4, exec_sz, exec_dir, exec_hidden]
        if any(a is None for a in execs) and not all(a is None for a in execs):
            raise InvalidInputError("execution arrays must be given all together or not at all")
        if any(len(a) != n for a in arrays + [e for e in execs if e is not None]):
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
        self._cursor = 0
        self._peek: tuple[int, datetime] = (-1, EPOCH)
        self.last_execution: Execution | None = None
        if start is not None:
            self._cursor = max(0, self.index_at(start))

    def __len__(self) -> int:
        return len(self.ts_ns)

    def __repr__(self) -> str:
        origin = f" from {self.path}" if self.path else ""
        return f"<ReplayQuotes {self.symbol}: {len(self)} rows{origin}, cursor {self._cursor}>"

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
        """Load a quote file (gzip/plain CSV, or Parquet) in the shared data schema.

        ``symbol`` overrides the file's (pseudonymised) symbol. ``trades`` names a
        companion trades file of the same stock and day whose prints become
        executions (``merge_trades``). Every problem raises ``QuoteFileError``
        naming the file (and the row or column where it applies).
        """
        if trades is not None:
            loaded = cls.from_file(path, symbol=symbol)
            expect = loaded.symbol if symbol is None else None
            merged = merge_trades(loaded, TradePrints.from_file(trades, symbol=expect))
            if start is not None:
                merged._cursor = max(0, merged.index_at(start))
            return merged
        file = Path(path)
        frame = _read_frame(file, need_symbol=symbol is None)
        n = len(frame)
        if n == 0:
            raise QuoteFileError(f"quote file {file} holds no quote rows (only a header)")
        if symbol is None:
            names = frame["symbol"].dropna().unique()
            if len(names) != 1:
                shown = ", ".join(sorted(str(s) for s in names)[:5]) or "none"
                raise QuoteFileError(
                    f"quote file {file} must hold exactly one symbol, found: {shown}; "
                    "pass symbol= to choose"
                )
            symbol = str(names[0])
        try:
            name = normalize_symbol(symbol)
        except InvalidInputError as exc:
            raise QuoteFileError(f"quote file {file}: {exc}") from None
        ts = frame["ts_utc_ns"].to_numpy(dtype=np.int64)
        backwards = np.flatnonzero(np.diff(ts) < 0)
        if len(backwards):
            i = int(backwards[0]) + 1
            raise QuoteFileError(
                f"quote file {file} is not sorted by time: row {i + 1} "
                f"({from_ns(int(ts[i])).isoformat()}) is earlier than row {i} "
                f"({from_ns(int(ts[i - 1])).isoformat()})"
            )
        bid_e4 = _prices(frame, "bid_px", file)
        ask_e4 = _prices(frame, "ask_px", file)
        bid_sz = _sizes(frame, "bid_sz", file)
        ask_sz = _sizes(frame, "ask_sz", file)
        execs: dict[str, Any] = {}
        if all(c in frame.columns for c in _EVENT_COLUMNS):
            etype = frame["event_type"].to_numpy(dtype=np.float64)
            is_exec = np.isin(etype, (4.0, 5.0))
            px = frame["event_px"].to_numpy(dtype=np.float64)
            size = frame["event_size"].to_numpy(dtype=np.float64)
            direction = frame["event_dir"].to_numpy(dtype=np.float64)
            bad = is_exec & ~(np.isfinite(px) & (px > 0) & np.isfinite(size) & (size > 0))
            bad |= is_exec & ~np.isin(direction, (1.0, -1.0))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise QuoteFileError(
                    f"quote file {file}: row {i + 1} is an execution without a valid "
                    f"event_px/event_size/event_dir ({px[i]}, {size[i]}, {direction[i]})"
                )
            execs = {
                "exec_px_e4": np.where(is_exec, np.rint(np.nan_to_num(px) * 1e4), 0).astype(
                    np.int64
                ),
                "exec_sz": np.where(is_exec, np.nan_to_num(size), 0).astype(np.int64),
                "exec_dir": np.where(is_exec, direction, 0).astype(np.int64),
                "exec_hidden": etype == 5.0,
            }
        return cls(
            symbol=name,
            ts_ns=ts,
            bid_e4=bid_e4,
            ask_e4=ask_e4,
            bid_sz=bid_sz,
            ask_sz=ask_sz,
            path=file,
            start=start,
            **execs,
        )

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
            for i, ex in executions.items():
                px[i], sz[i] = e4(ex.price, "execution price"), int(ex.size)
                direction[i], hidden[i] = (ex.direction > 0) - (ex.direction < 0), ex.hidden
            extra = {"exec_px_e4": px, "exec_sz": sz, "exec_dir": direction, "exec_hidden": hidden}
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
        clone = copy.copy(self)
        clone._cursor = 0 if start is None else max(0, self.index_at(start))
        clone.last_execution = None
        return clone

    def with_symbol(self, symbol: str) -> ReplayQuotes:
        """The same rows under another ticker (files use pseudonyms like XXX)."""
        clone = copy.copy(self)
        clone.symbol = normalize_symbol(symbol)
        return clone

    # -- random access ---------------------------------------------------------------------

    def index_at(self, ts: datetime | int) -> int:
        """Index of the quote in force at ``ts`` (datetime, or int nanoseconds); -1 if none yet.

        Compared at microsecond resolution, the simulator's, so
        ``index_at(quote_at(i).ts)`` is the last row of that microsecond.
        """
        us = (to_ns(ts) if isinstance(ts, datetime) else int(ts)) // 1000
        return int(np.searchsorted(self.ts_us, us, side="right")) - 1

    def quote_at(self, i: int) -> Quote:
        if not 0 <= i < len(self.ts_ns):
            raise IndexError(
                f"no {self.symbol} quote at row {i}: the file has rows 0..{len(self.ts_ns) - 1}"
                + (" (index -1 means no quote was in force yet)" if i == -1 else "")
            )
        return Quote(
            symbol=self.symbol,
            bid=_price_e4(int(self.bid_e4[i])),
            ask=_price_e4(int(self.ask_e4[i])),
            bid_size=Decimal(int(self.bid_sz[i])),
            ask_size=Decimal(int(self.ask_sz[i])),
            ts=from_ns(int(self.ts_ns[i])),
        )

    def execution_at(self, i: int) -> Execution | None:
        # Rows without an execution hold size 0 (direction 0 is a print of unknown side).
        if self.exec_dir is None or self.exec_sz is None or self.exec_sz[i] <= 0:
            return None
        assert self.exec_px_e4 is not None
        return Execution(
            price=_price_e4(int(self.exec_px_e4[i])),
            size=Decimal(int(self.exec_sz[i])),
            direction=int(self.exec_dir[i]),
            hidden=bool(self.exec_hidden[i]) if self.exec_hidden is not None else False,
        )

    # -- QuoteSource -------------------------------------------------------------------------

    def peek_time(self) -> datetime | None:
        i = self._cursor
        if i >= len(self.ts_ns):
            return None
        if self._peek[0] != i:
            self._peek = (i, from_ns(int(self.ts_ns[i])))
        return self._peek[1]

    def pop(self) -> Quote:
        i = self._cursor
        quote = self.quote_at(i)
        self.last_execution = self.execution_at(i)
        self._cursor = i + 1
        return quote

    def skip_to(self, when: datetime) -> None:
        self._cursor = max(self._cursor, self.index_at(when))


def _read_frame(file: Path, *, need_symbol: bool) -> Any:
    """The file's columns we use, as a pandas DataFrame; typed errors for every failure."""
    import pandas as pd  # heavy: only when a file is actually loaded

    if not file.exists():
        raise QuoteFileError(f"quote file {file} does not exist")
    if not file.is_file() or not os.access(file, os.R_OK):
        raise QuoteFileError(f"quote file {file} is not a readable file")
    if file.stat().st_size == 0:
        raise QuoteFileError(f"quote file {file} is empty")
    parquet = file.suffix.lower() in (".parquet", ".pq")
    try:
        if parquet:
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise QuoteFileError(
                    f"cannot read {file}: Parquet needs pyarrow "
                    "(pip install 'better-orders[parquet]')"
                ) from None
            columns = list(pq.read_schema(file).names)
        else:
            columns = list(pd.read_csv(file, nrows=0).columns)
        wanted = list(_REQUIRED) + (["symbol"] if need_symbol else [])
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise QuoteFileError(
                f"quote file {file} is missing column(s) {', '.join(missing)} "
                f"(it has: {', '.join(map(str, columns)) or 'none'})"
            )
        use = wanted + [c for c in _EVENT_COLUMNS if c in columns]
        if parquet:
            frame = pd.read_parquet(file, columns=use)
            if frame["ts_utc_ns"].isna().any():
                raise ValueError("ts_utc_ns has missing values")
            return frame
        return pd.read_csv(file, usecols=use, dtype={c: _DTYPES[c] for c in use})
    except QuoteFileError:
        raise
    except pd.errors.EmptyDataError:
        raise QuoteFileError(f"quote file {file} is empty") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        what = "a valid gzip file" if file.suffix == ".gz" else "readable"
        raise QuoteFileError(
            f"quote file {file} is not {what} (corrupt or truncated?): {exc}"
        ) from None
    except (ValueError, TypeError, pd.errors.ParserError) as exc:
        raise QuoteFileError(f"quote file {file} cannot be parsed: {exc}") from None
    except Exception as exc:  # pyarrow raises its own types for damaged Parquet files
        raise QuoteFileError(f"quote file {file} cannot be read: {exc}") from None


def _prices(frame: Any, column: str, file: Path) -> IntArray:
    values = frame[column].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise QuoteFileError(f"quote file {file}: row {i + 1} has no valid {column} ({values[i]})")
    negative = values < 0
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise QuoteFileError(f"quote file {file}: row {i + 1} has a negative {column} {values[i]}")
    scaled = values * 1e4
    e4 = np.rint(scaled)
    off = np.abs(scaled - e4) > 1e-3
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise QuoteFileError(
            f"quote file {file}: row {i + 1} {column} {values[i]} has more than 4 decimals"
        )
    result: IntArray = e4.astype(np.int64)
    return result


def _sizes(frame: Any, column: str, file: Path) -> IntArray:
    values = frame[column].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise QuoteFileError(f"quote file {file}: row {i + 1} has an invalid {column} {values[i]}")
    result: IntArray = values.astype(np.int64)
    return result


# -- trade prints --------------------------------------------------------------------------

#: Sale-condition codes (TAQ / CTA-UTP) of prints a resting displayed limit could have
#: traded in: regular (blank, ``@``), intermarket sweep ``F``, odd lot ``I``, automatic
#: execution ``E``, opening/re-opening/closing prints ``O``/``5``/``6``, cross ``X``.
#: Any other code makes the print unfillable: extended hours ``T``/``U``, out of
#: sequence ``Z``/``L``, derivatively priced ``4``, average price ``B``/``W``,
#: contingent/qualified contingent ``V``/``7``, next day/cash/seller ``N``/``C``/``R``,
#: prior reference ``P``, price variation ``H``, and the official open/close reports
#: ``Q``/``M`` (which repeat a print already on the tape).
FILLABLE_CONDITIONS = frozenset(" @FIEO56X")


@dataclass(frozen=True, slots=True)
class TradePrints:
    """Fillable prints of a trades file (columns ``ts_utc_ns, symbol, price, size, cond, corr``).

    Dropped on loading: corrected or cancelled prints (``corr`` != 0), prints with a
    sale condition outside ``FILLABLE_CONDITIONS``, and sub-penny prints at $1 or
    more (midpoint or price-improved trades against hidden or retail flow, which a
    displayed limit on the penny grid would not have met). ``dropped`` counts them.
    """

    ts_ns: IntArray
    price_e4: IntArray
    size: IntArray
    path: Path | None = None
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.ts_ns)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, symbol: str | None = None) -> TradePrints:
        """Load a trades file; with ``symbol``, it must be that stock's (a typed error if not)."""
        import pandas as pd

        file = Path(path)
        if not file.is_file():
            raise QuoteFileError(f"trades file {file} does not exist")
        wanted = ("ts_utc_ns", "price", "size", "cond", "corr")
        try:
            columns = list(pd.read_csv(file, nrows=0).columns)
            missing = [c for c in wanted if c not in columns]
            if missing:
                raise QuoteFileError(
                    f"trades file {file} is missing column(s) {', '.join(missing)} "
                    f"(it has: {', '.join(map(str, columns)) or 'none'})"
                )
            use = list(wanted) + (["symbol"] if "symbol" in columns else [])
            frame = pd.read_csv(
                file,
                usecols=use,
                dtype={
                    "ts_utc_ns": "int64",
                    "price": "float64",
                    "size": "float64",
                    "cond": "string",
                    "corr": "float64",
                    "symbol": "string",
                },
                keep_default_na=False,
                na_values={"price": [""], "size": [""], "corr": [""]},
            )
        except QuoteFileError:
            raise
        except pd.errors.EmptyDataError:
            raise QuoteFileError(f"trades file {file} is empty") from None
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:
            raise QuoteFileError(f"trades file {file} cannot be read: {exc}") from None
        if symbol is not None and "symbol" in frame.columns:
            names = sorted({str(x) for x in frame["symbol"].dropna().unique()})
            if names and names != [symbol]:
                raise QuoteFileError(
                    f"trades file {file} is for {', '.join(names[:5])}, not {symbol}"
                )
        ts = frame["ts_utc_ns"].to_numpy(dtype=np.int64)
        px = frame["price"].to_numpy(dtype=np.float64)
        size = frame["size"].to_numpy(dtype=np.float64)
        corr = frame["corr"].to_numpy(dtype=np.float64)
        conds = frame["cond"].fillna("").to_numpy(dtype=object)
        valid = np.isfinite(px) & (px > 0) & np.isfinite(size) & (size > 0)
        fillable = np.array([set(str(c)) <= FILLABLE_CONDITIONS for c in conds], dtype=np.bool_)
        e4 = np.rint(np.nan_to_num(px) * 1e4).astype(np.int64)
        on_grid = np.abs(np.nan_to_num(px) * 1e4 - e4) <= 1e-3
        penny = (e4 % 100 == 0) | (e4 < 10_000)
        keep = valid & (corr == 0) & fillable & on_grid & penny
        order = np.argsort(ts[keep], kind="stable")
        return cls(
            ts_ns=ts[keep][order],
            price_e4=e4[keep][order],
            size=size[keep][order].astype(np.int64),
            path=file,
            dropped=int(len(ts) - int(keep.sum())),
        )


def merge_trades(quotes: ReplayQuotes, prints: TradePrints) -> ReplayQuotes:
    """``quotes`` with one extra row per print, carrying it as an execution of unknown direction.

    A print row repeats the book in force (the last quote row at or before the
    print; prints before the first quote are dropped) and sorts after the quote
    rows of its instant. The exchange neither publishes it nor lets it replenish
    the displayed size: it only matches the print against resting limits (the
    rule is in ``sim.exchange``). Rows the quote file already carries as
    executions (LOBSTER) are kept as they are.
    """
    n = len(quotes)
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
        path=quotes.path,
    )
    merged.trades_path = prints.path
    return merged


def find_trades_file(quote_file: str | os.PathLike[str]) -> Path | None:
    """The companion trades file of a single-venue quote file, if it sits beside it.

    For ``PREFIX_..._bbo.csv.gz`` or ``PREFIX_..._l1.csv.gz`` (any of the quote
    suffixes), the longest ``PREFIX_trades.<same suffix>`` in the same folder
    whose prefix still names the day (an 8-digit token): e.g.
    ``taq_XXX_20180102_nyse_bbo.csv.gz`` -> ``taq_XXX_20180102_trades.csv.gz``.
    """
    file = Path(quote_file)
    name = file.name
    suffix = next((s for s in (".csv.gz", ".csv") if name.endswith(s)), None)
    if suffix is None:
        return None
    tokens = name[: -len(suffix)].split("_")
    if len(tokens) < 2 or tokens[-1].lower() not in ("bbo", "l1", "quotes", "nbbo"):
        return None
    for k in range(len(tokens) - 1, 0, -1):
        prefix = tokens[:k]
        if not any(t.isdigit() and len(t) == 8 for t in prefix):
            break
        candidate = file.with_name("_".join(prefix) + "_trades" + suffix)
        if candidate.is_file():
            return candidate
    return None


# -- the book ------------------------------------------------------------------------------

SourceFactory = Callable[[str], QuoteSource]


class QuoteBook:
    """One source per symbol, merged by time (a heap with one entry per source).

    Sources are either fixed (replay) or created on demand by ``factory``
    (synthetic: any well-formed symbol not listed in ``unknown_symbols``).
    """

    def __init__(
        self,
        sources: Mapping[str, QuoteSource] | None = None,
        *,
        factory: SourceFactory | None = None,
        unknown_symbols: Iterable[str] = (),
    ) -> None:
        self._factory = factory
        self._unknown = frozenset(normalize_symbol(s) for s in unknown_symbols)
        self._sources: dict[str, QuoteSource] = {}
        self._rank: dict[str, int] = {}
        self._heap: list[tuple[datetime, int, str]] = []
        for symbol, source in (sources or {}).items():
            self._add(normalize_symbol(symbol), source)

    @classmethod
    def synthetic(
        cls,
        start: datetime,
        session_open: datetime,
        seed: int,
        *,
        end: datetime | None = None,
        profiles: Mapping[str, SymbolProfile] | None = None,
        unknown_symbols: Iterable[str] = (),
    ) -> QuoteBook:
        """Synthetic quotes for any symbol asked for, all generated from ``start``."""
        start = _require_aware(start, "start")
        chosen = {normalize_symbol(k): v for k, v in (profiles or {}).items()}

        def make(symbol: str) -> QuoteSource:
            return SyntheticQuotes(
                symbol,
                start=start,
                session_open=session_open,
                seed=seed,
                profile=chosen.get(symbol),
                end=end,
            )

        return cls(factory=make, unknown_symbols=unknown_symbols)

    @classmethod
    def replay(cls, sources: Mapping[str, ReplayQuotes]) -> QuoteBook:
        """Replayed files, keyed by the symbol to trade them under."""
        relabeled: dict[str, QuoteSource] = {}
        for symbol, source in sources.items():
            name = normalize_symbol(symbol)
            relabeled[name] = source if source.symbol == name else source.with_symbol(name)
        return cls(relabeled)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._sources)

    def knows(self, symbol: str) -> bool:
        if symbol in self._sources:
            return True
        if self._factory is None or symbol in self._unknown:
            return False
        try:
            return normalize_symbol(symbol) == symbol
        except InvalidInputError:
            return False

    def source(self, symbol: str, now: datetime | None = None) -> QuoteSource:
        """The source for ``symbol``, created on demand (then skipped to ``now``).

        Raises ``InvalidInputError`` for a symbol the book cannot quote.
        """
        found = self._sources.get(symbol)
        if found is not None:
            return found
        if not self.knows(symbol) or self._factory is None:
            listed = ", ".join(self._sources) or "none"
            raise InvalidInputError(f"no quotes for {symbol} (quoted symbols: {listed})")
        created = self._factory(symbol)
        if now is not None:
            created.skip_to(now)
        self._add(symbol, created)
        return created

    def _add(self, symbol: str, source: QuoteSource) -> None:
        self._sources[symbol] = source
        self._rank[symbol] = len(self._rank)
        when = source.peek_time()
        if when is not None:
            heapq.heappush(self._heap, (when, self._rank[symbol], symbol))

    def _head(self) -> tuple[datetime, int, str] | None:
        """The heap's first entry, re-read from its source if the source was moved since.

        A source may be skipped forward (``skip_to``) while it sits in the book; its
        entry then holds an old time, which is corrected here before anyone sees it.
        """
        heap = self._heap
        while heap:
            when, rank, symbol = heap[0]
            actual = self._sources[symbol].peek_time()
            if actual == when:
                return heap[0]
            heapq.heappop(heap)
            if actual is not None:
                heapq.heappush(heap, (actual, rank, symbol))
        return None

    def peek_time(self, symbol: str | None = None) -> datetime | None:
        """Time of the next row of any source (or of ``symbol``'s)."""
        if symbol is not None:
            source = self._sources.get(symbol)
            return source.peek_time() if source is not None else None
        head = self._head()
        return head[0] if head is not None else None

    def pop(self) -> MarketEvent:
        """The earliest row across sources (ties: the symbol added first)."""
        head = self._head()
        if head is None:
            raise IndexError("the quote book has no rows left")
        heapq.heappop(self._heap)
        _when, rank, symbol = head
        source = self._sources[symbol]
        quote = source.pop()
        execution = source.last_execution
        when = source.peek_time()
        if when is not None:
            heapq.heappush(self._heap, (when, rank, symbol))
        return MarketEvent(quote, execution)
