"""The local exchange's venue: the simulated market under Alpaca's order handling, on a clock.

``SimExchange`` (quotes, matching, latency) and the paper ledger do the market and
the money; ``orders.OrderManager`` is Alpaca's order handling on top; this module
wires them, runs the tasks that drive them (the venue's events, the session
boundaries, the quote watchers of stops) and answers for the account and the
positions. Every method runs on the server's event loop; nothing here is
thread-safe.

The exchange's clock runs at wall pace from ``clock_start`` (or one hour into the
latest regular session with ``always_open``, or now). ``advance`` moves it forward
for tests and demos: the market between is played in one-second steps (a quiet
market skips to its next event) and every session boundary on the way is handled
at its instant, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from better_orders.core.errors import BrokerError, QuoteError
from better_orders.core.market_calendar import NEW_YORK, default_calendar
from better_orders.core.model import Fill, OrderRequest, Position, Quote, Side
from better_orders.server.account import AccountRules, Held, MarginLedger
from better_orders.server.activities import ActivityLog
from better_orders.server.assets import listing
from better_orders.server.errors import AlpacaError, forbidden, not_found, unprocessable
from better_orders.server.faults import ServerFaults, SwitchableFaultPlan
from better_orders.server.orders.events import TradeUpdates
from better_orders.server.orders.manager import OrderManager
from better_orders.server.orders.model import OrderRecord
from better_orders.server.orders.parse import parse_order
from better_orders.server.orders.schedule import on_boundary, placement
from better_orders.server.orders.shape import order_json
from better_orders.server.portfolio import AccountSnapshot, Ledger
from better_orders.server.replay import load_replay
from better_orders.server.sessions import ExchangeSessions
from better_orders.server.settings import VenueSettings
from better_orders.server.shapes import position_json
from better_orders.server.tape import Tape
from better_orders.venues.assets import AssetInfo, builtin_assets, load_asset_file, plain_asset
from better_orders.venues.sim.account import load_venue_records
from better_orders.venues.sim.book import QuoteBook
from better_orders.venues.sim.broker import SimBroker
from better_orders.venues.sim.clock import SimClock
from better_orders.venues.sim.exchange import SimExchange
from better_orders.venues.sim.hub import VenueHub
from better_orders.venues.sim.source import QuoteSource
from better_orders.venues.sim.venue import SimVenue, default_session_open
from better_orders.venues.tasks import cancel_and_wait

log = logging.getLogger(__name__)
STEP = timedelta(seconds=1)
MAX_ADVANCE = timedelta(days=7)


def exchange_start(settings: VenueSettings, sessions: ExchangeSessions, now: datetime) -> datetime:
    """Where the exchange's clock starts (module docstring)."""
    if settings.clock_start is not None:
        return settings.clock_start
    if not settings.always_open:
        return now
    day = now.date() + timedelta(days=1)
    while True:
        session = sessions.calendar.session_for(day)
        if session is not None and session.open <= now:
            return session.open + timedelta(hours=1)
        day -= timedelta(days=1)


