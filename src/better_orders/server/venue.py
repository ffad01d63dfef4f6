"""Alpaca's order semantics on top of the simulated venue, on the wall clock.

``SimVenue`` (exchange + paper account + pump) does the matching and the money;
this module adds what Alpaca has and the simulator does not: UUID order ids and
timestamps, the ``trade_updates`` event vocabulary, replace (PATCH: a new order
id; the old order becomes ``replaced``, or stays filled and the replacement is
rejected with ``order_replace_rejected`` when a fill wins the race), the wash
trade check. Request bodies are parsed in ``order_requests`` and refusals take
Alpaca's error shape (``errors``).

Every method runs on the server's event loop; nothing here is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from better_orders.config.settings import BetterOrdersConfig, SymbolClass
from better_orders.core.errors import BrokerError, InvalidInputError, QuoteError
from better_orders.core.model import (
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Quote,
    Side,
    normalize_symbol,
)
from better_orders.server import shapes
from better_orders.server.errors import AlpacaError, not_found, unprocessable, venue_refusal
from better_orders.server.faults import ServerFaults, SwitchableFaultPlan
from better_orders.server.order_requests import parse_decimal, parse_order, parse_replace
from better_orders.server.replay import load_replay
from better_orders.server.settings import VenueSettings
from better_orders.server.shapes import OrderRecord
from better_orders.venues.sim.venue import SimVenue

_TERMINALISH = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REPLACED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.DONE_FOR_DAY,
    }
)
_OPEN = frozenset(s for s in OrderStatus if s not in _TERMINALISH)


class PaperVenue:
    """The simulated venue with Alpaca's semantics. Build it inside the running loop."""

    def __init__(self, settings: VenueSettings, faults: ServerFaults) -> None:
        self.settings = settings
        self.faults = faults
        self.started = settings.clock_start or datetime.now(UTC)
        self.plan = SwitchableFaultPlan(faults)
        replay = load_replay(settings.quote_files, self.started, settings.replay_from)
        session_open = self.started - timedelta(hours=1) if settings.always_open else None
        self.sim = SimVenue.create(
            start=self.started,
            seed=settings.seed,
            db_path=settings.db_path,
            replay=replay or None,
            latency=settings.latency,
            faults=self.plan,
            session_open=session_open,
            starting_cash=settings.starting_cash,
            unknown_symbols=settings.unknown_symbols,
            untradable_symbols=settings.untradable_symbols,
        )
        self.non_fractionable = frozenset(settings.non_fractionable_symbols)
        self.untradable = frozenset(settings.untradable_symbols)
        self.orders: dict[str, OrderRecord] = {}  # by client order id
        self.by_id: dict[str, str] = {}
        self.pending: dict[str, OrderRequest] = {}  # replacements not yet at the venue
        self.listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self.orders_created = 0
        self._pump: asyncio.Task[None] | None = None
        self._config = BetterOrdersConfig()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._pump = asyncio.get_running_loop().create_task(self._run(), name="venue-events")

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        await self.sim.close()

    def now(self) -> datetime:
        return self.sim.clock.now()

    # -- symbols -------------------------------------------------------------------------------

    def listed(self, symbol: str) -> str | None:
        """The normalised symbol if the venue lists it, else None."""
        try:
            name = normalize_symbol(symbol)
        except InvalidInputError:
            return None
        return name if self.sim.exchange.knows(name) else None

    def exchange_of(self, symbol: str) -> str:
        klass = self._config.symbol_class(symbol)
        return "NASDAQ" if klass is SymbolClass.STOCK else "ARCA"

    def asset(self, symbol: str) -> dict[str, Any]:
        name = self.listed(symbol)
        if name is None:
            raise not_found(f"asset not found for {symbol}")
        return shapes.asset_json(
            name,
            exchange=self.exchange_of(name),
            tradable=name not in self.untradable,
            fractionable=name not in self.non_fractionable,
        )

    async def latest_quote(self, symbol: str) -> Quote | None:
        name = self.listed(symbol)
        if name is None:
            return None
        try:
            return await self.sim.feed.latest_quote(name)
        except (QuoteError, BrokerError):
            return None

    # -- account -------------------------------------------------------------------------------

    async def account(self) -> dict[str, Any]:
        return shapes.account_json(await self.sim.broker.get_account(), self.started)

    async def positions(self) -> list[dict[str, Any]]:
        return [
            shapes.position_json(p, self.exchange_of(p.symbol))
            for p in await self.sim.broker.get_positions()
        ]

    async def position(self, symbol: str) -> dict[str, Any]:
        name = normalize_symbol(symbol) if self.listed(symbol) else symbol
        for p in await self.sim.broker.get_positions():
            if p.symbol == name:
                return shapes.position_json(p, self.exchange_of(p.symbol))
        raise not_found("position does not exist")

    # -- orders: queries -----------------------------------------------------------------------

    async def _sync_record(self, record: OrderRecord) -> OrderRecord:
        """Bring a record up to the venue's truth (which an event may not have told yet)."""
        snap = await self.sim.broker.get_order(record.client_order_id)
        if snap is not None:
            if snap.filled_qty >= record.filled_qty:
                record.filled_qty = snap.filled_qty
                record.filled_avg_price = snap.filled_avg_price
            if not record.status.is_terminal or snap.status is OrderStatus.FILLED:
                record.status = snap.status
        return record

    async def record_by_id(self, order_id: str) -> OrderRecord:
        coid = self.by_id.get(order_id)
        if coid is None:
            raise not_found("order not found")
        return await self._sync_record(self.orders[coid])

    async def record_by_client_id(self, client_order_id: str) -> OrderRecord:
        record = self.orders.get(client_order_id)
        if record is None:
            raise not_found("order not found")
        return await self._sync_record(record)

    async def list_orders(
        self, status: str, limit: int, direction: str, symbols: set[str] | None, side: str | None
    ) -> list[dict[str, Any]]:
        if status not in ("open", "closed", "all"):
            raise AlpacaError(400, shapes.BAD_REQUEST, f"invalid status {status!r}")
        records = [await self._sync_record(r) for r in list(self.orders.values())]
        if status == "open":
            records = [r for r in records if r.effective_status in _OPEN]
        elif status == "closed":
            records = [r for r in records if r.effective_status in _TERMINALISH]
        if symbols:
            records = [r for r in records if r.symbol in symbols]
        if side:
            records = [r for r in records if r.side.value == side]
        records.sort(key=lambda r: r.created_at, reverse=direction != "asc")
        return [shapes.order_json(r) for r in records[: max(1, min(limit, 500))]]

    # -- orders: submit ------------------------------------------------------------------------

    def _check_wash_trade(self, request: OrderRequest, ignore: str | None = None) -> None:
        """Alpaca refuses an order that could trade against one of the account's own."""
        for other in self.sim.exchange.open_orders():
            if other.symbol != request.symbol or other.side is request.side:
                continue
            if other.client_order_id == ignore:
                continue
            buy_px = request.limit_price if request.side is Side.BUY else other.limit_price
            sell_px = other.limit_price if request.side is Side.BUY else request.limit_price
            if buy_px is None or sell_px is None or buy_px >= sell_px:
                raise AlpacaError(
                    403,
                    shapes.FORBIDDEN,
                    "potential wash trade detected. use complex orders",
                    reject_reason=f"opposite side order {other.broker_order_id} exists",
                )

    async def submit(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create an order; returns (order JSON, whether the 504 fault swallows the answer)."""
        request, extended = parse_order(
            body,
            self.listed,
            non_fractionable=self.non_fractionable,
            untradable=self.untradable,
        )
        if request.client_order_id in self.orders:
            raise unprocessable("client_order_id must be unique")
        self._check_wash_trade(request)
        if self.faults.take("submit_errors"):
            status, code, message = self.faults.submit_error
            raise AlpacaError(status, code, message)
        record = self._new_record(request, extended)
        try:
            await self.sim.broker.submit_order(request)
        except BrokerError as exc:
            self._forget(record)
            raise venue_refusal(exc, request) from None
        self.orders_created += 1
        lost = self.faults.take("lost_responses")
        return shapes.order_json(record), lost

    def _new_record(self, request: OrderRequest, extended: bool) -> OrderRecord:
        now = self.now()
        record = OrderRecord(
            id=str(uuid.uuid4()),
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            qty=request.qty,
            order_type=request.order_type,
            time_in_force=request.time_in_force,
            limit_price=request.limit_price,
            extended_hours=extended,
            created_at=now,
            updated_at=now,
        )
        # Registered before the venue sees the order, so its first event finds the record.
        self.orders[record.client_order_id] = record
        self.by_id[record.id] = record.client_order_id
        return record

    def _forget(self, record: OrderRecord) -> None:
        self.orders.pop(record.client_order_id, None)
        self.by_id.pop(record.id, None)

    # -- orders: cancel ------------------------------------------------------------------------

    async def cancel(self, order_id: str) -> None:
        record = await self.record_by_id(order_id)
        status = record.effective_status
        if status is OrderStatus.PENDING_REPLACE or record.client_order_id in self.pending:
            raise unprocessable(f'order is in "{status.value}" state and cannot be canceled yet')
        if status in _TERMINALISH:
            raise unprocessable(f'order is already in "{status.value}" state')
        if self.faults.take("cancel_race"):
            self.faults.race_orders.add(record.client_order_id)
        try:
            await self.sim.broker.cancel_order(record.client_order_id)
        except BrokerError as exc:
            if exc.code == "not_cancelable":
                raise unprocessable(f'order is already in "{record.status.value}" state') from None
            raise not_found("order not found") from None

    async def cancel_all(self) -> list[dict[str, Any]]:
        out = []
        for record in list(self.orders.values()):
            if (await self._sync_record(record)).effective_status not in _OPEN:
                continue
            try:
                await self.cancel(record.id)
                out.append({"id": record.id, "status": 200, "body": shapes.order_json(record)})
            except AlpacaError as exc:
                out.append({"id": record.id, "status": exc.status, "body": exc.body()})
        return out

    # -- orders: replace -----------------------------------------------------------------------

    async def replace(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH: answer with the NEW order; the outcome follows as trade updates."""
        old = await self.record_by_id(order_id)
        status = old.effective_status
        if old.replacing is not None or old.client_order_id in self.pending:
            raise unprocessable(f'order is in "{status.value}" state and cannot be replaced')
        if status in (OrderStatus.PENDING_NEW, OrderStatus.ACCEPTED):
            raise unprocessable(
                f'order is in "{status.value}" state: it can be replaced once it is new'
            )
        if status in _TERMINALISH:
            raise unprocessable(f'order is already in "{status.value}" state')
        if self.faults.take("replace_refused"):
            raise unprocessable("order replace refused by the venue")
        request = parse_replace(old, body, taken=self.orders)
        self._check_wash_trade(request, ignore=old.client_order_id)
        new = self._new_record(request, old.extended_hours)
        new.replaces = old.id
        self.pending[request.client_order_id] = request
        old.replacing = request.client_order_id
        old.updated_at = self.now()
        if self.faults.take("replace_race"):
            self.faults.race_orders.add(old.client_order_id)
        self._broadcast("pending_replace", old)
        try:
            await self.sim.broker.cancel_order(old.client_order_id)
        except BrokerError:
            # The old order ended between the check above and now: the replace loses.
            self._replace_lost(old)
        return shapes.order_json(new)

    async def _complete_replace(self, old: OrderRecord, update: OrderUpdate) -> None:
        new_coid = old.replacing
        assert new_coid is not None
        new = self.orders[new_coid]
        request = self.pending.pop(new_coid)
        now = self.now()
        old.replacing = None
        old.override = OrderStatus.REPLACED
        old.replaced_at = now
        old.replaced_by = new.id
        old.updated_at = now
        self._broadcast("replaced", old, update=update)
        try:
            await self.sim.broker.submit_order(request)
        except BrokerError as exc:
            new.override = OrderStatus.REJECTED
            new.failed_at = now
            new.notes.append(str(exc))
            self._broadcast("rejected", new)
            return
        self.orders_created += 1

    def _replace_lost(self, old: OrderRecord) -> None:
        """The old order filled (or ended) first: Alpaca rejects the replace and its order."""
        new_coid = old.replacing
        if new_coid is None:
            return
        old.replacing = None
        self.pending.pop(new_coid, None)
        self.faults.race_orders.discard(old.client_order_id)
        self._broadcast("order_replace_rejected", old)
        new = self.orders[new_coid]
        new.override = OrderStatus.REJECTED
        new.failed_at = self.now()
        new.updated_at = new.failed_at
        self._broadcast("rejected", new)

    # -- positions -----------------------------------------------------------------------------

    async def close_position(self, symbol: str, qty_text: str | None) -> dict[str, Any]:
        name = self.listed(symbol)
        held = self.sim.account.qty(name) if name is not None else Decimal(0)
        if name is None or held == 0:
            raise not_found("position does not exist")
        qty = abs(held)
        if qty_text:
            asked = parse_decimal(qty_text, "qty")
            if asked is None or asked <= 0 or asked > qty:
                raise unprocessable(f"invalid qty {qty_text}: the position holds {qty}")
            qty = asked
        body = {
            "symbol": name,
            "qty": str(qty),
            "side": "sell" if held > 0 else "buy",
            "type": "market",
            "time_in_force": "day",
        }
        order, _lost = await self.submit(body)
        return order

    # -- events --------------------------------------------------------------------------------

    async def _run(self) -> None:
        async for update in self.sim.broker.order_updates():
            try:
                await self._on_update(update)
            except Exception:  # pragma: no cover - a bug here must not stop the exchange
                import logging

                logging.getLogger(__name__).exception("venue event handling failed")

    async def _on_update(self, update: OrderUpdate) -> None:
        record = self.orders.get(update.client_order_id)
        if record is None:
            return
        if update.filled_qty >= record.filled_qty:
            record.filled_qty = update.filled_qty
            record.filled_avg_price = update.filled_avg_price
        if not record.status.is_terminal or update.status is OrderStatus.FILLED:
            record.status = update.status
        record.updated_at = update.ts
        status = update.status
        if update.fill is not None:
            if status is OrderStatus.FILLED:
                record.filled_at = update.ts
            event = "fill" if status is OrderStatus.FILLED else "partial_fill"
            self._broadcast(event, record, update=update)
            if status is OrderStatus.FILLED and record.replacing is not None:
                self._replace_lost(record)
            return
        if status is OrderStatus.NEW:
            self._broadcast("new", record, update=update)
        elif status is OrderStatus.CANCELED:
            if record.replacing is not None:
                await self._complete_replace(record, update)
            else:
                record.canceled_at = update.ts
                self._broadcast("canceled", record, update=update)
        elif status is OrderStatus.REJECTED:
            record.failed_at = update.ts
            if update.reason:
                record.notes.append(update.reason)
            self._broadcast("rejected", record, update=update)
            if record.replacing is not None:
                self._replace_lost(record)
        elif status is OrderStatus.EXPIRED:
            self._broadcast("expired", record, update=update)

    def _broadcast(
        self, event: str, record: OrderRecord, *, update: OrderUpdate | None = None
    ) -> None:
        now = self.now()
        if update is not None:
            status = record.override or update.status
            if event in ("fill", "partial_fill"):
                status = update.status
            order = shapes.order_json(
                record,
                status=status,
                filled_qty=update.filled_qty,
                filled_avg_price=update.filled_avg_price,
            )
        else:
            order = shapes.order_json(record)
        data: dict[str, Any] = {
            "event": event,
            "timestamp": shapes.ts(update.ts if update is not None else now),
            "order": order,
        }
        if update is not None and update.fill is not None:
            fill = update.fill
            data.update(
                execution_id=shapes.execution_id(fill.exec_id),
                qty=shapes.num(fill.qty),
                price=shapes.num(fill.price),
                position_qty=shapes.num(self.sim.account.qty(record.symbol)),
                timestamp=shapes.ts(fill.ts),
            )
        message = {"stream": "trade_updates", "data": data}
        for queue in self.listeners:
            queue.put_nowait(message)
