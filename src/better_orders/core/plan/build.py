"""Building a plan: target weights + positions + prices + buying power -> ordered trades."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from decimal import ROUND_DOWN, Decimal, localcontext

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import ZERO, Asset, Side, floor_qty, to_decimal
from better_orders.core.plan.buy_sizing import fit_buys
from better_orders.core.plan.inputs import (
    check_symbols,
    parse_positions,
    parse_prices,
    parse_targets,
)
from better_orders.core.plan.trades import (
    PRECISION,
    Plan,
    PlannedTrade,
    PlanSettings,
    SkippedSymbol,
    order_key,
)
from better_orders.core.plan.wording import (
    money,
    money_plain,
    pct,
    pct_pair,
    qty_text,
    trade_reason,
    whole_share_reason,
)


def build_plan(
    targets: Mapping[str, object] | Iterable[tuple[str, object]],
    positions: Mapping[str, object],
    *,
    cash: object,
    buying_power: object,
    prices: Mapping[str, object],
    settings: PlanSettings | None = None,
    assets: Mapping[str, Asset] | None = None,
    known_symbols: Collection[str] | None = None,
) -> Plan:
    """Turn target weights into trades: sells first, then buys sized to the buying power.

    ``targets`` weights are fractions of the investable value (0 closes the
    position); ``positions`` are signed quantities; ``prices`` are reference
    prices (the mid of the latest valid quote) for every symbol in either.
    ``assets`` (when given) must know every symbol; ``known_symbols`` (when
    given) must contain every target symbol.
    """
    settings = settings or PlanSettings()
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return _build(
            targets, positions, cash, buying_power, prices, settings, assets, known_symbols
        )


def _build(
    targets: Mapping[str, object] | Iterable[tuple[str, object]],
    positions: Mapping[str, object],
    cash: object,
    buying_power: object,
    prices: Mapping[str, object],
    settings: PlanSettings,
    assets: Mapping[str, Asset] | None,
    known_symbols: Collection[str] | None,
) -> Plan:
    weights = parse_targets(targets, weight_tolerance=settings.weight_tolerance)
    held = parse_positions(positions)
    cash_d = to_decimal(cash, "cash")
    bp = to_decimal(buying_power, "buying power")
    if bp < 0:
        raise InvalidInputError(f"buying power is negative: {bp}")
    by_asset, stuck = check_symbols(weights, held, assets, known_symbols)
    symbols = sorted(set(weights) | set(held))
    refs = parse_prices(prices, symbols)

    equity = cash_d + sum((q * refs[s] for s, q in held.items()), ZERO)
    if equity <= 0:
        raise InvalidInputError(
            f"portfolio value is {money(equity)} (cash {money(cash_d)} plus positions at "
            "reference prices): nothing to allocate"
        )
    investable = equity * (1 - settings.cash_buffer)
    threshold = settings.drift_threshold * equity
    whole_shares = {
        s: (
            settings.whole_shares_for_limit
            or not settings.fractional
            or (s in by_asset and not by_asset[s].fractionable)
        )
        for s in symbols
    }

    target_values: dict[str, Decimal] = {}
    current_values: dict[str, Decimal] = {}
    drift: dict[str, Decimal] = {}
    leftovers: dict[str, Decimal] = {}
    skipped: list[SkippedSymbol] = []
    notes: list[str] = []
    sells: list[PlannedTrade] = []
    buys: list[PlannedTrade] = []

    for symbol in symbols:
        qty = held.get(symbol, ZERO)
        price = refs[symbol]
        weight = weights.get(symbol, ZERO)
        current = qty * price
        target = weight * investable
        current_values[symbol] = current
        target_values[symbol] = target
        drift[symbol] = (current - target) / equity

        if symbol in stuck:
            skipped.append(SkippedSymbol(symbol, "not tradable at the broker: position left as is"))
            notes.append(
                f"{symbol} is not in the targets but cannot be traded: {qty_text(qty)} kept"
            )
            continue
        if weight == 0:
            if qty == 0:
                continue
            side = Side.SELL if qty > 0 else Side.BUY
            close_qty = abs(qty)
            why = "not in targets" if symbol not in weights else "target weight 0"
            trade = PlannedTrade(
                symbol=symbol,
                side=side,
                qty=close_qty,
                reference_price=price,
                notional=close_qty * price,
                reason=f"close: {why}",
                close=True,
                requires_fractional=close_qty != close_qty.to_integral_value(),
            )
            if trade.notional < settings.min_order_value:
                notes.append(
                    f"close of {symbol} worth {money(trade.notional)} is below the "
                    f"{money_plain(settings.min_order_value)} minimum order value; "
                    "planned anyway so nothing is left behind"
                )
            (sells if side is Side.SELL else buys).append(trade)
            continue

        gap = target - current
        if abs(gap) < threshold:
            shown, limit = pct_pair(abs(gap) / equity, settings.drift_threshold)
            skipped.append(SkippedSymbol(symbol, f"drift {shown} below threshold {limit}"))
            continue
        side = Side.BUY if gap > 0 else Side.SELL
        exact = floor_qty(abs(gap) / price)
        if exact == 0:
            skipped.append(SkippedSymbol(symbol, "already at target"))
            continue
        trade_qty = exact.to_integral_value(ROUND_DOWN) if whole_shares[symbol] else exact
        if trade_qty != exact:
            leftovers[symbol] = exact - trade_qty
        if trade_qty == 0:
            why = whole_share_reason(symbol, settings, by_asset.get(symbol))
            skipped.append(
                SkippedSymbol(
                    symbol, f"leftover {qty_text(exact)} shares below one whole share {why}"
                )
            )
            continue
        if side is Side.SELL:
            trade_qty = min(trade_qty, qty)  # never sell through zero
        notional = trade_qty * price
        if notional < settings.min_order_value:
            skipped.append(
                SkippedSymbol(
                    symbol,
                    f"order value {money(notional, ROUND_DOWN)} below minimum "
                    f"{money_plain(settings.min_order_value)}",
                )
            )
            continue
        after = current + side.sign * notional
        trade = PlannedTrade(
            symbol=symbol,
            side=side,
            qty=trade_qty,
            reference_price=price,
            notional=notional,
            reason=trade_reason(side, trade_qty, current, after, equity),
            close=side is Side.SELL and trade_qty == qty,
            requires_fractional=trade_qty != trade_qty.to_integral_value(),
        )
        (sells if side is Side.SELL else buys).append(trade)

    if settings.cash_buffer > 0:
        notes.append(
            f"cash buffer {pct(settings.cash_buffer)} of {money(equity)} held back: "
            f"{money(equity - investable)}"
        )
    total_weight = sum(weights.values(), ZERO)
    if 0 < total_weight < 1:
        notes.append(
            f"target weights sum to {total_weight}: {pct(1 - total_weight)} of the investable "
            "value stays in cash"
        )

    sells.sort(key=order_key)
    buys.sort(key=order_key)
    expected_bp = bp + sum((t.notional for t in sells), ZERO)
    sizing = fit_buys(buys, expected_bp, settings, equity, current_values, whole_shares)
    return Plan(
        trades=[*sells, *sizing.trades],
        portfolio_value=equity,
        investable_value=investable,
        cash=cash_d,
        buying_power=bp,
        expected_buying_power=expected_bp,
        weights=dict(sorted(weights.items())),
        target_values=target_values,
        current_values=current_values,
        drift=drift,
        skipped=sorted([*skipped, *sizing.skipped], key=lambda s: s.symbol),
        notes=[*notes, *sizing.notes],
        leftovers=leftovers,
        desired_buys=buys,
        whole_shares=whole_shares,
        settings=settings,
    )
