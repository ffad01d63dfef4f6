"""Buys sized in dollars, sent as notional market orders (``rebalance.notional_buys``).

What this gives up is the ladder's price control: a notional buy is one market DAY
order for an amount, and the broker works out the shares at the fill. There is no
marketable limit, no re-peg and no slippage budget; the buy pays what the market asks
when it arrives. What it gains: the amount is invested exactly, in fractions of a
share, and never more than the amount (so never more than the buying power the sells
released). It is how some Alpaca tools rebalance, offered for those who want it.

The journal rules are a ladder's: the leg and its order are recorded before the order
is sent, each update and fill as it arrives, and the leg is sized to the shares bought
once the order has ended, so a resumed run finds it done. The order's journalled
quantity is what the amount buys at the ask it was sized at. Only in regular hours:
a market order sent at any other time would wait at the broker for the open, and one
sent in the session's first five minutes would pay the opening's spreads (the buys wait
for them to end). An order
whose state cannot be known (no answer to the submit nor to the look-up, or no end
after a cancel) stops the run with ``RunFailedError``, naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import (
    BrokerError,
    MarketClosedError,
    QuoteError,
    RiskLimitError,
    RunFailedError,
)
from better_orders.core.jsonable import to_jsonable
from better_orders.core.market_calendar import MarketCalendar, MarketPhase
from better_orders.core.model import (
    ZERO,
    Attempt,
    AttemptKind,
    ExecutionReport,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
    floor_qty,
)
from better_orders.core.sanity import require_valid_quote
from better_orders.engine.retry import BrokerRetry, OrderStateUnknown
from better_orders.engine.risk import KillSwitch, RiskChecker
from better_orders.engine.run_journal import RunJournal
from better_orders.store.ids import client_order_id
from better_orders.store.journal import Journal
from better_orders.venues.base import Broker, Clock, QuoteFeed
from better_orders.venues.rate_limit import MeteredBroker, RateLimiter
from better_orders.venues.tasks import cancel_and_wait

CENT = Decimal("0.01")
#: How long a notional market order may take to end before it is cancelled.
FILL_WITHIN = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class NotionalBuy:
    """One leg: buy ``amount`` dollars of ``symbol`` (rounded down to the cent); ``qty``
    is what the plan expects it to buy, the leg's size until the broker says."""

    symbol: str
    amount: Decimal
    qty: Decimal
    leg: int


async def buy_notional(
    buys: Sequence[NotionalBuy],
    *,
    broker: Broker,
    feed: QuoteFeed,
    clock: Clock,
    journal: Journal,
    config: BetterOrdersConfig,
    run_id: str,
    calendar: MarketCalendar,
) -> list[ExecutionReport]:
    """Send each buy as a notional market DAY order, one after the other; their reports.

    In the session's first minutes (the opening and early windows, whose spreads the
    ladder waits out) the buys wait for regular hours, as a ladder's would: a market order
    pays whatever spread it meets. Raises ``MarketClosedError`` when the session is not
    open and ``KillSwitchError`` while the kill switch is on, before anything is sent.
    """
    _, _, phase, session = calendar.market_span(clock.now())
    if buys and session is not None and phase in (MarketPhase.OPENING, MarketPhase.EARLY):
        await clock.sleep_until(session.early_end)
        phase = calendar.phase_at(clock.now())
    if buys and phase is not MarketPhase.REGULAR:
        raise MarketClosedError(
            f"notional buys are market orders and are sent in regular hours only (now: "
            f"{phase.value}); no order sent"
        )
    kill_switch = KillSwitch.resolve(config.risk)
    if kill_switch is not None:
        kill_switch.check(f"no order sent ({len(buys)} notional buy(s) not started)")
    risk = RiskChecker(config.risk, kill_switch)
    risk.seed(journal.orders(run_id=run_id))
    limiter = (
        broker.budget
        if isinstance(broker, MeteredBroker)
        else RateLimiter(clock, config.requests_per_minute)
    )
    calls = BrokerRetry(broker, clock, limiter)
    writes = RunJournal(journal, run_id)
    inbox: asyncio.Queue[OrderUpdate] = asyncio.Queue()
    pump = asyncio.create_task(_pump(broker, inbox), name="notional-updates")
    reports: list[ExecutionReport] = []
    try:
        for buy in buys:
            one = _NotionalOrder(buy, broker, feed, clock, calls, writes, inbox, run_id)
            try:
                report = await one.run(risk, journal, phase, config)
            except BrokerError as failure:
                # The order may be working at the broker: say so, and stop the run.
                journal.update_intent(run_id, buy.leg, "failed", {"run_error": str(failure)})
                raise RunFailedError(
                    f"run {run_id} stopped: notional buy of {buy.symbol} failed: {failure}",
                    exit_code=failure.exit_code,
                    reports=[*reports, None],
                ) from failure
            status = "filled" if report.complete else ("failed" if report.error else "partial")
            journal.update_intent(run_id, buy.leg, status, _dict(report))
            reports.append(report)
    finally:
        await cancel_and_wait(pump)
        await writes.close()
    return reports


