"""Quote jumps: a quote whose mid leaps far beyond what the book just showed is held as suspect
until later quotes confirm it.

A bad print on a feed (a one-row 10x spike, a fat-fingered side) passes every
check of ``core.sanity``: it is two-sided, not crossed, not absurdly wide. What
gives it away is its distance from the book a moment before. The reference is
the last quote accepted; a new quote is a jump when its mid is further from the
reference mid than the larger of ``min_bps`` of it and ``spreads`` times the
reference's spread (the spread is the book's own measure of how far the price
moves between quotes: on the shared corpus no quote-to-quote move exceeds 15 bps
or 16 spreads, while a 10x spike is 90,000 bps).

A jump is held until ``confirm_quotes`` later quotes stand within the same
distance of it (the price really moved: it becomes the reference), and dropped
as soon as a quote returns near the reference (it was a spike). Anything else
starts a new suspect.

The verdict depends on the reference quote alone, not on a longer history, on
purpose: a replay may drop quotes that cannot change what the ladder does, and
the verdicts must be the same with or without them (``tca.driver`` flags every
row that moves beyond the rule's distance from its predecessor or from the
reference as one the ladder must see).

Pure: plain values in, a verdict out; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from better_orders.core.model import Quote

_BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class JumpRule:
    """When a quote's mid is a jump, and how many later quotes confirm one (0: never held)."""

    min_bps: Decimal
    spreads: Decimal
    confirm_quotes: int

    @property
    def on(self) -> bool:
        return self.confirm_quotes > 0

    def limit(self, reference: Quote) -> Decimal:
        """The largest move of the mid from ``reference`` that is not a jump, in dollars."""
        return self.limit_at(reference, reference.mid)

    def limit_at(self, reference: Quote, mid: Decimal) -> Decimal:
        """``limit(reference)``, ``mid`` being ``reference``'s mid."""
        return max(mid * self.min_bps / _BPS, (reference.ask - reference.bid) * self.spreads)

    def jumped(self, reference: Quote, quote: Quote) -> bool:
        return abs(quote.mid - reference.mid) > self.limit(reference)


@dataclass(frozen=True, slots=True)
class JumpNews:
    """What one quote did to a ``JumpWatch``: held (a new suspect), confirmed, or dropped."""

    held: bool = False
    confirmed: bool = False
    dropped: bool = False
    #: The move that made (or makes) the quote a suspect, in bps of the reference mid.
    moved_bps: float = 0.0


#: The news of a quote that changed nothing (the common case; shared, compare by identity).
QUIET = JumpNews()


@dataclass(slots=True)
class JumpWatch:
    """The reference quote and the suspect held against it, if any (one per ladder)."""

    rule: JumpRule
    reference: Quote | None = None
    suspect: Quote | None = None
    confirmations: int = 0
    #: ``reference`` as last measured (its mid, and its limit once asked for): a watch
    #: compares every quote with the same reference until it moves on.
    _measured: Quote | None = field(default=None, repr=False, compare=False)
    _mid: Decimal = field(default=Decimal(0), repr=False, compare=False)
    _limit: Decimal | None = field(default=None, repr=False, compare=False)

    @property
    def holding(self) -> bool:
        return self.suspect is not None

    def _jumped(self, reference: Quote, quote: Quote, mid: Decimal) -> bool:
        """``rule.jumped(reference, quote)``, ``mid`` being ``quote``'s."""
        if self._measured is not reference:
            self._measured, self._mid, self._limit = reference, reference.mid, None
        limit = self._limit
        if limit is None:
            limit = self._limit = self.rule.limit_at(reference, self._mid)
        return abs(mid - self._mid) > limit

    def _accept(self, quote: Quote, mid: Decimal) -> None:
        """``quote`` (whose mid is ``mid``) is the reference from now on."""
        self.reference = self._measured = quote
        self._mid, self._limit = mid, None

    def see(self, quote: Quote) -> JumpNews:
        """Take ``quote`` (already past ``core.sanity``'s price checks)."""
        reference = self.reference
        rule = self.rule
        if reference is None or not rule.on:
            self.reference = quote
            return QUIET
        suspect = self.suspect
        if suspect is None:
            mid = quote.mid
            if self._jumped(reference, quote, mid):
                self.suspect, self.confirmations = quote, 0
                return JumpNews(held=True, moved_bps=_moved_bps(reference, quote))
            self._accept(quote, mid)
            return QUIET
        if not rule.jumped(reference, quote):
            self.reference, self.suspect = quote, None  # back near the reference: a spike
            return JumpNews(dropped=True, moved_bps=_moved_bps(reference, suspect))
        if rule.jumped(suspect, quote):
            self.suspect, self.confirmations = quote, 0  # somewhere else again
            return JumpNews(held=True, moved_bps=_moved_bps(reference, quote))
        self.confirmations += 1
        if self.confirmations >= rule.confirm_quotes:
            self.reference, self.suspect = quote, None
            return JumpNews(confirmed=True, moved_bps=_moved_bps(reference, quote))
        self.suspect = quote
        return QUIET


def _moved_bps(reference: Quote, quote: Quote) -> float:
    return float(abs(quote.mid - reference.mid) / reference.mid * _BPS)
