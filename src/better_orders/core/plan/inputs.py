"""The planner's inputs, validated: targets, positions, prices and the broker's assets.

Every malformed input is refused with an ``InvalidInputError`` naming the symbols
and values at fault, before anything is sized.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import ZERO, Asset, normalize_symbol, to_decimal
from better_orders.core.plan.trades import DEFAULT_WEIGHT_TOLERANCE


def _weight(raw: object, symbol: str) -> Decimal:
    """A target weight: a fraction (0.4) or, as text, a percentage ("40%")."""
    if isinstance(raw, str) and raw.strip().endswith("%"):
        return to_decimal(raw.strip()[:-1].strip(), f"{symbol} target weight {raw!r}") / 100
    return to_decimal(raw, f"{symbol} target weight")


def parse_targets(
    items: Mapping[str, object] | Iterable[tuple[str, object]],
    *,
    weight_tolerance: Decimal = DEFAULT_WEIGHT_TOLERANCE,
) -> dict[str, Decimal]:
    """Normalised symbol → weight, refusing every malformed target set. Weights are
    fractions, or percentages as text ("40%").

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
        weight = _weight(raw_weight, symbol)
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
        # Two decimals (the full value if that would read as 1.00); no rounding of a
        # sum so large that two decimals would not fit Decimal's precision.
        big = total.adjusted() > 20
        shown = total.normalize() if big else total.quantize(Decimal("0.01"), ROUND_HALF_UP)
        if shown <= 1:
            shown = total
        raise InvalidInputError(f"target weights sum to {shown} (> 1)")
    return weights


def parse_positions(positions: Mapping[str, object]) -> dict[str, Decimal]:
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


def parse_prices(prices: Mapping[str, object], needed: list[str]) -> dict[str, Decimal]:
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


def check_symbols(
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
