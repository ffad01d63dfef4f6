"""Everything one ladder knows, in one place: the parent, its children, its quotes, its outcome.

``LadderData`` is plain data plus read-only views of it (what is filled, what
is live, what a new child may ask for). Which of its fields mean anything
depends on the state (``wait_until`` in a spread wait, ``holding_since`` in a
hold, ``cross_quote`` while a slice is cancelled before step 1): the state says
which mode the ladder is in, the data only carries that mode's values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from better_orders.core.ladder.child import ChildOrder
from better_orders.core.ladder.decisions import SpreadScale, spread_scale
from better_orders.core.ladder.params import LadderParams, ParentOrder
from better_orders.core.ladder.states import LadderState
from better_orders.core.market_calendar import (
    ExecutionStrategy,
    MarketCalendar,
    MarketPhase,
    Session,
)
from better_orders.core.model import TERMINAL_STATUSES, ZERO, ExecutionReport, Quote
from better_orders.core.patience import BudgetUrgency, budget_urgency
from better_orders.core.pricing import bound_at, budget_factor
from better_orders.core.quote_jumps import JumpWatch
from better_orders.core.sanity import QuoteVerdict
from better_orders.core.spread import WaitRule, wait_rule
from better_orders.core.timing import WaitBudgets, wait_budgets


@dataclass(slots=True, eq=False)
class LadderData:
    parent: ParentOrder
    params: LadderParams
    calendar: MarketCalendar
    make_client_order_id: Callable[[int], str]
    #: The opening wait's rule for this symbol (``core.spread.WaitRule``), resolved once.
    wait_rule: WaitRule = field(init=False)
    #: ``params.max_quote_age_seconds`` as a duration.
    max_quote_age: timedelta = field(init=False)
    #: The spread thresholds of notes and the report, resolved once.
    spread_scale: SpreadScale = field(init=False)
    #: The slippage budget as a factor of the arrival mid (``core.pricing.budget_factor``).
    bound_factor: Decimal = field(init=False)
    #: The spread wait's budgets (``core.timing.wait_budgets``), checked once.
    wait_budgets: WaitBudgets = field(init=False)

    state: LadderState = LadderState.IDLE
    report: ExecutionReport | None = None
    #: The one timer armed (every state but IDLE and DONE has one).
    timer: datetime | None = None
    started: datetime | None = None

    # -- quotes (``quotes``) --
    last_quote: Quote | None = None
    #: When the shell last confirmed that ``last_quote`` stood.
    confirmed_at: datetime | None = None
    #: ``core.sanity.check_prices`` of ``last_quote``, once asked for.
    price_verdict: QuoteVerdict | None = None
    quotes_seen: int = 0
    #: The latest quote followed the one before within ``params.hold``.
    burst: bool = False
    quote_problem: str | None = None
    #: The reference quote and any jump held against it (``core.quote_jumps``; None: off).
    jumps: JumpWatch | None = None
    #: Quotes held as suspect jumps so far.
    quotes_held: int = 0

    # -- the decision benchmark (step 1's first decision) --
    arrival: Quote | None = None
    arrival_time: datetime | None = None
    phase: MarketPhase | None = None
    strategy: ExecutionStrategy | None = None
    #: The slippage budget's bound off the arrival mid (``core.pricing.budget_bound``).
    bound: Decimal | None = None
    #: ``core.patience.budget_urgent`` off the arrival quote and the bound, worked out once.
    urgent_at: BudgetUrgency | None = None
    #: How far the far touch ran from the arrival mid (bps) when the budget stopped a price.
    budget_ran_bps: float | None = None

    # -- the spread wait --
    wait_started: datetime | None = None
    wait_reason: str | None = None
    #: A spread wait's phase and deadline, when that wait is ``wait_reason`` (worded by the
    #: report: ``core.timing.wait_reason``, which costs more than the decision).
    spread_wait: tuple[MarketPhase, datetime] | None = None
    wait_until: datetime | None = None
    holding_since: datetime | None = None
    #: The quote that ended the wait, to cross off once the slice's cancel is confirmed.
    cross_quote: Quote | None = None

    # -- children --
    children: list[ChildOrder] = field(default_factory=list)
    by_coid: dict[str, ChildOrder] = field(default_factory=dict)
    first_submit: datetime | None = None
    #: The first order sent other than a resting slice: where the spread wait ended.
    first_cross: datetime | None = None
    repegs: int = 0
    #: What the children filled, all told (kept as their updates are folded in).
    filled: Decimal = ZERO
    #: What the leg may fill in all: the parent's quantity, unless the buying power cut it
    #: (``attempts.cut_to_buying_power``, at most ``MAX_BUYING_POWER_CUTS`` times).
    target: Decimal = field(init=False)
    #: The child whose refusal for buying power last cut the leg: its step is taken again.
    cut_by: ChildOrder | None = None
    cuts: int = 0
    #: Queries sent since the cancel being chased was sent.
    queries: int = 0

    # -- outcome --
    fallback_used: bool = False
    fallback_blocked: bool = False
    unfilled_reason: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.target = self.parent.qty
        self.wait_rule = wait_rule(self.params.spread, self.params.typical_spread_bps)
        self.max_quote_age = timedelta(seconds=self.params.max_quote_age_seconds)
        self.spread_scale = spread_scale(self.params)
        self.bound_factor = budget_factor(self.parent.side, self.params.budget_bps)
        timing = self.params.timing
        self.wait_budgets = wait_budgets(
            timing.opening_wait_max_seconds, timing.early_wait_max_seconds
        )
        rule = self.params.jumps
        if rule is not None and rule.on:
            self.jumps = JumpWatch(rule)

    #: The last ``market_at`` answer, and the span it holds for (``MarketCalendar.market_span``).
    market: tuple[MarketPhase, Session | None] = (MarketPhase.CLOSED, None)
    market_since: datetime | None = None
    market_until: datetime | None = None

    # -- views ---------------------------------------------------------------------------------

    def market_at(self, now: datetime) -> tuple[MarketPhase, Session | None]:
        """The market phase and the session at ``now`` (kept while they hold: every event asks)."""
        since, until = self.market_since, self.market_until
        # (A naive ``now`` goes to the calendar, which refuses it.)
        if since is None or until is None or now.tzinfo is None or not since <= now < until:
            since, until, phase, session = self.calendar.market_span(now)
            self.market, self.market_since, self.market_until = (phase, session), since, until
        return self.market

    @property
    def filled_qty(self) -> Decimal:
        return self.filled

    @property
    def remaining_qty(self) -> Decimal:
        left = self.target - self.filled
        return left if left > ZERO else ZERO

    @property
    def unallocated_qty(self) -> Decimal:
        """What remains minus what live children may still fill: the most a new child may ask."""
        open_qty = ZERO
        for child in self.children:
            if child.status not in TERMINAL_STATUSES:  # ``ChildOrder.open_qty``, inlined
                left = child.attempt.qty - child.filled_qty
                if left > ZERO:
                    open_qty += left
        left = self.target - self.filled - open_qty
        return left if left > ZERO else ZERO

    @property
    def any_live(self) -> bool:
        return self.latest_live() is not None

    def live_children(self) -> list[ChildOrder]:
        return [c for c in self.children if c.live]

    def latest_live(self) -> ChildOrder | None:
        for child in reversed(self.children):
            if child.status not in TERMINAL_STATUSES:
                return child
        return None

    @property
    def latest(self) -> ChildOrder:
        return self.children[-1]

    @property
    def arrival_mid(self) -> Decimal:
        assert self.arrival is not None
        return self.arrival.mid

    @property
    def budget_bound(self) -> Decimal:
        """The worst price within the slippage budget (fixed once the arrival is)."""
        if self.bound is None:
            self.bound = bound_at(
                self.parent.side, self.arrival_mid, self.bound_factor, self.params.budget_bps
            )
        return self.bound

    @property
    def urgency(self) -> BudgetUrgency:
        """When a wait ends for the budget's sake (fixed once the arrival is)."""
        if self.urgent_at is None:
            assert self.arrival is not None
            self.urgent_at = budget_urgency(
                self.params.patience, self.parent.side, self.arrival, self.budget_bound
            )
        return self.urgent_at
