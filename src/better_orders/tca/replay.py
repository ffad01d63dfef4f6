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
rests quietly at the venue it acts on nothing but updates and its timer. In
those two states the driver searches the replay arrays (numpy, no Python per
row) for the first row that *could* matter: a quote the spread rule might
accept or that fails the sanity checks (the pre-screen is deliberately loose;
the ladder decides), or a quote or a printed execution (or trades-file print,
``sim.quotes.merge_trades``) that makes the resting order fill. It skips only
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
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
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
    ExecutionReport,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
    TimeInForce,
)
from better_orders.core.pricing import aggressive_limit
from better_orders.core.spread import wait_rule
from better_orders.core.timing import NEW_YORK, MarketCalendar, default_calendar
from better_orders.core.typical_spread import TypicalSpreadTracker
from better_orders.tca.metrics import (
    DEFAULT_COMPLETION_SECONDS,
    DecisionRecord,
    MinuteRow,
    PolicySummary,
    by_minute,
    decision_record,
    summarize,
)
from better_orders.tca.policies import Policy
from better_orders.venues.sim.exchange import Latency, QuoteEvent, SimExchange, _broker_order_id
from better_orders.venues.sim.quotes import (
    QuoteBook,
    ReplayQuotes,
    find_trades_file,
    from_ns,
    to_ns,
)

_RESTING = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.ACCEPTED)
_ONE_US = timedelta(microseconds=1)
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
        if start >= stop:
            return None
        rule = wait_rule(params.spread, params.typical_spread_bps)
        sl = slice(start, stop)
        spread = self._spread_e4[sl]
        total = self._sum_e4[sl]
        floor_e4 = float(rule.floor) * 1e4
        waits = spread > floor_e4 * (1 + _SLACK)
        if rule.target_bps is not None:
            # spread / mid * 1e4 > target  <=>  spread * 2e4 > target * (bid + ask)
            waits &= spread * 2e4 > float(rule.target_bps) * total * (1 + _SLACK)
        # An absurdly wide quote is refused by the sanity check: the ladder reacts to it.
        absurd = spread * 200.0 > float(params.absurd_pct_of_mid) * total * (1 - _SLACK)
        could_act = self._unusable[sl] | ~waits | absurd
        hits = np.flatnonzero(could_act)
        return start + int(hits[0]) if len(hits) else None

    def first_fill(self, start: int, stop: int, side: Side, limit: Decimal) -> int | None:
        """First row in ``[start, stop)`` whose quote or printed execution fills a resting limit."""
        if start >= stop:
            return None
        q = self.quotes
        limit_e4 = int(limit.scaleb(4))
        sl = slice(start, stop)
        if side is Side.BUY:
            ask = q.ask_e4[sl]
            hit = (ask > 0) & (ask <= limit_e4) & (q.ask_sz[sl] > 0)
            hit |= self._exec_buy[sl] & (self._exec_px[sl] <= limit_e4)
        else:
            bid = q.bid_e4[sl]
            hit = (bid > 0) & (bid >= limit_e4) & (q.bid_sz[sl] > 0)
            hit |= self._exec_sell[sl] & (self._exec_px[sl] >= limit_e4)
        hits = np.flatnonzero(hit)
        return start + int(hits[0]) if len(hits) else None


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
                    self.inbox.append(CancelFailed(action.client_order_id, now, str(exc), exc.code))
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
            not order.status.is_terminal
            for order in (exchange.order(c) for c in self.requests)
            if order is not None
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
        if state is LadderState.WAITING_SPREAD:
            if ladder.holding_since is not None:
                return
            hit = driver.first_wait_ender(start, stop, self.params)
            coid = ladder.live_child
            if coid is not None:
                # A slice resting during the wait (timing.rest_fraction): a fill matters too.
                request = self.requests[coid]
                if request.order_type is not OrderType.LIMIT or request.limit_price is None:
                    return
                filled = driver.first_fill(start, stop, request.side, request.limit_price)
                if filled is not None:
                    hit = filled if hit is None else min(hit, filled)
        elif state is LadderState.WORKING:
            coid = ladder.live_child
            if coid is None or ladder.holding_since is not None:
                return
            request = self.requests[coid]
            if request.order_type is not OrderType.LIMIT or request.limit_price is None:
                return
            hit = driver.first_fill(start, stop, request.side, request.limit_price)
        elif state is LadderState.WAITING_OPEN:
            if stop_time is None:
                return
            hit = None
        else:
            return
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
        if keep <= start:
            return
        _skip_source_to(source, keep)
        self.skipped += source.cursor - start

    def note_update(self, update: OrderUpdate) -> None:
        self.told[update.client_order_id] = (update.status, update.filled_qty)
        if update.fill is not None:
            self.fills_told += 1

    def venue_quiet(self) -> bool:
        """Nothing of ours in flight: every order rests or ended, and the ladder knows it."""
        exchange = self.exchange
        if self.fills_told != len(exchange.fills):
            return False
        for coid in self.requests:
            order = exchange.order(coid)
            if order is None:
                continue
            if not order.status.is_terminal and order.status not in _RESTING:
                return False
            if self.told.get(coid) != (order.status, order.filled_qty):
                return False
        return True


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


