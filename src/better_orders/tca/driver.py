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
``ReplayDriver.first_rest_ender``; in both, a far touch that nears the budget's
bound: ``ReplayDriver.first_urgent``). In
those two states the driver searches the replay arrays (numpy, no Python per
row) for the first row that *could* matter: a quote the spread rule might
accept or that fails the sanity checks (the pre-screen is deliberately loose;
the ladder decides), or a quote or a printed execution (or trades-file print,
``sim.replay.merge_trades``) that could fill the resting order or move its
place in the queue at its price (``ReplayDriver.first_fill``, read against the
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import numpy.typing as npt

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
from better_orders.core.model import (
    AttemptKind,
    ExecutionReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
)
from better_orders.core.spread import wait_rule
from better_orders.core.timing import MarketCalendar, default_calendar
from better_orders.tca.jump_screen import JumpScreen
from better_orders.venues.sim.book import QuoteBook
from better_orders.venues.sim.exchange import Latency, QuoteEvent, SimExchange
from better_orders.venues.sim.files import from_ns
from better_orders.venues.sim.replay import ReplayQuotes

_RESTING = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.ACCEPTED)
#: Ladder states in which only a quote that may end the wait (or fill the slice) matters.
#: A spread being held (SPREAD_HOLD*) is not among them: every quote may release it.
_WAITS = frozenset({LadderState.SPREAD_WAIT, LadderState.SPREAD_WAIT_RESTING})
#: Ladder states in which only a fill of the working child (or the timer) matters.
_WORKING = frozenset({LadderState.WORKING, LadderState.WORKING_REST_CANCEL})
#: A finished ladder's live child is cancelled; this long is allowed for the venue to confirm.
SETTLE_SECONDS = 10.0
#: Relative slack of the array pre-screen (float) against the ladder's exact Decimal rule.
_SLACK = 1e-9

BoolArray = npt.NDArray[np.bool_]


@dataclass(slots=True)
class DecisionOutcome:
    """One ladder run: its report and how much of the file the venue had to look at."""

    report: ExecutionReport
    decision: datetime
    rows_processed: int
    rows_skipped: int
    steps: int


