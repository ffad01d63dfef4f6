"""How the planner words amounts in the notes and reasons a trader reads."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from better_orders.core.model import Asset, Side
from better_orders.core.plan.trades import PlanSettings


def pct(fraction: Decimal, places: int = 1, rounding: str = ROUND_HALF_UP) -> str:
    value = (fraction * 100).quantize(Decimal(1).scaleb(-places), rounding)
    return f"{abs(value) if value == 0 else value}%"


def pct_pair(a: Decimal, b: Decimal) -> tuple[str, str]:
    """``a`` and ``b`` as percentages, with enough decimals that unequal values look unequal."""
    for places in (1, 2, 3, 4):
        shown = pct(a, places), pct(b, places)
        if shown[0] != shown[1] or a == b:
            return shown
    return shown


def money(value: Decimal, rounding: str = ROUND_HALF_UP) -> str:
    cents = value.quantize(Decimal("0.01"), rounding)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


def money_plain(value: Decimal) -> str:
    """A configured amount as written: ``$1``, ``$2.50``."""
    return f"${value:,.0f}" if value == value.to_integral_value() else money(value)


def qty_text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def trade_reason(
    side: Side, qty: Decimal, current: Decimal, after: Decimal, equity: Decimal
) -> str:
    before_pct, after_pct = pct_pair(current / equity, after / equity)
    verb = "raise" if side is Side.BUY else "reduce"
    return f"{side.value} {qty_text(qty)} to {verb} {before_pct} → {after_pct}"


def whole_share_reason(symbol: str, settings: PlanSettings, asset: Asset | None) -> str:
    if asset is not None and not asset.fractionable:
        return f"because {symbol} is not fractionable"
    if not settings.fractional:
        return "because fractional shares are off"
    return "for a limit order"
