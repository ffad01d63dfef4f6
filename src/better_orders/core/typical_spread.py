"""A symbol's typical spread, learnt from the quotes seen so far.

The relative spread rule (``core.spread``) judges a spread against the symbol's
norm. That norm is a time-weighted median over a trailing window of the quotes
fed so far, so a replay cannot peek ahead.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote, normalize_symbol
from better_orders.core.spread import SpreadRules

_BPS = Decimal(10_000)

#: Histogram buckets are geometric: each is 0.5 % wider than the last, so the median
#: is known to within 0.5 % of its value across 0.01 bps .. 10,000 bps.
_BUCKET_RATIO = 1.005
_MIN_BPS = 0.01
_MAX_BPS = 10_000.0
_LOG_RATIO = math.log(_BUCKET_RATIO)
_N_BUCKETS = int(math.log(_MAX_BPS / _MIN_BPS) / _LOG_RATIO) + 1
_TREE_SIZE = 1 << (_N_BUCKETS - 1).bit_length()

_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICRO = timedelta(microseconds=1)


def _micros(ts: datetime) -> int:
    return (ts - (_NAIVE_EPOCH if ts.tzinfo is None else _UTC_EPOCH)) // _MICRO


def _bucket(bps: float) -> int:
    if bps <= _MIN_BPS:
        return 0
    index = int(math.log(bps / _MIN_BPS) / _LOG_RATIO)
    return min(index, _N_BUCKETS - 1)


def _bucket_bounds(index: int) -> tuple[float, float]:
    low = _MIN_BPS * _BUCKET_RATIO**index
    return low, low * _BUCKET_RATIO


class TypicalSpreadTracker:
    """Time-weighted trailing median of one symbol's spread, in bps of mid.

    Each quote's spread counts for as long as it was in force (until the next quote,
    or until ``now`` for the latest one), so a burst of quotes does not outvote a
    spread that sat for minutes. Only the last ``window_seconds`` count.

    How: spreads go into a geometric histogram (0.5 % buckets) held in a Fenwick
    tree of integer microsecond weights, so an update or a query is O(log buckets)
    and exact in its weights; expiry walks a queue of closed intervals from the old
    end, amortised O(1) per quote. The answer is the weighted mean of the spreads
    in the median bucket, so it is within 0.5 % of the exact weighted median.

    Time only moves forward: a quote stamped before the previous one is taken as
    arriving at the previous one's time, and the window never re-grows backwards.
    Quotes that have no usable spread (one-sided, crossed, locked) end the previous
    spread's interval and count for nothing until the next good quote.
    """

    def __init__(
        self,
        window_seconds: float = 1800.0,
        *,
        min_history_seconds: float = 30.0,
        symbol: str | None = None,
    ) -> None:
        if not window_seconds > 0:
            raise InvalidInputError(f"typical spread window must be positive, got {window_seconds}")
        if min_history_seconds < 0:
            raise InvalidInputError(
                f"typical spread minimum history must be >= 0, got {min_history_seconds}"
            )
        self.symbol = normalize_symbol(symbol) if symbol is not None else None
        self.window_seconds = float(window_seconds)
        self._window = round(window_seconds * 1_000_000)
        self._min_history = min(round(min_history_seconds * 1_000_000), self._window)
        self._tree = [0] * (_TREE_SIZE + 1)
        self._weight = [0] * _N_BUCKETS
        self._bps_weight = [0.0] * _N_BUCKETS
        self._total = 0
        #: Closed intervals still (partly) in the window: (start, end, bucket, bps).
        self._closed: deque[tuple[int, int, int, float]] = deque()
        #: The latest good quote's spread: in force from its start until now.
        self._open: tuple[int, int, float] | None = None  # (start, bucket, bps)
        self._last_ts: int | None = None
        self._cutoff: int | None = None  # everything before this has been expired
        self.quotes_seen = 0

    @classmethod
    def from_rules(
        cls,
        rules: SpreadRules,
        symbol: str | None = None,
        *,
        min_history_seconds: float = 30.0,
    ) -> TypicalSpreadTracker:
        return cls(
            rules.typical_window_seconds, min_history_seconds=min_history_seconds, symbol=symbol
        )

    # -- Fenwick tree over bucket weights ------------------------------------------------

    def _add(self, bucket: int, weight: int, bps: float) -> None:
        if weight == 0:
            return
        self._total += weight
        remaining = self._weight[bucket] + weight
        self._weight[bucket] = remaining
        # Reset on empty so float error in the sum cannot outlive the bucket's contents.
        self._bps_weight[bucket] = self._bps_weight[bucket] + weight * bps if remaining else 0.0
        i = bucket + 1
        tree = self._tree
        while i <= _TREE_SIZE:
            tree[i] += weight
            i += i & -i

    def _median_bucket(self, total: int, extra_bucket: int, extra: int) -> int:
        """Smallest bucket whose cumulative weight reaches half of ``total``.

        ``extra`` weight in ``extra_bucket`` (the open interval) is counted without
        being stored, so a query changes nothing.
        """
        target = (total + 1) // 2
        pos = 0
        step = _TREE_SIZE
        tree = self._tree
        while step:
            nxt = pos + step
            if nxt <= _TREE_SIZE:
                # tree[nxt] covers one-based positions pos+1 .. nxt.
                covered = tree[nxt] + (extra if pos <= extra_bucket < nxt else 0)
                if covered < target:
                    pos = nxt
                    target -= covered
            step >>= 1
        return pos  # one-based position pos+1 is zero-based bucket pos

    # -- time ----------------------------------------------------------------------------

    def _expire(self, now: int) -> None:
        cutoff = now - self._window
        if self._cutoff is not None and cutoff <= self._cutoff:
            return
        old = self._cutoff
        self._cutoff = cutoff
        closed = self._closed
        while closed:
            start, end, bucket, bps = closed[0]
            counted_from = start if old is None else max(start, old)
            if end <= cutoff:
                self._add(bucket, -(end - counted_from) if end > counted_from else 0, bps)
                closed.popleft()
                continue
            if cutoff > counted_from:
                self._add(bucket, -(cutoff - counted_from), bps)
            break

    def update(self, quote: Quote) -> None:
        """Feed the next quote (in time order)."""
        if self.symbol is None:
            self.symbol = quote.symbol
        elif quote.symbol != self.symbol:
            raise InvalidInputError(
                f"typical spread tracker for {self.symbol} was fed a {quote.symbol} quote"
            )
        ts = _micros(quote.ts)
        if self._last_ts is not None and ts < self._last_ts:
            ts = self._last_ts
        self._last_ts = ts
        self.quotes_seen += 1
        if self._open is not None:
            start, bucket, bps = self._open
            counted_from = start if self._cutoff is None else max(start, self._cutoff)
            if ts > start:
                self._closed.append((start, ts, bucket, bps))
                if ts > counted_from:
                    self._add(bucket, ts - counted_from, bps)
        self._open = None
        bid, ask = quote.bid, quote.ask
        if bid.is_finite() and ask.is_finite() and 0 < bid < ask:
            bps_value = float((ask - bid) / ((ask + bid) / 2) * _BPS)
            self._open = (ts, _bucket(bps_value), bps_value)
        self._expire(ts)

    def history_seconds(self, now: datetime) -> float:
        """How much quoted time the window holds at ``now``."""
        now_us = self._query_time(now)
        self._expire(now_us)
        return (self._total + self._open_weight(now_us)) / 1_000_000

    def _query_time(self, now: datetime) -> int:
        now_us = _micros(now)
        # Quotes fed are known by definition; a clock a little behind the feed must not
        # make the window run backwards.
        if self._last_ts is not None and now_us < self._last_ts:
            now_us = self._last_ts
        if self._cutoff is not None and now_us - self._window < self._cutoff:
            now_us = self._cutoff + self._window
        return now_us

    def _open_weight(self, now_us: int) -> int:
        if self._open is None:
            return 0
        start = self._open[0]
        counted_from = start if self._cutoff is None else max(start, self._cutoff)
        return max(0, now_us - counted_from)

    def typical_bps(self, now: datetime) -> float | None:
        """The typical spread at ``now`` from quotes fed so far, or None if too little history."""
        now_us = self._query_time(now)
        self._expire(now_us)
        extra = self._open_weight(now_us)
        extra_bucket = self._open[1] if self._open is not None else -1
        total = self._total + extra
        if total <= 0 or total < self._min_history:
            return None
        bucket = self._median_bucket(total, extra_bucket, extra)
        weight = self._weight[bucket]
        bps_weight = self._bps_weight[bucket]
        if bucket == extra_bucket and self._open is not None:
            weight += extra
            bps_weight += extra * self._open[2]
        low, high = _bucket_bounds(bucket)
        if weight <= 0:  # cannot happen with consistent weights; stay inside the bucket
            return low
        value = bps_weight / weight
        # The edge buckets are open-ended; inner ones bound float error in the sum.
        return min(max(value, low), high) if 0 < bucket < _N_BUCKETS - 1 else value
