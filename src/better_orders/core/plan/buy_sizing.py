"""Sizing a plan's buys to the buying power: all shrink by one factor when it is short.

Called when the plan is built (with the buying power the sells are expected to
release) and again once the sells have really filled, then at the prices of that
moment: the sells may have taken minutes at the open, and a buy whose price rose
since the plan would otherwise need more than the margin holds back, and have its
orders refused for buying power.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal, localcontext

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import ZERO, Side, floor_qty, to_decimal
from better_orders.core.plan.trades import (
    ONE,
    PRECISION,
    BuySizing,
    Plan,
    PlannedTrade,
    PlanSettings,
    SkippedSymbol,
    order_key,
)
from better_orders.core.plan.wording import money, money_plain, pct, qty_text, trade_reason

#: Buy scale factors are rounded down to this step, so scaled buys never exceed the budget.
_FACTOR_QUANTUM = Decimal("1e-12")


def size_buys(
    plan: Plan, released_buying_power: Decimal, prices: Mapping[str, Decimal] | None = None
) -> list[PlannedTrade]:
    """The plan's buys sized to the buying power really available once the sells completed.

    ``released_buying_power`` is everything available now (what the sells
    released plus what was there before). Buys never exceed it less the plan's
    safety margin; when it is short they all shrink by the same factor. ``prices``:
    the buys' prices now (default: the plan's reference prices).
    """
    return size_buys_detailed(plan, released_buying_power, prices).trades


def size_buys_detailed(
    plan: Plan, released_buying_power: Decimal, prices: Mapping[str, Decimal] | None = None
) -> BuySizing:
    """:func:`size_buys` with the notes and skipped symbols that explain the sizing."""
    available = to_decimal(released_buying_power, "buying power")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return fit_buys(
            plan.desired_buys if prices is None else repriced(plan.desired_buys, prices),
            available,
            plan.settings,
            plan.portfolio_value,
            plan.current_values,
            plan.whole_shares,
        )


def repriced(trades: list[PlannedTrade], prices: Mapping[str, Decimal]) -> list[PlannedTrade]:
    """``trades`` at ``prices`` (same quantities; a symbol without a price keeps its own)."""
    out = []
    for t in trades:
        price = prices.get(t.symbol)
        if price is None or price == t.reference_price:
            out.append(t)
            continue
        price = to_decimal(price, f"{t.symbol} price")
        if not price > 0:
            raise InvalidInputError(f"{t.symbol}: price {price} is not positive; no order sent")
        out.append(replace(t, reference_price=price, notional=t.qty * price))
    return out


def _factor(available: Decimal, need: Decimal) -> Decimal:
    """The largest factor on the quantum grid with factor × need ≤ available."""
    if need <= available:
        return ONE
    if available <= 0:
        return ZERO
    factor = (available / need).quantize(_FACTOR_QUANTUM, ROUND_DOWN)
    while factor > 0 and factor * need > available:
        factor -= _FACTOR_QUANTUM
    return max(factor, ZERO)


def fit_buys(
    desired: list[PlannedTrade],
    available: Decimal,
    settings: PlanSettings,
    equity: Decimal,
    current_values: Mapping[str, Decimal],
    whole_shares: Mapping[str, bool],
) -> BuySizing:
    """Fit ``desired`` buys into ``available`` less the margin.

    Covering a short (a close) is paid for first, since it removes risk; the
    other buys share what is left, all scaled by one factor.
    """
    budget = max(available * (1 - settings.buying_power_margin), ZERO)
    need = sum((t.notional for t in desired), ZERO)
    if need <= budget:
        return BuySizing(list(desired), [], [], budget, ONE)

    close_need = sum((t.notional for t in desired if t.close), ZERO)
    close_factor = _factor(budget, close_need)
    other_factor = _factor(budget - close_need, need - close_need) if close_factor == 1 else ZERO

    trades: list[PlannedTrade] = []
    skipped: list[SkippedSymbol] = []
    for trade in desired:
        factor = close_factor if trade.close else other_factor
        if factor == 1:
            trades.append(trade)
            continue
        scaled = trade.qty * factor
        whole = whole_shares.get(trade.symbol, True)
        qty = scaled.to_integral_value(ROUND_DOWN) if whole else floor_qty(scaled)
        notional = qty * trade.reference_price
        if qty == 0:
            unit = "one whole share" if whole else "the smallest quantity"
            skipped.append(
                SkippedSymbol(trade.symbol, f"buying power left less than {unit} to buy")
            )
            continue
        if notional < settings.min_order_value:
            skipped.append(
                SkippedSymbol(
                    trade.symbol,
                    f"order value {money(notional, ROUND_DOWN)} below minimum "
                    f"{money_plain(settings.min_order_value)} after scaling to fit buying power",
                )
            )
            continue
        current = current_values[trade.symbol]
        reason = trade_reason(Side.BUY, qty, current, current + notional, equity)
        what = "partial cover of a short" if trade.close else "buy"
        trades.append(
            PlannedTrade(
                symbol=trade.symbol,
                side=Side.BUY,
                qty=qty,
                reference_price=trade.reference_price,
                notional=notional,
                reason=(
                    f"{reason} ({what} scaled down from {qty_text(trade.qty)} to fit buying power)"
                ),
                close=False,
                requires_fractional=qty != qty.to_integral_value(),
            )
        )

    margin = pct(settings.buying_power_margin)
    overall = other_factor if close_factor == 1 else close_factor * close_need / need
    notes = [
        f"cash short by {money(need - budget)}: buys scaled to "
        f"{pct(overall, rounding=ROUND_DOWN)} "
        f"(buys need {money(need)}; buying power {money(available)} less {margin} margin "
        f"leaves {money(budget)})"
    ]
    if close_factor < 1:
        notes.append(
            f"buying power covers only {pct(close_factor)} of the short positions to close: "
            "other buys dropped"
        )
    trades.sort(key=order_key)
    return BuySizing(trades, skipped, notes, budget, other_factor)