# -- a fixed order stream, for engine comparisons ----------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketableReplayStats:
    """What ``replay_marketable_orders`` did: comparable across engines.

    ``quotes_processed`` counts the rows the replay covered (first order to last
    order plus one second). ``rows_read`` is None when every one of them went
    through the exchange, else how many rows the fast path looked at.
    """

    symbol: str
    orders: int
    quotes_processed: int
    fills: int
    filled_qty: Decimal
    wall_seconds: float
    fill_records: tuple[Fill, ...] = ()
    rows_read: int | None = None

    @property
    def quotes_per_second(self) -> float:
        return self.quotes_processed / self.wall_seconds if self.wall_seconds > 0 else 0.0


def _ioc_order(n: int, side: Side, qty: Decimal, quote: Quote, ticks: int) -> OrderRequest:
    """Order ``n`` of a marketable stream: an IOC limit ``ticks`` beyond the far touch."""
    return OrderRequest(
        client_order_id=f"mkt-{n}",
        symbol=quote.symbol,
        side=side,
        qty=qty,
        order_type=OrderType.LIMIT,
        limit_price=aggressive_limit(side, quote, ticks),
        time_in_force=TimeInForce.IOC,
    )


def replay_marketable_orders(
    path: str | Path | ReplayQuotes,
    orders: list[tuple[datetime, Side, Decimal]],
    *,
    latency: Latency = Latency(),
    ticks: int = 1,
    fast: bool = False,
) -> MarketableReplayStats:
    """Send a fixed stream of marketable limit orders through the exchange over a file.

    Each ``(time, side, qty)`` becomes an immediate-or-cancel limit ``ticks``
    beyond the far touch of the quote in force at ``time``; every quote row from
    the first order to the last order plus one second is processed (no
    skipping), so another engine given the same file and orders does the same
    work. Wall time covers the replay only, not loading the file.

    ``fast=True`` makes the same orders and fills while reading only the rows
    they can see (``_marketable_fast``); with a market-data latency it falls
    back to the row-by-row replay.
    """
    quotes = path if isinstance(path, ReplayQuotes) else ReplayQuotes.from_file(path)
    stream = sorted(orders, key=lambda o: o[0])
    symbol = quotes.symbol
    if not stream:
        return MarketableReplayStats(symbol, 0, 0, 0, Decimal(0), 0.0)
    started = time.perf_counter()
    end = stream[-1][0] + timedelta(seconds=1)
    rows_read: int | None = None
    fills: Sequence[Fill]
    if fast and latency.market_data == timedelta(0):
        fills, rows_read = _marketable_fast(quotes, stream, latency, ticks)
        covered = quotes.index_at(end) + 1 - max(quotes.index_at(stream[0][0]), 0)
    else:
        source = quotes.starting_at(stream[0][0])
        first = source.cursor
        exchange = SimExchange(QuoteBook.replay({symbol: source}), latency=latency)
        for n, (when, side, qty) in enumerate(stream, start=1):
            exchange.advance(when)
            quote = exchange.last_quote(symbol)
            if quote is None or quote.bid <= 0 or quote.ask <= 0:
                continue
            request = _ioc_order(n, side, qty, quote, ticks)
            exchange.submit(request, max(when, exchange.now or when))
        exchange.advance(end)
        fills = exchange.fills
        covered = source.cursor - first
    wall = time.perf_counter() - started
    return MarketableReplayStats(
        symbol=symbol,
        orders=len(stream),
        quotes_processed=covered,
        fills=len(fills),
        filled_qty=sum((f.qty for f in fills), Decimal(0)),
        wall_seconds=wall,
        fill_records=tuple(fills),
        rows_read=rows_read,
    )


