"""A fixed stream of marketable orders replayed through the simulated exchange.

The same work another engine can be given (``bench/nautilus_compare.py``): every
order is an immediate-or-cancel limit priced off the quote in force, so engines
can be compared row for row. A vectorised path gives the same fills from the
few rows each order can see.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from better_orders.core.model import (
    Fill,
    OrderRequest,
    OrderType,
    Quote,
    Side,
    TimeInForce,
)
from better_orders.core.pricing import aggressive_limit
from better_orders.venues.sim.book import QuoteBook
from better_orders.venues.sim.exchange import Latency, SimExchange
from better_orders.venues.sim.files import to_ns
from better_orders.venues.sim.orders import broker_order_id
from better_orders.venues.sim.replay import ReplayQuotes

_ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class MarketableReplayStats:
    """What ``replay_marketable_orders`` did: comparable across engines.

    ``quotes_processed`` counts the rows the replay covered (first order to last
    order plus one second). ``rows_read`` is None when every one of them went
    through the exchange, else how many rows the fast path looked at.
    """

    symbol: str
    orders: int
    quotes_processed: int
    fills: int
    filled_qty: Decimal
    wall_seconds: float
    fill_records: tuple[Fill, ...] = ()
    rows_read: int | None = None

    @property
    def quotes_per_second(self) -> float:
        return self.quotes_processed / self.wall_seconds if self.wall_seconds > 0 else 0.0


def _ioc_order(n: int, side: Side, qty: Decimal, quote: Quote, ticks: int) -> OrderRequest:
    """Order ``n`` of a marketable stream: an IOC limit ``ticks`` beyond the far touch."""
    return OrderRequest(
        client_order_id=f"mkt-{n}",
        symbol=quote.symbol,
        side=side,
        qty=qty,
        order_type=OrderType.LIMIT,
        limit_price=aggressive_limit(side, quote, ticks),
        time_in_force=TimeInForce.IOC,
    )


def replay_marketable_orders(
    path: str | Path | ReplayQuotes,
    orders: list[tuple[datetime, Side, Decimal]],
    *,
    latency: Latency = Latency(),
    ticks: int = 1,
    fast: bool = False,
) -> MarketableReplayStats:
    """Send a fixed stream of marketable limit orders through the exchange over a file.

    Each ``(time, side, qty)`` becomes an immediate-or-cancel limit ``ticks``
    beyond the far touch of the quote in force at ``time``; every quote row from
    the first order to the last order plus one second is processed (no
    skipping), so another engine given the same file and orders does the same
    work. Wall time covers the replay only, not loading the file.

    ``fast=True`` makes the same orders and fills while reading only the rows
    they can see (``_marketable_fast``); with a market-data latency it falls
    back to the row-by-row replay.
    """
    quotes = path if isinstance(path, ReplayQuotes) else ReplayQuotes.from_file(path)
    stream = sorted(orders, key=lambda o: o[0])
    symbol = quotes.symbol
    if not stream:
        return MarketableReplayStats(symbol, 0, 0, 0, Decimal(0), 0.0)
    started = time.perf_counter()
    end = stream[-1][0] + timedelta(seconds=1)
    rows_read: int | None = None
    fills: Sequence[Fill]
    if fast and latency.market_data == timedelta(0):
        fills, rows_read = _marketable_fast(quotes, stream, latency, ticks)
        covered = quotes.index_at(end) + 1 - max(quotes.index_at(stream[0][0]), 0)
    else:
        source = quotes.starting_at(stream[0][0])
        first = source.cursor
        exchange = SimExchange(QuoteBook.replay({symbol: source}), latency=latency)
        for n, (when, side, qty) in enumerate(stream, start=1):
            exchange.advance(when)
            quote = exchange.last_quote(symbol)
            if quote is None or quote.bid <= 0 or quote.ask <= 0:
                continue
            request = _ioc_order(n, side, qty, quote, ticks)
            exchange.submit(request, max(when, exchange.now or when))
        exchange.advance(end)
        fills = exchange.fills
        covered = source.cursor - first
    wall = time.perf_counter() - started
    return MarketableReplayStats(
        symbol=symbol,
        orders=len(stream),
        quotes_processed=covered,
        fills=len(fills),
        filled_qty=sum((f.qty for f in fills), Decimal(0)),
        wall_seconds=wall,
        fill_records=tuple(fills),
        rows_read=rows_read,
    )


def _marketable_fast(
    quotes: ReplayQuotes,
    stream: list[tuple[datetime, Side, Decimal]],
    latency: Latency,
    ticks: int,
) -> tuple[list[Fill], int]:
    """The row-by-row replay's fills, from the two rows each order can see.

    With no market-data latency an immediate-or-cancel limit depends on nothing
    but the quote in force when it is priced and the top of book when it
    arrives (``SimExchange``: it matches once against that top and its remainder
    is cancelled on the spot, so it never rests and no later row or printed
    execution can touch it). Arrivals come in stream order (constant latency),
    so the only state carried between orders is what earlier fills took from
    the top they arrived on, which lasts until the next row. Both rows are
    found with one ``searchsorted`` each over all orders.
    """
    symbol = quotes.symbol
    # Only for its checks: the same validation the exchange makes on submit.
    venue = SimExchange(QuoteBook.replay({symbol: quotes.starting_at(None)}), latency=latency)
    first = max(quotes.index_at(stream[0][0]), 0)
    submit_us = latency.submit // _ONE_US
    when_us = np.array([to_ns(when) // 1000 for when, _, _ in stream], dtype=np.int64)
    priced_rows = np.searchsorted(quotes.ts_us, when_us, side="right") - 1
    arrival_rows = np.searchsorted(quotes.ts_us, when_us + submit_us, side="right") - 1
    bid_e4, ask_e4, bid_sz, ask_sz = quotes.bid_e4, quotes.ask_e4, quotes.bid_sz, quotes.ask_sz
    fills: list[Fill] = []
    read: set[int] = set()
    top_row, bid_left, ask_left = -1, Decimal(0), Decimal(0)
    for n, (when, side, qty) in enumerate(stream, start=1):
        row = int(priced_rows[n - 1])
        if row < first or bid_e4[row] <= 0 or ask_e4[row] <= 0:
            continue
        read.add(row)
        quote = quotes.quote_at(row)
        request = _ioc_order(n, side, qty, quote, ticks)
        venue.validate(request)
        at = int(arrival_rows[n - 1])
        if at != top_row:  # a new row is a fresh top: its full displayed size
            read.add(at)
            top_row = at
            bid_left = Decimal(int(bid_sz[at])) if bid_e4[at] > 0 else Decimal(0)
            ask_left = Decimal(int(ask_sz[at])) if ask_e4[at] > 0 else Decimal(0)
        buy = side is Side.BUY
        touch_e4 = int(ask_e4[at] if buy else bid_e4[at])
        left = ask_left if buy else bid_left
        assert request.limit_price is not None
        limit_e4 = request.limit_price.scaleb(4)
        if touch_e4 <= 0 or left <= 0 or (limit_e4 < touch_e4 if buy else limit_e4 > touch_e4):
            continue
        filled = min(qty, left)
        if buy:
            ask_left -= filled
        else:
            bid_left -= filled
        top = quote if at == row else quotes.quote_at(at)
        fills.append(
            Fill(
                exec_id=f"{broker_order_id(request.client_order_id)}-1",
                client_order_id=request.client_order_id,
                symbol=symbol,
                side=side,
                qty=filled,
                price=top.ask if buy else top.bid,
                ts=when + latency.submit,
            )
        )
    return fills, len(read)
