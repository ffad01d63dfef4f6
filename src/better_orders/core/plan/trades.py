"""A plan's data: its settings, the trades it holds, what it skipped, and why.

Money and quantities are exact ``Decimal``; ``PRECISION`` is the working
precision every planning computation runs at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import ZERO, Side, to_decimal

ONE = Decimal(1)
#: Working precision: wide enough that products and quotients of money and quantities are exact.
PRECISION = 60
DEFAULT_WEIGHT_TOLERANCE = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class PlanSettings:
    """How targets become trades. Fractions (threshold, buffer, margin) are of one, not percent."""

    #: Trade a symbol only when |current - target| is at least this fraction of equity.
    drift_threshold: Decimal = Decimal("0.01")
    #: Orders worth less than this (dollars) are skipped; closes are exempt.
    min_order_value: Decimal = Decimal("1")
    #: Fraction of equity held back as cash.
    cash_buffer: Decimal = Decimal("0")
    #: The broker accepts fractional quantities (on market and limit DAY orders).
    fractional: bool = True
    #: Floor buys and partial sells to whole shares (closes of fractions excepted).
    whole_shares_for_limit: bool = True
    #: Weights may sum to at most 1 + this (rounding in the caller's weights).
    weight_tolerance: Decimal = DEFAULT_WEIGHT_TOLERANCE
    #: Fraction of buying power held back for prices moving between plan and fill.
    buying_power_margin: Decimal = Decimal("0.001")

    def __post_init__(self) -> None:
        bounds: tuple[tuple[str, Decimal | None, bool], ...] = (
            ("drift_threshold", ONE, True),
            ("min_order_value", None, True),
            ("cash_buffer", ONE, False),
            ("weight_tolerance", ONE, False),
            ("buying_power_margin", ONE, False),
        )
        for name, high, high_inclusive in bounds:
            value = to_decimal(getattr(self, name), name)
            too_high = high is not None and (value > high if high_inclusive else value >= high)
            if value < 0 or too_high:
                limit = "" if high is None else f" and {'at most' if high_inclusive else 'below'} 1"
                raise InvalidInputError(f"{name} must be 0 or more{limit}, got {value}")
            object.__setattr__(self, name, value)


@dataclass(frozen=True, slots=True)
class PlannedTrade:
    """One order the executor should place.

    ``requires_fractional`` is set when ``qty`` is not a whole number of shares:
    the executor must use an order type the broker accepts for fractions (a
    market or limit DAY order at Alpaca). Under the whole-share rule only a full
    close of a fractional position carries it, since a close must leave nothing behind.
    """

    symbol: str
    side: Side
    qty: Decimal
    reference_price: Decimal
    notional: Decimal
    reason: str
    close: bool = False
    requires_fractional: bool = False


@dataclass(frozen=True, slots=True)
class SkippedSymbol:
    symbol: str
    reason: str


@dataclass(frozen=True, slots=True)
class BuySizing:
    """Buys sized to a buying power, with what was dropped and why."""

    trades: list[PlannedTrade]
    skipped: list[SkippedSymbol]
    notes: list[str]
    #: Buying power usable after the safety margin.
    budget: Decimal
    #: Factor applied to the buys that are not closes (1 when nothing was short).
    scale: Decimal


@dataclass(frozen=True, slots=True)
class Plan:
    """The trades (sells first, then buys) and everything needed to explain them."""

    trades: list[PlannedTrade]
    portfolio_value: Decimal
    investable_value: Decimal
    cash: Decimal
    buying_power: Decimal
    #: Buying power now plus the reference-price proceeds of the planned sells.
    expected_buying_power: Decimal
    weights: dict[str, Decimal]
    target_values: dict[str, Decimal]
    current_values: dict[str, Decimal]
    #: (current - target) / portfolio value, per symbol: positive = overweight.
    drift: dict[str, Decimal]
    skipped: list[SkippedSymbol]
    notes: list[str]
    #: Shares left untraded by whole-share rounding, per symbol (always positive).
    leftovers: dict[str, Decimal]
    #: Buys at their full size, before buying power was applied: what ``size_buys`` scales.
    desired_buys: list[PlannedTrade]
    #: Whether each symbol's partial trades are floored to whole shares.
    whole_shares: dict[str, bool]
    settings: PlanSettings = field(default_factory=PlanSettings)

    @property
    def sells(self) -> list[PlannedTrade]:
        return [t for t in self.trades if t.side is Side.SELL]

    @property
    def buys(self) -> list[PlannedTrade]:
        return [t for t in self.trades if t.side is Side.BUY]

    @property
    def sell_notional(self) -> Decimal:
        return sum((t.notional for t in self.sells), ZERO)

    @property
    def buy_notional(self) -> Decimal:
        return sum((t.notional for t in self.buys), ZERO)


def order_key(trade: PlannedTrade) -> tuple[Decimal, str]:
    """A plan lists its sells, then its buys, each largest first, then by symbol."""
    return (-trade.notional, trade.symbol)
