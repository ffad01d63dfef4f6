"""A discrete-event simulated exchange: order handling, latency, faults, fills delivered.

Rules of this file:

- Time is an argument. Nothing here reads a clock, sleeps or uses asyncio: the
  caller says what time it is (``submit``, ``cancel``) and how far to run
  (``advance``), so the same object serves the asyncio broker adapter and a
  synchronous replay of thousands of decisions.
- The venue's truth (``order``, ``open_orders``) and what the client has been
  told (the updates ``advance`` returns) are kept apart: an update may be late,
  duplicated or lost, the venue state is not.
- Filled quantity never exceeds the order quantity, whatever the fill path.

Theory of operation. Three kinds of things happen at venue instants, merged in
time order (ties in this order): a quote row from the ``QuoteBook`` (published
to the client with ``Latency.market_data``, 0 by default), an arrival at the
venue (a submit at ``now + Latency.submit``, a cancel at ``now + Latency.cancel``),
and a delivery of an update to the client (venue time + ``Latency.update``,
plus any fault delay). ``advance(until)`` processes everything up to ``until``
and returns what the client saw: ``QuoteEvent`` and ``OrderUpdate`` values.

Which orders fill, how much and at what price is the fill model (``fills``):
top of book only, displayed size is the liquidity, a resting limit fills at its
limit after the queue ahead of it, real trades when the quotes carry them. This
file carries the fills out and tells the client.

Fills are observable two ways: on the updates (each carries its ``Fill``) and,
since updates can be dropped, from the venue itself through ``take_fills()``,
which is how the broker adapter keeps the paper account exact.

Sessions. An order may trade until an instant of its own (``submit``'s ``until``),
a DAY order by default until the close of the regular session under way or next
when it is submitted (the calendar's: 16:00, or 13:00 on an early-close day), as
a real venue's does. At that instant, before anything else stamped with it, an
order still open at the venue expires (an ``expired`` update, what it filled
stays filled); one still on its way there expires when it arrives.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count

from better_orders.core.errors import BrokerError, InvalidInputError
from better_orders.core.market_calendar import (
    MarketCalendar,
    default_calendar,
    format_et_seconds,
)
from better_orders.core.model import (
    QTY_QUANTUM,
    BrokerOrder,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Quote,
    TimeInForce,
    normalize_symbol,
)
from better_orders.venues.sim.book import QuoteBook
from better_orders.venues.sim.faults import FaultPlan
from better_orders.venues.sim.fills import (
    MakeFill,
    TopOfBook,
    on_quote,
    on_trade,
    requeue,
    same_book,
    take,
)
from better_orders.venues.sim.orders import VenueOrder, broker_order_id, check_price_grid
from better_orders.venues.sim.source import Execution

ZERO = Decimal(0)
MAX_CLIENT_ORDER_ID = 128
_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Latency:
    """One-way delays: client to venue (``submit``, ``cancel``), venue to client (``update``)."""

    submit: timedelta = timedelta(milliseconds=30)
    cancel: timedelta = timedelta(milliseconds=30)
    update: timedelta = timedelta(milliseconds=5)
    market_data: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        for name in ("submit", "cancel", "update", "market_data"):
            if getattr(self, name) < timedelta(0):
                raise InvalidInputError(f"latency {name} cannot be negative: {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class QuoteEvent:
    """A quote published to the client."""

    quote: Quote


SimEvent = QuoteEvent | OrderUpdate


# Timeline entry kinds; the tuple's second field orders same-instant entries.
_SUBMIT, _CANCEL, _DELIVER, _PUBLISH = 0, 1, 2, 3
_PRIORITY = (1, 1, 2, 2)  # by kind


class SimExchange:
    """The simulated venue. See the module docstring for the rules and the fill model."""

    def __init__(
        self,
        quotes: QuoteBook,
        *,
        latency: Latency = Latency(),
        faults: FaultPlan | None = None,
        queue_share: Decimal = Decimal(1),
        calendar: MarketCalendar | None = None,
    ) -> None:
        self._book = quotes
        #: The sessions whose closes end DAY orders (the NYSE's unless given).
        self._calendar = calendar
        self._next_row_time = quotes.peeker()
        self._pop_row = quotes.popper()
        #: Share of the displayed size at its price ahead of a joining limit (``fills.requeue``).
        self._queue_share = queue_share
        self._latency = latency
        #: The delays read on every row and update (``latency`` is immutable).
        self._market_delay = latency.market_data
        self._update_delay = latency.update
        self._faults = faults if faults is not None else FaultPlan()
        self._now: datetime | None = None
        self._timeline: list[tuple[datetime, int, int, int, object]] = []
        self._seq = count()
        self._orders: dict[str, VenueOrder] = {}
        self._resting: dict[str, list[VenueOrder]] = {}
        self._tops: dict[str, TopOfBook] = {}
        self._published: dict[str, Quote] = {}
        self._outbox: list[SimEvent] = []
        self._fills: list[Fill] = []
        self._fills_taken = 0
        self._updates_made = 0
        #: Orders by the instant they stop trading (``until``), and the earliest of those.
        self._expiring: dict[datetime, list[VenueOrder]] = {}
        self._next_expiry: datetime | None = None

    # -- properties ----------------------------------------------------------------------------

    @property
    def now(self) -> datetime | None:
        """The venue instant everything has been processed up to (None before the first call)."""
        return self._now

    @property
    def latency(self) -> Latency:
        return self._latency

    @property
    def faults(self) -> FaultPlan:
        return self._faults

    @property
    def quotes(self) -> QuoteBook:
        return self._book

    @property
    def fills(self) -> tuple[Fill, ...]:
        """Every fill the venue has made, in order (including those whose update was lost)."""
        return tuple(self._fills)

    @property
    def updates_made(self) -> int:
        """Updates the venue has made about orders (delivered or not): it changes whenever an
        order's status or filled quantity does."""
        return self._updates_made

    @property
    def fill_count(self) -> int:
        """``len(fills)`` without copying them."""
        return len(self._fills)

    def take_fills(self) -> list[Fill]:
        """Fills made since the previous call: apply each to an account exactly once."""
        new = self._fills[self._fills_taken :]
        self._fills_taken = len(self._fills)
        return new

    # -- client requests -----------------------------------------------------------------------

    def knows(self, symbol: str) -> bool:
        return self._book.knows(symbol)

    def watch(self, symbol: str, now: datetime) -> None:
        """Start quoting ``symbol`` (its first row is the quote in force at ``now``)."""
        self._clock(now)
        self._watch(symbol)

    def _watch(self, symbol: str) -> None:
        """``watch`` at the venue's current time."""
        try:
            self._book.source(symbol, self._now)
        except InvalidInputError:
            raise BrokerError(
                f"unknown symbol {symbol}: the simulated venue has no quotes for it",
                code="unknown_symbol",
            ) from None

    def validate(self, request: OrderRequest) -> None:
        """Every check ``submit`` makes before accepting, without side effects."""
        symbol = request.symbol
        try:
            well_formed = normalize_symbol(symbol) == symbol
        except InvalidInputError:
            well_formed = False
        if not well_formed or not self._book.knows(symbol):
            raise BrokerError(
                f"unknown symbol {symbol!r}: the simulated venue has no quotes for it",
                code="unknown_symbol",
            )
        coid = request.client_order_id
        if not coid or len(coid) > MAX_CLIENT_ORDER_ID:
            raise BrokerError(
                f"client order id for {symbol} must be 1-{MAX_CLIENT_ORDER_ID} characters, "
                f"got {len(coid)}",
                code="invalid_client_order_id",
            )
        if coid in self._orders:
            raise BrokerError(
                f"client order id {coid} already exists ({symbol}): look the order up instead",
                code="duplicate_client_order_id",
            )
        if request.qty != request.qty.quantize(QTY_QUANTUM):
            raise BrokerError(
                f"{symbol} quantity {request.qty} has more than 9 decimals", code="invalid_qty"
            )
        if request.limit_price is not None:
            check_price_grid(symbol, request.limit_price)

    def submit(
        self, request: OrderRequest, now: datetime, *, until: datetime | None = None
    ) -> BrokerOrder:
        """Accept an order (``pending_new``); it reaches the venue at ``now + latency.submit``.

        ``until``: the instant it stops trading and expires; by default a DAY order's
        session close (module docstring), never for an IOC order, which does not rest.

        Raises ``BrokerError`` for invalid requests and for injected submit faults (for
        ``timeout`` the order IS created: look it up by client order id).
        """
        now = self._clock(now)
        self.validate(request)
        fault = self._faults.on_submit(request.client_order_id) if self._faults.active else None
        if fault is not None and fault.kind == "error":
            raise BrokerError(
                f"{request.symbol} order {request.client_order_id}: {fault.message}",
                code=fault.code,
                retryable=fault.retryable,
            )
        self._watch(request.symbol)  # the venue is at ``now`` already
        order = VenueOrder(request, broker_order_id(request.client_order_id), now, next(self._seq))
        if fault is not None and fault.kind == "reject":
            order.reject_reason = fault.message
        self._orders[request.client_order_id] = order
        expires = until if until is not None else self._session_close(request, now)
        if expires is not None:
            order.expires = expires
            self._expiring.setdefault(expires, []).append(order)
            if self._next_expiry is None or expires < self._next_expiry:
                self._next_expiry = expires
        self._schedule(now + self._latency.submit, _SUBMIT, order)
        if fault is not None and fault.kind == "lost_response":
            raise BrokerError(
                f"{request.symbol} order {request.client_order_id}: {fault.message}",
                code=fault.code,
                retryable=True,
            )
        return order.snapshot()

    def cancel(self, client_order_id: str, now: datetime) -> None:
        """Ask for a cancel; it reaches the venue at ``now + latency.cancel``.

        Fills before it arrives count; if the order fills first, the client gets the
        ``filled`` update and nothing else.
        """
        now = self._clock(now)
        order = self._orders.get(client_order_id)
        if order is None:
            raise BrokerError(
                f"no order with client order id {client_order_id} to cancel", code="not_found"
            )
        if order.status.is_terminal:
            raise BrokerError(
                f"{order.request.symbol} order {client_order_id} is already {order.status.value}: "
                "it cannot be canceled",
                code="not_cancelable",
            )
        self._schedule(now + self._latency.cancel, _CANCEL, order)

    # -- queries -------------------------------------------------------------------------------

    def order(self, client_order_id: str) -> BrokerOrder | None:
        """The venue's truth about an order (even when an update about it was lost)."""
        found = self._orders.get(client_order_id)
        return found.snapshot() if found is not None else None

    def order_progress(self, client_order_id: str) -> tuple[OrderStatus, Decimal] | None:
        """An order's status and filled quantity: ``order`` without building a snapshot."""
        found = self._orders.get(client_order_id)
        return None if found is None else (found.status, found.filled_qty)

    def queue_ahead(self, client_order_id: str) -> Decimal | None:
        """Displayed shares ahead of a resting limit at its price; None while its place is unknown.

        The venue's own state (``fills``), read by a replay that skips quote rows.
        """
        order = self._orders.get(client_order_id)
        if order is None:
            raise BrokerError(f"no order with client order id {client_order_id}", code="not_found")
        return order.ahead

    def open_orders(self) -> list[BrokerOrder]:
        """Orders not yet terminal at the venue (including those still in flight to it)."""
        return [o.snapshot() for o in self._orders.values() if not o.status.is_terminal]

    def last_quote(self, symbol: str) -> Quote | None:
        """The latest quote published to the client for ``symbol``."""
        return self._published.get(symbol)

    def next_time(self, symbols: set[str] | frozenset[str] | None = None) -> datetime | None:
        """The earliest pending quote, arrival or delivery.

        With ``symbols``, only quotes of those symbols (and of symbols with orders resting
        at the venue, which a quote may fill) count: a driver that does not watch the
        other symbols need not wake up for them.
        """
        head = self._timeline[0][0] if self._timeline else None
        expiry = self._pending_expiry()
        if expiry is not None and (head is None or expiry < head):
            head = expiry
        book = self._book
        if symbols is None:
            quote_time = book.peek_time()
        else:
            quote_time = None
            for symbol in symbols:
                when = book.peek_time(symbol)
                if when is not None and (quote_time is None or when < quote_time):
                    quote_time = when
            for symbol, rest in self._resting.items():
                if rest and symbol not in symbols:
                    when = book.peek_time(symbol)
                    if when is not None and (quote_time is None or when < quote_time):
                        quote_time = when
        if head is None:
            return quote_time
        if quote_time is None:
            return head
        return min(head, quote_time)

    def advance(self, until: datetime) -> list[SimEvent]:
        """Process everything up to ``until``; what the client saw, in delivery order."""
        self._clock(until)
        out, self._outbox = self._outbox, []
        return out

    # -- the event loop ------------------------------------------------------------------------

    def _clock(self, now: datetime) -> datetime:
        """Bring the venue to ``now`` (an earlier instant counts as the venue's current time)."""
        if now.tzinfo is None:
            raise InvalidInputError(f"time {now.isoformat()} has no time zone: give an aware time")
        if self._now is None or now >= self._now:
            # Also at the same instant: a source just added may hold a row already due.
            self._process(now)
            self._now = now
        return self._now

    def _schedule(self, when: datetime, kind: int, payload: object) -> None:
        heapq.heappush(self._timeline, (when, _PRIORITY[kind], next(self._seq), kind, payload))

    def _session_close(self, request: OrderRequest, now: datetime) -> datetime | None:
        """When a DAY order submitted at ``now`` expires: the close of the regular session
        under way, else of the next one (None outside the calendar's years)."""
        if request.time_in_force is not TimeInForce.DAY:
            return None
        calendar = self._calendar
        if calendar is None:
            calendar = self._calendar = default_calendar()
        try:
            session = calendar.session_at(now)
            if session is None or now >= session.close:
                session = calendar.session_at(calendar.next_open(now))
        except InvalidInputError:
            return None
        return None if session is None else session.close

    def _pending_expiry(self) -> datetime | None:
        """The earliest instant at which an order not yet ended expires (instants whose
        orders all ended first are forgotten, so they wake no one)."""
        expiring = self._expiring
        while (expiry := self._next_expiry) is not None:
            if any(not order.status.is_terminal for order in expiring[expiry]):
                return expiry
            del expiring[expiry]
            self._next_expiry = min(expiring, default=None)
        return None

    def _process(self, until: datetime) -> None:
        """Everything up to ``until``; at an expiry instant the expiries come first."""
        expiry = self._next_expiry
        while expiry is not None and expiry <= until:
            self._run(expiry - _ONE_MICROSECOND)  # instants are whole microseconds
            self._expire(expiry)
            expiry = self._next_expiry
        self._run(until)

    def _expire(self, at: datetime) -> None:
        """End the orders whose time is up at ``at`` (those still in flight end on arrival)."""
        orders = self._expiring.pop(at)
        self._next_expiry = min(self._expiring, default=None)
        for order in orders:
            if order.at_venue and not order.status.is_terminal:
                order.status = OrderStatus.EXPIRED
                self._unrest(order)
                self._emit(order, at, reason=f"its session ended at {format_et_seconds(at)}")

    def _run(self, until: datetime) -> None:
        timeline, outbox = self._timeline, self._outbox
        next_row_time, pop_row = self._next_row_time, self._pop_row
        # Only taking a row moves the book: what happens at the venue in between cannot.
        quote_time = next_row_time()
        while True:
            if timeline and (quote_time is None or timeline[0][0] < quote_time):
                if timeline[0][0] > until:
                    return
                when, _prio, _seq, kind, payload = heapq.heappop(timeline)
                if kind == _DELIVER:
                    assert isinstance(payload, OrderUpdate)
                    outbox.append(payload)
                elif kind == _PUBLISH:
                    assert isinstance(payload, Quote)
                    self._publish(payload)
                elif kind == _SUBMIT:
                    assert isinstance(payload, VenueOrder)
                    self._on_submit_arrival(payload, when)
                else:
                    assert isinstance(payload, VenueOrder)
                    self._on_cancel_arrival(payload, when)
            elif quote_time is not None and quote_time <= until:
                self._on_market(*pop_row())
                quote_time = next_row_time()
            else:
                return

    def _publish(self, quote: Quote) -> None:
        self._published[quote.symbol] = quote
        self._outbox.append(QuoteEvent(quote))

    def _on_market(self, quote: Quote, execution: Execution | None) -> None:
        if execution is not None and execution.is_print:
            top = self._tops.get(quote.symbol)
            if top is not None and same_book(top.quote, quote):
                # A print row repeats the book: nothing to publish or replenish.
                resting = self._resting.get(quote.symbol)
                if resting:
                    on_trade(resting, execution, self._filler(quote.ts))
                return
        top = TopOfBook(quote)
        symbol = quote.symbol
        self._tops[symbol] = top
        delay = self._market_delay
        if delay:
            self._schedule(quote.ts + delay, _PUBLISH, quote)
        else:
            self._published[symbol] = quote
            self._outbox.append(QuoteEvent(quote))
        resting = self._resting.get(symbol)
        if resting:
            fill = self._filler(quote.ts)
            if execution is not None:
                # The trade happened before the book this row shows: it meets the queues
                # as they stood.
                on_trade(resting, execution, fill)
            on_quote(resting, top, fill, self._queue_share)

    def _on_submit_arrival(self, order: VenueOrder, now: datetime) -> None:
        if order.status.is_terminal:
            return  # canceled while still in flight
        order.at_venue = True
        if order.reject_reason is not None:
            order.status = OrderStatus.REJECTED
            self._emit(order, now, reason=order.reject_reason)
            return
        expires = order.expires
        if expires is not None and now >= expires:
            order.status = OrderStatus.EXPIRED
            self._emit(order, now, reason=f"its session ended at {format_et_seconds(expires)}")
            return
        order.status = OrderStatus.NEW
        self._emit(order, now)
        self._resting.setdefault(order.request.symbol, []).append(order)
        top = self._tops.get(order.request.symbol)
        if top is not None:
            take(order, top, self._filler(now))
            if order.request.limit_price is not None and not order.status.is_terminal:
                # What is left joins the queue at its limit.
                requeue(order, top.quote, self._queue_share)
        if order.request.time_in_force is TimeInForce.IOC and not order.status.is_terminal:
            self._cancel_now(order, now, reason="immediate-or-cancel remainder")

    def _on_cancel_arrival(self, order: VenueOrder, now: datetime) -> None:
        if order.status.is_terminal:
            return  # it filled (or was canceled) first; the client already has that update
        if order.at_venue and self._faults.active and self._fill_on_cancel(order, now):
            return
        self._cancel_now(order, now)

    def _cancel_now(self, order: VenueOrder, now: datetime, reason: str | None = None) -> None:
        order.status = OrderStatus.CANCELED
        self._unrest(order)
        self._emit(order, now, reason=reason)

    def _fill_on_cancel(self, order: VenueOrder, now: datetime) -> bool:
        """The fill-during-cancel fault: the remainder fills just before the cancel lands."""
        request = order.request
        top = self._tops.get(request.symbol)
        touch = None
        if top is not None:
            touch = top.quote.far_touch(request.side)
            touch = touch if touch > 0 else None
        # A limit at the venue rests, and a resting limit fills at its limit.
        price = request.limit_price if request.limit_price is not None else touch
        if price is None:
            return False
        if not self._faults.on_cancel_arrival(request.client_order_id):
            return False
        while order.remaining > 0:
            self._fill(order, order.remaining, price, now)
        return True

    def _filler(self, now: datetime) -> MakeFill:
        """``_fill`` at the instant ``now``, for the fill model."""
        return lambda order, qty, price: self._fill(order, qty, price, now)

    def _fill(self, order: VenueOrder, qty: Decimal, price: Decimal, now: datetime) -> Decimal:
        """Fill up to ``qty`` (never beyond the remainder); returns what was filled."""
        qty = min(qty, order.remaining)
        if self._faults.active:
            qty = self._faults.cap_fill(order.request.client_order_id, qty)
        if qty <= 0:
            return ZERO
        request = order.request
        order.filled_qty += qty
        order.notional += qty * price
        order.fills += 1
        fill = Fill(
            exec_id=f"{order.broker_order_id}-{order.fills}",
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            qty=qty,
            price=price,
            ts=now,
        )
        self._fills.append(fill)
        if order.remaining == 0:
            order.status = OrderStatus.FILLED
            self._unrest(order)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
        self._emit(order, now, fill=fill)
        return qty

    def _unrest(self, order: VenueOrder) -> None:
        resting = self._resting.get(order.request.symbol)
        if resting and order in resting:
            resting.remove(order)

    def _emit(
        self,
        order: VenueOrder,
        now: datetime,
        *,
        fill: Fill | None = None,
        reason: str | None = None,
    ) -> None:
        self._updates_made += 1
        update = OrderUpdate(
            client_order_id=order.request.client_order_id,
            status=order.status,
            filled_qty=order.filled_qty,
            ts=now,
            filled_avg_price=order.avg_price,
            broker_order_id=order.broker_order_id,
            fill=fill,
            reason=reason,
        )
        at = now + self._update_delay
        if self._faults.active:
            fault = self._faults.on_update(update)
            for _ in range(fault.copies):
                self._schedule(at + fault.delay, _DELIVER, update)
        else:
            self._schedule(at, _DELIVER, update)
