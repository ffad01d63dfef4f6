"""What an evaluation decides on: the quote file, when, how much, and the typical spread.

The typical spread at a decision is learnt from the file's quotes up to that
decision and no later (``learned_typical_spreads``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from pathlib import Path

import numpy as np

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import NEW_YORK, MarketCalendar, Session, default_calendar
from better_orders.core.typical_spread import TypicalSpreadTracker
from better_orders.core.volatility import realized_volatility_bps
from better_orders.data.dataset import find_trades_file
from better_orders.data.symbol_day import SymbolDay
from better_orders.venues.sim.files import from_ns
from better_orders.venues.sim.replay import ReplayQuotes


@dataclass(frozen=True, slots=True)
class QuoteFile:
    """A loaded quote file and the label results carry for it."""

    label: str
    quotes: ReplayQuotes

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        symbol: str | None = None,
        trades: str | Path | None = None,
        find_trades: bool = False,
    ) -> QuoteFile:
        """Load a quote file or a dataset's symbol-day, with ``trades`` (or, with
        ``find_trades``, the trades beside it, ``data.dataset.find_trades_file``) merged
        in as executions. A symbol-day is labelled ``SYMBOL YYYY-MM-DD``."""
        file = Path(path)
        if trades is None and find_trades:
            trades = find_trades_file(file)
        day = SymbolDay.from_path(file)
        label = str(day) if day is not None else file.name
        return cls(label, ReplayQuotes.from_file(file, symbol=symbol, trades=trades))

    @property
    def trades(self) -> Path | None:
        """The trades file whose prints the replay uses as executions, if any."""
        return self.quotes.trades_path

    def session(self, calendar: MarketCalendar | None = None) -> Session:
        """The regular session of the file's first day."""
        cal = calendar or default_calendar()
        first = from_ns(int(self.quotes.ts_ns[0]))
        session = cal.session_at(first)
        if session is None:
            raise InvalidInputError(
                f"quote file {self.label} starts on {first.date()}, which has no NYSE session"
            )
        return session

    def session_open(self, calendar: MarketCalendar | None = None) -> datetime:
        """The regular open of the file's first day (09:30 New York on a normal day)."""
        return self.session(calendar).open


@dataclass(frozen=True, slots=True)
class DaySource:
    """A symbol-day's quote file and how to load it: what a worker is sent instead of quotes."""

    path: Path
    trades: Path | None = None
    find_trades: bool = True
    symbol: str | None = None

    def load(self) -> QuoteFile:
        return QuoteFile.load(
            self.path, symbol=self.symbol, trades=self.trades, find_trades=self.find_trades
        )

    def resolved(self) -> DaySource:
        """The same symbol-day with absolute paths and its trades file found (for a worker
        whose folder may not be this process's)."""
        trades = self.trades
        if trades is None and self.find_trades:
            trades = find_trades_file(self.path)
        return DaySource(
            self.path.resolve(),
            None if trades is None else trades.resolve(),
            find_trades=False,
            symbol=self.symbol,
        )


#: The most decision times a symbol-day may have. The times, and a record per policy and
#: side at each, are all held in memory: a step of a microsecond over five minutes would be
#: 300 million of them. 100,000 is a whole session every quarter of a second.
MAX_DECISIONS_PER_DAY = 100_000


