"""Injectable, deterministic faults for the simulated exchange.

A ``FaultPlan`` is a list of rules, each matched by a predicate on the client
order id (a glob such as ``"run7-*"``, an exact id, or a callable) and limited
to a number of injections (``count``; ``None`` = every match). The exchange asks
the plan at four points and nothing else:

- ``on_submit``: refuse the submit with a ``BrokerError`` (``rate_limited``,
  ``server_error``, ``insufficient_buying_power``...), accept it and reject it at
  the venue (a ``rejected`` update after latency), or create the order and lose
  the response (``timeout``: the 504 case, resolved by looking the order up);
- ``on_update``: drop an update (never delivered, venue state unaffected),
  duplicate it, or delay it;
- ``on_cancel_arrival``: fill the remainder just before the cancel lands, so the
  cancel fails (client sees ``filled``, never ``canceled``);
- ``cap_fill``: cap each fill at N shares (partial fills only).

``FaultPlan.random(seed, rates)`` injects each kind with a probability instead,
for randomized campaigns. Either way ``injected`` counts what was done, so a
test can assert that a campaign actually exercised something.
"""

from __future__ import annotations

import fnmatch
import random
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import OrderStatus, OrderUpdate

Match = str | Callable[[str], bool] | None

#: Submit error codes a client may retry (same client order id, after a pause).
RETRYABLE_CODES = frozenset({"rate_limited", "server_error", "timeout"})

#: The kinds ``FaultPlan.random`` understands (keys of ``rates``).
RANDOM_FAULTS = (
    "reject",
    "rate_limited",
    "server_error",
    "insufficient_buying_power",
    "timeout",
    "drop",
    "duplicate",
    "delay",
    "fill_during_cancel",
    "partial_fill",
)
_RANDOM_SUBMIT = ("reject", "rate_limited", "server_error", "insufficient_buying_power", "timeout")

_MESSAGES = {
    "rate_limited": "rate limit exceeded (429): too many requests, retry later",
    "server_error": "internal server error (500) at the simulated venue, retry later",
    "insufficient_buying_power": "insufficient buying power (403) reported by the venue",
    "timeout": "gateway timeout (504): the order may or may not have been created; "
    "look it up by client order id",
}


@dataclass(frozen=True, slots=True)
class SubmitFault:
    """What happens to one submit.

    ``error``: nothing is created and ``BrokerError(code)`` is raised;
    ``lost_response``: the order IS created and ``BrokerError("timeout")`` is raised;
    ``reject``: the order is accepted and then rejected at the venue with ``message``.
    """

    kind: Literal["error", "lost_response", "reject"]
    code: str
    message: str
    retryable: bool


@dataclass(frozen=True, slots=True)
class UpdateFault:
    """How one update is delivered: ``copies`` times (0 = dropped), ``delay`` late."""

    copies: int = 1
    delay: timedelta = timedelta(0)


_CLEAN = UpdateFault()

_SUBMIT_KINDS: dict[str, Literal["error", "lost_response", "reject"]] = {
    "error": "error",
    "lost_response": "lost_response",
    "reject": "reject",
}


def _predicate(match: Match) -> Callable[[str], bool]:
    if match is None:
        return lambda _coid: True
    if callable(match):
        return match
    if not isinstance(match, str):
        raise InvalidInputError(f"fault match must be a glob, an id or a callable, not {match!r}")
    if any(c in match for c in "*?["):
        pattern = match
        return lambda coid: fnmatch.fnmatchcase(coid, pattern)
    return lambda coid: coid == match


