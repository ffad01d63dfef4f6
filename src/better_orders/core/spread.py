"""Spread classification: in cents (the seed rule) and relative to the symbol's norm.

Two views of one spread:

* **cents**: TIGHT at or below ``tight_cents``, WIDE above ``wide_cents``. Simple and
  right for $20-$100 ETFs, but a $500 stock is "wide" at any realistic spread.
* **relative**: the spread in bps of mid against the symbol's typical spread
  (TIGHT at or below ``tight_ratio`` x typical, WIDE above ``wide_ratio`` x typical),
  or against fixed bps thresholds when no typical spread is known.

``SpreadSettings.rule`` picks which view drives decisions (the *effective* class);
both are always computed so reports can show them side by side.

The typical spread is learnt by :class:`TypicalSpreadTracker` from quotes seen so
far: a time-weighted median over a trailing window, so a replay cannot peek ahead.

Whether a spread is worth *waiting out* in the opening windows is a third,
separate question (:class:`WaitRule`), because the answer is not "is it wide".
At the open a typical spread learnt from the quotes since the open is itself
inflated (single-venue spreads in 09:30-09:35 run 2-5x the rest of the day's),
and quotes flicker: the spread comes in to a fraction of its opening median
many times a minute. Replays of real opens show that crossing at such a moment
costs a fraction of crossing at once, while resting a passive order meanwhile
is picked off by the moves that fill it. So under the relative rule the ladder
waits (bounded by the timing settings) until the spread is at most
``wait_ratio`` x typical, never wider than ``wait_cap_bps`` (in the first minute
the typical learnt since the open is the opening's own, several times the
day's, and half of it is still a wide spread), with two guards: a spread within
``tight_cents`` is never waited out (a 1-3 cent spread on a $20-$100 ETF cannot
usefully get tighter, and waiting only risks the price), and without a typical
spread ``wide_bps`` stands in for ``wait_ratio`` x typical. Under the cents rule (the
seed design) the wait lasts while the spread is WIDE in cents.

Waiting is side-independent: a buy and a sell decided together cross at the
same moment, so the price's drift during the wait cancels between them. Resting
a passive order during the wait does not have that property (it fills when the
price runs into it and misses when it runs away), and on the real opens it cost
more than it saved.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from better_orders.config.settings import BetterOrdersConfig, SpreadSettings
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote, normalize_symbol, to_decimal
from better_orders.core.sanity import InvalidQuoteError, QuoteProblem, check_prices

_BPS = Decimal(10_000)
_CENTS = Decimal(100)


class SpreadClass(StrEnum):
    TIGHT = "tight"
    NORMAL = "normal"
    WIDE = "wide"


@dataclass(frozen=True, slots=True)
class SpreadAssessment:
    """One quote's spread, classified both ways; ``effective_class`` is the one acted on."""

    symbol: str
    bid: Decimal
    ask: Decimal
    mid: Decimal
    spread: Decimal  # dollars
    spread_cents: Decimal
    spread_bps: float
    cents_class: SpreadClass
    relative_class: SpreadClass
    relative_basis: str
    typical_bps: float | None
    rule: str
    effective_class: SpreadClass

    #: The opening wait continues while this holds (see :class:`WaitRule`).
    worth_waiting: bool = False

    @property
    def is_wide(self) -> bool:
        return self.effective_class is SpreadClass.WIDE


@dataclass(frozen=True, slots=True)
class WaitRule:
    """When the ladder waits out a spread in the opening windows (module docstring).

    A spread is worth waiting out while it is wider than ``floor`` dollars and,
    when ``target_bps`` is set, also wider than ``target_bps`` of the mid. The
    comparison is exact (Decimal cross-multiplication). The two numbers are
    exposed so a replay can pre-screen many quotes at once with arrays; the
    ladder itself always decides with :meth:`worth_waiting`.
    """

    floor: Decimal
    target_bps: Decimal | None

    def worth_waiting(self, spread: Decimal, mid: Decimal) -> bool:
        if spread <= self.floor:
            return False
        if self.target_bps is None:
            return True
        return spread * _BPS > self.target_bps * mid


def wait_rule(settings: SpreadSettings, typical_spread_bps: Decimal | float | None) -> WaitRule:
    """The :class:`WaitRule` for ``settings.rule`` and the symbol's typical spread."""
    if settings.rule == "cents":
        return WaitRule(floor=settings.wide_cents, target_bps=None)
    if typical_spread_bps is None:
        target = settings.wide_bps
    else:
        typical = _exact(typical_spread_bps, "typical spread bps")
        if typical <= 0:
            raise InvalidInputError(f"typical spread must be positive, got {typical} bps")
        target = settings.wait_ratio * typical
    return WaitRule(floor=settings.tight_cents, target_bps=min(target, settings.wait_cap_bps))


def classify_cents(spread: Decimal, tight_cents: Decimal, wide_cents: Decimal) -> SpreadClass:
    """``spread``, ``tight_cents`` and ``wide_cents`` are all in dollars (0.03 = 3 cents)."""
    if spread <= tight_cents:
        return SpreadClass.TIGHT
    if spread > wide_cents:
        return SpreadClass.WIDE
    return SpreadClass.NORMAL


