"""One journalled batch of parent orders through the runner.

The journal rule holds here: each parent (intent) is recorded before its ladder
starts, and its report is written back when it finishes, or, if the run failed,
marked failed with the error and the report as far as it got. Every child order
passes the pre-trade risk checks of ``risk`` on its way out, and the kill switch is
watched for the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import (
    BrokerError,
    InvalidInputError,
    JournalError,
    KillSwitchError,
    QuoteError,
    RunFailedError,
)
from better_orders.core.jsonable import to_jsonable
from better_orders.core.ladder import ParentOrder
from better_orders.core.market_calendar import MarketCalendar, default_calendar
from better_orders.core.model import (
    ExecutionReport,
    Side,
    normalize_symbol,
    parse_quantity,
    to_decimal,
)
from better_orders.core.pricing import MAX_BUDGET_BPS
from better_orders.engine.legs import LadderEvent, Leg
from better_orders.engine.markouts import MarksRelay
from better_orders.engine.risk import KillSwitch, RiskChecker, halt_summary
from better_orders.engine.runner import Runner
from better_orders.store.journal import Journal
from better_orders.venues.base import Broker, Clock, QuoteFeed


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """A validated parent order as a user asked for it."""

    symbol: str
    side: Side
    qty: Decimal
    max_slippage_bps: Decimal | None = None
    #: A buy that shrinks to what the buying power allows when the broker refuses it for
    #: that (``runner.Leg.fit_buying_power``): a rebalance's buys, never a user's order.
    fit_buying_power: bool = False

    @classmethod
    def parse(
        cls, symbol: str, qty: object, side: str | Side, max_slippage_bps: object = None
    ) -> OrderSpec:
        budget = None
        if max_slippage_bps is not None:
            budget = to_decimal(max_slippage_bps, "max_slippage_bps")
            if budget <= 0:
                raise InvalidInputError(
                    f"max_slippage_bps must be > 0 (a budget of {budget} bps could never "
                    "fill); no order sent"
                )
            if budget > MAX_BUDGET_BPS:
                raise InvalidInputError(
                    f"max_slippage_bps must be at most {MAX_BUDGET_BPS:,} (100x the price), "
                    f"got {budget}; no order sent"
                )
        return cls(normalize_symbol(symbol), Side.parse(side), parse_quantity(qty), budget)


async def _mids(feed: QuoteFeed, symbols: list[str]) -> dict[str, Decimal]:
    """The mid of each symbol that has a two-sided quote now: what a whole parent is judged
    at before its first slice (a symbol without one is judged slice by slice)."""
    out: dict[str, Decimal] = {}
    for symbol in symbols:
        try:
            quote = await feed.latest_quote(symbol)
        except (BrokerError, QuoteError):
            continue
        if quote.bid > 0 and quote.ask >= quote.bid:
            out[symbol] = quote.mid
    return out


async def execute(
    specs: list[OrderSpec],
    *,
    broker: Broker,
    feed: QuoteFeed,
    clock: Clock,
    journal: Journal,
    config: BetterOrdersConfig,
    run_id: str,
    kind: str = "order",
    calendar: MarketCalendar | None = None,
    observer: Callable[[LadderEvent], None] | None = None,
    typical_spread_bps: dict[str, float] | None = None,
    leg_offset: int = 0,
    leg_numbers: Sequence[int] | None = None,
    marks_from: MarksRelay | None = None,
    marks_to: MarksRelay | None = None,
    prices: Mapping[str, Decimal] | None = None,
) -> list[ExecutionReport]:
    """Run the parents through ladders on an already-open broker; journals the legs.

    Legs are numbered from ``leg_offset + 1`` unless ``leg_numbers`` gives each spec's
    number. A leg already in the journal (a plan recorded up front, a resumed run) is
    not recorded again, and its ladder continues the leg's attempt numbers.

    A batch of a run that others follow leaves the quotes still to be marked after its
    fills in ``marks_to`` rather than waiting for them; the next batch takes them from
    its ``marks_from`` (``engine.markouts``). Without specs, a batch only takes them.

    Raises ``KillSwitchError`` if the kill switch is on at the start (nothing is sent)
    or goes on during the batch (working orders are cancelled; reports are journalled),
    ``RiskLimitError`` before anything is sent for a parent beyond ``max_order_qty`` or, at
    ``prices`` (the mids in force when not given), ``max_order_notional``, and
    ``RunFailedError`` if part of the batch failed (every working order was cancelled;
    each leg is journalled as failed, with the error).
    """
    cal = calendar or default_calendar()
    kill_switch = KillSwitch.resolve(config.risk)
    if kill_switch is not None and specs:
        kill_switch.check(f"no order sent ({len(specs)} order(s) not started)")
    await _require_tradable(broker, sorted({s.symbol for s in specs}))
    risk = RiskChecker(config.risk, kill_switch)
    if prices is None and specs:
        prices = await _mids(feed, sorted({s.symbol for s in specs}))
    risk.check_parents(((s.symbol, s.side, s.qty) for s in specs), prices=prices)
    # A run executed in several batches (a rebalance's sells, then its buys) has one limit.
    risk.seed(journal.orders(run_id=run_id))
    legs: list[Leg] = []
    numbers = (
        list(leg_numbers)
        if leg_numbers is not None
        else list(range(1 + leg_offset, 1 + leg_offset + len(specs)))
    )
    recorded = {intent.leg: intent for intent in journal.intents(run_id)}
    for i, spec in zip(numbers, specs, strict=True):
        params = ladder_params(
            config,
            spec.symbol,
            max_slippage_bps=spec.max_slippage_bps,
            typical_spread_bps=(typical_spread_bps or {}).get(spec.symbol),
        )
        known = recorded.get(i)
        if known is None:
            journal.record_intent(run_id, i, spec.symbol, spec.side, spec.qty)
        elif (known.symbol, known.side) != (spec.symbol, spec.side):
            raise JournalError(
                f"leg {i} of run {run_id} is {known.side.value} {known.symbol} in the journal, "
                f"not {spec.side.value} {spec.symbol}; no order sent"
            )
        journal.size_intent(run_id, i, spec.qty)
        parent = ParentOrder(spec.symbol, spec.side, spec.qty)
        legs.append(
            Leg(
                i,
                parent,
                params,
                first_attempt=journal.next_attempt(run_id, i),
                fit_buying_power=spec.fit_buying_power,
            )
        )
    runner = Runner(
        broker,
        feed,
        clock,
        cal,
        run_id=run_id,
        journal=journal,
        observer=observer,
        requests_per_minute=config.requests_per_minute,
        orders_per_minute=config.risk.max_orders_per_minute,
        pre_submit=lambda request, quote: risk.check(request, quote, clock.now()),
        halt=kill_switch.reason if kill_switch is not None else None,
        markout_seconds=config.tca.markout_seconds,
    )
    try:
        reports = await runner.run(legs, marks_from=marks_from, marks_to=marks_to)
    except RunFailedError as failed:
        _journal_failure(journal, run_id, legs, failed)
        raise
    for leg, report in zip(legs, reports, strict=True):
        status = "filled" if report.complete else ("failed" if report.error else "partial")
        journal.update_intent(run_id, leg.leg, status, _report_dict(report))
    if runner.halted is not None or risk.kill_switch_tripped:
        assert kill_switch is not None
        raise KillSwitchError(_halt_line(runner, reports, kill_switch))
    return reports


async def _require_tradable(broker: Broker, symbols: list[str]) -> None:
    """Every symbol must be listed and tradable at the broker before any leg starts."""
    problems: list[str] = []
    for symbol in symbols:
        try:
            asset = await broker.get_asset(symbol)
        except BrokerError as exc:
            if exc.code != "unknown_symbol":
                raise
            problems.append(f"unknown symbol {symbol}")
            continue
        if not asset.tradable:
            problems.append(f"{symbol} is not tradable at the broker")
    if problems:
        raise InvalidInputError(f"{'; '.join(problems)}; no order sent")


def _halt_line(runner: Runner, reports: list[ExecutionReport], kill_switch: KillSwitch) -> str:
    working = set(runner.halt_working)
    ended = [a for r in reports for a in r.attempts if a.client_order_id in working]
    cancelled = sum(1 for a in ended if a.filled_qty < a.qty)
    return halt_summary(
        runner.halted or f"kill switch {kill_switch.path} is on",
        cancelled,
        filled_meanwhile=len(ended) - cancelled,
    )


def _journal_failure(
    journal: Journal, run_id: str, legs: list[Leg], failed: RunFailedError
) -> None:
    """Every leg of a failed batch is journalled as failed, with the error and its report."""
    reports = failed.reports or [None] * len(legs)
    for leg, report in zip(legs, reports, strict=True):
        data = _report_dict(report) if isinstance(report, ExecutionReport) else {}
        journal.update_intent(run_id, leg.leg, "failed", {**data, "run_error": str(failed)})


def _report_dict(report: ExecutionReport) -> dict[str, Any]:
    data: dict[str, Any] = to_jsonable(report)
    return data