async def _pump(broker: Broker, inbox: asyncio.Queue[OrderUpdate]) -> None:
    async for update in broker.order_updates():
        inbox.put_nowait(update)


class _NotionalOrder:
    """One notional buy, from its quote to its report."""

    def __init__(
        self,
        buy: NotionalBuy,
        broker: Broker,
        feed: QuoteFeed,
        clock: Clock,
        calls: BrokerRetry,
        writes: RunJournal,
        inbox: asyncio.Queue[OrderUpdate],
        run_id: str,
    ) -> None:
        self.buy, self.broker, self.feed, self.clock = buy, broker, feed, clock
        self.calls, self.writes, self.inbox, self.run_id = calls, writes, inbox, run_id
        self.fills: list[Fill] = []
        self.last: OrderUpdate | None = None

    async def run(
        self, risk: RiskChecker, journal: Journal, phase: MarketPhase, config: BetterOrdersConfig
    ) -> ExecutionReport:
        buy, now = self.buy, self.clock.now()
        amount = buy.amount.quantize(CENT, ROUND_DOWN)
        quote = await self.feed.latest_quote(buy.symbol)
        try:
            require_valid_quote(
                quote,
                now,
                max_age_seconds=config.spread.max_quote_age_seconds,
                absurd_pct_of_mid=config.spread.absurd_pct_of_mid,
            )
        except QuoteError as bad:
            return self._report(quote, now, None, phase, f"{bad}; no order sent")
        estimate = floor_qty(amount / quote.ask)
        if estimate <= 0:
            return self._report(quote, now, None, phase, f"${amount} buys no share; no order sent")
        attempt_no = journal.next_attempt(self.run_id, buy.leg)
        request = OrderRequest(
            client_order_id(self.run_id, buy.leg, attempt_no),
            buy.symbol,
            Side.BUY,
            estimate,
            OrderType.MARKET,
            notional=amount,
        )
        attempt = Attempt(
            request.client_order_id,
            AttemptKind.MARKET,
            OrderType.MARKET,
            estimate,
            None,
            now,
            quote.bid,
            quote.ask,
        )
        try:
            risk.check(request, quote, now)
        except RiskLimitError as refused:
            await self._refused(request, buy.leg, attempt_no, attempt, refused.code, refused)
            return self._report(quote, now, attempt, phase, f"refused: {refused}")
        await self.writes.pending(request, buy.leg, attempt_no)
        try:
            ack = await self.calls.submit(request)
        except OrderStateUnknown:
            with contextlib.suppress(BrokerError):
                await self.calls.cancel(request.client_order_id)
            raise
        except BrokerError as refused:
            rejected = self._rejection(request, f"{refused.code}: {refused}")
            await self.writes.ack(rejected)
            self._ended(attempt, rejected)
            return self._report(quote, now, attempt, phase, f"refused by the broker: {refused}")
        await self.writes.ack(ack)
        self._seen(attempt, ack)
        await self._until_ended(attempt)
        journal.size_intent(self.run_id, buy.leg, attempt.filled_qty or estimate)
        return self._report(quote, now, attempt, phase, None, amount)

    async def _until_ended(self, attempt: Attempt) -> None:
        """Follow the order to its end; cancel it if it has not ended within ``FILL_WITHIN``."""
        coid = attempt.client_order_id
        deadline = self.clock.now() + FILL_WITHIN
        cancelled = False
        while attempt.status is None or not attempt.status.is_terminal:
            wait = (deadline - self.clock.now()).total_seconds()
            try:
                async with asyncio.timeout(max(wait, 0.001)):  # (not wait_for: see Inbox.wait)
                    update = await self.inbox.get()
            except TimeoutError:
                if cancelled:
                    order = await self.calls.get_order(coid)
                    if order is None or not order.status.is_terminal:
                        raise BrokerError(
                            f"notional buy {coid} ({self.buy.symbol}) has not ended after a "
                            "cancel; it may still be working at the broker",
                            code="order_open",
                        ) from None
                    update = order.as_update(self.clock.now())
                else:
                    await self.calls.cancel(coid)
                    cancelled = True
                    deadline = self.clock.now() + FILL_WITHIN
                    continue
            if update.client_order_id != coid:
                continue
            await self.writes.update(update, ours=True)
            self._seen(attempt, update)
        for fill in await self.writes.recover(self.broker, self.clock, coid):
            self.fills.append(fill)

    def _seen(self, attempt: Attempt, update: OrderUpdate) -> None:
        self.last = update
        if update.fill is not None:
            self.fills.append(update.fill)
        attempt.status = update.status
        attempt.filled_qty = max(attempt.filled_qty, update.filled_qty)
        if update.filled_avg_price is not None:
            attempt.filled_avg_price = update.filled_avg_price
        if update.status.is_terminal:
            self._ended(attempt, update)

    def _ended(self, attempt: Attempt, update: OrderUpdate) -> None:
        attempt.status = update.status
        attempt.ended = update.ts
        attempt.end_reason = update.status.value + (f": {update.reason}" if update.reason else "")

    def _rejection(self, request: OrderRequest, reason: str) -> OrderUpdate:
        return OrderUpdate(
            client_order_id=request.client_order_id,
            status=OrderStatus.REJECTED,
            filled_qty=ZERO,
            ts=self.clock.now(),
            reason=reason,
        )

    async def _refused(
        self,
        request: OrderRequest,
        leg: int,
        attempt_no: int,
        attempt: Attempt,
        code: str,
        why: Exception,
    ) -> None:
        refusal = self._rejection(request, f"{code}: {why}")
        await self.writes.refused(request, leg, attempt_no, refusal)
        self._ended(attempt, refusal)

    def _report(
        self,
        quote: Quote,
        started: datetime,
        attempt: Attempt | None,
        phase: MarketPhase,
        problem: str | None,
        amount: Decimal | None = None,
    ) -> ExecutionReport:
        fills = sorted({f.exec_id: f for f in self.fills}.values(), key=lambda f: f.ts)
        filled = sum((f.qty for f in fills), ZERO)
        spent = sum((f.qty * f.price for f in fills), ZERO)
        done = attempt is not None and attempt.status is OrderStatus.FILLED
        # The parent was an amount: once filled, what it bought is what was asked.
        requested = filled if done else self.buy.qty
        notes = [f"notional buy of ${amount}: one market order, no ladder"] if amount else []
        unfilled = max(requested - filled, ZERO)
        if problem is None and not done and attempt is not None:
            problem = f"order {attempt.client_order_id} ended ({attempt.end_reason})"
        return ExecutionReport(
            symbol=self.buy.symbol,
            side=Side.BUY,
            requested_qty=requested,
            filled_qty=filled,
            avg_fill_price=(spent / filled) if filled else None,
            arrival_bid=quote.bid,
            arrival_ask=quote.ask,
            arrival_mid=quote.mid,
            arrival_time=started,
            started=started,
            finished=self.clock.now(),
            strategy="notional",
            phase=phase.value,
            spread_class=None,
            relative_spread_class=None,
            routed="standard",
            attempts=[attempt] if attempt is not None else [],
            fills=fills,
            unfilled_qty=unfilled,
            unfilled_reason=problem if unfilled > 0 else None,
            error=problem if filled == 0 else None,
            notes=notes,
        )


def _dict(report: ExecutionReport) -> dict[str, object]:
    data: dict[str, object] = to_jsonable(report)
    return data