def _exact(value: Decimal | float, what: str) -> Decimal:
    return value if isinstance(value, Decimal) else to_decimal(value, what)


def classify_relative(
    spread_bps: Decimal | float,
    typical_bps: Decimal | float | None,
    settings: SpreadSettings,
) -> SpreadClass:
    """Against ``typical_bps`` (ratio thresholds) when known, else the fixed bps thresholds.

    Compared as exact decimals by multiplication (``spread <= ratio x typical``) so a
    spread exactly on a threshold lands on the documented side of it.
    """
    bps = _exact(spread_bps, "spread bps")
    if typical_bps is None:
        tight, wide = settings.tight_bps, settings.wide_bps
    else:
        typical = _exact(typical_bps, "typical spread bps")
        if typical <= 0:
            raise InvalidInputError(f"typical spread must be positive, got {typical} bps")
        tight, wide = settings.tight_ratio * typical, settings.wide_ratio * typical
    if bps <= tight:
        return SpreadClass.TIGHT
    if bps > wide:
        return SpreadClass.WIDE
    return SpreadClass.NORMAL


def assess_spread(
    quote: Quote,
    settings: SpreadSettings,
    typical_spread_bps: Decimal | float | None = None,
    *,
    typical_source: str = "trailing median",
) -> SpreadAssessment:
    """Classify ``quote``'s spread. Raises ``InvalidQuoteError`` for a quote with no spread.

    A locked or absurdly wide quote is still classified (TIGHT, WIDE): whether it
    may be traded on is ``core.sanity``'s call, not this one's.
    """
    verdict = check_prices(quote)
    if not verdict.ok and verdict.problem is not QuoteProblem.LOCKED:
        assert verdict.problem is not None
        raise InvalidQuoteError(verdict.message, problem=verdict.problem, symbol=quote.symbol)
    spread = quote.ask - quote.bid
    mid = quote.mid
    bps = spread / mid * _BPS
    cents_class = classify_cents(spread, settings.tight_cents, settings.wide_cents)
    relative_class = classify_relative(bps, typical_spread_bps, settings)
    typical: float | None
    if typical_spread_bps is None:
        typical = None
        basis = f"bps thresholds: tight <= {settings.tight_bps}, wide > {settings.wide_bps} bps"
    else:
        typical = float(typical_spread_bps)
        basis = f"typical {typical:.1f} bps ({typical_source})"
    effective = cents_class if settings.rule == "cents" else relative_class
    waiting = wait_rule(settings, typical_spread_bps).worth_waiting(spread, mid)
    return SpreadAssessment(
        symbol=quote.symbol,
        bid=quote.bid,
        ask=quote.ask,
        mid=mid,
        spread=spread,
        spread_cents=spread * _CENTS,
        spread_bps=float(bps),
        cents_class=cents_class,
        relative_class=relative_class,
        relative_basis=basis,
        typical_bps=typical,
        rule=settings.rule,
        effective_class=effective,
        worth_waiting=waiting,
    )


# -- pre-market --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PremarketAssessment:
    """Step 0 of the ladder: how the book looks before the open, and what to do about it."""

    symbol: str
    spread: SpreadAssessment
    recommended_wait_seconds: float
    slippage_budget_bps: Decimal
    reason: str


def assess_premarket(
    quote: Quote,
    config: BetterOrdersConfig,
    symbol: str,
    typical_spread_bps: Decimal | float | None = None,
    *,
    typical_source: str = "trailing median",
) -> PremarketAssessment:
    """Spread class, a recommended wait after the open, and the symbol's slippage budget.

    Without ``typical_spread_bps`` the configured typical spread for the symbol is
    used, if there is one; otherwise the relative class uses the bps thresholds.
    """
    sym = normalize_symbol(symbol)
    if quote.symbol != sym:
        raise InvalidInputError(f"quote is for {quote.symbol}, not {sym}")
    source = typical_source
    if typical_spread_bps is None:
        typical_spread_bps = config.typical_spread_bps(sym)
        source = "configured"
    assessment = assess_spread(quote, config.spread, typical_spread_bps, typical_source=source)
    timing = config.timing
    waits = {
        SpreadClass.WIDE: timing.recommend_wait_wide_seconds,
        SpreadClass.NORMAL: timing.recommend_wait_normal_seconds,
        SpreadClass.TIGHT: timing.recommend_wait_tight_seconds,
    }
    wait = waits[assessment.effective_class]
    reason = (
        f"{sym} spread {assessment.spread_cents:.2f}c ({assessment.spread_bps:.1f} bps) is "
        f"{assessment.effective_class.value} by the {assessment.rule} rule"
    )
    reason += f"; wait {wait:g} s after the open" if wait > 0 else "; no wait needed"
    return PremarketAssessment(
        symbol=sym,
        spread=assessment,
        recommended_wait_seconds=wait,
        slippage_budget_bps=config.slippage_budget_bps(sym),
        reason=reason,
    )


# -- typical spread ----------------------------------------------------------------------

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
    def from_settings(
        cls,
        settings: SpreadSettings,
        symbol: str | None = None,
        *,
        min_history_seconds: float = 30.0,
    ) -> TypicalSpreadTracker:
        return cls(
            settings.typical_window_seconds, min_history_seconds=min_history_seconds, symbol=symbol
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
