"""The replay's pre-screen for quote jumps: which rows a ladder holding quotes to
``core.quote_jumps`` must see, so that skipping rows never changes its verdicts.

A ladder's jump watch compares each usable quote with the last one it accepted.
A replay that drops rows changes which quote that is, so the driver may only
drop rows before the first usable row that could be a jump against its own
predecessor (the previous usable row: what the watch would compare it with had
it seen every row) or against the watch's reference now (what it compares the
first row it is shown with). Before that row, every usable row is accepted
whichever of them the ladder sees, and the last one shown becomes the reference
either way. The test is the rule's own arithmetic in floats on the replay's
integer arrays, loosened by a relative slack so that it only ever flags more.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from better_orders.core.model import Quote
from better_orders.core.quote_jumps import JumpRule

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

#: Relative slack of the float test against the rule's exact Decimal arithmetic.
_LOOSE = 1 - 1e-9


# The arrays hold bid + ask, twice the mid: the rule's limit is doubled to match.
def _bps(rule: JumpRule) -> float:
    return float(rule.min_bps) / 1e4


def _spreads(rule: JumpRule) -> float:
    return 2.0 * float(rule.spreads)


class JumpScreen:
    """Flags rows of one file that a jump watch must see (see the module docstring)."""

    def __init__(self, total_e4: FloatArray, spread_e4: FloatArray, unpriced: BoolArray) -> None:
        #: ``bid + ask`` (twice the mid) and the spread, in units of $0.0001.
        self._total = total_e4
        self._spread = spread_e4
        #: Rows ``core.sanity`` refuses whatever the settings (zero, one-sided, crossed, locked).
        self._unpriced = unpriced
        self._usable: dict[float, BoolArray] = {}
        self._flags: dict[tuple[float, float, float], BoolArray] = {}

    def usable(self, absurd_pct_of_mid: float) -> BoolArray:
        """Rows the watch is shown: those that pass the price checks (absurd spread too)."""
        mask = self._usable.get(absurd_pct_of_mid)
        if mask is None:
            absurd = self._spread * 200.0 > absurd_pct_of_mid * self._total
            mask = self._usable[absurd_pct_of_mid] = ~self._unpriced & ~absurd
        return mask

    def _jumps_from_previous(self, rule: JumpRule, absurd_pct_of_mid: float) -> BoolArray:
        key = (float(rule.min_bps), float(rule.spreads), absurd_pct_of_mid)
        flags = self._flags.get(key)
        if flags is None:
            usable = self.usable(absurd_pct_of_mid)
            n = len(usable)
            # The previous usable row of each row (-1: none).
            marks = np.maximum.accumulate(np.where(usable, np.arange(n), -1)) if n else usable
            prev = np.concatenate(([-1], marks[:-1])).astype(np.int64)
            has = prev >= 0
            p = np.where(has, prev, 0)
            total, spread = self._total, self._spread
            moved = np.abs(total - total[p])
            limit = np.maximum(total[p] * _bps(rule), spread[p] * _spreads(rule)) * _LOOSE
            flags = self._flags[key] = usable & has & (moved > limit)
        return flags

    def first_jump(
        self,
        start: int,
        stop: int,
        rule: JumpRule,
        reference: Quote,
        absurd_pct_of_mid: float,
    ) -> int | None:
        """First row in ``[start, stop)`` that may be a jump (None: none can be)."""
        if start >= stop:
            return None
        sl = slice(start, stop)
        ref_total = float((reference.bid + reference.ask).scaleb(4))
        ref_spread = float((reference.ask - reference.bid).scaleb(4))
        limit = max(ref_total * _bps(rule), ref_spread * _spreads(rule)) * _LOOSE
        usable = self.usable(absurd_pct_of_mid)[sl]
        against_ref = usable & (np.abs(self._total[sl] - ref_total) > limit)
        previous = self._jumps_from_previous(rule, absurd_pct_of_mid)[sl]
        hits = np.flatnonzero(against_ref | previous)
        return start + int(hits[0]) if len(hits) else None