@dataclass(slots=True)
class _Rule:
    kind: str
    match: Callable[[str], bool]
    remaining: int | None
    statuses: frozenset[OrderStatus] | None = None
    code: str = ""
    message: str = ""
    delay: timedelta = timedelta(0)
    cap: Decimal = Decimal(0)

    def take(self, coid: str, status: OrderStatus | None = None) -> bool:
        """True (and one injection used) when this rule applies to ``coid``."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.statuses is not None and status not in self.statuses:
            return False
        if not self.match(coid):
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


def _count(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise InvalidInputError(f"fault count must be at least 1 (or None for always), got {value}")
    return value


class FaultPlan:
    """Rules (and optionally random rates) the exchange consults; see the module docstring."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._rng: random.Random | None = None
        self._rates: dict[str, float] = {}
        self._max_delay = timedelta(seconds=2)
        self.injected: Counter[str] = Counter()

    @property
    def active(self) -> bool:
        """False for an empty plan: the exchange then skips every hook."""
        return bool(self._rules or self._rates)

    # -- building a plan -------------------------------------------------------------------

    def reject_submit(
        self,
        match: Match = None,
        *,
        reason: str = "order rejected by the simulated venue",
        count: int | None = 1,
    ) -> FaultPlan:
        """Accept the submit, then answer ``rejected`` (with ``reason``) after latency."""
        self._rules.append(
            _Rule("reject", _predicate(match), _count(count), code="rejected", message=reason)
        )
        return self

    def fail_submit(
        self,
        code: str,
        match: Match = None,
        *,
        message: str | None = None,
        count: int | None = 1,
    ) -> FaultPlan:
        """Raise ``BrokerError(code)`` at submit time; nothing is created at the venue.

        ``rate_limited`` and ``server_error`` are retryable; use ``lose_submit_response``
        for a timeout where the order does exist.
        """
        if not code:
            raise InvalidInputError("fail_submit needs an error code, e.g. rate_limited")
        text = message or _MESSAGES.get(code, f"order refused by the simulated venue ({code})")
        rule = _Rule("error", _predicate(match), _count(count), code=code, message=text)
        self._rules.append(rule)
        return self

    def lose_submit_response(self, match: Match = None, *, count: int | None = 1) -> FaultPlan:
        """Create the order but raise ``BrokerError(code="timeout", retryable=True)``."""
        self._rules.append(
            _Rule(
                "lost_response",
                _predicate(match),
                _count(count),
                code="timeout",
                message=_MESSAGES["timeout"],
            )
        )
        return self

    def drop_updates(
        self,
        match: Match = None,
        *,
        statuses: Collection[OrderStatus | str] | None = None,
        count: int | None = 1,
    ) -> FaultPlan:
        """Never deliver matching updates (the venue's order state is unaffected)."""
        self._rules.append(_Rule("drop", _predicate(match), _count(count), _statuses(statuses)))
        return self

    def duplicate_updates(
        self,
        match: Match = None,
        *,
        statuses: Collection[OrderStatus | str] | None = None,
        count: int | None = 1,
    ) -> FaultPlan:
        """Deliver matching updates twice."""
        self._rules.append(
            _Rule("duplicate", _predicate(match), _count(count), _statuses(statuses))
        )
        return self

    def delay_updates(
        self,
        delay: timedelta,
        match: Match = None,
        *,
        statuses: Collection[OrderStatus | str] | None = None,
        count: int | None = None,
    ) -> FaultPlan:
        """Deliver matching updates ``delay`` later than the normal update latency."""
        if delay <= timedelta(0):
            raise InvalidInputError(f"update delay must be positive, got {delay}")
        self._rules.append(
            _Rule("delay", _predicate(match), _count(count), _statuses(statuses), delay=delay)
        )
        return self

    def fill_during_cancel(self, match: Match = None, *, count: int | None = 1) -> FaultPlan:
        """When a cancel reaches the venue, the remainder fills first and the cancel fails."""
        self._rules.append(_Rule("fill_during_cancel", _predicate(match), _count(count)))
        return self

    def partial_fills(
        self, max_qty: Decimal | int, match: Match = None, *, count: int | None = None
    ) -> FaultPlan:
        """Cap every fill of matching orders at ``max_qty`` shares."""
        cap = Decimal(max_qty)
        if cap <= 0:
            raise InvalidInputError(f"partial fill cap must be positive, got {max_qty}")
        self._rules.append(_Rule("partial_fill", _predicate(match), _count(count), cap=cap))
        return self

    @classmethod
    def random(
        cls,
        seed: int,
        rates: Mapping[str, float],
        *,
        max_delay: timedelta = timedelta(seconds=2),
    ) -> FaultPlan:
        """Inject each kind in ``rates`` (see ``RANDOM_FAULTS``) with that probability.

        Draws come from ``random.Random(seed)`` in the exchange's (deterministic) order
        of events, so the same seed and the same orders give the same faults.
        """
        unknown = sorted(set(rates) - set(RANDOM_FAULTS))
        if unknown:
            raise InvalidInputError(
                f"unknown fault kind(s) {', '.join(unknown)}: use {', '.join(RANDOM_FAULTS)}"
            )
        for kind, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise InvalidInputError(f"fault rate for {kind} must be within 0..1, got {rate}")
        if max_delay <= timedelta(0):
            raise InvalidInputError(f"max_delay must be positive, got {max_delay}")
        plan = cls()
        plan._rng = random.Random(seed)
        plan._rates = {k: float(v) for k, v in rates.items() if v > 0}
        plan._max_delay = max_delay
        return plan

    # -- hooks the exchange calls ----------------------------------------------------------

    def on_submit(self, client_order_id: str) -> SubmitFault | None:
        fault: SubmitFault | None = None
        for rule in self._rules:
            kind = _SUBMIT_KINDS.get(rule.kind)
            if kind is not None and rule.take(client_order_id):
                fault = SubmitFault(kind, rule.code, rule.message, rule.code in RETRYABLE_CODES)
                break
        if fault is None and self._rng is not None:
            # Draw for every kind, always, so one kind's rate does not shift the others.
            fired = [k for k in _RANDOM_SUBMIT if self._draw(k)]
            if fired:
                code = fired[0]
                if code == "reject":
                    reason = "order rejected (random fault)"
                    fault = SubmitFault("reject", "rejected", reason, False)
                elif code == "timeout":
                    fault = SubmitFault("lost_response", code, _MESSAGES[code], True)
                else:
                    fault = SubmitFault("error", code, _MESSAGES[code], code in RETRYABLE_CODES)
        if fault is not None:
            self.injected[fault.code if fault.kind != "reject" else "reject"] += 1
        return fault

    def on_update(self, update: OrderUpdate) -> UpdateFault:
        coid, status = update.client_order_id, update.status
        copies, delay = 1, timedelta(0)
        if self._rules:
            for rule in self._rules:
                if rule.kind == "drop" and rule.take(coid, status):
                    self.injected["drop"] += 1
                    return UpdateFault(copies=0)
            for rule in self._rules:
                if rule.kind == "duplicate" and rule.take(coid, status):
                    copies = 2
                    self.injected["duplicate"] += 1
                    break
            for rule in self._rules:
                if rule.kind == "delay" and rule.take(coid, status):
                    delay = rule.delay
                    self.injected["delay"] += 1
                    break
        if self._rng is not None:
            drop, dup, late = self._draw("drop"), self._draw("duplicate"), self._draw("delay")
            if drop:
                self.injected["drop"] += 1
                return UpdateFault(copies=0)
            if dup and copies == 1:
                copies = 2
                self.injected["duplicate"] += 1
            if late and not delay:
                micros = self._max_delay // timedelta(microseconds=1)
                delay = timedelta(microseconds=self._rng.randint(1, micros))
                self.injected["delay"] += 1
        if copies == 1 and not delay:
            return _CLEAN
        return UpdateFault(copies=copies, delay=delay)

    def on_cancel_arrival(self, client_order_id: str) -> bool:
        hit = any(
            rule.kind == "fill_during_cancel" and rule.take(client_order_id) for rule in self._rules
        )
        if not hit and self._rng is not None:
            hit = self._draw("fill_during_cancel")
        if hit:
            self.injected["fill_during_cancel"] += 1
        return hit

    def cap_fill(self, client_order_id: str, qty: Decimal) -> Decimal:
        """The quantity actually filled when ``qty`` could be (never more, never zero)."""
        capped = qty
        for rule in self._rules:
            if rule.kind == "partial_fill" and rule.cap < qty and rule.take(client_order_id):
                capped = rule.cap
                break
        if capped == qty and qty >= 2 and self._rng is not None and self._draw("partial_fill"):
            capped = Decimal(int(qty) // 2)
        if capped != qty:
            self.injected["partial_fill"] += 1
        return capped

    def _draw(self, kind: str) -> bool:
        rate = self._rates.get(kind)
        if not rate or self._rng is None:
            return False
        return self._rng.random() < rate


def _statuses(values: Collection[OrderStatus | str] | None) -> frozenset[OrderStatus] | None:
    if values is None:
        return None
    try:
        return frozenset(OrderStatus(v) for v in values)
    except ValueError:
        raise InvalidInputError(
            f"unknown order status in {sorted(str(v) for v in values)}: "
            f"use {', '.join(s.value for s in OrderStatus)}"
        ) from None
