"""Fractional and notional orders: which ones a broker takes (Alpaca's rules).

One set of rules for every venue: the Alpaca adapter refuses before sending what
Alpaca would refuse, and the simulator refuses the same, so an order that passes on
the simulator passes at Alpaca. The rules, as Alpaca documents them:

* a fractional quantity (not a whole number of shares) or a notional amount (dollars
  rather than shares) needs a fractionable asset;
* a fractional quantity is taken on market and limit orders with time in force DAY,
  a notional amount on market DAY orders only;
* neither trades in extended hours;
* a notional amount is at least $1; quantities and amounts have at most 9 decimals.
"""

from __future__ import annotations

from decimal import Decimal

from better_orders.core.model import QTY_DECIMALS, QTY_QUANTUM, OrderRequest, OrderType, TimeInForce

#: The smallest notional order, dollars.
MIN_NOTIONAL = Decimal(1)


def is_fractional(qty: Decimal) -> bool:
    return qty != qty.to_integral_value()


def _kind(request: OrderRequest) -> str:
    return f"{request.order_type.value} {request.time_in_force.value.upper()}"


def fractional_refusal(
    request: OrderRequest, *, fractionable: bool, extended_hours: bool = False
) -> str | None:
    """Why a broker would refuse ``request`` for its fraction or its notional amount
    (a sentence naming the rule), or None when it would take it on those counts.

    ``fractionable`` is the asset's flag; it is only consulted for a fractional or
    notional order, so a whole-share order of any asset passes.
    """
    symbol = request.symbol
    day = request.time_in_force is TimeInForce.DAY
    notional = request.notional
    if notional is not None:
        what = f"a notional order (${notional})"
        if not fractionable:
            return f"{symbol} is not fractionable: {what} needs a fractionable asset"
        if not (request.order_type is OrderType.MARKET and day):
            return f"{symbol}: {what} must be a market DAY order (this is {_kind(request)})"
        if notional < MIN_NOTIONAL:
            return f"{symbol}: {what} is below the ${MIN_NOTIONAL} minimum"
        if notional != notional.quantize(QTY_QUANTUM):
            return f"{symbol}: {what} has more than {QTY_DECIMALS} decimals"
    elif is_fractional(request.qty):
        what = f"a fractional quantity ({request.qty})"
        if not fractionable:
            return f"{symbol} is not fractionable: {what} must be whole shares"
        if request.order_type not in (OrderType.MARKET, OrderType.LIMIT) or not day:
            return (
                f"{symbol}: {what} is taken only on market or limit DAY orders "
                f"(this is {_kind(request)})"
            )
        if request.qty != request.qty.quantize(QTY_QUANTUM):
            return f"{symbol}: {what} has more than {QTY_DECIMALS} decimals"
    else:
        return None
    if extended_hours:
        return f"{symbol}: {what} does not trade in extended hours"
    return None
