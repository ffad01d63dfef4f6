"""When a stop fires, and where a trailing stop's stop price stands. Pure: quotes in, answers out.

The local exchange has quotes, not a tape of trades, so the price a stop watches is
the quote's mid (a stand-in for Alpaca's last trade): a buy stop fires when the mid
reaches its stop price or goes above it, a sell stop when the mid reaches it or goes
below. Stops only watch during the regular session, as at Alpaca.

A trailing stop keeps a high-water mark (``hwm``) of the mid while it watches: the
highest for a sell, the lowest for a buy. Its stop price is the mark less
``trail_price`` (or ``trail_percent`` percent of it) for a sell, the mark plus it for a
buy, on the tick grid (rounded away from the market), and it only ever moves in the
client's favour.
"""

from __future__ import annotations

from decimal import Decimal

from better_orders.core.model import Quote, Side
from better_orders.core.ticks import Rounding, round_to_tick
from better_orders.server.orders.model import Kind, OrderRecord

_HUNDRED = Decimal(100)


def reference_price(quote: Quote | None) -> Decimal | None:
    """The price stops watch: the mid of a two-sided quote."""
    if quote is None or quote.bid <= 0 or quote.ask <= 0 or quote.bid > quote.ask:
        return None
    return quote.mid


def follow(record: OrderRecord, price: Decimal) -> None:
    """Move a trailing stop's mark and stop price with ``price`` (never against the client)."""
    if record.kind is not Kind.TRAILING_STOP:
        return
    sell = record.side is Side.SELL
    mark = record.hwm
    if mark is None or (price > mark if sell else price < mark):
        mark = price
    record.hwm = mark
    if record.trail_price is not None:
        offset = record.trail_price
    else:
        assert record.trail_percent is not None
        offset = mark * record.trail_percent / _HUNDRED
    stop = round_to_tick(
        mark - offset if sell else mark + offset, Rounding.DOWN if sell else Rounding.UP
    )
    record.stop_price = stop


def stop_reached(record: OrderRecord, price: Decimal) -> bool:
    """Whether ``price`` fires the order's stop (after ``follow`` for a trailing stop)."""
    stop = record.stop_price
    if stop is None:
        return False
    return price >= stop if record.side is Side.BUY else price <= stop
