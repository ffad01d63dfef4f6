"""Portfolio rebalancing: plan with ``core.plan``, execute with the runner, explain the result.

Order of work:

1. Read the account, positions, quotes and assets from the broker; validate the
   targets (bad input → a typed error before any order).
2. Plan (pure). ``dry_run`` stops here.
3. Execute. Sells run concurrently, each through its own ladder. If the buying
   power on hand already covers every buy, the buys run concurrently with the
   sells; otherwise the buys wait for the sells and are sized to the buying power
   the sells actually released (never to what the plan hoped).
4. Report: the plan, each execution, final positions and weights against the
   targets, total cost in dollars and bps, and what was left undone and why.

With ``rebalance.notional_buys`` the buys of fractionable assets are dollar amounts
sent as notional market orders after the sells (``notional_buys``: no ladder, so no
price control); covers of shorts and buys of other assets still go through ladders.

The whole plan (every sell, every buy at its desired size) is journalled as the
run's legs before the first order. That is what an interrupted rebalance resumes
(``resume=True``): each leg's quantity less what the journal's fills say was done,
never more; sells for what remains of them, buys sized to the buying power on hand
again. A leg that filled is not traded again; one half filled continues with the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import BrokerError, InvalidInputError, QuoteError
from better_orders.core.market_calendar import MarketCalendar, default_calendar
from better_orders.core.model import (
    ZERO,
    Asset,
    ExecutionReport,
    Quote,
    Side,
)
from better_orders.core.plan import Plan, PlannedTrade, PlanSettings, build_plan, size_buys_detailed
from better_orders.core.sanity import require_valid_quote
from better_orders.engine.execution import OrderSpec, execute
from better_orders.engine.legs import LadderEvent
from better_orders.engine.markouts import MarksRelay
from better_orders.engine.notional_buys import NotionalBuy, buy_notional
from better_orders.engine.risk import RiskChecker
from better_orders.store.journal import Journal
from better_orders.store.progress import run_progress
from better_orders.venues.base import Broker, Clock, QuoteFeed


@dataclass(slots=True)
class SymbolResult:
    symbol: str
    target_weight: Decimal
    final_qty: Decimal
    final_value: Decimal
    final_weight: Decimal

    @property
    def weight_error(self) -> Decimal:
        return self.final_weight - self.target_weight


@dataclass(slots=True)
class RebalanceReport:
    run_id: str | None
    plan: Plan
    dry_run: bool
    executions: list[ExecutionReport] = field(default_factory=list)
    results: list[SymbolResult] = field(default_factory=list)
    final_equity: Decimal | None = None
    final_cash: Decimal | None = None
    undone: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_cost_dollars(self) -> Decimal:
        return sum((r.cost_dollars or ZERO for r in self.executions), ZERO)

    @property
    def traded_notional(self) -> Decimal:
        return sum(((r.avg_fill_price or ZERO) * r.filled_qty for r in self.executions), ZERO)

    @property
    def total_cost_bps(self) -> float | None:
        notional = self.traded_notional
        if not notional:
            return None
        return float(self.total_cost_dollars / notional * 10_000)

    @property
    def complete(self) -> bool:
        return not self.undone and all(r.complete for r in self.executions)

    __json_properties__ = ("total_cost_dollars", "traded_notional", "total_cost_bps", "complete")


#: The most of the cash a plan holds back for its buys' slippage.
MAX_MARGIN = Decimal("0.5")


def plan_settings_for(
    config: BetterOrdersConfig, symbols: list[str], fractional: bool
) -> PlanSettings:
    """Planner settings: the buying-power margin covers the largest slippage budget of a buy.

    Buys are sized at the mid, but a buy limit may sit up to its budget above it; the
    broker reserves limit × quantity, so the margin must cover that or the last buy
    would be refused for buying power.
    """
    budgets = [config.slippage_budget_bps(s) for s in symbols] or [Decimal(0)]
    # A budget of half the price or more (10,000 bps sets no bound at all) cannot be
    # reserved for in full: half the cash is the most the plan holds back.
    margin = min(max(budgets) / Decimal(10_000) + Decimal("0.001"), MAX_MARGIN)
    settings = config.rebalance
    return PlanSettings(
        drift_threshold=settings.drift_threshold,
        min_order_value=settings.min_order_value,
        cash_buffer=settings.cash_buffer,
        fractional=fractional,
        # Dollar amounts buy fractions: the plan sizes in exact quantities to match.
        whole_shares_for_limit=settings.whole_shares_for_limit and not settings.notional_buys,
        buying_power_margin=margin,
    )


async def _prices(
    feed: QuoteFeed, clock: Clock, symbols: list[str], config: BetterOrdersConfig
) -> dict[str, Quote]:
    return {symbol: await _quote(feed, clock, symbol, config) for symbol in symbols}


async def _quote(feed: QuoteFeed, clock: Clock, symbol: str, config: BetterOrdersConfig) -> Quote:
    """The quote of ``symbol`` now, if it can be traded on (``InvalidInputError``, or the
    ``QuoteError`` of ``core.sanity``, if not)."""
    try:
        q = await feed.latest_quote(symbol)
    except BrokerError as exc:
        raise InvalidInputError(f"{symbol}: no quote available ({exc}); no order sent") from exc
    return require_valid_quote(
        q,
        clock.now(),
        max_age_seconds=max(config.spread.max_quote_age_seconds, 60.0),
        absurd_pct_of_mid=config.spread.absurd_pct_of_mid,
    )


async def _mids_now(
    feed: QuoteFeed, clock: Clock, symbols: list[str], config: BetterOrdersConfig
) -> dict[str, Decimal]:
    """The mids of ``symbols`` now. A symbol without a usable quote is left out: it keeps
    its plan's price, and its ladder waits for a quote as it would anyway."""
    mids: dict[str, Decimal] = {}
    for symbol in symbols:
        try:
            mids[symbol] = (await _quote(feed, clock, symbol, config)).mid
        except (InvalidInputError, QuoteError):
            continue
    return mids