def _clock_us(value: dt_time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond


def decision_count(start: dt_time, end: dt_time, every: timedelta) -> int:
    """How many decision times ``start <= t < end`` every ``every`` asks for on a day, before
    the session and the file's quotes cut them short (``decision_times``)."""
    step = every // timedelta(microseconds=1)
    return max(0, -(-(_clock_us(end) - _clock_us(start)) // max(step, 1)))


def check_decision_grid(start: dt_time, end: dt_time, every: timedelta) -> int:
    """The number of decision times the window asks for per symbol-day (``decision_count``),
    or ``InvalidInputError`` when it asks for none or more than ``MAX_DECISIONS_PER_DAY``:
    checked from the options alone, before any quote is read."""
    if every < timedelta(microseconds=1):
        raise InvalidInputError(
            f"the decision interval must be at least 1 microsecond, got {every}"
        )
    if end <= start:
        raise InvalidInputError(f"--to {end} must be after --from {start}")
    count = decision_count(start, end, every)
    if count > MAX_DECISIONS_PER_DAY:
        span_us = _clock_us(end) - _clock_us(start)
        smallest = timedelta(microseconds=-(-span_us // MAX_DECISIONS_PER_DAY))
        raise InvalidInputError(
            f"--every {format_duration(every)} from {start:%H:%M:%S} to {end:%H:%M:%S} asks "
            f"for {count:,} decisions per symbol-day, more than the {MAX_DECISIONS_PER_DAY:,} "
            f"allowed: use --every {format_duration(smallest)} or more"
        )
    return count


def format_duration(value: timedelta) -> str:
    """``value`` the way ``--every`` and ``--latency`` take it, in whole units: ``7us``,
    ``1500ms``, ``3s``."""
    us = value // timedelta(microseconds=1)
    if us % 1000:
        return f"{us}us"
    if us % 1_000_000:
        return f"{us // 1000}ms"
    return f"{us // 1_000_000}s"


def decision_times(
    file: QuoteFile,
    start: dt_time,
    end: dt_time,
    every: timedelta,
    calendar: MarketCalendar | None = None,
) -> list[datetime]:
    """Decision instants ``start <= t < end`` (New York wall clock) on the file's day, up
    to the session's close and the file's last quote (a later decision would trade on a
    quote the file no longer follows). One before the first quote waits for it.

    ``InvalidInputError`` when none is left (the window misses the file or the session),
    or the window asks for none or too many (``check_decision_grid``).
    """
    check_decision_grid(start, end, every)
    session = file.session(calendar)
    day = session.open.astimezone(NEW_YORK).date()
    first = datetime.combine(day, start, NEW_YORK).astimezone(UTC)
    last = datetime.combine(day, end, NEW_YORK).astimezone(UTC)
    quotes = file.quotes
    if len(quotes) == 0:
        raise InvalidInputError(f"{file.label}: no quotes")
    last_day = from_ns(int(quotes.ts_ns[-1])).astimezone(NEW_YORK).date()
    if last_day != day:
        raise InvalidInputError(
            f"{file.label} holds quotes from {day} to {last_day}: a replay is of one day; "
            "split it into symbol-days with better-orders data import"
        )
    end_of_quotes = from_ns(int(quotes.ts_ns[-1])) + timedelta(microseconds=1)
    covered_to = min(last, end_of_quotes, session.close)
    times = []
    t = first
    while t < covered_to:
        times.append(t)
        t += every
    if not times or last <= from_ns(int(quotes.ts_ns[0])):
        raise InvalidInputError(
            f"{file.label}: no decision between --from {start:%H:%M} and --to {end:%H:%M} ET "
            f"falls within its quotes ({_et(from_ns(int(quotes.ts_ns[0])))} to "
            f"{_et(from_ns(int(quotes.ts_ns[-1])))} ET) and the session (to "
            f"{_et(session.close)} ET)"
        )
    return times


def _et(value: datetime) -> str:
    return f"{value.astimezone(NEW_YORK):%H:%M:%S}"


def uses_typical_spread(config: BetterOrdersConfig) -> bool:
    """Whether a policy's decisions read the typical spread.

    Only the relative spread rule judges spreads (and the wait) against it; under
    the cents rule it would only colour the report's relative class, so an
    evaluation does not learn it (the records carry none).
    """
    return config.spread.rule == "relative"


def learned_typical_spreads(
    quotes: ReplayQuotes, times: Sequence[datetime], window_seconds: float
) -> list[float | None]:
    """The typical spread (bps) at each of ``times`` from the quotes before it, and no later.

    A time-weighted trailing median (``TypicalSpreadTracker``) fed every row up to
    and including the quote in force at the decision. No minimum history: at the
    open the first seconds of quotes are the best (and only) evidence there is,
    and they are the widest of the day, so the wait they imply errs on the side
    of trading.
    """
    tracker = TypicalSpreadTracker(window_seconds, min_history_seconds=0.0, symbol=quotes.symbol)
    order = sorted(range(len(times)), key=lambda k: times[k])
    out: list[float | None] = [None] * len(times)
    row = 0
    n = len(quotes)
    for k in order:
        t = times[k]
        last = quotes.index_at(t)
        while row <= last and row < n:
            tracker.update(quotes.quote_at(row))
            row += 1
        out[k] = tracker.typical_bps(t) if row > 0 else None
    return out


#: The mid is sampled this often for the recent volatility.
VOLATILITY_STEP_SECONDS = 1.0


def learned_volatilities(
    quotes: ReplayQuotes, times: Sequence[datetime], window_seconds: float
) -> list[float | None]:
    """The mid's realised volatility (bps per sqrt second) over the ``window_seconds`` before
    each of ``times``, and no later (``core.volatility.realized_volatility_bps``).

    The mid is sampled every ``VOLATILITY_STEP_SECONDS`` from the quote in force at each
    step; steps with no two-sided quote are left out. Before the open the window reaches
    into the pre-market quotes, as a live trader's would.
    """
    step_us = round(VOLATILITY_STEP_SECONDS * 1_000_000)
    steps = max(1, int(window_seconds / VOLATILITY_STEP_SECONDS))
    offsets = np.arange(-steps, 1, dtype=np.int64) * step_us
    bid, ask = quotes.bid_e4, quotes.ask_e4
    out: list[float | None] = []
    for t in times:
        end_us = int((t - _EPOCH) / timedelta(microseconds=1))
        rows = np.searchsorted(quotes.ts_us, end_us + offsets, side="right") - 1
        rows = rows[rows >= 0]
        b, a = bid[rows], ask[rows]
        good = (b > 0) & (a > b)
        mids = ((b[good] + a[good]) / 2.0).tolist()
        out.append(realized_volatility_bps(mids, VOLATILITY_STEP_SECONDS))
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Sizing:
    """Parent quantity per decision: a fixed number of shares, or a dollar amount at the mid."""

    qty: Decimal | None = Decimal(100)
    notional: Decimal | None = None

    def quantity(self, quotes: ReplayQuotes, decision: datetime) -> Decimal:
        if self.notional is None:
            assert self.qty is not None
            return self.qty
        row = max(quotes.index_at(decision), 0)
        mid = Decimal(int(quotes.bid_e4[row]) + int(quotes.ask_e4[row])) / Decimal(20_000)
        shares = (self.notional / mid).to_integral_value(rounding="ROUND_FLOOR") if mid > 0 else 0
        if shares < 1:
            raise InvalidInputError(
                f"--notional {self.notional} buys no whole {quotes.symbol} share at mid {mid}"
            )
        return Decimal(shares)
