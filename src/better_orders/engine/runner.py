"""The asyncio driver: feeds events to ladders and carries out their actions.

Rules of this file:

* **Journalled first.** Every order is recorded before it is sent, and every broker
  event and fill before the ladder sees it. The writes run on the journal's own
  thread (``store.writer``): the ladder waits for its write, the event loop does not.
* **Nothing blocks the loop, nothing is dropped that matters.** Each ladder has an
  ``Inbox``: its broker events in order, and only the latest quote. Requests go
  through one retry layer (``retry``) within one request budget (``rate_limit``),
  cancels first. The kill switch is polled by one timer for every ladder.
* **A failure anywhere stops everything, visibly.** If a ladder, the order-update
  pump, the quote pump, the book refresher or the halt watcher fails (a journal
  error, a broker error that outlived its retries, a bug), every order of the run
  that may be open is cancelled and confirmed ended (``containment``), each ladder
  reports as far as it got, and the run raises ``RunFailedError`` saying what
  failed and what became of the orders. Only a cancellation (the process being
  stopped) skips this, like a kill would.
* **The quotes around each fill are journalled** (``markouts``): a parent's arrival
  quote before its first order, the quote at a fill with the fill, and the quotes some
  seconds after it, for which a run that has finished trading waits, unless a later
  batch takes them over (``marks_to`` / ``marks_from``).
* **Freshness is confirmed, not assumed.** A symbol whose stream is quiet for a
  while is refreshed from REST (``freshness``); the feed's heartbeat, where it has
  one, confirms it instead.

Timers use the given clock, so on the simulator's virtual-time loop a 90-second
wait costs no wall time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from better_orders.core.errors import (
    BUYING_POWER,
    BetterOrdersError,
    BrokerError,
    JournalError,
    QuoteError,
    RiskLimitError,
    RunFailedError,
)
from better_orders.core.ladder import (
    Action,
    CancelFailed,
    CancelOrder,
    Event,
    Finished,
    Halt,
    Ladder,
    QueryOrder,
    QuoteArrived,
    SetTimer,
    Start,
    SubmitFailed,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.market_calendar import MarketCalendar
from better_orders.core.model import (
    ZERO,
    ExecutionReport,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Quote,
    Side,
)
from better_orders.engine.containment import OrderCloser, closing_summary, describe_failure
from better_orders.engine.freshness import BookConfirmations
from better_orders.engine.legs import LadderEvent, Leg, LegState
from better_orders.engine.markouts import FillMarks, MarksRelay
from better_orders.engine.quotes import QuoteDesk
from better_orders.engine.retry import BrokerRetry, OrderStateUnknown, RetryBudget
from better_orders.engine.run_journal import JournalLike, RunJournal
from better_orders.store.ids import client_order_id
from better_orders.store.records import QuoteMark
from better_orders.venues.base import Broker, Clock, QuoteFeed
from better_orders.venues.rate_limit import MeteredBroker, Priority, RateLimiter

log = logging.getLogger(__name__)

#: How long a finished ladder's live child may take to be confirmed ended.
SETTLE_WITHIN = timedelta(seconds=10)


class Runner:
    """Drives ladders against a broker and a quote feed.

    ``pre_submit(request, last_quote)`` runs before every order is journalled and sent
    (the pre-trade risk checks); a ``RiskLimitError`` or ``BrokerError`` it raises
    refuses the order: the refusal is journalled as a rejected order and the ladder
    gets ``SubmitFailed``. ``halt()`` is polled every ``halt_poll_seconds``; once it
    returns a reason (the kill switch), nothing more is sent, every working order is
    cancelled and every ladder ends.

    The request budget is the broker's own when it keeps one (``MeteredBroker``),
    lowered to ``requests_per_minute`` and ``orders_per_minute``; else the runner
    keeps it. A symbol quiet for ``quiet_seconds`` (default: half the shortest quote
    age a ladder accepts) is refreshed from REST. A failed run's orders are given
    ``close_within_seconds`` to be confirmed ended. The quote in force ``markout_seconds``
    after each fill is journalled (``markouts``); the run waits for the last of them.
    """

    def __init__(
        self,
        broker: Broker,
        feed: QuoteFeed,
        clock: Clock,
        calendar: MarketCalendar,
        *,
        run_id: str,
        journal: JournalLike | None = None,
        requests_per_minute: int = 180,
        orders_per_minute: int | None = None,
        observer: Callable[[LadderEvent], None] | None = None,
        pre_submit: Callable[[Any, Quote | None], object] | None = None,
        halt: Callable[[], str | None] | None = None,
        halt_poll_seconds: float = 1.0,
        quiet_seconds: float | None = None,
        close_within_seconds: float = 30.0,
        retry: RetryBudget | None = None,
        markout_seconds: Sequence[float] = (),
    ) -> None:
        self.broker = broker
        self.feed = feed
        self.clock = clock
        self.calendar = calendar
        self.run_id = run_id
        self.journal = journal
        if isinstance(broker, MeteredBroker):
            self.limiter = broker.budget
            self.limiter.tighten(requests_per_minute, orders_per_minute)
        else:
            self.limiter = RateLimiter(
                clock, requests_per_minute, submits_per_minute=orders_per_minute
            )
        self.calls = BrokerRetry(broker, clock, self.limiter, retry)
        self.observer = observer
        self.pre_submit = pre_submit
        self.halt = halt
        self.halt_poll = timedelta(seconds=halt_poll_seconds)
        self.quiet_seconds = quiet_seconds
        self.close_within = timedelta(seconds=close_within_seconds)
        #: Why the run was halted, once it was.
        self.halted: str | None = None
        #: Orders that were working when the run was halted (each was asked to cancel).
        self.halt_working: list[str] = []
        self.books = BookConfirmations(feed, timedelta(seconds=quiet_seconds or 2.5))
        self.quotes = QuoteDesk(feed, clock, self.books, self._deliver_quote, self._live_symbols)
        self._states: list[LegState] = []
        #: Orders refused before they were sent: there is nothing to cancel at the broker.
        self._refused: set[str] = set()
        #: Orders that may be at the broker (journalled, then sent), and those known ended.
        self._by_coid: dict[str, LegState] = {}
        self._ended: set[str] = set()
        self._by_symbol: dict[str, list[LegState]] = {}
        self._journal = RunJournal(None, run_id)
        self.marks = FillMarks(run_id, clock, markout_seconds, self._write_marks)
        self.foreign_updates: list[OrderUpdate] = []

    def client_order_id(self, leg: int, attempt: int) -> str:
        return client_order_id(self.run_id, leg, attempt)

    def _coid_factory(self, leg: int, first_attempt: int = 1) -> Callable[[int], str]:
        # The ladder numbers its attempts from 1; a resumed leg's start after the journal's.
        def make(attempt: int) -> str:
            return self.client_order_id(leg, attempt + first_attempt - 1)

        return make

    # -- public ---------------------------------------------------------------------------

    async def run(
        self,
        legs: list[Leg],
        *,
        marks_from: MarksRelay | None = None,
        marks_to: MarksRelay | None = None,
    ) -> list[ExecutionReport]:
        """Run every leg's ladder concurrently; returns their reports in leg order.

        The marks after fills that an earlier batch left (``marks_from``) are taken
        too. Once the ladders are done the run waits for its last marks, or with
        ``marks_to`` leaves them there for the next batch (``markouts``).

        Raises ``RunFailedError`` if any part of the run failed (see the module docstring).
        """
        states = [
            LegState(
                leg,
                Ladder(
                    leg.parent,
                    leg.params,
                    self.calendar,
                    self._coid_factory(leg.leg, leg.first_attempt),
                ),
            )
            for leg in legs
        ]
        self._states.extend(states)
        for st in states:
            self._by_symbol.setdefault(st.leg.parent.symbol, []).append(st)
        if self.quiet_seconds is None and legs:
            shortest = min(leg.params.max_quote_age_seconds for leg in legs)
            self.books.quiet_after = timedelta(seconds=shortest / 2)
        self._journal = RunJournal(self.journal, self.run_id)
        try:
            return await self._run(states, marks_from, marks_to)
        finally:
            await self._journal.close()

    async def _run(
        self,
        states: list[LegState],
        marks_from: MarksRelay | None,
        marks_to: MarksRelay | None,
    ) -> list[ExecutionReport]:
        if marks_from is not None:
            self.marks.adopt(marks_from)
        # The symbols of marks an earlier batch left are streamed too: no ladder reads them.
        symbols = sorted(set(self._by_symbol) | self.marks.symbols)
        # The pumps must outlive the ladders: a stream that ends leaves them blind.
        helpers: dict[asyncio.Task[Any], tuple[str, bool]] = {
            asyncio.create_task(self._pump_updates(), name="order-updates"): (
                "the broker's order update stream",
                True,
            ),
            asyncio.create_task(self.quotes.stream(symbols), name="quotes"): (
                "the quote feed",
                True,
            ),
            asyncio.create_task(self.quotes.refresh_quiet(symbols), name="book-refresh"): (
                "the quote refresh",
                True,
            ),
        }
        if self.halt is not None:
            watch = asyncio.create_task(self._watch_halt(), name="halt-watch")
            helpers[watch] = ("the kill switch watch", False)
        drivers: dict[asyncio.Task[Any], str] = {
            asyncio.create_task(self._drive(st), name=f"ladder-{st.leg.leg}"): (
                f"leg {st.leg.leg} ({st.leg.parent.side.value} {st.leg.parent.qty} "
                f"{st.leg.parent.symbol})"
            )
            for st in states
        }
        failure: BaseException | None = None
        where = ""
        try:
            running: set[asyncio.Task[Any]] = set(drivers)
            while running and failure is None:
                done, _ = await asyncio.wait(
                    running | set(helpers), return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    running.discard(task)
                    name, must_run = helpers.get(task, (drivers.get(task, ""), False))
                    helpers.pop(task, None)
                    error: BaseException | None
                    if task.cancelled():
                        error = asyncio.CancelledError(f"{name} was cancelled")
                    else:
                        error = task.exception()
                    if error is None and must_run:
                        error = BrokerError(f"{name} ended while ladders were working")
                    if error is not None and failure is None:
                        failure, where = error, name
            if failure is None and marks_to is not None:
                self.marks.hand_over(marks_to)
            elif failure is None:
                await self.marks.drain()  # the quote stream still runs meanwhile
        finally:
            self.marks.cancel()
            # Nothing goes on trading unwatched: every task of the run stops here.
            everything = [*drivers, *helpers]
            for each in everything:
                each.cancel()
            await asyncio.gather(*everything, return_exceptions=True)
        if failure is None:
            return [driver.result() for driver in drivers]
        if not isinstance(failure, Exception):
            raise failure  # the process is being stopped: like a kill, no clean-up
        await self._contain(failure, where)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- failure containment ----------------------------------------------------------------

    async def _contain(self, failure: Exception, where: str) -> None:
        """Close every order of the run, journal it, and raise ``RunFailedError``."""
        open_orders = {c: st.ladder for c, st in self._by_coid.items() if c not in self._ended}
        closed, journal_problem = await self._closer().close(
            open_orders, self.clock.now() + self.close_within
        )
        reason = describe_failure(failure)
        reports = [self._report_after_failure(st, reason) for st in self._states]
        message = f"run {self.run_id} stopped: {where} failed: {reason}; " + closing_summary(
            closed, journal_problem
        )
        exit_code = failure.exit_code if isinstance(failure, BetterOrdersError) else 1
        raise RunFailedError(message, exit_code=exit_code, reports=reports) from failure

    def _closer(self) -> OrderCloser:
        return OrderCloser(self.calls, self.clock, self.broker, self._journal, self._record_update)

    def _report_after_failure(self, st: LegState, reason: str) -> ExecutionReport | None:
        """The leg's report as far as it got: an unfinished ladder is halted with ``reason``."""
        ladder = st.ladder
        if not ladder.done:
            now = max(self.clock.now(), st.order.seen_at or self.clock.now())
            try:
                ladder.handle(Halt(now, reason))
            except Exception:
                log.exception("leg %s could not report after the failure", st.leg.leg)
        return ladder.report

    # -- fan-out tasks ----------------------------------------------------------------------

    async def _pump_updates(self) -> None:
        stream = self.broker.order_updates()
        try:
            async for update in stream:
                await self._record_update(update)
                st = self._by_coid.get(update.client_order_id)
                if st is None:
                    self.foreign_updates.append(update)
                    continue
                st.inbox.put(update)
        finally:
            # Unsubscribe: a stream left open keeps queueing every later update forever.
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()

    async def _record_update(self, update: OrderUpdate) -> None:
        """Journal a broker event (and its fill) before anyone acts on it."""
        st = self._by_coid.get(update.client_order_id)
        fill = update.fill
        mark = None if fill is None or st is None else self.marks.at_fill(st.leg.leg, fill)
        await self._journal.update(update, st is not None, [] if mark is None else [mark])
        if fill is not None and st is not None:
            self.marks.follow(st.leg.leg, fill)
        ours = st is not None
        # Only once journalled: a failed run's clean-up closes (and records) the rest.
        if update.status.is_terminal and ours:
            self._ended.add(update.client_order_id)

    async def _write_marks(self, marks: list[QuoteMark]) -> None:
        await self._journal.marks(marks)

    async def _mark_arrival(self, st: LegState) -> None:
        """The parent's arrival quote, journalled before its first order leaves."""
        st.arrival_marked = True
        data = st.ladder.d
        if data.arrival is not None and data.arrival_time is not None:
            mark = self.marks.arrival(st.leg.leg, data.arrival, data.arrival_time)
            if mark is not None:
                await self._journal.marks([mark])

    def _deliver_quote(self, event: QuoteArrived) -> None:
        self.marks.seen(event.quote)
        for st in self._by_symbol.get(event.quote.symbol, ()):
            if not st.ladder.done:
                st.inbox.put_quote(event)

    def _live_symbols(self, symbols: list[str]) -> list[str]:
        return [s for s in symbols if any(not st.ladder.done for st in self._by_symbol.get(s, ()))]

    async def _watch_halt(self) -> None:
        """The one poll of the kill switch, for every ladder."""
        while self.halted is None:
            await self.clock.sleep_until(self.clock.now() + self.halt_poll)
            self._check_halt()

    def _check_halt(self) -> None:
        if self.halt is None or self.halted is not None:
            return
        reason = self.halt()
        if reason is None:
            return
        self.halted = reason
        now = self.clock.now()
        for st in self._states:
            if st.ladder.done:
                continue
            self.halt_working.extend(c for c in st.ladder.live_children if c not in self._refused)
            st.inbox.put(Halt(now, reason))

    # -- one ladder ---------------------------------------------------------------------------

    def _notify(self, st: LegState, item: Event | Action) -> None:
        if self.observer is not None:
            self.observer(
                LadderEvent(st.leg.leg, st.leg.parent.symbol, st.ladder, item, self.clock.now())
            )

    async def _drive(self, st: LegState) -> ExecutionReport:
        ladder = st.ladder
        symbol = st.leg.parent.symbol
        # Admission at the broker's pace: a ladder starts only when its first order can
        # be sent at once, so no limit price goes stale waiting for the rate limiter.
        await self.limiter.prepay(Priority.SUBMIT)
        try:
            first: Quote | None = await self.feed.latest_quote(symbol)
        except (BrokerError, QuoteError):
            first = None  # the ladder waits for a quote and reports if none comes
        now = self.clock.now()
        st.order.seen_at = now
        self.books.watch(symbol, now)
        if first is not None:
            self.books.arrived(first, now)
            self.marks.seen(first)
            st.order.quote_ts = first.ts
            # A snapshot confirms the book only as of its own stamp.
            ladder.handle(QuoteArrived(first, now, confirmed_at=min(first.ts, now)))
        timer: datetime | None = None
        actions = ladder.handle(Start(now))
        self._notify(st, Start(now))
        while True:
            if not st.arrival_marked and ladder.d.arrival is not None:
                await self._mark_arrival(st)
            for action in actions:
                if isinstance(action, SubmitOrder) and st.leg.first_attempt > 1:
                    action = replace(action, attempt=action.attempt + st.leg.first_attempt - 1)
                self._notify(st, action)
                if isinstance(action, SetTimer):
                    timer = action.at
                elif isinstance(action, Finished):
                    timer = None
                else:
                    await self._perform(st, action)
            if ladder.done:
                break
            event = await st.inbox.wait(self.clock, timer)
            if event is None:
                assert timer is not None
                event, timer = TimerFired(max(self.clock.now(), timer)), None
            ordered = st.order.admit(event)
            if ordered is None:
                actions = []
                continue
            self._notify(st, ordered)
            actions = ladder.handle(ordered)
        await self._settle(st)
        assert ladder.report is not None
        return ladder.report

    async def _settle(self, st: LegState) -> None:
        """A finished ladder leaves nothing open and no execution unjournalled."""
        live = dict.fromkeys(st.ladder.live_children, st.ladder)
        if live:
            _, problem = await self._closer().close(live, self.clock.now() + SETTLE_WITHIN)
            if problem is not None:
                raise JournalError(problem)
        await self._recover_fills(st)

    async def _recover_fills(self, st: LegState) -> None:
        """Journal the fills of the ladder's orders that no update brought (a dropped event
        told only through a later cumulative quantity), and add them to its report."""
        report = st.ladder.report
        if self.journal is None or report is None:
            return
        for attempt in report.attempts:
            coid = attempt.client_order_id
            known = await self._journal.fills(coid)
            if attempt.filled_qty <= sum(f.qty for f in known):
                continue
            for fill in await self._journal.recover(self.broker, self.clock, coid):
                await self._journal.marks(self.marks.recovered(st.leg.leg, fill))
                st.ladder.handle(
                    OrderUpdate(
                        client_order_id=coid,
                        status=attempt.status or OrderStatus.FILLED,
                        filled_qty=attempt.filled_qty,
                        ts=report.finished,
                        fill=fill,
                    )
                )

    # -- actions ------------------------------------------------------------------------------

    async def _perform(self, st: LegState, action: Action) -> None:
        if isinstance(action, SubmitOrder):
            await self._submit(st, action)
        elif isinstance(action, CancelOrder):
            coid = action.client_order_id
            if coid in self._refused:
                return  # never sent; its SubmitFailed is already queued
            try:
                await self.calls.cancel(coid)
            except BrokerError as exc:
                st.inbox.put(
                    CancelFailed(coid, self.clock.now(), str(exc), exc.code, exc.retryable)
                )
        elif isinstance(action, QueryOrder):
            # A broker that cannot say within the retry budget fails the run: the
            # ladder cannot go on without knowing its order's state.
            order = await self.calls.get_order(action.client_order_id)
            now = self.clock.now()
            if order is None:
                update = OrderUpdate(
                    client_order_id=action.client_order_id,
                    status=OrderStatus.REJECTED,
                    filled_qty=Decimal(0),
                    ts=now,
                    reason="order not found at the broker",
                )
            else:
                update = order.as_update(now)
            await self._record_update(update)
            st.inbox.put(update)

    async def _submit(self, st: LegState, action: SubmitOrder) -> None:
        request = action.request
        coid = request.client_order_id
        if self.halted is not None:
            await self._refuse(st, action, "halted", f"{self.halted}; order not sent", "a halt")
            return
        # The request token is taken before the checks, so they judge the instant the
        # order would leave (the orders-per-minute cap then agrees with the limiter).
        await self.limiter.prepay(Priority.SUBMIT)
        if self.pre_submit is not None:
            try:
                self.pre_submit(request, self.books.quote(request.symbol))
            except RiskLimitError as exc:
                await self._refuse(st, action, exc.code, str(exc), "a pre-trade risk check")
                return
            except BrokerError as exc:
                await self._refuse(st, action, exc.code, str(exc), "the broker")
                return
        # Known to the run before it is journalled: if the run stops while the write is
        # in flight, the clean-up still asks the broker about it.
        self._by_coid[coid] = st
        await self._journal.pending(request, st.leg.leg, action.attempt)
        try:
            ack = await self.calls.submit(request)
        except OrderStateUnknown:
            raise  # maybe working at the broker: the run stops and cancels it
        except BrokerError as exc:
            refused = OrderUpdate(
                client_order_id=coid,
                status=OrderStatus.REJECTED,
                filled_qty=Decimal(0),
                ts=self.clock.now(),
                reason=f"{exc.code}: {exc}",
            )
            await self._journal.ack(refused)
            self._ended.add(coid)
            affordable = None
            if exc.code == BUYING_POWER and st.leg.fit_buying_power and request.side is Side.BUY:
                affordable = await self._affordable(request)
            st.inbox.put(
                SubmitFailed(coid, self.clock.now(), str(exc), exc.code, affordable=affordable)
            )
            return
        await self._journal.ack(ack)
        if ack.status.is_terminal:
            self._ended.add(coid)
        st.inbox.put(ack)

    async def _affordable(self, request: OrderRequest) -> Decimal:
        """Whole shares of ``request`` the account's buying power pays for now, at its
        limit (a market order: at the ask in force); 0 if the account cannot say."""
        quote = self.books.quote(request.symbol)
        price = request.limit_price or (quote.ask if quote is not None else ZERO)
        if price <= 0:
            return ZERO
        try:
            account = await self.calls.read(self.broker.get_account)
        except BrokerError as exc:
            log.warning("account for the buying power after %s: %s", request.client_order_id, exc)
            return ZERO
        return max((account.buying_power / price).to_integral_value(ROUND_FLOOR), ZERO)

    async def _refuse(
        self, st: LegState, action: SubmitOrder, code: str, reason: str, by: str
    ) -> None:
        """An order refused before it was sent: journalled as rejected, with the reason."""
        request = action.request
        now = self.clock.now()
        self._refused.add(request.client_order_id)
        refused = OrderUpdate(
            client_order_id=request.client_order_id,
            status=OrderStatus.REJECTED,
            filled_qty=Decimal(0),
            ts=now,
            reason=f"{code}: {reason}",
        )
        await self._journal.refused(request, st.leg.leg, action.attempt, refused)
        st.inbox.put(SubmitFailed(request.client_order_id, now, reason, code, by))
