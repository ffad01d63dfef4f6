"""What one simulated venue's broker and quote feed share: the pump, the subscribers, the records.

One pump task moves the exchange along as (virtual) time passes: it sleeps until
the exchange's next event, wakes early when a submit or cancel creates an
earlier one, calls ``exchange.advance(now)`` and fans the results out to the
subscribers (each ``order_updates()`` / ``quotes()`` iterator has its own
queue). Venue fills are applied to the paper account once, when the venue makes
them (``exchange.take_fills()``), not per subscriber and not from updates, which
faults may drop or duplicate.

Every request also brings the exchange up to the clock first (``sync``), so an
answer is never older than ``clock.now()`` even when the pump has not run yet.

With a file, the venue's orders and fills are saved with the account changes
they cause (one transaction, ``PaperAccount.record``); nothing else writes the
account, so nothing is lost to a snapshot written over another process's fills.
A venue created on that file again is a restart: the orders of the previous one
that were still open are gone from its book and answer as canceled, with the
fills they had, so a journal that missed the end of them can be reconciled.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from better_orders.core.errors import BrokerError, InvalidInputError
from better_orders.core.model import BrokerOrder, Fill, OrderStatus, Side, normalize_symbol
from better_orders.venues.assets import AssetInfo, AssetMaster
from better_orders.venues.sim.account import PaperAccount
from better_orders.venues.sim.exchange import QuoteEvent, SimExchange
from better_orders.venues.tasks import cancel_and_wait

T = TypeVar("T")
ZERO = Decimal(0)
_END = object()


@dataclass(frozen=True, slots=True)
class _Failure:
    """Put on every stream when the pump fails, so subscribers see the error, not silence."""

    error: BaseException


class _Subscription(Generic[T]):
    """One subscriber's stream; ``aclose()`` unsubscribes even before the first item."""

    def __init__(
        self, hub: VenueHub, queue: asyncio.Queue[Any], forget: Callable[[], None]
    ) -> None:
        self._hub = hub
        self._queue = queue
        self._forget: Callable[[], None] | None = forget

    def __aiter__(self) -> _Subscription[T]:
        return self

    async def __anext__(self) -> T:
        if self._forget is None:
            raise StopAsyncIteration
        self._hub.ensure_pump()
        item = await self._queue.get()
        if item is _END:
            self._finish()
            raise StopAsyncIteration
        if isinstance(item, _Failure):
            self._queue.put_nowait(item)  # every later read fails the same way
            raise item.error
        result: T = item
        return result

    async def aclose(self) -> None:
        self._finish()

    def _finish(self) -> None:
        forget, self._forget = self._forget, None
        if forget is not None:
            forget()


