"""The ``Broker`` protocol on the simulated venue: orders to the exchange, a paper account.

Reservations: a buy holds ``limit x remaining`` (a market buy: ask x
``MARKET_BUY_CUSHION`` x remaining) of cash and a sell holds its remaining
shares, for as long as the venue says the order is open, so two orders cannot
spend the same cash.

Fractional and notional orders follow Alpaca's rules (``core.fractional``), so what
passes here passes at Alpaca. The exchange trades shares: a notional order becomes
the shares its amount buys at the far touch when it arrives (Alpaca works the amount
out at the fill), rounded down to the 9-decimal grid.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from better_orders.core.errors import BrokerError
from better_orders.core.fractional import fractional_refusal, is_fractional
from better_orders.core.model import (
    Account,
    Asset,
    BrokerOrder,
    Fill,
    OrderRequest,
    OrderType,
    OrderUpdate,
    Position,
    Side,
    floor_qty,
)
from better_orders.venues.sim.account import MARKET_BUY_CUSHION, PaperAccount
from better_orders.venues.sim.clock import SimClock
from better_orders.venues.sim.exchange import SimExchange
from better_orders.venues.sim.feed import SimQuoteFeed
from better_orders.venues.sim.hub import VenueHub


class SimBroker:
    """The ``Broker`` protocol on the simulated venue."""

    name = "sim"

    def __init__(
        self,
        exchange: SimExchange,
        account: PaperAccount,
        clock: SimClock | Any,
        *,
        unknown_symbols: Iterable[str] = (),
        untradable_symbols: Iterable[str] = (),
        autosave: bool = True,
        hub: VenueHub | None = None,
    ) -> None:
        self._hub = hub or VenueHub(
            exchange,
            account,
            clock,
            unknown_symbols=unknown_symbols,
            untradable_symbols=untradable_symbols,
            autosave=autosave,
        )
        self.exchange = exchange
        self.account = account
        self.clock = clock

    def quote_feed(self) -> SimQuoteFeed:
        """A quote feed on the same venue (sharing this broker's pump and clock)."""
        return SimQuoteFeed(self._hub)

    def _ready(self) -> VenueHub:
        hub = self._hub
        if "broker" not in hub.open_parts:
            raise BrokerError("the simulated broker is closed", code="closed")
        if hub.failure is not None:
            raise BrokerError(
                f"the simulated venue stopped: {hub.failure}", code="venue_failed"
            ) from hub.failure
        hub.ensure_pump()
        hub.sync()
        return hub

    async def submit_order(
        self, request: OrderRequest, *, until: datetime | None = None
    ) -> OrderUpdate:
        """``until``: when the order stops trading (``SimExchange.submit``; by default a
        DAY order's session close)."""
        hub = self._ready()
        symbol = request.symbol
        coid = request.client_order_id
        if symbol in hub.unknown:
            hub.check_symbol(symbol)
        if not hub.tradable(symbol):
            raise BrokerError(
                f"{symbol} is not tradable at the simulated venue; no order sent",
                code="asset_not_tradable",
            )
        if coid in hub.past_orders:
            raise BrokerError(
                f"client order id {coid} already exists ({symbol}): look the order up instead",
                code="duplicate_client_order_id",
            )
        amount: Decimal | None = None  # a notional order's dollars
        if request.notional is not None or is_fractional(request.qty):
            asset = await self.get_asset(symbol)
            refusal = fractional_refusal(request, fractionable=asset.fractionable)
            if refusal is not None:
                raise BrokerError(
                    f"{refusal} (Alpaca's fractional trading rules, which the simulated "
                    "venue applies); no order sent",
                    code="not_fractionable",
                )
            if request.notional is not None:
                amount = request.notional
                request = self._in_shares(request)
        exchange = self.exchange
        exchange.validate(request)
        now = self.clock.now()
        exchange.watch(symbol, now)
        hub.sync()
        if request.side is Side.BUY:
            if request.order_type is OrderType.LIMIT and request.limit_price is not None:
                unit = request.limit_price
            elif amount is not None:
                # A notional buy holds its amount, as Alpaca's does: its shares were worked
                # out at the ask, so the market buy's cushion would ask for more than it spends.
                unit = amount / request.qty
            else:
                quote = exchange.last_quote(symbol)
                if quote is None or quote.ask <= 0:
                    raise BrokerError(
                        f"no offer for {symbol} to price a market buy against; no order sent",
                        code="no_quote",
                    )
                unit = quote.ask * MARKET_BUY_CUSHION
            self.account.check_buy(symbol, request.qty, unit, hub.reserved_cash())
            hub.unit_reserve[coid] = unit
        else:
            self.account.check_sell(symbol, request.qty, hub.reserved_qty(symbol))
        try:
            order = exchange.submit(request, now, until=until)
        except BrokerError:
            if exchange.order(coid) is None:
                hub.unit_reserve.pop(coid, None)
            raise
        finally:
            hub.track(coid)
            hub.sync()
            hub.poke()
        return order.as_update(now)

    def _in_shares(self, request: OrderRequest) -> OrderRequest:
        """A notional order as the shares its amount buys (or sells) at the far touch."""
        assert request.notional is not None
        self.exchange.watch(request.symbol, self.clock.now())
        self._hub.sync()
        quote = self.exchange.last_quote(request.symbol)
        price = quote.far_touch(request.side) if quote is not None else None
        if price is None or price <= 0:
            raise BrokerError(
                f"no quote for {request.symbol} to turn ${request.notional} into shares; "
                "no order sent",
                code="no_quote",
            )
        qty = floor_qty(request.notional / price)
        if qty <= 0:
            raise BrokerError(
                f"{request.symbol}: ${request.notional} buys no share at {price}; no order sent",
                code="not_fractionable",
            )
        return dataclasses.replace(request, qty=qty, notional=None)

    async def cancel_order(self, client_order_id: str) -> None:
        hub = self._ready()
        try:
            self.exchange.cancel(client_order_id, self.clock.now())
        finally:
            hub.poke()

    async def get_order(self, client_order_id: str) -> BrokerOrder | None:
        self._hub.sync()
        found = self.exchange.order(client_order_id)
        return found if found is not None else self._hub.past_orders.get(client_order_id)

    async def get_fills(self, client_order_id: str) -> list[Fill]:
        """Every execution of the order, including those whose update was lost."""
        hub = self._hub
        hub.sync()
        past = hub.past_fills.get(client_order_id, [])
        return past + [f for f in self.exchange.fills if f.client_order_id == client_order_id]

    async def list_open_orders(self) -> list[BrokerOrder]:
        self._hub.sync()
        return self.exchange.open_orders()

    async def get_positions(self) -> list[Position]:
        hub = self._hub
        hub.sync()
        return self.account.to_positions(hub.marks())

    async def get_account(self) -> Account:
        hub = self._hub
        hub.sync()
        return self.account.to_account(hub.marks(), hub.reserved_cash())

    async def get_asset(self, symbol: str) -> Asset:
        hub = self._hub
        name = hub.check_symbol(symbol)
        found = hub.asset(name)
        fractionable = found.fractionable if found is not None else True
        return Asset(symbol=name, tradable=hub.tradable(name), fractionable=fractionable)

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        hub = self._hub
        if "broker" not in hub.open_parts:
            raise BrokerError("the simulated broker is closed", code="closed")
        queue: asyncio.Queue[Any] = asyncio.Queue()
        hub.update_queues.append(queue)
        hub.ensure_pump()

        def forget() -> None:
            if queue in hub.update_queues:
                hub.update_queues.remove(queue)

        return hub.iterate(queue, forget)

    async def close(self) -> None:
        """Stop delivering updates and save the account (the venue stops with the feed)."""
        await self._hub.close_part("broker")