async def _assets(broker: Broker, symbols: list[str]) -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    unknown: list[str] = []
    for symbol in symbols:
        try:
            assets[symbol] = await broker.get_asset(symbol)
        except BrokerError as exc:
            if exc.code == "unknown_symbol":
                unknown.append(symbol)
                continue
            raise
    if unknown:
        raise InvalidInputError(f"unknown symbol(s): {', '.join(unknown)}; no order sent")
    return assets


async def build_rebalance_plan(
    targets: Mapping[str, object],
    *,
    broker: Broker,
    feed: QuoteFeed,
    clock: Clock,
    config: BetterOrdersConfig,
) -> Plan:
    """Read the account and market, and plan (no order is sent)."""
    from better_orders.core.plan import parse_targets

    parsed = parse_targets(targets)
    account = await broker.get_account()
    positions = {p.symbol: p.qty for p in await broker.get_positions() if p.qty != 0}
    symbols = sorted(set(parsed) | set(positions))
    assets = await _assets(broker, symbols)
    quotes = await _prices(feed, clock, symbols, config)
    return build_plan(
        parsed,
        positions,
        cash=account.cash,
        buying_power=account.buying_power,
        prices={s: q.mid for s, q in quotes.items()},
        # The broker takes fractions; an asset that is not fractionable trades whole shares.
        settings=plan_settings_for(config, symbols, fractional=True),
        assets=assets,
    )


def _in_dollars(plan: Plan, trade: PlannedTrade) -> bool:
    """A buy sent as a notional amount: a fractionable asset, and not a cover of a short
    (which must buy back exactly the shares owed)."""
    return trade.side is Side.BUY and not trade.close and not plan.whole_shares.get(trade.symbol)


def _specs(trades: list[PlannedTrade]) -> list[OrderSpec]:
    """The trades' legs; a buy the broker refuses for buying power buys what it allows."""
    return [
        OrderSpec(t.symbol, t.side, t.qty, fit_buying_power=t.side is Side.BUY)
        for t in trades
        if t.qty > 0
    ]


def _record_plan(journal: Journal, run_id: str, plan: Plan) -> dict[tuple[Side, str], int]:
    """Journal every leg of the plan (sells, then buys at their desired size) at once."""
    legs: dict[tuple[Side, str], int] = {}
    with journal.transaction():
        for trade in [*plan.sells, *plan.desired_buys]:
            if trade.qty > 0 and (trade.side, trade.symbol) not in legs:
                leg = len(legs) + 1
                journal.record_intent(run_id, leg, trade.symbol, trade.side, trade.qty)
                legs[(trade.side, trade.symbol)] = leg
    return legs