class ReplayDriver:
    """Runs one ladder per call on a fresh ``SimExchange`` over one file's quotes.

    The quotes are loaded once; each run gets its own cursor over the same arrays
    (``ReplayQuotes.starting_at``), so runs are independent and cheap to start.
    """

    def __init__(
        self,
        quotes: ReplayQuotes,
        *,
        calendar: MarketCalendar | None = None,
        latency: Latency = Latency(),
        skip: bool = True,
    ) -> None:
        self.quotes = quotes
        self.symbol = quotes.symbol
        self.calendar = calendar or default_calendar()
        self.latency = latency
        self.skip = skip
        n = len(quotes)
        bid, ask = quotes.bid_e4, quotes.ask_e4
        # Rows no order can be priced off (the ladder's sanity check refuses them).
        self._unusable: BoolArray = (bid <= 0) | (ask <= 0) | (bid >= ask)
        self._spread_e4 = (ask - bid).astype(np.float64)
        self._sum_e4 = (ask + bid).astype(np.float64)
        self.jumps = JumpScreen(self._sum_e4, self._spread_e4, self._unusable)
        if quotes.exec_dir is not None:
            assert quotes.exec_px_e4 is not None and quotes.exec_sz is not None
            live = quotes.exec_sz > 0
            printed = (quotes.exec_dir == 0) & live  # a trades-file print: either side
            self._exec_buy = ((quotes.exec_dir == 1) & live) | printed  # resting buys executed
            self._exec_sell = ((quotes.exec_dir == -1) & live) | printed
            self._exec_px = quotes.exec_px_e4
            self._print: BoolArray = printed
        else:
            self._exec_buy = self._exec_sell = np.zeros(n, dtype=np.bool_)
            self._exec_px = np.zeros(n, dtype=np.int64)
            self._print = np.zeros(n, dtype=np.bool_)

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
        exchange = SimExchange(QuoteBook.replay({self.symbol: source}), latency=self.latency)
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
        )

    # -- array searches -------------------------------------------------------------------------

    def is_print_row(self, row: int) -> bool:
        """Whether ``row`` was merged in from a trades file (it repeats the book in force)."""
        return bool(self._print[row])

    def first_wait_ender(self, start: int, stop: int, params: LadderParams) -> int | None:
        """First row in ``[start, stop)`` that might end a spread wait (None if none can)."""
        rule = wait_rule(params.spread, params.typical_spread_bps)

        def could_act(sl: slice) -> BoolArray:
            spread = self._spread_e4[sl]
            total = self._sum_e4[sl]
            floor_e4 = float(rule.floor) * 1e4
            waits = spread > floor_e4 * (1 + _SLACK)
            if rule.target_bps is not None:
                # spread / mid * 1e4 > target  <=>  spread * 2e4 > target * (bid + ask)
                waits &= spread * 2e4 > float(rule.target_bps) * total * (1 + _SLACK)
            # An absurdly wide quote is refused by the sanity check: the ladder reacts to it.
            absurd = spread * 200.0 > float(params.absurd_pct_of_mid) * total * (1 - _SLACK)
            hit: BoolArray = self._unusable[sl] | ~waits | absurd
            return hit

        return _first_hit(start, stop, could_act)

    def first_rest_ender(
        self, start: int, stop: int, side: Side, limit: Decimal, max_lean: Decimal
    ) -> int | None:
        """First row in ``[start, stop)`` that might end a patient rest at ``limit`` early
        (``core.patience.rest_ended``: the near touch past the limit, or the book leaning
        towards the far touch by more than ``max_lean``; loose by ``_SLACK``)."""
        if start >= stop:
            return None
        q = self.quotes
        p = int(limit.scaleb(4))
        sl = slice(start, stop)
        if side is Side.BUY:
            near, near_sz, far_sz = q.bid_e4[sl], q.bid_sz[sl], q.ask_sz[sl]
            moved = near > p
        else:
            near, near_sz, far_sz = q.ask_e4[sl], q.ask_sz[sl], q.bid_sz[sl]
            moved = (near > 0) & (near < p)
        near_f, far_f = near_sz.astype(np.float64), far_sz.astype(np.float64)
        total = near_f + far_f
        leaning = (near_f - far_f > float(max_lean) * total - _SLACK * total) & (total > 0)
        hits = np.flatnonzero(moved | leaning)
        return start + int(hits[0]) if len(hits) else None

    def first_urgent(
        self, start: int, stop: int, side: Side, arrival: Quote, bound: Decimal, share: Decimal
    ) -> int | None:
        """First row in ``[start, stop)`` whose far touch might end a wait for the budget's
        sake (``core.patience.budget_urgent``: ``share`` of the way from the ``arrival``
        quote's far touch to ``bound``, not beyond it; loose by ``_SLACK``)."""
        begin = arrival.far_touch(side)
        if start >= stop or share <= 0 or (bound - begin) * side.sign <= 0:
            return None
        q = self.quotes
        edge = float(begin + (bound - begin) * share) * 1e4
        end = float(bound) * 1e4
        sl = slice(start, stop)
        if side is Side.BUY:
            far = q.ask_e4[sl]
            near: BoolArray = (far >= edge * (1 - _SLACK)) & (far <= end * (1 + _SLACK))
        else:
            far = q.bid_e4[sl]
            near = (far > 0) & (far <= edge * (1 + _SLACK)) & (far >= end * (1 - _SLACK))
        hits = np.flatnonzero(near)
        return start + int(hits[0]) if len(hits) else None

    def first_fill(
        self, start: int, stop: int, side: Side, limit: Decimal, ahead: Decimal | None
    ) -> int | None:
        """First row in ``[start, stop)`` that could fill a resting limit or move its queue place.

        ``ahead`` is the order's queue ahead at the venue now (``SimExchange.queue_ahead``;
        None: place unknown). This mirrors ``sim.fills`` (``requeue``, ``_cross``,
        ``on_trade``) as a superset: every row the venue would change the order on,
        in its fill or its ``ahead``, is a hit, so rows before the first hit can be
        dropped. While nothing changes ``ahead`` stays what it is now, which is why
        one value holds for the whole search. Prints on another venue (which fill
        only through the limit) are treated as any print: a superset still. Keep it
        in step with ``sim.fills``; the skip-versus-row-by-row tests fail when the
        two disagree.
        """
        p = int(limit.scaleb(4))
        buy = side is Side.BUY

        def could_fill(sl: slice) -> BoolArray:
            return self._fill_hits(sl, buy, p, ahead)

        return _first_hit(start, stop, could_fill)

    def _fill_hits(self, sl: slice, buy: bool, p: int, ahead: Decimal | None) -> BoolArray:
        """``first_fill``'s test on the rows of ``sl``."""
        q = self.quotes
        if buy:
            near, shown, far = q.bid_e4[sl], q.bid_sz[sl], q.ask_e4[sl]
            near_beyond = near > p  # someone bids more: our place is lost
            far_at = (far > 0) & (far <= p)
            far_through = (far > 0) & (far < p)
            px, traded = self._exec_px[sl], self._exec_buy[sl]
            trade_at, trade_through = traded & (px <= p), traded & (px < p)
        else:
            near, shown, far = q.ask_e4[sl], q.ask_sz[sl], q.bid_e4[sl]
            near_beyond = (near > 0) & (near < p)
            far_at = far >= p
            far_through = far > p
            px, traded = self._exec_px[sl], self._exec_sell[sl]
            trade_at, trade_through = traded & (px >= p), traded & (px > p)
        if ahead is None:
            # Behind the touch: it returning to (or passing) our price places us; only a
            # trade or a touch through our price can fill us.
            hit = ~near_beyond | far_through | trade_through
        elif ahead == 0:
            # Alone at our price: losing it, or anything at or through our price.
            hit = near_beyond | far_at | trade_at
        else:
            # In the queue: the touch leaving our price, its size falling below what is
            # ahead of us (cancellations), or anything at or through our price.
            hit = (near != p) | (shown < int(ahead)) | far_at | trade_at
        found: BoolArray = hit
        return found


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
        self.params = params
        self.now = decision
        self.timer: datetime | None = None
        self.inbox: deque[Event] = deque()
        self.symbols = frozenset({driver.symbol})
        self.requests: dict[str, OrderRequest] = {}
        #: What the ladder has been told about each order: (status, cumulative filled).
        self.told: dict[str, tuple[OrderStatus, Decimal]] = {}
        self.fills_told = 0
        self.skipped = 0
        self.steps = 0

    def go(self) -> None:
        ladder = self.ladder
        prior = self.prior_quote()
        if prior is not None:
            ladder.handle(QuoteArrived(prior, self.now))
        for first in self.exchange.advance(self.now):
            if isinstance(first, QuoteEvent):
                ladder.handle(QuoteArrived(first.quote, self.now))
        self.perform(ladder.handle(Start(self.now)))
        while not ladder.done:
            self.steps += 1
            if self.inbox:
                event = self.inbox.popleft()
                if isinstance(event, OrderUpdate):
                    self.note_update(event)
                self.perform(ladder.handle(event))
                continue
            if self.driver.skip:
                self.skip_quiet_rows()
            due = self.exchange.next_time(self.symbols)
            timer = self.timer
            if timer is not None and (due is None or timer < due):
                self.now = max(self.now, timer)
                self.timer = None
                self.inbox.extend(self._client_events(self.exchange.advance(self.now)))
                self.inbox.append(TimerFired(self.now))
                continue
            if due is None:
                # The file ended with the ladder waiting on nothing: nothing more can happen.
                raise InvalidInputError(
                    f"{self.driver.symbol} quotes ended at {self.now.isoformat()} before the "
                    "ladder finished; choose decision times well inside the file"
                )
            self.now = max(self.now, due)
            self.inbox.extend(self._client_events(self.exchange.advance(self.now)))
        self.settle()

    def _client_events(self, events: Sequence[object]) -> list[Event]:
        out: list[Event] = []
        for event in events:
            if isinstance(event, QuoteEvent):
                out.append(QuoteArrived(event.quote, self.now))
            else:
                assert isinstance(event, OrderUpdate)
                out.append(event)
        return out

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
            due = exchange.next_time(self.symbols)
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
        n = len(source)
        if start >= n or not self.venue_quiet():
            return
        state = ladder.state
        stop_time = self.timer
        stop = n if stop_time is None else source.index_at(stop_time) + 1
        hit: int | None
        if state in _WAITS:
            coid = ladder.live_child
            if coid is None and self.params.rest_fraction > 0:
                # No slice rests (the last one filled, or none could be priced): the wait
                # rests a new one off its next quote, whatever that quote is.
                return
            hit = driver.first_wait_ender(start, stop, self.params)
            if coid is not None:
                # A slice resting during the wait (timing.rest_fraction): a fill matters too.
                request = self.requests[coid]
                if request.order_type is not OrderType.LIMIT or request.limit_price is None:
                    return
                filled = driver.first_fill(
                    start, stop, request.side, request.limit_price, self.exchange.queue_ahead(coid)
                )
                if filled is not None:
                    hit = filled if hit is None else min(hit, filled)
            hit = self._or_urgent(hit, start, stop)
        elif state in _WORKING:
            coid = ladder.live_child
            if coid is None:
                return
            request = self.requests[coid]
            if request.order_type is not OrderType.LIMIT or request.limit_price is None:
                return
            hit = driver.first_fill(
                start, stop, request.side, request.limit_price, self.exchange.queue_ahead(coid)
            )
            attempt = ladder.attempt(coid)
            if attempt is not None and attempt.kind is AttemptKind.PATIENT:
                # A patient rest also ends on a quote that turns the book against it.
                ender = driver.first_rest_ender(
                    start, stop, request.side, request.limit_price, self.params.patience.max_lean
                )
                if ender is not None:
                    hit = ender if hit is None else min(hit, ender)
                hit = self._or_urgent(hit, start, stop)
        elif state is LadderState.WAITING_OPEN:
            if stop_time is None:
                return
            hit = None
        else:
            return
        rule = self.params.jumps
        absurd = float(self.params.absurd_pct_of_mid)
        if rule is not None and rule.on:
            # The ladder's jump watch must see every row that could be a jump
            # (``tca.jump_screen``); while it holds one, every row counts.
            reference = ladder.jump_reference
            if reference is None or ladder.holding_jump:
                return
            jump = driver.jumps.first_jump(start, stop, rule, reference, absurd)
            if jump is not None:
                hit = jump if hit is None else min(hit, jump)
        # Keep the row in force just before the hit (or at the timer): the ladder sees it.
        if hit is None:
            if stop_time is None:
                return
            keep = stop - 1
        else:
            keep = source.index_at(int(source.ts_us[hit] - 1) * 1000)
        # A trades-file print row repeats the book and is not published: keep the quote
        # row it repeats, so the ladder sees the very quote it would have seen.
        while keep > start and driver.is_print_row(keep):
            keep -= 1
        if rule is not None and rule.on:
            # The watch's next reference is the last row it is shown that passes the price
            # checks: show it from one such row on, as it would have seen every row.
            usable = driver.jumps.usable(absurd)
            while keep > start and (driver.is_print_row(keep) or not usable[keep]):
                keep -= 1
        if keep <= start:
            return
        _skip_source_to(source, keep)
        self.skipped += source.cursor - start

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
        self.told[update.client_order_id] = (update.status, update.filled_qty)
        if update.fill is not None:
            self.fills_told += 1

    def venue_quiet(self) -> bool:
        """Nothing of ours in flight: every order rests or ended, and the ladder knows it."""
        exchange = self.exchange
        if self.fills_told != exchange.fill_count:
            return False
        for coid in self.requests:
            progress = exchange.order_progress(coid)
            if progress is None:
                continue
            status = progress[0]
            if not status.is_terminal and status not in _RESTING:
                return False
            if self.told.get(coid) != progress:
                return False
        return True


#: Rows tested by a search's first chunk; each further chunk is twice the last.
_FIRST_CHUNK = 64


def _first_hit(start: int, stop: int, test: Callable[[slice], BoolArray]) -> int | None:
    """First row in ``[start, stop)`` where ``test`` holds, testing chunks of doubling size.

    The row that matters is usually near: a search over the whole remaining file
    would compute its conditions on thousands of rows to find one within a few.
    """
    size = _FIRST_CHUNK
    while start < stop:
        end = min(start + size, stop)
        hits = np.flatnonzero(test(slice(start, end)))
        if len(hits):
            return start + int(hits[0])
        start, size = end, size * 2
    return None


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