class PaperVenue:
    """The simulated venue with Alpaca's semantics. Build it inside the running loop."""

    def __init__(self, settings: VenueSettings, faults: ServerFaults) -> None:
        self.settings = settings
        self.faults = faults
        self.sessions = ExchangeSessions(default_calendar())
        self.started = exchange_start(settings, self.sessions, datetime.now(UTC))
        self.replay = load_replay(settings.quote_files, self.started, settings.replay_from)
        replayed = self.replay.sources
        master = builtin_assets().with_assets(
            asset for path in settings.asset_files for asset in load_asset_file(path)
        )
        self.assets = listing(
            master,
            unlisted=settings.unknown_symbols,
            untradable=settings.untradable_symbols,
            not_fractionable=settings.non_fractionable_symbols,
            replayed=list(replayed) if replayed else None,
        )
        if replayed:
            book = QuoteBook.replay({s: q.starting_at(self.started) for s, q in replayed.items()})
        else:
            book = self._synthetic_book()
        self.sim, self.hub = _wire(book, settings, SwitchableFaultPlan(faults), self.started)
        ledger = self.sim.account
        assert isinstance(ledger, MarginLedger)
        self.ledger = ledger
        held = ledger.positions.values()
        #: The account when the exchange started: its history is replayed from here.
        self.opening = AccountSnapshot(
            ledger.cash,
            {p.symbol: p.qty for p in held},
            {p.symbol: p.avg_entry_price for p in held if p.avg_entry_price is not None},
        )
        self.rules = AccountRules(ledger, self.assets, margin=not settings.cash_account)
        self.activities = ActivityLog()
        self.updates = TradeUpdates(self.now, ledger.qty, on_fill=self.activities.add)
        self.tape = Tape(self._tape_source, self.sessions, self.now)
        self.orders = OrderManager(
            self,
            self.sessions,
            self.rules,
            faults,
            self.updates,
            replace_remainder=settings.replace_remainder,
        )
        self._done_until = self.started
        self._boundary_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._watchers: dict[str, asyncio.Task[None]] = {}

    def _synthetic_book(self) -> QuoteBook:
        return QuoteBook.synthetic(
            self.started,
            default_session_open(self.started),
            self.settings.seed,
            listed=self.assets.symbols,
        )

    def _tape_source(self, symbol: str) -> tuple[QuoteSource, bool] | None:
        """A fresh copy of ``symbol``'s quotes from where the exchange began (``tape``)."""
        name = self.listed(symbol)
        if name is None:
            return None
        if self.replay.sources:
            replayed = self.replay.for_tape(name)
            return None if replayed is None else (replayed, replayed.has_executions)
        return self._synthetic_book().source(name), False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._venue_events(), name="venue-events"),
            loop.create_task(self._drive_sessions(), name="session-boundaries"),
        ]

    async def close(self) -> None:
        for task in [*self._tasks, *self._watchers.values()]:
            await cancel_and_wait(task)
        await self.sim.close()

    def now(self) -> datetime:
        return self.sim.clock.now()

    async def _venue_events(self) -> None:
        async for update in self.sim.broker.order_updates():
            try:
                await self.orders.on_child_update(update)
            except Exception:  # pragma: no cover - a bug here must not stop the exchange
                log.exception("order update handling failed")

    async def _drive_sessions(self) -> None:
        while True:
            boundary = next(self.sessions.boundaries_after(self._done_until))
            delay = (boundary.at - self.now()).total_seconds()
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    # Not wait_for: on 3.11 it may swallow a cancel that lands with the wake.
                    async with asyncio.timeout(min(delay, 30.0)):
                        await self._wake.wait()
                continue
            await self._run_boundaries(self.now())

    async def _run_boundaries(self, until: datetime) -> None:
        """Handle every session boundary up to ``until``, in order, once."""
        async with self._boundary_lock:
            for boundary in self.sessions.boundaries_after(self._done_until):
                if boundary.at > until:
                    return
                self.hub.sync()
                try:
                    await on_boundary(self.orders, boundary)
                except Exception:  # pragma: no cover - a bug here must not stop the exchange
                    log.exception("session boundary %s failed", boundary.kind)
                self._done_until = boundary.at

    async def advance(self, seconds: float) -> datetime:
        """Move the exchange's clock forward (module docstring); the new time."""
        delta = timedelta(seconds=seconds)
        if not timedelta(0) < delta <= MAX_ADVANCE:
            raise unprocessable(f"advance must be between 0 and {MAX_ADVANCE.days} days")
        target = self.now() + delta
        clock: SimClock = self.sim.clock
        while self.now() < target:
            now = self.now()
            boundary = next(self.sessions.boundaries_after(self._done_until))
            # One-second steps while the market moves; straight to its next event when quiet.
            busy = self.sim.exchange.next_time() or target
            step_to = min(target, max(now + STEP, busy), max(boundary.at, now))
            clock.start += step_to - self.now()
            self.hub.sync()
            self.hub.poke()
            await self._run_boundaries(self.now())
            for _ in range(4):
                await asyncio.sleep(0)
        self._wake.set()
        return self.now()

    # -- the market the order handling works on ------------------------------------------------

    def quote(self, symbol: str) -> Quote | None:
        exchange = self.sim.exchange
        try:
            exchange.watch(symbol, self.now())
        except BrokerError:
            return None
        self.hub.sync()
        return exchange.last_quote(symbol)

    def first_quote_from(self, symbol: str, instant: datetime) -> Quote | None:
        quote = self.quote(symbol)
        if quote is not None and quote.ts >= instant:
            return quote
        when = self.sim.exchange.quotes.peek_time(symbol)
        if when is None:
            return quote
        self.hub.sync(at_least=when)
        return self.sim.exchange.last_quote(symbol)

    def marks(self) -> dict[str, Decimal]:
        return self.hub.marks()

    def position(self, symbol: str) -> Decimal:
        return self.sim.account.qty(symbol)

    async def submit_child(self, request: OrderRequest, until: datetime) -> None:
        await self.sim.broker.submit_order(request, until=until)

    async def cancel_child(self, client_order_id: str) -> None:
        await self.sim.broker.cancel_order(client_order_id)

    def fill_directly(self, fill: Fill) -> None:
        ledger = self.sim.account
        if ledger.path is not None:
            ledger.record(fills=[fill])  # moves the saved account and this one with it
        else:
            ledger.apply_fill(fill)

    def watch(self, symbols: Iterable[str]) -> None:
        wanted = set(symbols)
        for symbol in list(self._watchers):
            if symbol not in wanted:
                self._watchers.pop(symbol).cancel()
        loop = asyncio.get_running_loop()
        for symbol in wanted - set(self._watchers):
            self._watchers[symbol] = loop.create_task(self._watch(symbol), name=f"stops-{symbol}")

    async def _watch(self, symbol: str) -> None:
        stream = self.sim.feed.quotes([symbol])
        try:
            async for quote in stream:
                try:
                    await self.orders.on_quote(quote)
                except Exception:  # pragma: no cover - a bug here must not stop the exchange
                    log.exception("stop handling failed for %s", symbol)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    # -- assets and quotes ---------------------------------------------------------------------

    def asset(self, symbol_or_id: str) -> AssetInfo | None:
        return self.assets.get(symbol_or_id)

    def listed(self, symbol: str) -> str | None:
        """The listed symbol for ``symbol`` (or an asset id), else None."""
        found = self.assets.get(str(symbol))
        return found.symbol if found is not None else None

    async def latest_quote(self, symbol: str) -> Quote | None:
        name = self.listed(symbol)
        if name is None:
            return None
        try:
            return await self.sim.feed.latest_quote(name)
        except (QuoteError, BrokerError):
            return None

    # -- orders --------------------------------------------------------------------------------

    async def submit(self, body: Any) -> OrderRecord:
        config = self.rules.config
        if config.suspend_trade:
            raise forbidden("trading is suspended for this account (suspend_trade)")
        spec = parse_order(body, self.asset)
        whole = spec.qty is not None and spec.qty == spec.qty.to_integral_value()
        if not config.fractional_trading and not whole:
            raise forbidden("fractional trading is disabled for this account (fractional_trading)")
        return await self.orders.submit(spec, placement(spec, self.sessions, self.now()))

    def history(self) -> Ledger:
        """Cash and positions at any instant since the exchange started (``portfolio``)."""
        self.hub.sync()
        return Ledger(self.opening, self.ledger.journal)

    def price_at(self, symbol: str, at: datetime) -> Decimal | None:
        """The close of ``symbol``'s last minute bar before ``at`` on the tape."""
        tape = self.tape.of(symbol)
        if tape is None:
            return None
        bars = tape.minute_bars(self.started - timedelta(days=3650), at - timedelta.resolution)
        return bars[-1].close if bars else None

    def record(self, order_id: str) -> OrderRecord:
        found = self.orders.book.by_id.get(order_id)
        if found is None:
            raise not_found("order not found")
        return found

    def record_by_client_id(self, client_order_id: str) -> OrderRecord:
        found = self.orders.book.by_client_id.get(client_order_id)
        if found is None:
            raise not_found("order not found")
        return found

    async def cancel_all(self) -> list[dict[str, Any]]:
        out = []
        for record in self.orders.book:
            if not record.is_open or record.parent is not None:
                continue
            try:
                await self.orders.cancel(record)
            except AlpacaError as exc:
                out.append({"id": record.id, "status": exc.status, "body": exc.body()})
                continue
            out.append({"id": record.id, "status": 200, "body": order_json(record)})
        return out

    # -- account and positions -----------------------------------------------------------------

    def account(self) -> dict[str, Any]:
        self.hub.sync()
        values = self.rules.values(self.marks(), self.orders.book.reserved())
        return self.rules.account_json(values, self.started)

    def positions(self) -> list[dict[str, Any]]:
        self.hub.sync()
        marks = self.marks()
        out = []
        for symbol, held in sorted(self.sim.account.positions.items()):
            asset = self.assets.get(symbol) or plain_asset(symbol)
            position = Position(symbol, held.qty, held.avg_entry_price, marks.get(symbol))
            side = Side.SELL if held.qty > 0 else Side.BUY
            offered = self._held(symbol, side).qty
            available = held.qty - offered if held.qty > 0 else held.qty + offered
            last = self.rules.day.prices.get(symbol)
            opened_today = last is None
            if opened_today:  # yesterday's close, as Alpaca's lastday_price
                last = self._previous_close(symbol)
            out.append(position_json(position, asset, available, last, opened_today=opened_today))
        return out

    def _previous_close(self, symbol: str) -> Decimal | None:
        """The last close of ``symbol`` before today's session (New York), from its trades."""
        tape = self.tape.of(symbol)
        if tape is None:
            return None
        today = self.now().astimezone(NEW_YORK).date()
        earlier = [b for b in tape.minutes if b.start.astimezone(NEW_YORK).date() < today]
        return earlier[-1].close if earlier else None

    def _held(self, symbol: str, side: Side) -> Held:
        return self.orders.book.held(symbol, side)

    def position_of(self, symbol: str) -> dict[str, Any]:
        name = self.listed(symbol) or symbol.upper()
        for item in self.positions():
            if item["symbol"] == name:
                return item
        raise not_found("position does not exist")


def _wire(
    book: QuoteBook, settings: VenueSettings, faults: SwitchableFaultPlan, start: datetime
) -> tuple[SimVenue, VenueHub]:
    """The simulated venue on a ``MarginLedger`` (Alpaca's checks are the server's own)."""
    exchange = SimExchange(book, latency=settings.latency, faults=faults)
    db = settings.db_path
    cash = settings.starting_cash
    ledger = MarginLedger.load(db, default_cash=cash) if db is not None else MarginLedger(cash)
    clock = SimClock(start)
    hub = VenueHub(
        exchange, ledger, clock, unknown_symbols=(), untradable_symbols=(), autosave=True
    )
    if db is not None:
        hub.restore(*load_venue_records(db))
    broker = SimBroker(exchange, ledger, clock, hub=hub)
    return SimVenue(broker, broker.quote_feed(), clock, exchange, ledger), hub
