"""A run's legs as the runner takes them and works them, and what it tells its observers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from better_orders.core.ladder import Action, Event, Ladder, LadderParams, ParentOrder
from better_orders.engine.event_order import EventOrder
from better_orders.engine.inbox import Inbox


@dataclass(slots=True)
class Leg:
    """One parent order inside a run."""

    leg: int
    parent: ParentOrder
    params: LadderParams
    #: Attempt number of the ladder's first order. A resumed leg continues after the
    #: attempts already journalled, so no client order id is ever used twice.
    first_attempt: int = 1
    #: A buy that may shrink to the buying power when the broker refuses it for that (a
    #: rebalance's buys: sized to the buying power, they buy what it allows). Otherwise
    #: such a refusal ends the leg: an order the user sized is never cut.
    fit_buying_power: bool = False


@dataclass(slots=True)
class LadderEvent:
    """What observers (the live CLI table) are told: a ladder saw an event or took an action."""

    leg: int
    symbol: str
    ladder: Ladder
    item: Event | Action
    now: datetime


@dataclass(slots=True)
class LegState:
    """A leg as the runner works it: its ladder, what is waiting for it, in order."""

    leg: Leg
    ladder: Ladder
    inbox: Inbox = field(default_factory=Inbox)
    order: EventOrder = field(default_factory=EventOrder)
    arrival_marked: bool = False