async def _resumed_plan(
    plan: Plan,
    journal: Journal,
    run_id: str,
    *,
    broker: Broker,
    feed: QuoteFeed,
    clock: Clock,
    config: BetterOrdersConfig,
) -> Plan:
    """The journalled legs less what was done, on today's prices (buys sized later)."""
    progress = run_progress(journal, run_id)
    held = {p.symbol: p.qty for p in await broker.get_positions()}
    left = [p for p in progress if p.remaining_qty > 0]
    quotes = await _prices(feed, clock, sorted({p.symbol for p in left}), config)
    notes = [f"resuming run {run_id}: {len(progress) - len(left)} of {len(progress)} legs done"]
    sells: list[PlannedTrade] = []
    buys: list[PlannedTrade] = []
    for p in left:
        qty = p.remaining_qty
        if p.side is Side.SELL and qty > held.get(p.symbol, ZERO):
            qty = max(held.get(p.symbol, ZERO), ZERO)
            notes.append(f"{p.symbol}: only {qty} held of the {p.remaining_qty} left to sell")
        if qty <= 0:
            continue
        price = quotes[p.symbol].mid
        trade = PlannedTrade(
            symbol=p.symbol,
            side=p.side,
            qty=qty,
            reference_price=price,
            notional=qty * price,
            reason=f"resume: {p.done_qty} of {p.target_qty} done, {qty} left",
        )
        (sells if p.side is Side.SELL else buys).append(trade)
        notes.append(f"leg {p.leg} {p.side.value} {p.symbol}: {trade.reason}")
    current = {t.symbol: ZERO for t in buys} | dict(plan.current_values)
    return replace(
        plan,
        trades=sells + buys,
        desired_buys=buys,
        current_values=current,
        skipped=[],
        leftovers={},
        notes=notes,
    )


