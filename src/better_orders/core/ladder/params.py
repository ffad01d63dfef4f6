"""What a ladder is given: the parent order, and its parameters resolved for one symbol.

Plain values only: the shell resolves the configuration for a symbol
(``better_orders.config.params.ladder_params``), so the ladder never sees settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from better_orders.core.model import Side
from better_orders.core.patience import NO_PATIENCE, PatienceRules
from better_orders.core.quote_jumps import JumpRule
from better_orders.core.spread import SpreadRules
from better_orders.core.timing import TimingRules


@dataclass(frozen=True, slots=True)
class LadderParams:
    """Everything the ladder needs from configuration, resolved for one symbol.

    ``spread`` and ``timing`` are the rules the spread and timing code take; the other
    fields are the ladder's own steps.
    """

    routed_better: bool
    entry: str  # "aggressive" | "passive" | "market"
    budget_bps: Decimal
    aggressive_ticks: int
    max_repegs: int
    repeg_extra_ticks: int
    timeout_wait_for_spreads: timedelta
    timeout_normal: timedelta
    timeout_standard: timedelta
    fallback: str  # "market" | "none"
    protection: str  # "limit_at_bound" | "stop"
    protection_timeout: timedelta
    cancel_timeout: timedelta
    quote_timeout: timedelta
    max_quote_age_seconds: float
    absurd_pct_of_mid: Decimal
    wait_again: bool
    hold: timedelta
    rest_fraction: Decimal
    typical_spread_bps: float | None
    spread: SpreadRules
    timing: TimingRules
    #: Passive entry: each attempt's limit as a share of the spread (``pricing.walk_limit``).
    walk_fractions: tuple[Decimal, ...] = ()
    #: When the market runs beyond the budget: "stop" (report what is left) or "finish"
    #: (a market order for the rest, at any price).
    on_budget: str = "stop"
    #: Quotes that jump far from the book are held until confirmed (None: never held).
    jumps: JumpRule | None = None
    #: Resting before crossing when the ladder would cross at once (``core.patience``).
    patience: PatienceRules = NO_PATIENCE
    #: The mid's recent volatility, bps per sqrt second, from quotes up to the decision
    #: (None: unknown; the patient rest then has no drift bound).
    volatility_bps: float | None = None


@dataclass(frozen=True, slots=True)
class ParentOrder:
    symbol: str
    side: Side
    qty: Decimal