def _marketable_fast(
    quotes: ReplayQuotes,
    stream: list[tuple[datetime, Side, Decimal]],
    latency: Latency,
    ticks: int,
) -> tuple[list[Fill], int]:
    """The row-by-row replay's fills, from the two rows each order can see.

    With no market-data latency an immediate-or-cancel limit depends on nothing
    but the quote in force when it is priced and the top of book when it
    arrives (``SimExchange``: it matches once against that top and its remainder
    is cancelled on the spot, so it never rests and no later row or printed
    execution can touch it). Arrivals come in stream order (constant latency),
    so the only state carried between orders is what earlier fills took from
    the top they arrived on, which lasts until the next row. Both rows are
    found with one ``searchsorted`` each over all orders.
    """
    symbol = quotes.symbol
    # Only for its checks: the same validation the exchange makes on submit.
    venue = SimExchange(QuoteBook.replay({symbol: quotes.starting_at(None)}), latency=latency)
    first = max(quotes.index_at(stream[0][0]), 0)
    submit_us = latency.submit // _ONE_US
    when_us = np.array([to_ns(when) // 1000 for when, _, _ in stream], dtype=np.int64)
    priced_rows = np.searchsorted(quotes.ts_us, when_us, side="right") - 1
    arrival_rows = np.searchsorted(quotes.ts_us, when_us + submit_us, side="right") - 1
    bid_e4, ask_e4, bid_sz, ask_sz = quotes.bid_e4, quotes.ask_e4, quotes.bid_sz, quotes.ask_sz
    fills: list[Fill] = []
    read: set[int] = set()
    top_row, bid_left, ask_left = -1, Decimal(0), Decimal(0)
    for n, (when, side, qty) in enumerate(stream, start=1):
        row = int(priced_rows[n - 1])
        if row < first or bid_e4[row] <= 0 or ask_e4[row] <= 0:
            continue
        read.add(row)
        quote = quotes.quote_at(row)
        request = _ioc_order(n, side, qty, quote, ticks)
        venue.validate(request)
        at = int(arrival_rows[n - 1])
        if at != top_row:  # a new row is a fresh top: its full displayed size
            read.add(at)
            top_row = at
            bid_left = Decimal(int(bid_sz[at])) if bid_e4[at] > 0 else Decimal(0)
            ask_left = Decimal(int(ask_sz[at])) if ask_e4[at] > 0 else Decimal(0)
        buy = side is Side.BUY
        touch_e4 = int(ask_e4[at] if buy else bid_e4[at])
        left = ask_left if buy else bid_left
        assert request.limit_price is not None
        limit_e4 = request.limit_price.scaleb(4)
        if touch_e4 <= 0 or left <= 0 or (limit_e4 < touch_e4 if buy else limit_e4 > touch_e4):
            continue
        filled = min(qty, left)
        if buy:
            ask_left -= filled
        else:
            bid_left -= filled
        top = quote if at == row else quotes.quote_at(at)
        fills.append(
            Fill(
                exec_id=f"{_broker_order_id(request.client_order_id)}-1",
                client_order_id=request.client_order_id,
                symbol=symbol,
                side=side,
                qty=filled,
                price=top.ask if buy else top.bid,
                ts=when + latency.submit,
            )
        )
    return fills, len(read)


# -- evaluation: many decisions, many policies, one file ---------------------------------------


@dataclass(frozen=True, slots=True)
class QuoteFile:
    """A loaded quote file and the label results carry for it."""

    label: str
    quotes: ReplayQuotes

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        symbol: str | None = None,
        trades: str | Path | None = None,
        find_trades: bool = False,
    ) -> QuoteFile:
        """Load a quote file, with ``trades`` (or, with ``find_trades``, the companion
        ``*_trades`` file beside it, ``sim.quotes.find_trades_file``) merged in as executions."""
        file = Path(path)
        if trades is None and find_trades:
            trades = find_trades_file(file)
        return cls(file.name, ReplayQuotes.from_file(file, symbol=symbol, trades=trades))

    @property
    def trades(self) -> Path | None:
        """The trades file whose prints the replay uses as executions, if any."""
        return self.quotes.trades_path

    def session_open(self, calendar: MarketCalendar | None = None) -> datetime:
        """The regular open of the file's first day (09:30 New York on a normal day)."""
        cal = calendar or default_calendar()
        first = from_ns(int(self.quotes.ts_ns[0]))
        session = cal.session_at(first)
        if session is None:
            raise InvalidInputError(
                f"quote file {self.label} starts on {first.date()}, which has no NYSE session"
            )
        return session.open


def decision_times(
    file: QuoteFile,
    start: dt_time,
    end: dt_time,
    every: timedelta,
    calendar: MarketCalendar | None = None,
) -> list[datetime]:
    """Decision instants ``start <= t < end`` (New York wall clock) on the file's day."""
    if every <= timedelta(0):
        raise InvalidInputError(f"the decision interval must be positive, got {every}")
    opened = file.session_open(calendar)
    day = opened.astimezone(NEW_YORK).date()
    first = datetime.combine(day, start, NEW_YORK).astimezone(UTC)
    last = datetime.combine(day, end, NEW_YORK).astimezone(UTC)
    if last <= first:
        raise InvalidInputError(f"--to {end} must be after --from {start}")
    times = []
    t = first
    while t < last:
        times.append(t)
        t += every
    return times


def learned_typical_spreads(
    quotes: ReplayQuotes, times: Sequence[datetime], window_seconds: float
) -> list[float | None]:
    """The typical spread (bps) at each of ``times`` from the quotes before it, and no later.

    A time-weighted trailing median (``TypicalSpreadTracker``) fed every row up to
    and including the quote in force at the decision. No minimum history: at the
    open the first seconds of quotes are the best (and only) evidence there is,
    and they are the widest of the day, so the wait they imply errs on the side
    of trading.
    """
    tracker = TypicalSpreadTracker(window_seconds, min_history_seconds=0.0, symbol=quotes.symbol)
    order = sorted(range(len(times)), key=lambda k: times[k])
    out: list[float | None] = [None] * len(times)
    row = 0
    n = len(quotes)
    for k in order:
        t = times[k]
        last = quotes.index_at(t)
        while row <= last and row < n:
            tracker.update(quotes.quote_at(row))
            row += 1
        out[k] = tracker.typical_bps(t) if row > 0 else None
    return out


@dataclass(frozen=True, slots=True)
class Sizing:
    """Parent quantity per decision: a fixed number of shares, or a dollar amount at the mid."""

    qty: Decimal | None = Decimal(100)
    notional: Decimal | None = None

    def quantity(self, quotes: ReplayQuotes, decision: datetime) -> Decimal:
        if self.notional is None:
            assert self.qty is not None
            return self.qty
        row = max(quotes.index_at(decision), 0)
        mid = Decimal(int(quotes.bid_e4[row]) + int(quotes.ask_e4[row])) / Decimal(20_000)
        shares = (self.notional / mid).to_integral_value(rounding="ROUND_FLOOR") if mid > 0 else 0
        if shares < 1:
            raise InvalidInputError(
                f"--notional {self.notional} buys no whole {quotes.symbol} share at mid {mid}"
            )
        return Decimal(shares)


@dataclass(slots=True)
class ReplayCounters:
    """How much replay work an evaluation did (for speed reports)."""

    decisions: int = 0
    rows_processed: int = 0
    rows_skipped: int = 0
    steps: int = 0

    def add(self, outcome: DecisionOutcome) -> None:
        self.decisions += 1
        self.rows_processed += outcome.rows_processed
        self.rows_skipped += outcome.rows_skipped
        self.steps += outcome.steps

    @property
    def rows_covered(self) -> int:
        """Rows between each decision and its end, summed: what a row-by-row replay would read."""
        return self.rows_processed + self.rows_skipped


def evaluate_file(
    file: QuoteFile,
    policies: Sequence[Policy],
    base_config: BetterOrdersConfig,
    times: Sequence[datetime],
    sides: Sequence[Side] = (Side.BUY, Side.SELL),
    *,
    sizing: Sizing = Sizing(),
    latency: Latency = Latency(),
    skip: bool = True,
    calendar: MarketCalendar | None = None,
    progress: Callable[[int], None] | None = None,
    counters: ReplayCounters | None = None,
) -> list[DecisionRecord]:
    """Every policy at every decision time and side on one file; one record each.

    Decisions are independent: each starts a fresh exchange at its time, so one
    decision's orders never move the book another one sees.
    """
    quotes = file.quotes
    driver = ReplayDriver(quotes, calendar=calendar, latency=latency, skip=skip)
    configs = [(p, p.config(base_config)) for p in policies]
    learned: dict[float, list[float | None]] = {}
    for _, cfg in configs:
        window = cfg.spread.typical_window_seconds
        if window not in learned:
            learned[window] = learned_typical_spreads(quotes, times, window)
    records: list[DecisionRecord] = []
    symbol = quotes.symbol
    for k, decision in enumerate(times):
        qty = sizing.quantity(quotes, decision)
        for policy, cfg in configs:
            typical = learned[cfg.spread.typical_window_seconds][k]
            params = ladder_params(cfg, symbol, typical_spread_bps=typical)
            for side in sides:
                outcome = driver.run(ParentOrder(symbol, side, qty), params, decision)
                if counters is not None:
                    counters.add(outcome)
                records.append(
                    decision_record(
                        file=file.label,
                        policy=policy.name,
                        decision=decision,
                        report=outcome.report,
                        quotes=quotes,
                        typical_spread_bps=params.typical_spread_bps,
                    )
                )
            if progress is not None:
                progress(len(sides))
    return records


@dataclass(slots=True)
class TcaResult:
    """Everything one evaluation produced, for printing, JSON and the reports."""

    files: list[QuoteFile]
    policies: list[Policy]
    sides: list[Side]
    times: dict[str, list[datetime]]
    records: list[DecisionRecord]
    within_seconds: float
    wall_seconds: float
    counters: ReplayCounters
    latency: Latency = field(default_factory=Latency)

    @property
    def session_opens(self) -> dict[str, datetime]:
        return {f.label: f.session_open() for f in self.files}

    def summaries(self) -> list[PolicySummary]:
        return summarize(self.records, self.within_seconds)

    def minutes(self) -> list[MinuteRow]:
        return by_minute(self.records, self.session_opens, self.within_seconds)

    def quotes_for(self, label: str) -> ReplayQuotes:
        for f in self.files:
            if f.label == label:
                return f.quotes
        raise KeyError(label)


def run_tca(
    files: Sequence[QuoteFile],
    policies: Sequence[Policy],
    base_config: BetterOrdersConfig,
    *,
    start: dt_time,
    end: dt_time,
    every: timedelta,
    sides: Sequence[Side] = (Side.BUY, Side.SELL),
    sizing: Sizing = Sizing(),
    within_seconds: float = DEFAULT_COMPLETION_SECONDS,
    latency: Latency = Latency(),
    calendar: MarketCalendar | None = None,
    progress: Callable[[int], None] | None = None,
) -> TcaResult:
    """Evaluate every policy on every file (see ``evaluate_file``)."""
    started = time.perf_counter()
    times = {f.label: decision_times(f, start, end, every, calendar) for f in files}
    records: list[DecisionRecord] = []
    counters = ReplayCounters()
    for f in files:
        records.extend(
            evaluate_file(
                f,
                policies,
                base_config,
                times[f.label],
                sides,
                sizing=sizing,
                latency=latency,
                calendar=calendar,
                progress=progress,
                counters=counters,
            )
        )
    return TcaResult(
        files=list(files),
        policies=list(policies),
        sides=list(sides),
        times=times,
        records=records,
        within_seconds=within_seconds,
        wall_seconds=time.perf_counter() - started,
        counters=counters,
        latency=latency,
    )