async def rebalance(
    targets: Mapping[str, object],
    *,
    broker: Broker,
    feed: QuoteFeed,
    clock: Clock,
    journal: Journal,
    config: BetterOrdersConfig,
    run_id: str,
    calendar: MarketCalendar | None = None,
    dry_run: bool = False,
    observer: Callable[[LadderEvent], None] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    resume: bool = False,
) -> RebalanceReport:
    """Plan and (unless ``dry_run``) execute a rebalance to ``targets`` on an open broker.

    With ``resume`` and legs already journalled for ``run_id``, the run continues: what
    is left of its legs is traded instead of a new plan (see the module docstring).
    """
    plan = await build_rebalance_plan(targets, broker=broker, feed=feed, clock=clock, config=config)
    resumed = resume and bool(journal.intents(run_id))
    if resumed:
        plan = await _resumed_plan(
            plan, journal, run_id, broker=broker, feed=feed, clock=clock, config=config
        )
    if on_plan is not None:
        on_plan(plan)
    report = RebalanceReport(run_id=None if dry_run else run_id, plan=plan, dry_run=dry_run)
    if dry_run:
        return report
    RiskChecker(config.risk).check_parents(
        ((t.symbol, t.side, t.qty) for t in plan.trades if t.qty > 0),
        prices={t.symbol: t.reference_price for t in plan.trades},
    )
    if resumed:
        report.notes.extend(plan.notes)
        legs = {(i.side, i.symbol): i.leg for i in journal.intents(run_id)}
    else:
        legs = _record_plan(journal, run_id, plan)

    def numbers(specs: list[OrderSpec]) -> list[int]:
        return [legs[(s.side, s.symbol)] for s in specs]

    common: dict[str, Any] = {
        "broker": broker,
        "feed": feed,
        "clock": clock,
        "journal": journal,
        "config": config,
        "run_id": run_id,
        "kind": "rebalance",
        "calendar": calendar,
        "observer": observer,
        # The plan's prices, which the whole plan was checked at above.
        "prices": {t.symbol: t.reference_price for t in plan.trades},
    }
    sells = _specs(plan.sells)
    account = await broker.get_account()
    funded_now = size_buys_detailed(plan, account.buying_power)
    notional = config.rebalance.notional_buys
    if plan.desired_buys and funded_now.scale >= 1 and not notional:
        # Cash on hand covers every buy: no reason to make the buys wait for the sells.
        buys = _specs(funded_now.trades)
        report.notes.append("buying power on hand covers every buy: sells and buys run together")
        both = sells + buys
        report.executions = await execute(both, leg_numbers=numbers(both), **common)
    else:
        # The buys need not wait for the marks a minute after the sells' fills: they take
        # them over (``engine.markouts``).
        relay = MarksRelay()
        sell_reports = (
            await execute(sells, leg_numbers=numbers(sells), marks_to=relay, **common)
            if sells
            else []
        )
        account = await broker.get_account()
        # The sells may have taken minutes: the buys are sized at the prices of now.
        now = (
            await _mids_now(feed, clock, [t.symbol for t in plan.desired_buys], config)
            if sells
            else None
        )
        sizing = size_buys_detailed(plan, account.buying_power, prices=now)
        report.notes.extend(sizing.notes)
        for skipped in sizing.skipped:
            report.undone.append(f"{skipped.symbol}: {skipped.reason}")
            leg = legs.get((Side.BUY, skipped.symbol))
            if leg is not None:  # journalled at its desired size: say why it never started
                journal.update_intent(run_id, leg, "skipped", {"reason": skipped.reason})
        by_amount = [t for t in sizing.trades if notional and _in_dollars(plan, t)]
        buys = _specs([t for t in sizing.trades if t not in by_amount])
        buy_reports = (
            await execute(
                buys,
                leg_numbers=numbers(buys),
                marks_from=relay,
                marks_to=relay if by_amount else None,
                **common,
            )
            if buys
            else []
        )
        if by_amount:
            buy_reports += await buy_notional(
                [
                    NotionalBuy(t.symbol, t.notional, t.qty, legs[(t.side, t.symbol)])
                    for t in by_amount
                ],
                broker=broker,
                feed=feed,
                clock=clock,
                journal=journal,
                config=config,
                run_id=run_id,
                calendar=calendar or default_calendar(),
            )
        if relay.due:  # no batch of ladders came after them: the marks are taken here
            await execute([], marks_from=relay, **common)
        report.executions = sell_reports + buy_reports
    for ex in report.executions:
        if ex.unfilled_qty > 0:
            report.undone.append(
                f"{ex.symbol}: {ex.side.value} {ex.unfilled_qty} of {ex.requested_qty} unfilled"
                f" ({ex.unfilled_reason or ex.error or 'no reason given'})"
            )
    await _final_state(report, broker, feed, plan)
    return report


async def _final_state(
    report: RebalanceReport, broker: Broker, feed: QuoteFeed, plan: Plan
) -> None:
    account = await broker.get_account()
    positions = {p.symbol: p.qty for p in await broker.get_positions()}
    symbols = sorted(set(plan.weights) | {s for s, q in positions.items() if q != 0})
    values: dict[str, Decimal] = {}
    for symbol in symbols:
        qty = positions.get(symbol, ZERO)
        if qty == 0:
            values[symbol] = ZERO
            continue
        quote = await feed.latest_quote(symbol)
        values[symbol] = qty * quote.mid
    equity = account.cash + sum(values.values(), ZERO)
    report.final_equity = equity
    report.final_cash = account.cash
    for symbol in symbols:
        report.results.append(
            SymbolResult(
                symbol=symbol,
                target_weight=plan.weights.get(symbol, ZERO),
                final_qty=positions.get(symbol, ZERO),
                final_value=values[symbol],
                final_weight=(values[symbol] / equity) if equity else ZERO,
            )
        )


def targets_from_pairs(pairs: list[str]) -> list[tuple[str, str]]:
    """Parse ``SYMBOL=WEIGHT`` words from the command line (weights may end in %)."""
    out: list[tuple[str, str]] = []
    for word in pairs:
        if "=" not in word:
            raise InvalidInputError(f"target {word!r} is not SYMBOL=WEIGHT (e.g. TQQQ=0.6)")
        symbol, weight = word.split("=", 1)
        out.append((symbol, weight.strip()))  # a percentage is read by ``parse_targets``
    return out


__all__ = [
    "RebalanceReport",
    "SymbolResult",
    "build_rebalance_plan",
    "plan_settings_for",
    "rebalance",
    "targets_from_pairs",
]
