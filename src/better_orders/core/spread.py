"""Spread classification: in cents (the seed rule) and relative to the symbol's norm.

Two views of one spread:

* **cents**: TIGHT at or below ``tight_cents``, WIDE above ``wide_cents``. Simple and
  right for $20-$100 ETFs, but a $500 stock is "wide" at any realistic spread.
* **relative**: the spread in bps of mid against the symbol's typical spread
  (TIGHT at or below ``tight_ratio`` x typical, WIDE above ``wide_ratio`` x typical),
  or against fixed bps thresholds when no typical spread is known.

``SpreadRules.rule`` picks which view drives decisions (the *effective* class);
both are always computed so reports can show them side by side.

The typical spread is learnt by ``core.typical_spread.TypicalSpreadTracker`` from
quotes seen so far: a time-weighted median over a trailing window, so a replay
cannot peek ahead.

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

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote, normalize_symbol, to_decimal
from better_orders.core.sanity import InvalidQuoteError, QuoteProblem, check_prices
from better_orders.core.timing import TimingRules

_BPS = Decimal(10_000)
_CENTS = Decimal(100)


class SpreadClass(StrEnum):
    TIGHT = "tight"
    NORMAL = "normal"
    WIDE = "wide"


@dataclass(frozen=True, slots=True)
class SpreadRules:
    """How spreads are judged: the thresholds of both views and of the opening wait.

    Cent amounts are in dollars (0.03 = 3 cents); bps are of the mid. The shell builds
    these from the validated ``spread`` settings (``config.params.spread_rules``).
    """

    tight_cents: Decimal
    wide_cents: Decimal
    rule: Literal["cents", "relative"]
    tight_ratio: Decimal
    wide_ratio: Decimal
    tight_bps: Decimal
    wide_bps: Decimal
    wait_ratio: Decimal
    wait_cap_bps: Decimal
    #: Trailing window over which the typical spread is learnt.
    typical_window_seconds: float


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


def wait_rule(rules: SpreadRules, typical_spread_bps: Decimal | float | None) -> WaitRule:
    """The :class:`WaitRule` for ``rules.rule`` and the symbol's typical spread."""
    if rules.rule == "cents":
        return WaitRule(floor=rules.wide_cents, target_bps=None)
    if typical_spread_bps is None:
        target = rules.wide_bps
    else:
        typical = _exact(typical_spread_bps, "typical spread bps")
        if typical <= 0:
            raise InvalidInputError(f"typical spread must be positive, got {typical} bps")
        target = rules.wait_ratio * typical
    return WaitRule(floor=rules.tight_cents, target_bps=min(target, rules.wait_cap_bps))


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
    rules: SpreadRules,
) -> SpreadClass:
    """Against ``typical_bps`` (ratio thresholds) when known, else the fixed bps thresholds.

    Compared as exact decimals by multiplication (``spread <= ratio x typical``) so a
    spread exactly on a threshold lands on the documented side of it.
    """
    bps = _exact(spread_bps, "spread bps")
    return classify_bps(bps, *relative_bounds(rules, typical_bps))


def relative_bounds(
    rules: SpreadRules, typical_bps: Decimal | float | None
) -> tuple[Decimal, Decimal]:
    """The relative view's (tight, wide) thresholds in bps for a symbol's typical spread."""
    if typical_bps is None:
        return rules.tight_bps, rules.wide_bps
    typical = _exact(typical_bps, "typical spread bps")
    if typical <= 0:
        raise InvalidInputError(f"typical spread must be positive, got {typical} bps")
    return rules.tight_ratio * typical, rules.wide_ratio * typical


def classify_bps(bps: Decimal, tight: Decimal, wide: Decimal) -> SpreadClass:
    """TIGHT at or below ``tight``, WIDE above ``wide`` (``relative_bounds``)."""
    if bps <= tight:
        return SpreadClass.TIGHT
    if bps > wide:
        return SpreadClass.WIDE
    return SpreadClass.NORMAL


def assess_spread(
    quote: Quote,
    rules: SpreadRules,
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
    cents_class = classify_cents(spread, rules.tight_cents, rules.wide_cents)
    relative_class = classify_relative(bps, typical_spread_bps, rules)
    typical: float | None
    if typical_spread_bps is None:
        typical = None
        basis = f"bps thresholds: tight <= {rules.tight_bps}, wide > {rules.wide_bps} bps"
    else:
        typical = float(typical_spread_bps)
        basis = f"typical {typical:.1f} bps ({typical_source})"
    effective = cents_class if rules.rule == "cents" else relative_class
    waiting = wait_rule(rules, typical_spread_bps).worth_waiting(spread, mid)
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
        rule=rules.rule,
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
    symbol: str,
    *,
    spread: SpreadRules,
    timing: TimingRules,
    slippage_budget_bps: Decimal,
    typical_spread_bps: Decimal | float | None = None,
    typical_source: str = "trailing median",
) -> PremarketAssessment:
    """Spread class, a recommended wait after the open, and the symbol's slippage budget.

    Without ``typical_spread_bps`` the relative class uses the bps thresholds.
    """
    sym = normalize_symbol(symbol)
    if quote.symbol != sym:
        raise InvalidInputError(f"quote is for {quote.symbol}, not {sym}")
    assessment = assess_spread(quote, spread, typical_spread_bps, typical_source=typical_source)
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
        slippage_budget_bps=slippage_budget_bps,
        reason=reason,
    )
