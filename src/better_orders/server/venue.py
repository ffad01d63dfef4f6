"""Alpaca's order semantics on top of the simulated venue, on the wall clock.

``SimVenue`` (exchange + paper account + pump) does the matching and the money;
this module adds what Alpaca has and the simulator does not: UUID order ids and
timestamps, the ``trade_updates`` event vocabulary, replace (PATCH: a new order
id; the old order becomes ``replaced``, or stays filled and the replacement is
rejected with ``order_replace_rejected`` when a fill wins the race), the wash
trade check, and Alpaca's error answers (HTTP status, code, message).

Every method runs on the server's event loop; nothing here is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from better_orders.config.settings import BetterOrdersConfig, SymbolClass
from better_orders.core.errors import BrokerError, InvalidInputError, QuoteError
from better_orders.core.model import (
    QTY_QUANTUM,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
    TimeInForce,
    normalize_symbol,
)
from better_orders.core.ticks import is_on_grid
from better_orders.server import shapes
from better_orders.server.faults import ServerFaults, SwitchableFaultPlan
from better_orders.server.shapes import OrderRecord
from better_orders.venues.sim.account import DEFAULT_CASH
from better_orders.venues.sim.exchange import Latency
from better_orders.venues.sim.files import to_ns
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.venue import SimVenue


class AlpacaError(Exception):
    """An answer in Alpaca's error shape: HTTP status and ``{"code", "message"}``."""

    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return shapes.error_body(self.code, self.message, **self.extra)


def unprocessable(message: str) -> AlpacaError:
    return AlpacaError(422, shapes.UNPROCESSABLE, message)


def not_found(message: str) -> AlpacaError:
    return AlpacaError(404, shapes.NOT_FOUND, message)


@dataclass(frozen=True, slots=True)
class VenueSettings:
    """How the venue is built (the server's configuration, minus HTTP)."""

    seed: int = 0
    db_path: Path | None = None
    quote_files: tuple[tuple[str | None, Path], ...] = ()
    replay_from: datetime | None = None
    #: The exchange's clock starts here and runs at wall pace (default: the real time).
    clock_start: datetime | None = None
    always_open: bool = False
    starting_cash: Decimal = DEFAULT_CASH
    unknown_symbols: tuple[str, ...] = ()
    untradable_symbols: tuple[str, ...] = ()
    non_fractionable_symbols: tuple[str, ...] = ()
    latency: Latency = field(default_factory=Latency)