class VenueHub:
    """State shared by the broker and the feed of one venue: the pump and the subscribers."""

    def __init__(
        self,
        exchange: SimExchange,
        account: PaperAccount,
        clock: Any,
        *,
        unknown_symbols: Iterable[str],
        untradable_symbols: Iterable[str],
        autosave: bool,
        assets: AssetMaster | None = None,
    ) -> None:
        self.exchange = exchange
        self.assets = assets
        self.account = account
        self.clock = clock
        self.unknown = frozenset(normalize_symbol(s) for s in unknown_symbols)
        self.untradable = frozenset(normalize_symbol(s) for s in untradable_symbols)
        self.autosave = autosave
        self.unit_reserve: dict[str, Decimal] = {}
        self.update_queues: list[asyncio.Queue[Any]] = []
        self.quote_queues: dict[asyncio.Queue[Any], frozenset[str]] = {}
        self.open_parts = {"broker", "feed"}
        self._pump: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self.failure: BaseException | None = None
        #: Orders (and their fills) of an earlier venue on the same file: all ended.
        self.past_orders: dict[str, BrokerOrder] = {}
        self.past_fills: dict[str, list[Fill]] = {}
        #: Orders whose latest saved (status, filled quantity) may still change.
        self._saved: dict[str, tuple[OrderStatus, Decimal] | None] = {}

    @property
    def persisting(self) -> bool:
        return self.autosave and self.account.path is not None

    def restore(self, orders: list[BrokerOrder], fills: list[Fill]) -> None:
        """Take over an earlier venue's records: its open orders died with it (canceled)."""
        died = []
        for order in orders:
            if not order.status.is_terminal:
                order = dataclasses.replace(order, status=OrderStatus.CANCELED)
                died.append(order)
            self.past_orders[order.client_order_id] = order
        for fill in fills:
            self.past_fills.setdefault(fill.client_order_id, []).append(fill)
        if died and self.persisting:
            self.account.record(orders=died)

    def track(self, client_order_id: str) -> None:
        """Save this order (now and whenever it changes) when the venue has a file."""
        if self.persisting and self.exchange.order(client_order_id) is not None:
            self._saved.setdefault(client_order_id, None)

    def _save(self, fills: list[Fill]) -> None:
        """Fills, and orders that changed, with the account they moved: one transaction."""
        changed: dict[str, BrokerOrder] = {}
        for coid in [*self._saved, *(f.client_order_id for f in fills)]:
            order = self.exchange.order(coid)
            if order is None or coid in changed:
                continue
            state = (order.status, order.filled_qty)
            if self._saved.get(coid) != state:
                changed[coid] = order
            if order.status.is_terminal:
                self._saved.pop(coid, None)
            else:
                self._saved[coid] = state
        if fills or changed:
            self.account.record(orders=changed.values(), fills=fills)

    # -- the pump ------------------------------------------------------------------------------

    def ensure_pump(self) -> None:
        """Start the pump on the running loop (a no-op outside one, or once closed)."""
        if self._pump is not None or not self.open_parts:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._pump = loop.create_task(self._run(), name="sim-venue-pump")

    def poke(self) -> None:
        """Wake the pump: a request may have created an event earlier than it sleeps for."""
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def watched(self) -> frozenset[str]:
        symbols: frozenset[str] = frozenset()
        for wanted in self.quote_queues.values():
            symbols |= wanted
        return symbols

    async def _run(self) -> None:
        try:
            await self._pump_events()
        except Exception as exc:
            self.failure = exc
            failed = _Failure(exc)
            for queue in [*self.update_queues, *self.quote_queues]:
                queue.put_nowait(failed)
            raise

    async def _pump_events(self) -> None:
        loop = asyncio.get_running_loop()
        due: datetime | None = None
        while self.open_parts:
            self.sync(due)
            due = None
            when = self.exchange.next_time(self.watched())
            wake: asyncio.Future[None] = loop.create_future()
            self._wake = wake
            cancel_timer: Callable[[], object] | None = None
            if when is not None:
                cancel_timer = self._timer(when, wake)
            try:
                await wake
            finally:
                self._wake = None
                if cancel_timer is not None:
                    cancel_timer()
            if when is not None and self.clock.now() < when <= self.exchange_due_floor():
                due = when

    def exchange_due_floor(self) -> datetime:
        """The latest instant the pump may process up to: the clock, plus a microsecond of slack.

        Float loop time converted to microseconds can read a hair short of a timer's
        instant; without the slack that timer would be re-armed in the past forever.
        """
        now: datetime = self.clock.now()
        return now + timedelta(microseconds=1)

    def _timer(self, when: datetime, wake: asyncio.Future[None]) -> Callable[[], object]:
        def fire() -> None:
            if not wake.done():
                wake.set_result(None)

        call_at = getattr(self.clock, "call_at", None)
        if call_at is not None:
            handle = call_at(when, fire)
            return handle.cancel  # type: ignore[no-any-return]

        async def sleeper() -> None:
            await self.clock.sleep_until(when)
            fire()

        task = asyncio.ensure_future(sleeper())
        return task.cancel

    def sync(self, at_least: datetime | None = None) -> None:
        """Bring the exchange up to the clock; apply fills; deliver events to subscribers."""
        now = self.clock.now()
        if at_least is not None and at_least > now:
            now = at_least
        events = self.exchange.advance(now)
        fills = self.exchange.take_fills()
        if self.persisting:
            self._save(fills)  # moves the saved account, then this one to match it
        else:
            for fill in fills:
                self.account.apply_fill(fill)
        for event in events:
            if isinstance(event, QuoteEvent):
                symbol = event.quote.symbol
                for queue, wanted in self.quote_queues.items():
                    if symbol in wanted:
                        queue.put_nowait(event.quote)
            else:
                for queue in self.update_queues:
                    queue.put_nowait(event)

    def iterate(self, queue: asyncio.Queue[Any], forget: Callable[[], None]) -> _Subscription[Any]:
        return _Subscription(self, queue, forget)

    async def close_part(self, part: str) -> None:
        if part not in self.open_parts:
            return
        self.open_parts.discard(part)
        if part == "broker":
            self.sync()
            for queue in self.update_queues:
                queue.put_nowait(_END)
        else:
            for queue in self.quote_queues:
                queue.put_nowait(_END)
        if not self.open_parts and self._pump is not None:
            pump, self._pump = self._pump, None
            # The pump's own failure was already delivered to every subscriber.
            await cancel_and_wait(pump)

    # -- reservations (the rule is in ``broker``) -----------------------------------------------

    def reserved_cash(self) -> Decimal:
        total = ZERO
        for order in self.exchange.open_orders():
            if order.side is Side.BUY:
                unit = self.unit_reserve.get(order.client_order_id, order.limit_price or ZERO)
                total += unit * (order.qty - order.filled_qty)
        return total

    def reserved_qty(self, symbol: str) -> Decimal:
        return sum(
            (
                o.qty - o.filled_qty
                for o in self.exchange.open_orders()
                if o.side is Side.SELL and o.symbol == symbol
            ),
            ZERO,
        )

    def marks(self) -> dict[str, Decimal]:
        """Mid prices of the latest published quotes, for valuing positions."""
        out: dict[str, Decimal] = {}
        for symbol in self.account.positions:
            quote = self.exchange.last_quote(symbol)
            if quote is not None and quote.bid > 0 and quote.ask > 0:
                out[symbol] = quote.mid
        return out

    def asset(self, symbol: str) -> AssetInfo | None:
        """The asset master's record of ``symbol`` (None: no master, or a replayed symbol)."""
        return self.assets.get(symbol) if self.assets is not None else None

    def tradable(self, symbol: str) -> bool:
        found = self.asset(symbol)
        return symbol not in self.untradable and (found is None or found.can_trade)

    def check_symbol(self, symbol: str) -> str:
        try:
            name = normalize_symbol(symbol)
        except InvalidInputError:
            raise BrokerError(f"unknown symbol {symbol!r}", code="unknown_symbol") from None
        if name in self.unknown or not self.exchange.knows(name):
            raise BrokerError(
                f"unknown symbol {name}: the simulated venue does not list it",
                code="unknown_symbol",
            )
        return name
