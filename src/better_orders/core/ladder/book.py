"""A ladder's book: the parent, its children, every named piece of state, the report.

``LadderBook`` holds what one ladder knows and shows it read-only; the steps
(``attempts``, ``waiting``) and the machine (``machine``) build on it, so every
transition reads and writes the same named state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from better_orders.core.ladder.child import ChildOrder
from better_orders.core.ladder.events import Action, Finished
from better_orders.core.ladder.params import LadderParams, ParentOrder
from better_orders.core.ladder.report import build_report
from better_orders.core.ladder.states import LadderState, NextStep
from better_orders.core.model import ZERO, Attempt, ExecutionReport, Quote
from better_orders.core.spread import SpreadAssessment
from better_orders.core.timing import ExecutionStrategy, MarketCalendar, MarketPhase


class LadderBook:
    """A ladder's state and its read-only view; the steps build on it (see ``machine``)."""

    def __init__(
        self,
        parent: ParentOrder,
        params: LadderParams,
        calendar: MarketCalendar,
        make_client_order_id: Callable[[int], str],
    ) -> None:
        self.parent = parent
        self.params = params
        self.calendar = calendar
        self._coid = make_client_order_id
        self.state = LadderState.IDLE
        self.report: ExecutionReport | None = None

        self._started: datetime | None = None
        self._last_quote: Quote | None = None
        self._quotes_seen = 0
        self._last_quote_problem: str | None = None
        self._arrival: Quote | None = None
        self._arrival_time: datetime | None = None
        self._phase: MarketPhase | None = None
        self._strategy: ExecutionStrategy | None = None
        self._assessment: SpreadAssessment | None = None
        self._wait_started: datetime | None = None
        self._wait_until: datetime | None = None
        self._holding_since: datetime | None = None
        #: The quote that ended a wait whose resting limit is being cancelled, to cross off.
        self._cross_quote: Quote | None = None
        self._burst = False  # the latest quote followed the one before within ``hold``
        self._wait_reason: str | None = None
        self._first_submit: datetime | None = None
        #: The first order sent other than a resting limit: where the spread wait ended.
        self._first_cross: datetime | None = None
        self._quote_deadline: datetime | None = None
        self._deadline: datetime | None = None
        self._next: NextStep = NextStep.FIRST
        self._children: list[ChildOrder] = []
        self._by_coid: dict[str, ChildOrder] = {}
        self._repegs = 0
        self._queries = 0
        self._fallback_used = False
        self._fallback_blocked = False
        self._unfilled_reason: str | None = None
        self._error: str | None = None
        self._notes: list[str] = []

    # -- public view ---------------------------------------------------------------------

    @property
    def filled_qty(self) -> Decimal:
        return sum((c.filled_qty for c in self._children), ZERO)

    @property
    def remaining_qty(self) -> Decimal:
        return max(self.parent.qty - self.filled_qty, ZERO)

    @property
    def live_child(self) -> str | None:
        """The latest child that may still be open at the broker (the one being worked)."""
        for child in reversed(self._children):
            if not child.terminal:
                return child.coid
        return None

    @property
    def live_children(self) -> list[str]:
        """Every child that may still be open at the broker, oldest first.

        Usually at most one; two while a wait's resting limit is being cancelled and
        the rest of the order already crosses (``_end_rest``).
        """
        return [c.coid for c in self._children if not c.terminal]

    @property
    def _unallocated_qty(self) -> Decimal:
        """What remains minus what live children may still fill: the most a new child may ask."""
        open_qty = sum(
            (max(c.attempt.qty - c.filled_qty, ZERO) for c in self._children if not c.terminal),
            ZERO,
        )
        return max(self.remaining_qty - open_qty, ZERO)

    def attempt(self, client_order_id: str) -> Attempt | None:
        """The attempt a child order records (its kind, prices, why it ended), if it is ours."""
        child = self._by_coid.get(client_order_id)
        return None if child is None else child.attempt

    @property
    def notes(self) -> list[str]:
        """Decisions worth telling the user about, in order (copied into the report)."""
        return list(self._notes)

    @property
    def holding_since(self) -> datetime | None:
        """While a spread that came in is being held to confirm it: since when."""
        return self._holding_since

    @property
    def done(self) -> bool:
        return self.state is LadderState.DONE

    def _arrival_mid(self) -> Decimal:
        assert self._arrival is not None
        return self._arrival.mid

    # -- step 5: the report ---------------------------------------------------------------

    def _finish(self, now: datetime, *, error: str | None = None) -> list[Action]:
        if error is not None:
            self._error = error
            self._unfilled_reason = self._unfilled_reason or error
        self.state = LadderState.DONE
        self.report = self._build_report(now)
        return [Finished(self.report)]

    def _build_report(self, now: datetime) -> ExecutionReport:
        return build_report(
            self.parent,
            self._children,
            routed_better=self.params.routed_better,
            started=self._started,
            now=now,
            arrival=self._arrival,
            arrival_time=self._arrival_time,
            assessment=self._assessment,
            phase=self._phase,
            strategy=self._strategy,
            first_submit=self._first_submit,
            first_cross=self._first_cross,
            quotes_seen=self._quotes_seen,
            wait_reason=self._wait_reason,
            repegs=self._repegs,
            fallback_used=self._fallback_used,
            fallback_blocked=self._fallback_blocked,
            unfilled_reason=self._unfilled_reason,
            error=self._error,
            notes=self._notes,
        )
