"""Alpaca's order handling at the local exchange: accept, work, fill, cancel, replace, end.

Theory of operation. An accepted order is a record (``model``). While its session
rules say it may trade (``schedule`` decides when), it is *worked*: a market or
limit order by one child order at the venue at a time (market or limit, DAY, or
IOC for an ioc order); a stop by watching quotes until its stop price is reached
(``triggers``), then a child; a fill-or-kill, an opening or a closing auction
order by filling it here at one price or not at all. Child updates come back
through ``on_child_update``: fills add to the record (an execution id counts
once), a child that ends tells the record why it was pulled (``pulling``):
canceled by the client, replaced, expired, or parked at the close (gtc). A child
also expires at the venue when its order's hours end (``schedule``).

Events go out on ``trade_updates`` as records change: ``new`` when the venue (or
the order handling, for stops and legs) takes the order, ``partial_fill`` and
``fill``, ``canceled``, ``expired``, ``rejected``, ``pending_replace``,
``replaced`` and ``order_replace_rejected``. Legs follow ``legs``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import Decimal

from better_orders.core.errors import BrokerError
from better_orders.core.model import (
    Fill,
    OrderRequest,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
    floor_qty,
)
from better_orders.core.model import OrderStatus as VenueStatus
from better_orders.core.model import TimeInForce as VenueTif
from better_orders.server.account import AccountRules
from better_orders.server.errors import DUPLICATE_CLIENT_ORDER_ID, AlpacaError, unprocessable
from better_orders.server.faults import ServerFaults
from better_orders.server.orders import legs as classes
from better_orders.server.orders.book import OrderBook
from better_orders.server.orders.checks import pre_trade
from better_orders.server.orders.events import TradeUpdates
from better_orders.server.orders.market import Market
from better_orders.server.orders.model import (
    Kind,
    LegRole,
    OrderClass,
    OrderRecord,
    OrderSpec,
    Status,
    Tif,
)
from better_orders.server.orders.replace import parse_replace, replacement
from better_orders.server.orders.triggers import follow, reference_price, stop_reached
from better_orders.server.sessions import ExchangeSessions


def new_id() -> str:
    return str(uuid.uuid4())


class OrderManager:
    """The order handling of one exchange (module docstring)."""

    def __init__(
        self,
        market: Market,
        sessions: ExchangeSessions,
        rules: AccountRules,
        faults: ServerFaults,
        updates: TradeUpdates,
        *,
        replace_remainder: bool = False,
    ) -> None:
        self.market = market
        self.sessions = sessions
        self.rules = rules
        self.faults = faults
        self.updates = updates
        self.replace_remainder = replace_remainder
        self.book = OrderBook()
        self.created = 0

    # -- client requests -----------------------------------------------------------------------

    async def submit(self, spec: OrderSpec, placement: tuple[dt.date, bool]) -> OrderRecord:
        """Accept ``spec`` (checks first); ``placement`` is its session and whether it works now."""
        if spec.client_order_id in self.book.by_client_id:
            raise AlpacaError(422, DUPLICATE_CLIENT_ORDER_ID, "client_order_id must be unique")
        market = self.market
        verdict = pre_trade(spec, market.quote(spec.symbol), self.book, self.rules, market.marks())
        if self.faults.take("submit_errors"):
            status, code, message = self.faults.submit_error
            raise AlpacaError(status, code, message)
        session, now_working = placement
        record = OrderRecord.from_spec(spec, new_id(), self.market.now(), session)
        record.reserve = verdict.reserve
        record.position_intent = verdict.intent
        record.legs = classes.build_legs(spec, record, new_id, record.created_at)
        for leg in [record, *record.legs]:
            self.book.add(leg)
        self.created += 1
        if spec.tif in (Tif.OPG, Tif.CLS):
            record.status = Status.NEW if now_working else Status.ACCEPTED
        elif now_working:
            await self.work(record)
        else:
            record.status = Status.ACCEPTED
        return record

    async def cancel(self, record: OrderRecord) -> None:
        status = record.effective_status
        if status in (Status.PENDING_REPLACE, Status.PENDING_CANCEL):
            raise unprocessable(f'order is in "{status.value}" state and cannot be canceled yet')
        if status.is_terminal:
            raise unprocessable(f'order is already in "{status.value}" state')
        for other in [*classes.entry_legs(record), *classes.siblings(record)]:
            await self._end(other, "cancel")
        await self._end(record, "cancel")

    async def replace(self, old: OrderRecord, body: object) -> OrderRecord:
        """PATCH: answer with the new order; the outcome follows as trade updates."""
        status = old.effective_status
        if status in (Status.PENDING_NEW, Status.ACCEPTED, Status.PENDING_CANCEL):
            raise unprocessable(f'order is in "{status.value}" state and cannot be replaced')
        if status is Status.PENDING_REPLACE or old.replacing is not None:
            raise unprocessable('order is in "pending_replace" state and cannot be replaced')
        if status.is_terminal:
            raise unprocessable(f'order is already in "{status.value}" state')
        if (
            old.legs
            and old.parent is None
            and old.status is not Status.HELD
            and classes.entry_legs(old)
        ):
            raise unprocessable("replacing the entry of a bracket or oto order is not modelled")
        if self.faults.take("replace_refused"):
            raise unprocessable("order replace refused by the venue")
        change = parse_replace(old, body, remainder=self.replace_remainder)
        coid = change.client_order_id or new_id()
        if coid in self.book.by_client_id:
            raise AlpacaError(422, DUPLICATE_CLIENT_ORDER_ID, "client_order_id must be unique")
        verdict = None
        if old.parent is None and not old.legs:
            # A simple order's replacement is a new order: it passes a new order's checks.
            spec = OrderSpec(
                asset=old.asset,
                side=old.side,
                kind=old.kind,
                tif=change.tif,
                client_order_id=coid,
                qty=change.qty,
                limit_price=change.limit_price,
                stop_price=change.stop_price,
                trail_price=change.trail_price,
                trail_percent=change.trail_percent,
                extended_hours=old.extended_hours,
            )
            market = self.market
            quote = market.quote(old.symbol)
            verdict = pre_trade(spec, quote, self.book, self.rules, market.marks(), replaces=old)
        else:
            self.book.check_wash_trade(old.symbol, old.side, change.limit_price, ignore=old)
        now = self.market.now()
        new = replacement(old, change, new_id(), coid, now)
        if verdict is not None:
            new.reserve, new.position_intent = verdict.reserve, verdict.intent
        self.book.add(new)
        old.replacing = new
        old.updated_at = now
        self.updates.send("pending_replace", old)
        if old.child is None:
            await self._complete_replace(old)
            return new
        if self.faults.take("replace_race"):
            self.faults.race_orders.add(old.child)
        old.pulling = "replace"
        # If the child ended first, its update settles the replace.
        with contextlib.suppress(BrokerError):
            await self.market.cancel_child(old.child)
        return new

    # -- working an order ----------------------------------------------------------------------

    async def work(self, record: OrderRecord) -> None:
        """Put an order to work now (the session rules allow it)."""
        if record.order_class is OrderClass.OCO and record.parent is None:
            for leg in record.legs:
                leg.armed = True
        if record.kind.is_stop and not record.triggered:
            self.mark_new(record)
            self.check_stop(record, self.market.quote(record.symbol))
            if record.triggered:
                await self._fire(record)
            self.rewatch()
            return
        if record.tif is Tif.FOK:
            await self._fill_or_kill(record)
            return
        await self._route(record)
        self.rewatch()

    async def _route(self, record: OrderRecord) -> None:
        """Send the rest of ``record`` to the venue as one child order."""
        market = self.market
        if record.work_qty is None:  # a notional order: its shares at the price now
            assert record.notional is not None
            quote = market.quote(record.symbol)
            touch = quote.far_touch(record.side) if quote is not None else None
            if not touch or touch <= 0:
                self._finish(record, Status.REJECTED, note=f"no quote for {record.symbol}")
                return
            record.work_qty = floor_qty(record.notional / touch)
        market_like = record.kind in (Kind.MARKET, Kind.STOP, Kind.TRAILING_STOP)
        record.children += 1
        child = f"{record.id}/{record.children}"
        request = OrderRequest(
            client_order_id=child,
            symbol=record.symbol,
            side=record.side,
            qty=record.remaining,
            order_type=OrderType.MARKET if market_like else OrderType.LIMIT,
            limit_price=None if market_like else record.limit_price,
            time_in_force=VenueTif.IOC if record.tif is Tif.IOC else VenueTif.DAY,
        )
        self.book.by_child[child] = record
        record.child = child
        # The venue stops the child at the end of its hours (the close, for a gtc order
        # parked over the night too): a cancel sent then would leave it a latency to fill.
        until = self.sessions.trading_until(market.now(), extended_hours=record.extended_hours)
        try:
            await market.submit_child(request, until)
        except BrokerError as exc:
            record.child = None
            self.book.by_child.pop(child, None)
            self._finish(record, Status.REJECTED, note=str(exc))

    async def _fill_or_kill(self, record: OrderRecord) -> None:
        """All of it now at the displayed touch, or nothing (decided on the quote in force)."""
        quote = self.market.quote(record.symbol)
        qty = record.remaining
        touch = quote.far_touch(record.side) if quote is not None else None
        size = quote.far_size(record.side) if quote is not None else None
        marketable = touch is not None and touch > 0 and _within_limit(record, touch)
        if not marketable or size is None or size < qty:
            self._finish(record, Status.CANCELED, note="fill or kill: not fillable in full")
            return
        assert touch is not None
        await self.fill_here(record, qty, touch, "fok")

    async def fill_here(self, record: OrderRecord, qty: Decimal, price: Decimal, what: str) -> None:
        """Fill ``record`` outside the venue's matching (auctions, fill-or-kill)."""
        fill = Fill(
            exec_id=f"{record.id}/{what}",
            client_order_id=record.id,
            symbol=record.symbol,
            side=record.side,
            qty=qty,
            price=price,
            ts=self.market.now(),
        )
        self.market.fill_directly(fill)
        await self._on_fill(record, fill)

    # -- stops ---------------------------------------------------------------------------------

    def watching(self) -> list[OrderRecord]:
        """Stops and armed stop-loss legs waiting for their stop price."""
        return [
            r
            for r in self.book.open()
            if not r.triggered
            and (
                (r.kind.is_stop and r.status in (Status.NEW, Status.PARTIALLY_FILLED))
                or (r.armed and r.status is Status.HELD)
            )
        ]

    def rewatch(self) -> None:
        self.market.watch({r.symbol for r in self.watching()})

    def check_stop(self, record: OrderRecord, quote: Quote | None) -> None:
        """Follow a trailing stop and fire a stop whose price is reached (regular hours only)."""
        price = reference_price(quote)
        if price is None or self.sessions.regular(self.market.now()) is None:
            return
        follow(record, price)
        if stop_reached(record, price):
            record.triggered = True

    async def on_quote(self, quote: Quote) -> None:
        for record in self.watching():
            if record.symbol != quote.symbol:
                continue
            self.check_stop(record, quote)
            if record.triggered:
                await self._fire(record)
        self.rewatch()

    async def _fire(self, record: OrderRecord) -> None:
        """A stop price was reached: the order becomes a market (or limit) order."""
        for other in classes.siblings(record):
            await self._end(other, "cancel")
        self.mark_new(record)
        await self._route(record)

    # -- venue events --------------------------------------------------------------------------

    async def on_child_update(self, update: OrderUpdate) -> None:
        record = self.book.by_child.get(update.client_order_id)
        if record is None:
            return
        if update.fill is not None:
            await self._on_fill(record, update.fill)
        status = update.status
        if status is VenueStatus.NEW and record.status in (Status.PENDING_NEW, Status.ACCEPTED):
            self.mark_new(record)
        elif status.is_terminal and record.child == update.client_order_id:
            record.child = None
            self.book.by_child.pop(update.client_order_id, None)
            if status is not VenueStatus.FILLED:
                await self._child_ended(record, status, update.reason)

    async def _on_fill(self, record: OrderRecord, fill: Fill) -> None:
        if fill.exec_id in record.exec_ids:
            return
        record.exec_ids.add(fill.exec_id)
        record.filled_qty += fill.qty
        record.filled_notional += fill.qty * fill.price
        record.updated_at = fill.ts
        done = record.remaining <= 0
        if done:
            record.status = Status.FILLED
            record.filled_at = fill.ts
        elif record.status is not Status.PENDING_CANCEL:
            record.status = Status.PARTIALLY_FILLED
        self.updates.send("fill" if done else "partial_fill", record, fill=fill)
        for other in classes.siblings(record):
            await self._end(other, "cancel")
        if done:
            if record.replacing is not None:
                self._replace_lost(record)
            for leg in classes.entry_legs(record):
                await self._activate_leg(leg)

    async def _child_ended(
        self, record: OrderRecord, status: VenueStatus, reason: str | None
    ) -> None:
        why, record.pulling = record.pulling, None
        if why == "replace":
            await self._complete_replace(record)
        elif why == "session":
            return  # a gtc order parked over the close
        elif why == "expire":
            self._finish(record, Status.EXPIRED)
        elif status is VenueStatus.EXPIRED:
            # Its hours ended at the venue before the session boundary's own turn.
            if record.tif is not Tif.GTC:
                self._finish(record, Status.EXPIRED)
        elif status is VenueStatus.REJECTED:
            self._finish(record, Status.REJECTED, note=reason)
        else:
            self._finish(record, Status.CANCELED, note=reason)

    # -- ending orders -------------------------------------------------------------------------

    async def end(self, record: OrderRecord, why: str) -> None:
        """End an open order: ``cancel`` or ``expire`` (through the venue when a child works it)."""
        await self._end(record, why)

    async def _end(self, record: OrderRecord, why: str) -> None:
        if not record.is_open:
            return
        if record.child is None:
            self._end_now(record, Status.EXPIRED if why == "expire" else Status.CANCELED)
            return
        record.pulling = why
        if why == "cancel":
            record.status = Status.PENDING_CANCEL
            if self.faults.take("cancel_race"):
                self.faults.race_orders.add(record.child)
        # If it filled or ended on its own, its update follows.
        with contextlib.suppress(BrokerError):
            await self.market.cancel_child(record.child)

    async def park(self, record: OrderRecord) -> None:
        """Take a gtc order's child off the venue over the close; the order stays open."""
        if record.child is None:
            return
        record.pulling = "session"
        with contextlib.suppress(BrokerError):
            await self.market.cancel_child(record.child)

    def _end_now(self, record: OrderRecord, status: Status) -> None:
        if record.is_open:
            self._finish(record, status)

    def _finish(self, record: OrderRecord, status: Status, note: str | None = None) -> None:
        """A terminal status without a fill: tell the client, take the legs along."""
        now = self.market.now()
        record.status = status
        record.updated_at = now
        if note:
            record.notes.append(note)
        if status is Status.CANCELED:
            record.canceled_at = now
        elif status is Status.EXPIRED:
            record.expired_at = now
        elif status is Status.REJECTED:
            record.failed_at = now
        self.updates.send(status.value, record)
        if record.replacing is not None:
            self._replace_lost(record)
        for leg in classes.entry_legs(record):
            self._end_now(leg, status if status is Status.EXPIRED else Status.CANCELED)
        self.rewatch()

    def mark_new(self, record: OrderRecord) -> None:
        if record.status in (Status.NEW, Status.PARTIALLY_FILLED):
            return
        record.status = Status.NEW
        record.updated_at = self.market.now()
        self.updates.send("new", record)

    async def _activate_leg(self, leg: OrderRecord) -> None:
        """The entry filled: the take profit works, the stop loss watches."""
        if leg.role is LegRole.STOP_LOSS:
            leg.armed = True
            self.check_stop(leg, self.market.quote(leg.symbol))
            if leg.triggered:
                await self._fire(leg)
            self.rewatch()
            return
        self.mark_new(leg)
        await self.work(leg)

    # -- replace -------------------------------------------------------------------------------

    async def _complete_replace(self, old: OrderRecord) -> None:
        new = old.replacing
        assert new is not None
        now = self.market.now()
        old.replacing = None
        old.status = Status.REPLACED
        old.replaced_at = now
        old.replaced_by = new.id
        old.updated_at = now
        self._swap_leg(old, new)
        self.updates.send("replaced", old)
        if new.status is Status.HELD:
            self.rewatch()
            return
        await self.work(new)

    def _swap_leg(self, old: OrderRecord, new: OrderRecord) -> None:
        for leg in new.legs:
            leg.parent = new
        parent = old.parent
        if parent is not None:
            parent.legs = [new if leg is old else leg for leg in parent.legs]

    def _replace_lost(self, old: OrderRecord) -> None:
        """The old order filled (or ended) first: Alpaca rejects the replace and its order."""
        new, old.replacing = old.replacing, None
        if new is None:
            return
        old.pulling = None
        if old.child is not None:
            self.faults.race_orders.discard(old.child)
        self.updates.send("order_replace_rejected", old)
        new.legs = []
        self._finish(new, Status.REJECTED, note="the order it replaces ended first")

    # -- helpers for the schedule --------------------------------------------------------------

    def records(self, statuses: Iterable[Status]) -> list[OrderRecord]:
        wanted = set(statuses)
        return [r for r in self.book.open() if r.status in wanted]


def _within_limit(record: OrderRecord, price: Decimal) -> bool:
    limit = record.limit_price
    if limit is None or not record.kind.has_limit:
        return True
    return price <= limit if record.side is Side.BUY else price >= limit
