"""The execution ladder for one parent order, as a pure state machine (see ``machine``).

Feed a :class:`Ladder` events and carry out the actions it returns::

    ladder = Ladder(ParentOrder("TQQQ", Side.BUY, Decimal(100)), params, calendar, coid)
    actions = ladder.handle(Start(now))
"""

from better_orders.core.ladder.events import (
    Action,
    CancelFailed,
    CancelOrder,
    Event,
    Finished,
    Halt,
    LadderProtocolError,
    QueryOrder,
    QuoteArrived,
    SetTimer,
    Start,
    SubmitFailed,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.ladder.machine import Ladder
from better_orders.core.ladder.params import LadderParams, ParentOrder
from better_orders.core.ladder.states import LadderState, NextStep

__all__ = [
    "Action",
    "CancelFailed",
    "CancelOrder",
    "Event",
    "Finished",
    "Halt",
    "Ladder",
    "LadderParams",
    "LadderProtocolError",
    "LadderState",
    "NextStep",
    "ParentOrder",
    "QueryOrder",
    "QuoteArrived",
    "SetTimer",
    "Start",
    "SubmitFailed",
    "SubmitOrder",
    "TimerFired",
]
