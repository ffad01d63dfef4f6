"""Which rows of a quote file could matter to a ladder: the replay driver's pre-screens.

``tca.driver`` drops rows that cannot change what a ladder does (its module
docstring says when). Each search here answers "the first row in ``[start, stop)``
that might matter" for one situation: a spread wait, a resting limit, a patient
rest. They are loose on purpose: a row flagged that did not matter only costs the
row; a row that mattered and was not flagged would change a replay, which the
skip-versus-row-by-row tests (``tests/test_replay_fastpath.py``) catch.

The searches run on numpy arrays, a chunk at a time (the row that matters is
usually near). For the resting limit's searches each side's columns are
prepared once per file so that a chunk takes a few array operations: a sell's
prices are negated, so one test serves both sides (a sell limit at ``p`` is a buy
limit at ``-p`` on the negated book).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from better_orders.core.ladder import LadderParams
from better_orders.core.model import Quote, Side
from better_orders.core.spread import wait_rule
from better_orders.venues.sim.replay import ReplayQuotes

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
#: Rows a test reads: a slice (a search's chunk, giving a boolean array) or one row
#: (giving one boolean).
Rows = slice | int
RowTest = Callable[[Rows], Any]

#: Relative slack of the array pre-screen (float) against the ladder's exact Decimal rule.
SLACK = 1e-9
#: A price beyond any quoted one (1/10000 dollars): "no such price" in the side columns.
_BEYOND = 1 << 62
#: Rows tested by a search's first chunk; each further chunk is twice the last.
_FIRST_CHUNK = 64


class _SideColumns:
    """One side's view of the book for a resting limit of that side, prices negated for a
    sell (module docstring): for a buy limit at ``p``,

    * ``near``: the near touch (the bid);
    * ``shown``: the size displayed there;
    * ``take``: the lowest price the row offers the order at: the far touch (the ask,
      when there is one) or a print or execution that could meet a resting buy;
    * ``lean_diff``, ``lean_total``: near minus far and near plus far displayed sizes
      (floats, exact), for ``core.patience``'s lean.
    """

    __slots__ = ("lean_diff", "lean_total", "near", "shown", "take")

    def __init__(self, quotes: ReplayQuotes, side: Side, executed: BoolArray, px: IntArray):
        ask_quoted = np.where(quotes.ask_e4 > 0, quotes.ask_e4, _BEYOND)
        if side is Side.BUY:
            self.near: IntArray = quotes.bid_e4
            self.shown: IntArray = quotes.bid_sz
            self.take: IntArray = np.minimum(ask_quoted, np.where(executed, px, _BEYOND))
            near_sz, far_sz = quotes.bid_sz, quotes.ask_sz
        else:
            self.near = -ask_quoted
            self.shown = quotes.ask_sz
            self.take = -np.maximum(quotes.bid_e4, np.where(executed, px, -_BEYOND))
            near_sz, far_sz = quotes.ask_sz, quotes.bid_sz
        near_f, far_f = near_sz.astype(np.float64), far_sz.astype(np.float64)
        self.lean_diff: FloatArray = near_f - far_f
        self.lean_total: FloatArray = near_f + far_f


class RowScreen:
    """The pre-screens of one file's rows (module docstring)."""

    def __init__(self, quotes: ReplayQuotes) -> None:
        self.quotes = quotes
        n = len(quotes)
        bid, ask = quotes.bid_e4, quotes.ask_e4
        # Rows no order can be priced off (the ladder's sanity check refuses them).
        self._unusable: BoolArray = (bid <= 0) | (ask <= 0) | (bid >= ask)
        self._spread_e4 = (ask - bid).astype(np.float64)
        self._sum_e4 = (ask + bid).astype(np.float64)
        if quotes.exec_dir is not None:
            assert quotes.exec_px_e4 is not None and quotes.exec_sz is not None
            live = quotes.exec_sz > 0
            printed = (quotes.exec_dir == 0) & live  # a trades-file print: either side
            self._exec_buy = ((quotes.exec_dir == 1) & live) | printed  # resting buys executed
            self._exec_sell = ((quotes.exec_dir == -1) & live) | printed
            self._exec_px = quotes.exec_px_e4
            self._print: BoolArray = printed
        else:
            self._exec_buy = self._exec_sell = np.zeros(n, dtype=np.bool_)
            self._exec_px = np.zeros(n, dtype=np.int64)
            self._print = np.zeros(n, dtype=np.bool_)
        self._sides: dict[Side, _SideColumns] = {}

    def _side(self, side: Side) -> _SideColumns:
        columns = self._sides.get(side)
        if columns is None:
            executed = self._exec_buy if side is Side.BUY else self._exec_sell
            columns = self._sides[side] = _SideColumns(self.quotes, side, executed, self._exec_px)
        return columns

    def is_print_row(self, row: int) -> bool:
        """Whether ``row`` was merged in from a trades file (it repeats the book in force)."""
        return bool(self._print[row])

    def first_wait_ender(self, start: int, stop: int, params: LadderParams) -> int | None:
        """First row in ``[start, stop)`` that might end a spread wait (None if none can)."""
        rule = wait_rule(params.spread, params.typical_spread_bps)
        floor_e4 = float(rule.floor) * 1e4
        target = None if rule.target_bps is None else float(rule.target_bps)
        absurd_pct = float(params.absurd_pct_of_mid)

        def could_act(sl: slice) -> BoolArray:
            spread = self._spread_e4[sl]
            total = self._sum_e4[sl]
            waits = spread > floor_e4 * (1 + SLACK)
            if target is not None:
                # spread / mid * 1e4 > target  <=>  spread * 2e4 > target * (bid + ask)
                waits &= spread * 2e4 > target * total * (1 + SLACK)
            # An absurdly wide quote is refused by the sanity check: the ladder reacts to it.
            absurd = spread * 200.0 > absurd_pct * total * (1 - SLACK)
            hit: BoolArray = self._unusable[sl] | ~waits | absurd
            return hit

        return first_hit(start, stop, could_act)

    def first_rest_ender(
        self, start: int, stop: int, side: Side, limit: Decimal, max_lean: Decimal
    ) -> int | None:
        """First row in ``[start, stop)`` that might end a patient rest at ``limit`` early
        (``core.patience.rest_ended``: the near touch past the limit, or the book leaning
        towards the far touch by more than ``max_lean``; loose by ``SLACK``)."""
        return first_hit(start, stop, self._rest_test(side, limit, max_lean))

    def first_urgent(
        self, start: int, stop: int, side: Side, arrival: Quote, bound: Decimal, share: Decimal
    ) -> int | None:
        """First row in ``[start, stop)`` whose far touch might end a wait for the budget's
        sake (``core.patience.budget_urgent``: ``share`` of the way from the ``arrival``
        quote's far touch to ``bound``, not beyond it; loose by ``SLACK``)."""
        begin = arrival.far_touch(side)
        if start >= stop or share <= 0 or (bound - begin) * side.sign <= 0:
            return None
        q = self.quotes
        edge = float(begin + (bound - begin) * share) * 1e4
        end = float(bound) * 1e4
        sl = slice(start, stop)
        if side is Side.BUY:
            far = q.ask_e4[sl]
            near: BoolArray = (far >= edge * (1 - SLACK)) & (far <= end * (1 + SLACK))
        else:
            far = q.bid_e4[sl]
            near = (far > 0) & (far <= edge * (1 + SLACK)) & (far >= end * (1 - SLACK))
        hits = np.flatnonzero(near)
        return start + int(hits[0]) if len(hits) else None

    def first_fill(
        self, start: int, stop: int, side: Side, limit: Decimal, ahead: Decimal | None
    ) -> int | None:
        """First row in ``[start, stop)`` that could fill a resting limit or move its queue place.

        ``ahead`` is the order's queue ahead at the venue now (``SimExchange.queue_ahead``;
        None: place unknown). This mirrors ``sim.fills`` (``requeue``, ``_cross``,
        ``on_trade``) as a superset: every row the venue would change the order on,
        in its fill or its ``ahead``, is a hit, so rows before the first hit can be
        dropped. While nothing changes ``ahead`` stays what it is now, which is why
        one value holds for the whole search. Prints on another venue (which fill
        only through the limit) are treated as any print: a superset still. Keep it
        in step with ``sim.fills``; the skip-versus-row-by-row tests fail when the
        two disagree.
        """
        return first_hit(start, stop, self._fill_test(side, limit, ahead))

    def fills_at(self, row: int, side: Side, limit: Decimal, ahead: Decimal | None) -> bool:
        """Whether ``first_fill`` would flag ``row`` itself: the same test on one row, without
        a search (a search that would stop at its first row costs more than the row)."""
        return bool(self._fill_test(side, limit, ahead)(row))

    def ends_rest_at(self, row: int, side: Side, limit: Decimal, max_lean: Decimal) -> bool:
        """Whether ``first_rest_ender`` would flag ``row`` itself (``fills_at``'s reason)."""
        return bool(self._rest_test(side, limit, max_lean)(row))

    def _fill_test(self, side: Side, limit: Decimal, ahead: Decimal | None) -> RowTest:
        """``first_fill``'s test, on a slice of rows or on one row."""
        columns = self._side(side)
        p = _signed_e4(limit, side)
        near, take = columns.near, columns.take

        # In a buy's terms (a sell's prices are negated): ``near > p`` is someone bidding
        # more than our limit, ``take <= p`` a touch or a trade at (or through) it.
        if ahead is None:

            def could_fill(rows: Rows) -> Any:
                # Behind the touch: it returning to (or passing) our price places us; only a
                # trade or a touch through our price can fill us.
                return (near[rows] <= p) | (take[rows] < p)

        elif ahead == 0:

            def could_fill(rows: Rows) -> Any:
                # Alone at our price: losing it, or anything at or through our price.
                return (near[rows] > p) | (take[rows] <= p)

        else:
            queued = int(ahead)

            def could_fill(rows: Rows) -> Any:
                # In the queue: the touch leaving our price, its size falling below what is
                # ahead of us (cancellations), or anything at or through our price.
                return (near[rows] != p) | (columns.shown[rows] < queued) | (take[rows] <= p)

        return could_fill

    def _rest_test(self, side: Side, limit: Decimal, max_lean: Decimal) -> RowTest:
        """``first_rest_ender``'s test, on a slice of rows or on one row."""
        columns = self._side(side)
        p = _signed_e4(limit, side)
        lean = float(max_lean)

        def could_end(rows: Rows) -> Any:
            total = columns.lean_total[rows]
            leaning = (columns.lean_diff[rows] > lean * total - SLACK * total) & (total > 0)
            return (columns.near[rows] > p) | leaning

        return could_end


def _signed_e4(limit: Decimal, side: Side) -> int:
    """``limit`` in 1/10000 dollars, negated for a sell (``_SideColumns``)."""
    p = int(limit.scaleb(4))
    return p if side is Side.BUY else -p


def first_hit(start: int, stop: int, test: Callable[[slice], BoolArray]) -> int | None:
    """First row in ``[start, stop)`` where ``test`` holds, testing chunks of doubling size.

    The row that matters is usually near: a search over the whole remaining file
    would compute its conditions on thousands of rows to find one within a few.
    """
    size = _FIRST_CHUNK
    while start < stop:
        end = min(start + size, stop)
        hits = np.flatnonzero(test(slice(start, end)))
        if len(hits):
            return start + int(hits[0])
        start, size = end, size * 2
    return None
