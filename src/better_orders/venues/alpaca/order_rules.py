"""What Alpaca refuses, checked before an order is sent: a refusal then costs no
request, and its message names the rule and says what to change.

The fractional and notional rules are ``core.fractional``'s, which the simulator
applies too; the tick grid and the extended-hours rule are Alpaca's alone here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

from better_orders.core.errors import BrokerError
from better_orders.core.fractional import fractional_refusal, is_fractional
from better_orders.core.model import Asset, OrderRequest, OrderType, TimeInForce
from better_orders.core.ticks import is_on_grid, tick_size


def check_price(symbol: str, price: Decimal | None, what: str) -> None:
    """A limit price must be on Alpaca's tick grid; ``what`` is what is then not sent."""
    if price is None:
        return
    if not is_on_grid(price):
        places = "2 decimals at or above $1.00" if price >= 1 else "4 decimals below $1.00"
        raise BrokerError(
            f"{symbol} limit price {price} is not a valid Alpaca price "
            f"(tick {tick_size(price) if price > 0 else '?'}: at most {places}); "
            f"{what} not sent",
            code="invalid_price",
        )


async def check_order(
    request: OrderRequest,
    *,
    extended_hours: bool,
    get_asset: Callable[[str], Awaitable[Asset]],
) -> None:
    """Refuse ``request`` if Alpaca would; ``get_asset`` is only asked about fractional
    and notional orders."""
    symbol = request.symbol
    check_price(symbol, request.limit_price, "no order")
    if request.notional is not None or is_fractional(request.qty):
        asset = await get_asset(symbol)
        refusal = fractional_refusal(
            request, fractionable=asset.fractionable, extended_hours=extended_hours
        )
        if refusal is not None:
            raise BrokerError(
                f"{refusal} (Alpaca's fractional trading rules); no order sent",
                code="not_fractionable",
            )
    if extended_hours and not (
        request.order_type is OrderType.LIMIT and request.time_in_force is TimeInForce.DAY
    ):
        raise BrokerError(
            f"{symbol}: extended-hours orders must be DAY limit orders at Alpaca "
            f"(got {request.order_type.value} {request.time_in_force.value}); no order sent",
            code="invalid_order",
        )
