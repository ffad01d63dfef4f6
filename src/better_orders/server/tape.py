"""The exchange's tape: every symbol's trades and one-minute bars, from its quotes.

The tape reads its own copy of each symbol's quote source from where the exchange
began (the same deterministic synthetic path, or the same replayed rows), so it
holds the same quotes the venue publishes, whether or not anyone watched the
symbol, and catches up to the exchange's clock when asked (``up_to``). That costs
what generating the quotes costs (tens of microseconds a synthetic quote; nights
and closed days are skipped): nothing at wall pace, but the first request for a
symbol after ``/_clock`` has moved days ahead takes on the order of a minute per
trading day.

Where the trades come from:

- a replayed file with executions (LOBSTER rows, or a companion ``*_trades`` file
  read beside the quote file): those trades, at their (shifted) times;
- otherwise (synthetic quotes, or a quote file alone) a trade is derived from each
  quote change that moves the mid, during trading hours (04:00-20:00 New York on
  trading days): the mid moving up means the offer was taken, a trade at the old
  ask for the old ask size; moving down, the bid was hit, at the old bid for its
  size. A quote that only widens or narrows prints nothing.

Trades carry condition ``@`` in the regular session and ``@``, ``T`` (form T) in
extended hours, exchange ``V`` and tape ``B``, like the quotes; ids count up per
symbol. Minute bars (``t`` the minute's start) hold every trade, extended hours
included, as Alpaca's do; longer bars are made from them (``bars``).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from better_orders.core.model import Quote
from better_orders.server.sessions import ExchangeSessions, extended_end, extended_start
from better_orders.venues.sim.source import QuoteSource

ZERO = Decimal(0)
MINUTE = dt.timedelta(minutes=1)
REGULAR: tuple[str, ...] = ("@",)
EXTENDED: tuple[str, ...] = ("@", "T")


@dataclass(frozen=True, slots=True)
class Trade:
    ts: dt.datetime
    price: Decimal
    size: int
    id: int
    conditions: tuple[str, ...]


@dataclass(slots=True)
class Bar:
    """OHLC, volume, trade count and traded value (for the VWAP) of one interval."""

    start: dt.datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int = 0
    trades: int = 0
    value: Decimal = ZERO

    @classmethod
    def of(cls, start: dt.datetime, trade: Trade) -> Bar:
        bar = cls(start, trade.price, trade.price, trade.price, trade.price)
        bar.add(trade)
        return bar

    def add(self, trade: Trade) -> None:
        self.high = max(self.high, trade.price)
        self.low = min(self.low, trade.price)
        self.close = trade.price
        self.volume += trade.size
        self.trades += 1
        self.value += trade.price * trade.size

    def merge(self, later: Bar) -> None:
        self.high = max(self.high, later.high)
        self.low = min(self.low, later.low)
        self.close = later.close
        self.volume += later.volume
        self.trades += later.trades
        self.value += later.value

    @property
    def vwap(self) -> Decimal:
        return self.value / self.volume if self.volume else self.close


def minute_of(ts: dt.datetime) -> dt.datetime:
    return ts.replace(second=0, microsecond=0)


class SymbolTape:
    """One symbol's trades (the latest) and minute bars, read from its own quote source."""

    def __init__(
        self, symbol: str, source: QuoteSource, sessions: ExchangeSessions, *, recorded: bool
    ) -> None:
        self.symbol = symbol
        self.source = source
        self.sessions = sessions
        #: The source carries its own trades (executions); else they are derived.
        self.recorded = recorded
        self.begins = source.peek_time()
        self.last_quote: Quote | None = None
        self.last_trade: Trade | None = None
        self.minutes: list[Bar] = []
        self._starts: list[dt.datetime] = []
        self._count = 0
        #: The trading hours (04:00-20:00 of a trading day) under way or next: [start, end).
        self._hours: tuple[dt.datetime, dt.datetime] | None = None
        #: Called with every new trade (the data stream's ``trades`` channel).
        self.listeners: list[Callable[[Trade], None]] = []

    def up_to(self, now: dt.datetime) -> None:
        """Read the source up to ``now`` (inclusive)."""
        source = self.source
        while (when := source.peek_time()) is not None and when <= now:
            quote = source.pop()
            execution = source.last_execution
            before = self.last_quote
            if execution is not None:
                if not execution.is_print:  # a print row repeats the book in force
                    self.last_quote = quote
                self._print(quote.ts, execution.price, int(execution.size))
                continue
            self.last_quote = quote
            if self.recorded:
                continue
            if before is not None:
                self._derive(before, quote)
            self._skip_closed_hours(quote.ts, now)

    def _skip_closed_hours(self, at: dt.datetime, now: dt.datetime) -> None:
        """Outside trading hours nothing prints: jump the source to the next hours (or now)."""
        hours = self._hours
        if hours is None or at >= hours[1]:
            session = self.sessions.extended_current_or_next(at)
            hours = self._hours = (extended_start(session), extended_end(session))
        if at < hours[0]:
            self.source.skip_to(min(now, hours[0]))
            self.last_quote = None  # no trade is derived across the gap

    def _derive(self, before: Quote, quote: Quote) -> None:
        if before.bid <= 0 or before.ask <= 0 or quote.bid <= 0 or quote.ask <= 0:
            return
        if quote.mid > before.mid:
            self._print(quote.ts, before.ask, int(before.ask_size))
        elif quote.mid < before.mid:
            self._print(quote.ts, before.bid, int(before.bid_size))

    def _print(self, ts: dt.datetime, price: Decimal, size: int) -> None:
        if size <= 0 or price <= 0:
            return
        if self.sessions.regular(ts) is not None:
            conditions = REGULAR
        elif self.sessions.extended(ts) is not None or self.recorded:
            conditions = EXTENDED
        else:
            return
        self._count += 1
        trade = Trade(ts, price, size, self._count, conditions)
        self.last_trade = trade
        start = minute_of(ts)
        if self.minutes and self.minutes[-1].start == start:
            self.minutes[-1].add(trade)
        else:
            self.minutes.append(Bar.of(start, trade))
            self._starts.append(start)
        for listener in self.listeners:
            listener(trade)

    def minute_bars(self, start: dt.datetime, end: dt.datetime) -> list[Bar]:
        """The minute bars starting in ``[start, end]``."""
        lo = bisect.bisect_left(self._starts, start)
        hi = bisect.bisect_right(self._starts, end)
        return self.minutes[lo:hi]

    def latest_bar(self, now: dt.datetime) -> Bar | None:
        """The latest complete minute bar (the minute under way is not a bar yet)."""
        current = minute_of(now)
        for bar in reversed(self.minutes):
            if bar.start < current:
                return bar
        return None


class Tape:
    """The tapes of every symbol, made on first use from ``source_for``."""

    def __init__(
        self,
        source_for: Callable[[str], tuple[QuoteSource, bool] | None],
        sessions: ExchangeSessions,
        now: Callable[[], dt.datetime],
    ) -> None:
        self._source_for = source_for
        self.sessions = sessions
        self.now = now
        self._tapes: dict[str, SymbolTape] = {}

    def of(self, symbol: str) -> SymbolTape | None:
        """``symbol``'s tape, brought up to the exchange's clock (None: no quotes for it)."""
        tape = self._tapes.get(symbol)
        if tape is None:
            found = self._source_for(symbol)
            if found is None:
                return None
            source, recorded = found
            tape = self._tapes[symbol] = SymbolTape(
                symbol, source, self.sessions, recorded=recorded
            )
        tape.up_to(self.now())
        return tape
