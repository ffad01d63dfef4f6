"""A synchronous replay driver: one ladder at a time on the simulated exchange over a quote file.

The ladder (``core.ladder``) and the exchange (``sim.exchange``) are the very
objects that trade in the simulator and, for the ladder, live; this module only
carries out the ladder's actions the way ``runner.py`` does, without asyncio:

* ``SubmitOrder`` / ``CancelOrder`` / ``QueryOrder`` go to the exchange at the
  current virtual time; the submit's acknowledgement, a refusal or a query's
  answer are fed straight back, as the runner queues them.
* ``SetTimer`` is one pending timer (a new one replaces it).
* What ``exchange.advance()`` returns (quotes and order updates) is fed back in
  time order, with the current time as the runner's clock would read it.
  Events due at the same instant as the timer are fed before the timer fires.

Skipping quotes. Most quotes cannot change what a ladder does: while it waits
out a spread it only acts on a quote that ends the wait or that it cannot
trade on (or that fills the limit it may rest meanwhile), and while its order
rests quietly at the venue it acts on nothing but updates and its timer (and,
for a patient rest, a quote that turns the book against it:
``RowScreen.first_rest_ender``; in both, a far touch that nears the budget's
bound: ``RowScreen.first_urgent``). In
those two states the driver searches the replay arrays (numpy, no Python per
row) for the first row that *could* matter: a quote the spread rule might
accept or that fails the sanity checks (the pre-screen is deliberately loose;
the ladder decides), or a quote or a printed execution (or trades-file print,
``sim.replay.merge_trades``) that could fill the resting order or move its
place in the queue at its price (``RowScreen.first_fill``, read against the
venue's ``queue_ahead``: a dropped row must not change it). It skips only
while nothing of ours is in flight (no submit, cancel or update on its way) and the ladder is
not holding a spread that just came in. Rows before that row are dropped from
the venue's feed; the row in force just before it (or at the timer) is
still delivered, so the ladder always sees the book as it stood. A skipped row
can therefore neither fill an order nor change a decision, and a run with
skipping makes the same orders and fills as one without (a test checks this);
only ``ExecutionReport.quotes_seen`` counts the quotes actually delivered.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from better_orders.core.errors import BrokerError, InvalidInputError
from better_orders.core.ladder import (
    CancelFailed,
    CancelOrder,
    Event,
    Finished,
    Ladder,
    LadderParams,
    LadderState,
    ParentOrder,
    QueryOrder,
    QuoteArrived,
    SetTimer,
    Start,
    SubmitFailed,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.market_calendar import MarketCalendar, default_calendar
from better_orders.core.model import (
    TERMINAL_STATUSES,
    AttemptKind,
    ExecutionReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
)
from better_orders.tca.jump_screen import JumpScreen
from better_orders.tca.row_screen import RowScreen
from better_orders.venues.sim.book import QuoteBook
from better_orders.venues.sim.exchange import Latency, QuoteEvent, SimExchange
from better_orders.venues.sim.files import from_ns
from better_orders.venues.sim.replay import ReplayQuotes

#: Statuses of an order with nothing in flight: it rests, or it ended.
_SETTLED = TERMINAL_STATUSES | {OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.ACCEPTED}
#: Ladder states in which only a quote that may end the wait (or fill the slice) matters.
#: A spread being held (SPREAD_HOLD*) is not among them: every quote may release it.
_WAITS = frozenset({LadderState.SPREAD_WAIT, LadderState.SPREAD_WAIT_RESTING})
#: Ladder states in which only a fill of the working child (or the timer) matters.
_WORKING = frozenset({LadderState.WORKING, LadderState.WORKING_REST_CANCEL})
#: The states in which rows may be skipped (``_Run.skip_quiet_rows``).
_SEARCHED = _WAITS | _WORKING | {LadderState.WAITING_OPEN}
#: A finished ladder's live child is cancelled; this long is allowed for the venue to confirm.
SETTLE_SECONDS = 10.0


@dataclass(slots=True)
class DecisionOutcome:
    """One ladder run: its report and how much of the file the venue had to look at."""

    report: ExecutionReport
    decision: datetime
    rows_processed: int
    rows_skipped: int
    steps: int
    #: When each child order was sent. A ladder stamps an order sent in answer to an order
    #: update with the update's venue time (``Attempt.started``); it leaves when the update
    #: has come back, ``Latency.update`` later.
    sent: dict[str, datetime]


class ReplayDriver(RowScreen):
    """Runs one ladder per call on a fresh ``SimExchange`` over one file's quotes.

    The quotes are loaded once; each run gets its own cursor over the same arrays
    (``ReplayQuotes.starting_at``), so runs are independent and cheap to start. The
    searches for rows that might matter are ``RowScreen``'s.
    """

    def __init__(
        self,
        quotes: ReplayQuotes,
        *,
        calendar: MarketCalendar | None = None,
        latency: Latency = Latency(),
        skip: bool = True,
    ) -> None:
        super().__init__(quotes)
        self.symbol = quotes.symbol
        self.calendar = calendar or default_calendar()
        self.latency = latency
        self.skip = skip
        self.jumps = JumpScreen(self._sum_e4, self._spread_e4, self._unusable)

    # -- one decision ---------------------------------------------------------------------------

    def run(
        self,
        parent: ParentOrder,
        params: LadderParams,
        decision: datetime,
        *,
        run_id: str = "tca",
    ) -> DecisionOutcome:
        """Start a ladder for ``parent`` at ``decision`` and replay until it is done."""
        if parent.symbol != self.symbol:
            raise InvalidInputError(
                f"replay of {self.symbol} quotes cannot trade {parent.symbol}; "
                "load the file under that symbol"
            )
        source = self.quotes.starting_at(decision)
        first_row = source.cursor
        exchange = SimExchange(
            QuoteBook.replay({self.symbol: source}), latency=self.latency, calendar=self.calendar
        )
        ladder = Ladder(parent, params, self.calendar, lambda n: f"{run_id}-{n}")
        run = _Run(self, ladder, exchange, source, params, decision)
        run.go()
        assert ladder.report is not None
        return DecisionOutcome(
            report=ladder.report,
            decision=decision,
            rows_processed=source.cursor - first_row - run.skipped,
            rows_skipped=run.skipped,
            steps=run.steps,
            sent=run.sent,
        )


class _Run:
    """The event loop of one decision (see the module docstring)."""

    def __init__(
        self,
        driver: ReplayDriver,
        ladder: Ladder,
        exchange: SimExchange,
        source: ReplayQuotes,
        params: LadderParams,
        decision: datetime,
    ) -> None:
        self.driver = driver
        self.ladder = ladder
        self.exchange = exchange
        self.source = source
        self.rows = len(source)
        self.params = params
        self.now = decision
        self.timer: datetime | None = None
        self.inbox: deque[Event] = deque()
        self.requests: dict[str, OrderRequest] = {}
        self.sent: dict[str, datetime] = {}
        #: What the ladder has been told about each order: (status, cumulative filled).
        self.told: dict[str, tuple[OrderStatus, Decimal]] = {}
        self.fills_told = 0
        self.updates_told = 0
        #: ``venue_quiet``'s last answer, and what it depended on.
        self.quiet_key: tuple[int, int, int] | None = None
        self.quiet = False
        self.skipped = 0
        self.steps = 0
        #: Searches for rows to skip wait until the cursor reaches ``search_from``; after
        #: each search that found nothing to skip, ``search_gap`` rows more (doubling).
        self.search_from = 0
        self.search_gap = 1
        #: The row after the timer's (``skip_quiet_rows``), for the timer it was found for.
        self.stop_time: datetime | None = None
        self.stop = 0

    def go(self) -> None:
        ladder, exchange, inbox = self.ladder, self.exchange, self.inbox
        handle, perform = ladder.handle, self.perform
        prior = self.prior_quote()
        if prior is not None:
            handle(QuoteArrived(prior, self.now))
        for first in exchange.advance(self.now):
            if isinstance(first, QuoteEvent):
                handle(QuoteArrived(first.quote, self.now))
        perform(handle(Start(self.now)))
        skip = self.driver.skip
        steps = 0
        done = ladder.done  # it changes only when the ladder handles an event
        while not done:
            steps += 1
            if inbox:
                event = inbox.popleft()
                if isinstance(event, OrderUpdate):
                    self.note_update(event)
                actions = handle(event)
                if actions:
                    perform(actions)
                done = ladder.done
                continue
            if skip:
                self.skip_quiet_rows()
            due = exchange.next_time()  # the book holds our symbol's quotes alone
            timer = self.timer
            if timer is not None and (due is None or timer < due):
                now = self.now = max(self.now, timer)
                self.timer = None
                self._deliver(exchange.advance(now), now)
                inbox.append(TimerFired(now))
                continue
            if due is None:
                # The file ended with the ladder waiting on nothing: nothing more can happen.
                self.steps = steps
                raise InvalidInputError(
                    f"{self.driver.symbol} quotes ended at {self.now.isoformat()} before the "
                    "ladder finished; choose decision times well inside the file"
                )
            now = self.now = max(self.now, due)
            self._deliver(exchange.advance(now), now)
        self.steps = steps
        self.settle()

    def _deliver(self, events: Sequence[object], now: datetime) -> None:
        """What the venue told the client, queued for the ladder as the runner queues it."""
        inbox = self.inbox
        for event in events:
            if isinstance(event, QuoteEvent):
                inbox.append(QuoteArrived(event.quote, now))
            else:
                assert isinstance(event, OrderUpdate)
                inbox.append(event)

    def perform(self, actions: Sequence[object]) -> None:
        exchange, now = self.exchange, self.now
        for action in actions:
            if isinstance(action, SetTimer):
                self.timer = action.at
            elif isinstance(action, Finished):
                self.timer = None
            elif isinstance(action, SubmitOrder):
                request = action.request
                coid = request.client_order_id
                self.requests[coid] = request
                self.sent[coid] = now
                try:
                    order = exchange.submit(request, now)
                except BrokerError as exc:
                    self.inbox.append(SubmitFailed(coid, now, str(exc), exc.code))
                else:
                    self.inbox.append(order.as_update(now))
            elif isinstance(action, CancelOrder):
                try:
                    exchange.cancel(action.client_order_id, now)
                except BrokerError as exc:
                    self.inbox.append(
                        CancelFailed(action.client_order_id, now, str(exc), exc.code, exc.retryable)
                    )
            elif isinstance(action, QueryOrder):
                found = exchange.order(action.client_order_id)
                if found is None:
                    self.inbox.append(
                        OrderUpdate(
                            client_order_id=action.client_order_id,
                            status=OrderStatus.REJECTED,
                            filled_qty=Decimal(0),
                            ts=now,
                            reason="order not found at the broker",
                        )
                    )
                else:
                    self.inbox.append(found.as_update(now))

    def settle(self) -> None:
        """Like the runner: a finished ladder leaves nothing open, and late updates count.

        The live child (if any) is cancelled; then the venue runs until every update
        about our orders has been delivered (a fill can land while a cancel or a query
        is in flight), each fed to the finished ladder, which folds it into its report.
        """
        exchange = self.exchange
        for coid in self.ladder.live_children:
            with contextlib.suppress(BrokerError):
                exchange.cancel(coid, self.now)
        deadline = self.now + timedelta(seconds=SETTLE_SECONDS)
        while not self.venue_quiet() or any(
            not progress[0].is_terminal
            for progress in (exchange.order_progress(c) for c in self.requests)
            if progress is not None
        ):
            due = exchange.next_time()
            if due is None or due > deadline:
                break
            self.now = max(self.now, due)
            for event in exchange.advance(self.now):
                if isinstance(event, OrderUpdate):
                    self.note_update(event)
                    self.ladder.handle(event)

    # -- skipping -----------------------------------------------------------------------------

    def skip_quiet_rows(self) -> None:
        """Drop rows that cannot matter before the next one that might (module docstring)."""
        ladder, driver, source = self.ladder, self.driver, self.source
        start = source.cursor
        if start < self.search_from:
            return
        n = self.rows
        state = ladder.state
        if start + 1 >= n or state not in _SEARCHED or not self.venue_quiet():
            return
        rule = self.params.jumps
        jumps = rule is not None and rule.on
        if jumps and (ladder.jump_reference is None or ladder.holding_jump):
            # The ladder's jump watch must see every row that could be a jump
            # (``tca.jump_screen``); while it holds one, every row counts.
            return
        stop_time = self.timer
        if stop_time is None:
            stop = n
        elif stop_time is self.stop_time:
            stop = self.stop
        else:
            stop = self.stop = source.index_at(stop_time) + 1
            self.stop_time = stop_time
        # A hit no later in time than the row after ``start`` leaves nothing to drop: the
        # row in force just before it is ``start`` or earlier. Searches stop there, and each
        # search after the first looks only before the hit found so far.
        ts_us = source.ts_us
        idle_until = int(ts_us[start + 1])
        hit: int | None
        if state in _WAITS:
            coid = ladder.live_child
            if coid is None and self.params.rest_fraction > 0:
                # No slice rests (the last one filled, or none could be priced): the wait
                # rests a new one off its next quote, whatever that quote is.
                return
            request = None if coid is None else self.requests[coid]
            if request is not None and (
                request.order_type is not OrderType.LIMIT or request.limit_price is None
            ):
                return
            hit = driver.first_wait_ender(start, stop, self.params)
            if request is not None and request.limit_price is not None:
                # A slice resting during the wait (timing.rest_fraction): a fill matters too.
                if hit is not None and int(ts_us[hit]) <= idle_until:
                    self._missed(start)
                    return
                assert coid is not None
                filled = driver.first_fill(
                    start,
                    stop if hit is None else hit,
                    request.side,
                    request.limit_price,
                    self.exchange.queue_ahead(coid),
                )
                hit = hit if filled is None else filled
            hit = self._or_urgent(hit, start, stop)
        elif state in _WORKING:
            coid = ladder.live_child
            if coid is None:
                return
            request = self.requests[coid]
            limit = request.limit_price
            if request.order_type is not OrderType.LIMIT or limit is None:
                return
            side = request.side
            ahead = self.exchange.queue_ahead(coid)
            # A hit on the next row leaves nothing to drop: told apart without a search.
            if start < stop and driver.fills_at(start, side, limit, ahead):
                self._missed(start)
                return
            hit = driver.first_fill(start, stop, side, limit, ahead)
            attempt = ladder.attempt(coid)
            if attempt is not None and attempt.kind is AttemptKind.PATIENT:
                # A patient rest also ends on a quote that turns the book against it.
                max_lean = self.params.patience.max_lean
                if (hit is not None and int(ts_us[hit]) <= idle_until) or (
                    start < stop and driver.ends_rest_at(start, side, limit, max_lean)
                ):
                    self._missed(start)
                    return
                ender = driver.first_rest_ender(
                    start, stop if hit is None else hit, side, limit, max_lean
                )
                hit = hit if ender is None else ender
                hit = self._or_urgent(hit, start, stop)
        elif state is LadderState.WAITING_OPEN:
            if stop_time is None:
                return
            hit = None
        else:
            return
        absurd = float(self.params.absurd_pct_of_mid)
        if jumps:
            assert rule is not None
            reference = ladder.jump_reference
            assert reference is not None
            if hit is not None and int(ts_us[hit]) <= idle_until:
                self._missed(start)
                return
            jump = driver.jumps.first_jump(
                start, stop if hit is None else hit, rule, reference, absurd
            )
            hit = hit if jump is None else jump
        # Keep the row in force just before the hit (or at the timer): the ladder sees it.
        if hit is None:
            if stop_time is None:
                self._missed(start)
                return
            keep = stop - 1
        else:
            keep = source.index_at(int(ts_us[hit] - 1) * 1000)
        # A trades-file print row repeats the book and is not published: keep the quote
        # row it repeats, so the ladder sees the very quote it would have seen.
        while keep > start and driver.is_print_row(keep):
            keep -= 1
        if jumps:
            # The watch's next reference is the last row it is shown that passes the price
            # checks: show it from one such row on, as it would have seen every row.
            usable = driver.jumps.usable(absurd)
            while keep > start and (driver.is_print_row(keep) or not usable[keep]):
                keep -= 1
        if keep <= start:
            self._missed(start)
            return
        _skip_source_to(source, keep)
        self.skipped += source.cursor - start
        self.search_gap = 1

    def _missed(self, start: int) -> None:
        """A search found no row to drop: the next waits a few rows (more after each miss).

        Which rows are searched changes nothing but the work: rows not skipped are
        replayed one by one, with the same outcome. Where every row may matter (a queue
        that moves on each row), searching on each row would cost more than it saves.
        """
        self.search_from = start + self.search_gap
        self.search_gap = min(self.search_gap * 2, _MAX_SEARCH_GAP)

    def _or_urgent(self, hit: int | None, start: int, stop: int) -> int | None:
        """``hit``, or an earlier row on which the budget's urgency may end the wait."""
        ladder = self.ladder
        share = self.params.patience.budget_urgency
        arrival, bound = ladder.arrival, ladder.budget_bound
        if share <= 0 or arrival is None or bound is None:
            return hit
        side = ladder.parent.side
        urgent = self.driver.first_urgent(start, stop, side, arrival, bound, share)
        if urgent is None:
            return hit
        return urgent if hit is None else min(hit, urgent)

    def prior_quote(self) -> Quote | None:
        """The book before the one in force at the decision, when the ladder holds quotes
        that jump (``core.quote_jumps``): shown first, so that the decision's own quote has
        a reference, as it would live, where the feed ran before the order."""
        rule = self.params.jumps
        if rule is None or not rule.on:
            return None
        usable = self.driver.jumps.usable(float(self.params.absurd_pct_of_mid))
        source = self.source
        row = source.cursor - 1
        while row >= 0 and (self.driver.is_print_row(row) or not usable[row]):
            row -= 1
        return source.quote_at(row) if row >= 0 else None

    def note_update(self, update: OrderUpdate) -> None:
        self.updates_told += 1
        self.told[update.client_order_id] = (update.status, update.filled_qty)
        if update.fill is not None:
            self.fills_told += 1

    def venue_quiet(self) -> bool:
        """Nothing of ours in flight: every order rests or ended, and the ladder knows it."""
        exchange = self.exchange
        # The answer changes only with the venue's orders or what the ladder was told.
        key = (exchange.updates_made, len(self.requests), self.updates_told)
        if key == self.quiet_key:
            return self.quiet
        self.quiet_key = key
        self.quiet = quiet = self._venue_quiet()
        return quiet

    def _venue_quiet(self) -> bool:
        exchange = self.exchange
        if self.fills_told != exchange.fill_count:
            return False
        for coid in self.requests:
            progress = exchange.order_progress(coid)
            if progress is None:
                continue
            if progress[0] not in _SETTLED:
                return False
            if self.told.get(coid) != progress:
                return False
        return True


#: Most rows a search for rows to skip waits after searches that found none.
_MAX_SEARCH_GAP = 32


def _skip_source_to(source: ReplayQuotes, row: int) -> None:
    """Move a replay cursor so that ``row`` is the next row the venue processes.

    ``ReplayQuotes.skip_to`` does the moving; the ``QuoteBook`` still holds the
    time of the row that was next before, which is earlier, so the venue pops the
    new next row at its next ``advance`` and re-reads the time after it. That is
    exact here because the driver only skips while nothing of the venue's own
    (an arrival, a cancel, an update delivery) is pending: nothing can be
    processed between the old next time and ``row``'s time.
    """
    source.skip_to(_row_time(source, row))


def _row_time(source: ReplayQuotes, row: int) -> datetime:
    return from_ns(int(source.ts_ns[row]))
