"""Synthetic quotes: a deterministic top of book for any symbol, calibrated per symbol class.

Calibration (from the real files in the shared data folder, whose single-venue
spreads for $158-$585 stocks are 2-5x wider in 09:30-09:35 than in 10:00-16:00,
and whose displayed sizes are mostly 100-400 shares): the spread of a symbol
class is its base spread (1 tick for high-volume ETFs, 1-2 ticks for leveraged
ETFs, a few cents for stocks above $150) times an opening factor drawn per day
in 3-8x for the first minute, decaying back to ~1x by open + 5 min; pre-market
quotes are wider still, thinner and slower.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from better_orders.config.settings import BetterOrdersConfig, SymbolClass
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote, normalize_symbol
from better_orders.core.ticks import tick_size
from better_orders.venues.sim.source import Execution, require_aware

NEW_YORK = ZoneInfo("America/New_York")

_ONE_US = timedelta(microseconds=1)
_SESSION_SECONDS = 23_400.0  # 09:30-16:00, for turning a daily volatility into per-second


def stable_hash(text: str) -> int:
    """A 64-bit hash that is the same in every process (unlike the salted built-in ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


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
        self.start = require_aware(start, "start")
        self.session_open = require_aware(session_open, "session open")
        self.end = require_aware(end, "end") if end is not None else None
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
        target = (require_aware(when, "time") - self.start) // _ONE_US
        while self._fill_buffer(2) and self._buffer[1].offset_us <= target:
            self._buffer.popleft()
