"""The one retry layer for broker requests: tenacity, on the loop's clock, with a budget.

Rules of this file:

* **Only a retryable ``BrokerError`` is tried again** (rate limited, 5xx, timeout);
  any other answer is the answer. Adapters never retry themselves.
* **A submit is never sent twice blindly.** After an ambiguous failure the order is
  looked up by its client order id before the next send, and a broker's "client order
  id already used" is resolved by a look-up too. When the budget runs out after an
  ambiguous failure, one last look-up decides: the order exists, it does not (the
  submit failed), or nobody can tell (``OrderStateUnknown``: the caller must treat
  the order as live).
* **A budget per request**: at most ``attempts`` tries, none started later than
  ``within`` after the first, waits doubling from ``first_wait`` up to ``max_wait``;
  a 429 waits on the request budget instead (it holds every request back).
* **Every try spends a token** of the request budget (unless the broker spends its
  own, ``MeteredBroker``): cancels at the front of the queue, then look-ups, then
  new orders. Waits are on the given clock, so a simulator's virtual time is used.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from better_orders.core.errors import BrokerError
from better_orders.core.model import BrokerOrder, OrderRequest, OrderUpdate
from better_orders.venues.base import Broker, Clock
from better_orders.venues.rate_limit import MeteredBroker, Priority, RateLimiter

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """How hard one request is tried (see the module docstring)."""

    attempts: int = 4
    within: timedelta = timedelta(seconds=5)
    first_wait: float = 0.25
    max_wait: float = 2.0


class OrderStateUnknown(BrokerError):
    """A submit failed ambiguously and the order could not be looked up: it may be live."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, BrokerError) and exc.retryable


class _BudgetSpent(stop_base):
    """Stop after ``attempts`` tries or once ``within`` has passed on the clock."""

    def __init__(self, clock: Clock, budget: RetryBudget) -> None:
        self._clock = clock
        self._budget = budget
        self._deadline = clock.now() + budget.within

    def __call__(self, retry_state: RetryCallState) -> bool:
        return (
            retry_state.attempt_number >= self._budget.attempts
            or self._clock.now() >= self._deadline
        )


class _Backoff(wait_base):
    """Doubling waits; none after a 429, whose wait is the request budget's."""

    def __init__(self, budget: RetryBudget) -> None:
        self._budget = budget

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, BrokerError) and exc.code == "rate_limited":
            return 0.0
        wait = self._budget.first_wait * 2 ** (retry_state.attempt_number - 1)
        return float(min(self._budget.max_wait, wait))


class BrokerRetry:
    """A broker's order requests, each tried within a budget (see the module docstring)."""

    def __init__(
        self,
        broker: Broker,
        clock: Clock,
        limiter: RateLimiter,
        budget: RetryBudget | None = None,
    ) -> None:
        self.broker = broker
        self.clock = clock
        self.limiter = limiter
        self.budget = budget or RetryBudget()
        #: False when the broker spends its own tokens (it counts every request it makes).
        self._spends = not isinstance(broker, MeteredBroker)
        #: Tries that failed and were tried again, for reports and tests.
        self.retried = 0

    # -- the requests ------------------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> OrderUpdate:
        """Send ``request``; its acknowledgement, however many tries it took.

        Raises the broker's ``BrokerError`` if the order was refused (or every try failed
        and the broker has no such order), ``OrderStateUnknown`` if nobody can tell.
        """
        coid = request.client_order_id
        ambiguous = False

        async def once() -> OrderUpdate:
            nonlocal ambiguous
            if ambiguous:
                found = await self._find(coid)
                if found is not None:
                    return found
            await self._spend(Priority.SUBMIT)
            try:
                return await self.broker.submit_order(request)
            except BrokerError as exc:
                if exc.code == "duplicate_client_order_id":
                    found = await self._find(coid)
                    if found is not None:
                        log.info("submit of %s was ambiguous; found it", coid)
                        return found
                # A 429 is a refusal: nothing was created. Any other retryable error may
                # have reached the broker.
                ambiguous = ambiguous or (exc.retryable and exc.code != "rate_limited")
                raise

        try:
            return await self._tried(once)
        except BrokerError as exc:
            if not (exc.retryable and ambiguous):
                raise
            failure = exc
        # The budget is spent and the last try was ambiguous: the order may exist.
        try:
            order = await self.get_order(coid)
        except BrokerError as lookup:
            raise OrderStateUnknown(
                f"{request.symbol} order {coid}: no answer to the submit ({failure}) and no "
                f"answer to looking it up ({lookup}); it may be working at the broker",
                code=lookup.code,
            ) from failure
        if order is not None:
            return order.as_update(self.clock.now())
        raise failure

    async def cancel(self, client_order_id: str) -> None:
        """Ask for a cancel (the outcome arrives as an order update)."""

        async def once() -> None:
            await self._spend(Priority.CANCEL)
            await self.broker.cancel_order(client_order_id)

        await self._tried(once)

    async def get_order(
        self, client_order_id: str, priority: Priority = Priority.QUERY
    ) -> BrokerOrder | None:
        """The order as the broker has it, or None if the broker has no such order."""

        async def once() -> BrokerOrder | None:
            await self._spend(priority)
            return await self.broker.get_order(client_order_id)

        return await self._tried(once)

    async def read(self, call: Callable[[], Awaitable[T]]) -> T:
        """A request that changes nothing (the account, the market clock), tried within
        the budget like a look-up."""

        async def once() -> T:
            await self._spend(Priority.QUERY)
            return await call()

        return await self._tried(once)

    # -- plumbing ------------------------------------------------------------------------------

    async def _tried(self, once: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            stop=_BudgetSpent(self.clock, self.budget),
            wait=_Backoff(self.budget),
            retry=retry_if_exception(_retryable),
            sleep=self._sleep,
            before_sleep=self._note,
            reraise=True,
        )
        return await retrying(once)

    async def _find(self, coid: str) -> OrderUpdate | None:
        """The order if the broker has it; None if not, or if the look-up failed (the
        next send then meets the broker's refusal of a used client order id)."""
        try:
            await self._spend(Priority.QUERY)
            order = await self.broker.get_order(coid)
        except BrokerError as exc:
            log.warning("looking up %s failed: %s", coid, exc)
            return None
        return None if order is None else order.as_update(self.clock.now())

    async def _spend(self, priority: Priority) -> None:
        if self._spends:
            await self.limiter.acquire(priority)

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            await self.clock.sleep_until(self.clock.now() + timedelta(seconds=seconds))

    def _note(self, retry_state: RetryCallState) -> None:
        self.retried += 1
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, BrokerError) and exc.code == "rate_limited" and self._spends:
            # The broker said too fast: every request waits, not only this one.
            self.limiter.back_off(getattr(exc, "retry_after", None))
        log.info("broker request failed (%s); trying again", exc)
