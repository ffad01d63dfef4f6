"""The portfolio planner: target weights + positions + prices + buying power → ordered trades.

Rules of this file: it is pure (no I/O, no clock, no broker); everything it
knows arrives as arguments, and the same inputs always give the same plan.
Every input is validated before any sizing, and bad input raises
``InvalidInputError`` naming the symbols and values at fault.

Theory of operation:

1. Value the portfolio at the reference prices: equity = cash + Σ qty × price
   (shorts count negative). The investable value is equity less the cash
   buffer; a symbol's target value is its weight × the investable value.
2. A symbol held but not in the targets, or targeted at weight 0, is closed in
   full: the exact position quantity, fractions included, whatever its size.
3. Any other symbol trades the difference between target and current value,
   unless that difference is below the drift threshold (a fraction of equity),
   the order would be worth less than the minimum order value, or whole-share
   rounding leaves nothing to trade. Quantities round toward zero: to whole
   shares when the ladder's limit orders need them, else to 9 decimals. What
   rounding leaves untraded is reported as a leftover.
4. Sells come first. Buys are then sized by :func:`size_buys` to the buying
   power the sells are expected to release, less a safety margin; when that is
   short every buy shrinks by the same factor. The executor calls the same
   function again once the sells have really filled, with the buying power
   they really released.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import (
    ZERO,
    Asset,
    Side,
    floor_qty,
    normalize_symbol,
    to_decimal,
)

ONE = Decimal(1)
#: Buy scale factors are rounded down to this step, so scaled buys never exceed the budget.
_FACTOR_QUANTUM = Decimal("1e-12")
#: Working precision: wide enough that products and quotients of money and quantities are exact.
_PRECISION = 60
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
    #: The broker accepts fractional quantities (on market/day orders).
    fractional: bool = True
    #: The ladder sends limit orders, which need whole shares: floor buys and partial sells.
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
    market/day order at Alpaca). Under the whole-share rule only a full close
    of a fractional position carries it, since a close must leave nothing behind.
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


# -- input validation ---------------------------------------------------------------------


def parse_targets(
    items: Mapping[str, object] | Iterable[tuple[str, object]],
    *,
    weight_tolerance: Decimal = DEFAULT_WEIGHT_TOLERANCE,
) -> dict[str, Decimal]:
    """Normalised symbol → weight, refusing every malformed target set.

    Accepts a mapping or (symbol, weight) pairs; pairs let duplicates such as
    ``spy`` and ``SPY`` be seen and refused instead of one silently winning.
    """
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    if not pairs:
        raise InvalidInputError("no targets given: name at least one symbol and weight")
    weights: dict[str, Decimal] = {}
    given_as: dict[str, list[str]] = {}
    negative: list[str] = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise InvalidInputError(f"a target must be a (symbol, weight) pair, got {pair!r}")
        raw_symbol, raw_weight = pair
        symbol = normalize_symbol(raw_symbol)
        weight = to_decimal(raw_weight, f"{symbol} target weight")
        given_as.setdefault(symbol, []).append(str(raw_symbol))
        if weight < 0:
            negative.append(f"{symbol} {weight}")
        weights[symbol] = weight
    duplicates = [
        f"{symbol} given as {' and '.join(repr(n) for n in names)}"
        for symbol, names in given_as.items()
        if len(names) > 1
    ]
    if duplicates:
        plural = "s" if len(duplicates) > 1 else ""
        raise InvalidInputError(f"duplicate target symbol{plural}: {'; '.join(duplicates)}")
    if negative:
        raise InvalidInputError(
            f"negative target weight{'s' if len(negative) > 1 else ''}: {', '.join(negative)} "
            "(weights must be 0 or more; shorting is not planned)"
        )
    total = sum(weights.values(), ZERO)
    if total > 1 + weight_tolerance:
        shown = total.quantize(Decimal("0.01"), ROUND_HALF_UP)
        if shown <= 1:
            shown = total
        raise InvalidInputError(f"target weights sum to {shown} (> 1)")
    return weights


def _parse_positions(positions: Mapping[str, object]) -> dict[str, Decimal]:
    """Normalised symbol → non-zero signed quantity (a zero position is no position)."""
    held: dict[str, Decimal] = {}
    given_as: dict[str, list[str]] = {}
    for raw_symbol, raw_qty in positions.items():
        symbol = normalize_symbol(raw_symbol)
        given_as.setdefault(symbol, []).append(str(raw_symbol))
        qty = to_decimal(raw_qty, f"{symbol} position quantity")
        if qty != 0:
            held[symbol] = qty
    duplicates = [
        f"{symbol} given as {' and '.join(repr(n) for n in names)}"
        for symbol, names in given_as.items()
        if len(names) > 1
    ]
    if duplicates:
        raise InvalidInputError(f"duplicate position symbol: {'; '.join(duplicates)}")
    return held


def _parse_prices(prices: Mapping[str, object], needed: list[str]) -> dict[str, Decimal]:
    by_symbol: dict[str, object] = {}
    for raw_symbol, raw_price in prices.items():
        symbol = normalize_symbol(raw_symbol)
        if symbol in by_symbol and by_symbol[symbol] != raw_price:
            raise InvalidInputError(
                f"two different prices for {symbol}: {by_symbol[symbol]} and {raw_price}"
            )
        by_symbol[symbol] = raw_price
    missing = [s for s in needed if s not in by_symbol or by_symbol[s] is None]
    if missing:
        raise InvalidInputError(
            f"no price for {', '.join(missing)}: a valid quote is needed for every symbol "
            "in the targets or positions"
        )
    refs = {s: to_decimal(by_symbol[s], f"{s} price") for s in needed}
    bad = [f"{s} {p}" for s, p in refs.items() if p <= 0]
    if bad:
        raise InvalidInputError(f"price must be positive: {', '.join(bad)}")
    return refs


def _names(symbols: Iterable[str]) -> str:
    listed = sorted(symbols)
    return f"symbol{'s' if len(listed) > 1 else ''}: {', '.join(listed)}"


def _check_symbols(
    weights: Mapping[str, Decimal],
    held: Mapping[str, Decimal],
    assets: Mapping[str, Asset] | None,
    known_symbols: Collection[str] | None,
) -> tuple[dict[str, Asset], set[str]]:
    """Assets by normalised symbol, and the held symbols that cannot be traded (left as is)."""
    if known_symbols is not None:
        known = {normalize_symbol(s) for s in known_symbols}
        unknown = [s for s in weights if s not in known]
        if unknown:
            raise InvalidInputError(f"unknown {_names(unknown)}")
    if assets is None:
        return {}, set()
    by_symbol = {normalize_symbol(k): v for k, v in assets.items()}
    unknown = [s for s in (*weights, *held) if s not in by_symbol]
    if unknown:
        raise InvalidInputError(f"unknown {_names(set(unknown))} (the broker has no such asset)")
    untradable = [s for s in weights if not by_symbol[s].tradable]
    if untradable:
        raise InvalidInputError(f"not tradable at the broker: {', '.join(sorted(untradable))}")
    stuck = {s for s in held if s not in weights and not by_symbol[s].tradable}
    return by_symbol, stuck


# -- formatting (messages a trader reads) ------------------------------------------------


def _pct(fraction: Decimal, places: int = 1, rounding: str = ROUND_HALF_UP) -> str:
    value = (fraction * 100).quantize(Decimal(1).scaleb(-places), rounding)
    return f"{abs(value) if value == 0 else value}%"


def _pct_pair(a: Decimal, b: Decimal) -> tuple[str, str]:
    """``a`` and ``b`` as percentages, with enough decimals that unequal values look unequal."""
    for places in (1, 2, 3, 4):
        shown = _pct(a, places), _pct(b, places)
        if shown[0] != shown[1] or a == b:
            return shown
    return shown


def _money(value: Decimal, rounding: str = ROUND_HALF_UP) -> str:
    cents = value.quantize(Decimal("0.01"), rounding)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


def _money_plain(value: Decimal) -> str:
    """A configured amount as written: ``$1``, ``$2.50``."""
    return f"${value:,.0f}" if value == value.to_integral_value() else _money(value)


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _reason(side: Side, qty: Decimal, current: Decimal, after: Decimal, equity: Decimal) -> str:
    before_pct, after_pct = _pct_pair(current / equity, after / equity)
    verb = "raise" if side is Side.BUY else "reduce"
    return f"{side.value} {_qty(qty)} to {verb} {before_pct} → {after_pct}"


def _whole_reason(symbol: str, settings: PlanSettings, asset: Asset | None) -> str:
    if asset is not None and not asset.fractionable:
        return f"because {symbol} is not fractionable"
    if not settings.fractional:
        return "because fractional shares are off"
    return "for a limit order"


# -- the plan ------------------------------------------------------------------------------


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
        ctx.prec = _PRECISION
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
    held = _parse_positions(positions)
    cash_d = to_decimal(cash, "cash")
    bp = to_decimal(buying_power, "buying power")
    if bp < 0:
        raise InvalidInputError(f"buying power is negative: {bp}")
    by_asset, stuck = _check_symbols(weights, held, assets, known_symbols)
    symbols = sorted(set(weights) | set(held))
    refs = _parse_prices(prices, symbols)

    equity = cash_d + sum((q * refs[s] for s, q in held.items()), ZERO)
    if equity <= 0:
        raise InvalidInputError(
            f"portfolio value is {_money(equity)} (cash {_money(cash_d)} plus positions at "
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
            notes.append(f"{symbol} is not in the targets but cannot be traded: {_qty(qty)} kept")
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
                    f"close of {symbol} worth {_money(trade.notional)} is below the "
                    f"{_money_plain(settings.min_order_value)} minimum order value; "
                    "planned anyway so nothing is left behind"
                )
            (sells if side is Side.SELL else buys).append(trade)
            continue

        gap = target - current
        if abs(gap) < threshold:
            shown, limit = _pct_pair(abs(gap) / equity, settings.drift_threshold)
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
            why = _whole_reason(symbol, settings, by_asset.get(symbol))
            skipped.append(
                SkippedSymbol(symbol, f"leftover {_qty(exact)} shares below one whole share {why}")
            )
            continue
        if side is Side.SELL:
            trade_qty = min(trade_qty, qty)  # never sell through zero
        notional = trade_qty * price
        if notional < settings.min_order_value:
            skipped.append(
                SkippedSymbol(
                    symbol,
                    f"order value {_money(notional, ROUND_DOWN)} below minimum "
                    f"{_money_plain(settings.min_order_value)}",
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
            reason=_reason(side, trade_qty, current, after, equity),
            close=side is Side.SELL and trade_qty == qty,
            requires_fractional=trade_qty != trade_qty.to_integral_value(),
        )
        (sells if side is Side.SELL else buys).append(trade)

    if settings.cash_buffer > 0:
        notes.append(
            f"cash buffer {_pct(settings.cash_buffer)} of {_money(equity)} held back: "
            f"{_money(equity - investable)}"
        )
    total_weight = sum(weights.values(), ZERO)
    if 0 < total_weight < 1:
        notes.append(
            f"target weights sum to {total_weight}: {_pct(1 - total_weight)} of the investable "
            "value stays in cash"
        )

    sells.sort(key=_order_key)
    buys.sort(key=_order_key)
    expected_bp = bp + sum((t.notional for t in sells), ZERO)
    sizing = _size(buys, expected_bp, settings, equity, current_values, whole_shares)
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


def _order_key(trade: PlannedTrade) -> tuple[Decimal, str]:
    return (-trade.notional, trade.symbol)


# -- sizing buys to buying power -----------------------------------------------------------


def size_buys(plan: Plan, released_buying_power: Decimal) -> list[PlannedTrade]:
    """The plan's buys sized to the buying power really available once the sells completed.

    ``released_buying_power`` is everything available now (what the sells
    released plus what was there before). Buys never exceed it less the plan's
    safety margin; when it is short they all shrink by the same factor.
    """
    return size_buys_detailed(plan, released_buying_power).trades


def size_buys_detailed(plan: Plan, released_buying_power: Decimal) -> BuySizing:
    """:func:`size_buys` with the notes and skipped symbols that explain the sizing."""
    available = to_decimal(released_buying_power, "buying power")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return _size(
            plan.desired_buys,
            available,
            plan.settings,
            plan.portfolio_value,
            plan.current_values,
            plan.whole_shares,
        )


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


def _size(
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
                    f"order value {_money(notional, ROUND_DOWN)} below minimum "
                    f"{_money_plain(settings.min_order_value)} after scaling to fit buying power",
                )
            )
            continue
        current = current_values[trade.symbol]
        reason = _reason(Side.BUY, qty, current, current + notional, equity)
        what = "partial cover of a short" if trade.close else "buy"
        trades.append(
            PlannedTrade(
                symbol=trade.symbol,
                side=Side.BUY,
                qty=qty,
                reference_price=trade.reference_price,
                notional=notional,
                reason=f"{reason} ({what} scaled down from {_qty(trade.qty)} to fit buying power)",
                close=False,
                requires_fractional=qty != qty.to_integral_value(),
            )
        )

    margin = _pct(settings.buying_power_margin)
    overall = other_factor if close_factor == 1 else close_factor * close_need / need
    notes = [
        f"cash short by {_money(need - budget)}: buys scaled to "
        f"{_pct(overall, rounding=ROUND_DOWN)} "
        f"(buys need {_money(need)}; buying power {_money(available)} less {margin} margin "
        f"leaves {_money(budget)})"
    ]
    if close_factor < 1:
        notes.append(
            f"buying power covers only {_pct(close_factor)} of the short positions to close: "
            "other buys dropped"
        )
    trades.sort(key=_order_key)
    return BuySizing(trades, skipped, notes, budget, other_factor)
