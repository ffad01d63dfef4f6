"""The checks an order passes before the local exchange accepts it, in Alpaca's order.

Position and short rules, then bracket/oto/oco prices against the market, buying
power (with the order's value as ``account`` defines it), and the wash-trade
check. The verdict says whether the order opens a position (and so holds buying
power while open), what it holds, and its ``position_intent``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from better_orders.core.model import Quote, Side
from better_orders.server.account import MARKET_BUY_COLLAR, SHORT_COLLAR, AccountRules
from better_orders.server.errors import unprocessable
from better_orders.server.orders.book import OrderBook
from better_orders.server.orders.model import ZERO, LegRole, OrderClass, OrderRecord, OrderSpec

PENNY = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Verdict:
    opens: bool
    reserve: Decimal
    intent: str


def intent(side: Side, position: Decimal) -> str:
    if side is Side.BUY:
        return "buy_to_close" if position < 0 else "buy_to_open"
    return "sell_to_close" if position > 0 else "sell_to_open"


def pre_trade(
    spec: OrderSpec,
    quote: Quote | None,
    book: OrderBook,
    rules: AccountRules,
    marks: dict[str, Decimal],
    replaces: OrderRecord | None = None,
) -> Verdict:
    """Every check, or the first refusal (an ``AlpacaError``).

    A replacement (``replaces``: the order it replaces) is checked as the new order it
    is, with the old one's shares and buying power free: Alpaca holds the larger of the
    two while the replace is pending, so the new one must fit on its own.
    """
    symbol, side = spec.symbol, spec.side
    if not spec.asset.can_trade:
        raise unprocessable(f"asset {symbol} is not tradable")
    qty = spec.qty
    if qty is None and spec.notional is not None:
        qty = spec.notional / _touch(quote, side, symbol)
    held = book.held(symbol, side, replaces)
    opens = rules.opens(symbol, side, qty, held)
    if opens and side is Side.SELL:
        rules.check_short(symbol, qty if spec.notional is None else None, held)
    _check_leg_prices(spec, quote)
    cost = order_value(spec, quote) if opens else ZERO
    if cost:
        rules.check_buying_power(cost, marks, book.reserved(replaces))
    book.check_wash_trade(symbol, side, spec.limit_price, ignore=replaces)
    derived = intent(side, rules.ledger.qty(symbol))
    if spec.position_intent is not None and spec.position_intent != derived:
        raise unprocessable(
            f"position_intent {spec.position_intent} does not match the {symbol} position "
            f"(this order would {derived.replace('_', ' ')})"
        )
    return Verdict(opens, cost, derived)


def order_value(spec: OrderSpec, quote: Quote | None) -> Decimal:
    """What an opening order holds of the buying power (``account`` module docstring)."""
    if spec.notional is not None:
        return spec.notional
    assert spec.qty is not None
    if spec.kind.has_limit and spec.side is Side.BUY:
        assert spec.limit_price is not None
        return spec.limit_price * spec.qty
    ask = _touch(quote, Side.BUY, spec.symbol)
    if spec.side is Side.BUY:
        return max(ask, spec.stop_price or ZERO) * MARKET_BUY_COLLAR * spec.qty
    return max(spec.limit_price or ZERO, ask * SHORT_COLLAR) * spec.qty


def _touch(quote: Quote | None, side: Side, symbol: str) -> Decimal:
    price = quote.far_touch(side) if quote is not None else ZERO
    if price <= 0:
        raise unprocessable(f"no {'ask' if side is Side.BUY else 'bid'} for {symbol} to price it")
    return price


def _check_leg_prices(spec: OrderSpec, quote: Quote | None) -> None:
    """Alpaca's bracket rule: take profit beyond the entry price, stop loss on the other side."""
    if spec.order_class is OrderClass.SIMPLE:
        return
    legs = {leg.role: leg for leg in spec.legs}
    buy = spec.side is Side.BUY
    take_profit, stop_loss = legs.get(LegRole.TAKE_PROFIT), legs.get(LegRole.STOP_LOSS)
    if spec.order_class is OrderClass.OCO:
        assert take_profit is not None and stop_loss is not None
        assert take_profit.limit_price is not None and stop_loss.stop_price is not None
        if (
            (take_profit.limit_price >= stop_loss.stop_price)
            if buy
            else (take_profit.limit_price <= stop_loss.stop_price)
        ):
            relation = "<" if buy else ">"
            raise unprocessable(f"take_profit.limit_price must be {relation} stop_loss.stop_price")
        return
    base = (
        spec.limit_price if spec.limit_price is not None else _touch(quote, spec.side, spec.symbol)
    )
    if take_profit is not None:
        assert take_profit.limit_price is not None
        if buy and take_profit.limit_price < base + PENNY:
            raise unprocessable("take_profit.limit_price must be >= base_price + 0.01")
        if not buy and take_profit.limit_price > base - PENNY:
            raise unprocessable("take_profit.limit_price must be <= base_price - 0.01")
    if stop_loss is not None:
        assert stop_loss.stop_price is not None
        if buy and stop_loss.stop_price > base - PENNY:
            raise unprocessable("stop_loss.stop_price must be <= base_price - 0.01")
        if not buy and stop_loss.stop_price < base + PENNY:
            raise unprocessable("stop_loss.stop_price must be >= base_price + 0.01")