def shifted_replay(source: ReplayQuotes, offset: timedelta) -> ReplayQuotes:
    """The same rows moved by ``offset`` in time (a recorded morning replayed from now)."""
    shift = np.int64(offset // timedelta(microseconds=1) * 1000)
    return ReplayQuotes(
        symbol=source.symbol,
        ts_ns=source.ts_ns + shift,
        bid_e4=source.bid_e4,
        ask_e4=source.ask_e4,
        bid_sz=source.bid_sz,
        ask_sz=source.ask_sz,
        exec_px_e4=source.exec_px_e4,
        exec_sz=source.exec_sz,
        exec_dir=source.exec_dir,
        exec_hidden=source.exec_hidden,
        path=source.path,
    )


def load_replay(
    files: Iterable[tuple[str | None, Path]], start: datetime, replay_from: datetime | None
) -> dict[str, ReplayQuotes]:
    """Quote files keyed by the symbol to trade them as, shifted so they begin at ``start``.

    Every file is moved by the same offset (the earliest first quote, or
    ``replay_from``, lands on ``start``), so several files stay in step.
    """
    loaded = [ReplayQuotes.from_file(path, symbol=symbol) for symbol, path in files]
    if not loaded:
        return {}
    origin_ns = (
        to_ns(replay_from) if replay_from is not None else min(int(r.ts_ns[0]) for r in loaded)
    )
    offset = timedelta(microseconds=(to_ns(start) - origin_ns) // 1000)
    out: dict[str, ReplayQuotes] = {}
    for source in loaded:
        if source.symbol in out:
            raise InvalidInputError(f"two quote files for {source.symbol}: give one per symbol")
        out[source.symbol] = shifted_replay(source, offset)
    return out


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

    def parse_order(self, body: dict[str, Any]) -> tuple[OrderRequest, bool]:
        """Alpaca's order request (strings or numbers) as an ``OrderRequest`` + extended hours."""
        if not isinstance(body, dict):
            raise AlpacaError(400, shapes.BAD_REQUEST, "request body must be a JSON object")
        symbol_text = str(body.get("symbol") or "")
        symbol = self.listed(symbol_text)
        if symbol is None:
            raise unprocessable(f'asset "{symbol_text}" not found')
        if body.get("notional") is not None:
            raise unprocessable("notional orders are not supported by the local paper exchange")
        qty = _decimal(body.get("qty"), "qty")
        if qty is None or qty <= 0:
            raise unprocessable("qty must be > 0")
        if qty != qty.quantize(QTY_QUANTUM):
            raise unprocessable("qty must have at most 9 decimal places")
        side_text = str(body.get("side") or "")
        if side_text not in ("buy", "sell"):
            raise unprocessable(f"invalid side {side_text!r}")
        kind = str(body.get("type") or body.get("order_type") or "")
        if kind not in ("market", "limit"):
            raise unprocessable(
                f"order type {kind!r} is not supported by the local paper exchange "
                "(market and limit only)"
            )
        tif = str(body.get("time_in_force") or "")
        if tif not in ("day", "ioc"):
            raise unprocessable(
                f"time_in_force {tif!r} is not supported by the local paper exchange (day, ioc)"
            )
        limit = _decimal(body.get("limit_price"), "limit_price")
        if kind == "limit":
            if limit is None or limit <= 0:
                raise unprocessable("limit_price is required for limit orders")
            if not is_on_grid(limit):
                raise unprocessable(
                    f"invalid limit_price {limit}. sub-penny increment does not fulfill "
                    "minimum pricing criteria"
                )
        elif limit is not None:
            raise unprocessable("limit_price must not be given for market orders")
        extended = bool(body.get("extended_hours") or False)
        if extended and not (kind == "limit" and tif == "day"):
            raise unprocessable("extended hours order must be DAY limit orders")
        if qty != qty.to_integral_value():
            if kind != "market" or tif != "day":
                raise unprocessable(
                    "fractional orders must be market orders with day time_in_force"
                )
            if symbol in self.non_fractionable:
                raise unprocessable(f"asset {symbol} is not fractionable")
        if symbol in self.untradable:
            raise unprocessable(f"asset {symbol} is not tradable")
        coid = str(body.get("client_order_id") or uuid.uuid4())
        if len(coid) > 128:
            raise unprocessable("client_order_id must be at most 128 characters")
        request = OrderRequest(
            client_order_id=coid,
            symbol=symbol,
            side=Side(side_text),
            qty=qty,
            order_type=OrderType(kind),
            limit_price=limit,
            time_in_force=TimeInForce(tif),
        )
        return request, extended

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
        request, extended = self.parse_order(body)
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
            raise _venue_refusal(exc, request) from None
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
        if not isinstance(body, dict):
            raise AlpacaError(400, shapes.BAD_REQUEST, "request body must be a JSON object")
        qty = _decimal(body.get("qty"), "qty")
        if qty is None:
            qty = old.qty - old.filled_qty
        if qty <= 0 or qty != qty.quantize(QTY_QUANTUM):
            raise unprocessable(f"invalid qty {qty}")
        limit = _decimal(body.get("limit_price"), "limit_price")
        if old.order_type is OrderType.MARKET and limit is not None:
            raise unprocessable("limit_price cannot be set on a market order")
        if limit is None:
            limit = old.limit_price
        elif not is_on_grid(limit):
            raise unprocessable(
                f"invalid limit_price {limit}. sub-penny increment does not fulfill "
                "minimum pricing criteria"
            )
        tif_text = str(body.get("time_in_force") or old.time_in_force.value)
        if tif_text not in ("day", "ioc"):
            raise unprocessable(f"time_in_force {tif_text!r} is not supported")
        new_coid = str(body.get("client_order_id") or uuid.uuid4())
        if new_coid in self.orders:
            raise unprocessable("client_order_id must be unique")
        request = OrderRequest(
            client_order_id=new_coid,
            symbol=old.symbol,
            side=old.side,
            qty=qty,
            order_type=old.order_type,
            limit_price=limit,
            time_in_force=TimeInForce(tif_text),
        )
        self._check_wash_trade(request, ignore=old.client_order_id)
        new = self._new_record(request, old.extended_hours)
        new.replaces = old.id
        self.pending[new_coid] = request
        old.replacing = new_coid
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
            asked = _decimal(qty_text, "qty")
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


def _decimal(value: object, what: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        text = repr(value) if isinstance(value, float) else str(value).strip()
        result = Decimal(text)
    except InvalidOperation:
        raise unprocessable(f"invalid {what}: {value!r}") from None
    if not result.is_finite():
        raise unprocessable(f"invalid {what}: {value!r}")
    return result


def _venue_refusal(exc: BrokerError, request: OrderRequest) -> AlpacaError:
    """The simulator's refusal in Alpaca's words."""
    code = exc.code
    if code == "insufficient_buying_power":
        return AlpacaError(403, shapes.FORBIDDEN, "insufficient buying power")
    if code == "insufficient_qty":
        return AlpacaError(
            403,
            shapes.FORBIDDEN,
            f"insufficient qty available for order (requested: {request.qty})",
        )
    if code == "unknown_symbol":
        return unprocessable(f'asset "{request.symbol}" not found')
    if code == "asset_not_tradable":
        return unprocessable(f"asset {request.symbol} is not tradable")
    if code == "invalid_price":
        return unprocessable(
            f"invalid limit_price {request.limit_price}. sub-penny increment does not "
            "fulfill minimum pricing criteria"
        )
    if code == "duplicate_client_order_id":
        return unprocessable("client_order_id must be unique")
    return unprocessable(str(exc))
