"""The regime of a symbol-day: wide at the open, one tick wide all day, or neither.

Two regimes need different plays (see the design guide), so results are shown
and pooled per regime:

* **wide-open** - the median spread over 09:30-09:35 is at least
  ``WIDE_OPEN_RATIO`` times the day's median spread;
* **tick-bound** - otherwise, the spread is one tick (or locked) for at least
  ``TICK_BOUND_SHARE`` of the regular session;
* **other** - neither.

Spreads are sampled once a second over the regular session (the quote in force
at each second), so a burst of updates weighs no more than a quiet second: the
medians are time-weighted. The classification looks at the whole day the file
covers (a file that ends early is judged on what it holds); it labels results and is
never an input to a policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from better_orders.core.market_calendar import Session
from better_orders.venues.sim.files import to_ns
from better_orders.venues.sim.replay import ReplayQuotes

#: Wide-open when the open's median spread is at least this multiple of the day's.
WIDE_OPEN_RATIO = 2.0
#: Tick-bound when at least this share of the session's seconds is one tick wide or locked.
TICK_BOUND_SHARE = 0.95
#: The open's window, from the session's open.
OPEN_WINDOW = timedelta(minutes=5)
_SECOND_NS = 1_000_000_000


class Regime(StrEnum):
    WIDE_OPEN = "wide-open"
    TICK_BOUND = "tick-bound"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class RegimeInfo:
    """A symbol-day's regime and the figures it was decided on (spreads in dollars)."""

    regime: Regime
    open_median_spread: Decimal | None
    day_median_spread: Decimal | None
    one_tick_share: float

    @property
    def open_ratio(self) -> float | None:
        """The open's median spread over the day's (None without quotes in both)."""
        if not self.open_median_spread or not self.day_median_spread:
            return None
        return float(self.open_median_spread / self.day_median_spread)

    def as_dict(self) -> dict[str, object]:
        ratio = self.open_ratio
        return {
            "regime": self.regime.value,
            "open_median_spread": self.open_median_spread,
            "day_median_spread": self.day_median_spread,
            "open_ratio": None if ratio is None else round(ratio, 3),
            "one_tick_share": round(self.one_tick_share, 4),
        }


def _median_dollars(spreads_e4: npt.NDArray[np.int64]) -> Decimal | None:
    if len(spreads_e4) == 0:
        return None
    e4 = round(float(np.median(spreads_e4)))
    return Decimal(e4 // 100).scaleb(-2) if e4 % 100 == 0 else Decimal(e4).scaleb(-4)


def classify(quotes: ReplayQuotes, session: Session) -> RegimeInfo:
    """The regime of ``quotes`` over ``session`` (module docstring)."""
    # Only the seconds the file covers: past its last quote it knows nothing of the day.
    start = to_ns(session.open)
    end = min(to_ns(session.close), int(quotes.ts_ns[-1]) + 1) if len(quotes) else start
    grid = np.arange(start, end, _SECOND_NS, dtype=np.int64)
    rows = np.searchsorted(quotes.ts_ns, grid, side="right") - 1
    seen = rows >= 0
    rows, grid = rows[seen], grid[seen]
    bid, ask = quotes.bid_e4[rows], quotes.ask_e4[rows]
    valid = (bid > 0) & (ask > 0) & (ask >= bid)
    spread = (ask - bid)[valid]
    at = grid[valid]
    # One tick is $0.01 at or above $1 and $0.0001 below (``core.ticks``).
    tick = np.where(bid[valid] + ask[valid] >= 20_000, 100, 1)
    one_tick = float(np.mean(spread <= tick)) if len(spread) else 0.0
    opening = spread[at < start + int(OPEN_WINDOW.total_seconds()) * _SECOND_NS]
    info = RegimeInfo(Regime.OTHER, _median_dollars(opening), _median_dollars(spread), one_tick)
    ratio = info.open_ratio
    if ratio is not None and ratio >= WIDE_OPEN_RATIO:
        regime = Regime.WIDE_OPEN
    elif len(spread) and one_tick >= TICK_BOUND_SHARE:
        regime = Regime.TICK_BOUND
    else:
        return info
    return RegimeInfo(regime, info.open_median_spread, info.day_median_spread, one_tick)
