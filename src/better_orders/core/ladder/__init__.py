"""The execution ladder for one parent order, as a pure state machine.

Rules of this package:

* Everything that affects a transition lives in ``core.ladder``. The ladder never
  sleeps, never reads a clock and never calls a broker: time arrives inside
  events, and what the ladder wants done leaves as actions. The same object
  therefore runs live, in the simulator and in a replay of many thousands of
  decisions.
* The ladder does not know which broker it talks to. It assumes only that every
  child order it submits eventually reaches a terminal status, that
  ``OrderUpdate.filled_qty`` is cumulative per order, and that the shell tells it
  when the book was last confirmed to stand (``QuoteArrived.confirmed_at``,
  ``QuoteConfirmed``).
* Behaviour per state lives in one table (``machine.TABLE``), states change only
  along ``states.NEXT``, and an event a state cannot accept raises
  ``LadderProtocolError`` naming both. Prices and decisions are pure functions
  (``prices``, ``decisions``, ``quotes``) that the handlers call.

Theory of operation. A parent order (symbol, side, quantity) walks the steps of
the design's ladder::

    0  before the open   assess the spread, wait for the open (or refuse)
    1  timing            09:30-09:35: a spread worth waiting out (``core.spread.WaitRule``)
                         delays the order, within a budget counted from the first wait
    2  aggressive limit  far touch +/- N ticks, timeout 2-3 s
    3  re-peg            cancel, then the *remaining* quantity at a fresh far touch,
                         at most ``max_repegs`` times
    4  fallback          market order for the rest if the far touch is within the
                         slippage budget of the arrival mid, else a limit at the
                         budget's bound (or stop), and the report says so
    5  report            ``ExecutionReport``

Step 1 has three refinements, all from replaying real opens (``better_orders.tca``).
An attempt that times out while the spread is worth waiting out again goes back to
step 1 instead of re-pegging into the wide spread (``timing.wait_again``). A spread
that comes in on a quote that followed the previous one within ``timing.hold_seconds``
(a burst: a sweep, a cancel-replace) must stand that long before the ladder acts
(SPREAD_HOLD), since such quotes are often gone before an order could reach them.
And the wait is not idle (``timing.rest_fraction``): a slice of what remains rests one
tick inside the near touch (never past the mid or the budget), and the next slice
rests at the then-current touch if it fills. When the wait ends, the slice is
cancelled and the rest crosses in the same step (WORKING_REST_CANCEL); what the slice
left crosses once its cancel is confirmed. A slice the venue refuses, rejects or ends
is not sent again: the rest crosses at once.

Where step 1 would cross at once, the whole order may first rest patiently at or inside
the touch (``core.patience``: only while the book does not lean against it, for a bounded
time); a quote that turns the book against it ends the rest early (WORKING's quote
handler), and what it left crosses (CROSS_NEEDS_QUOTE).

Children never ask for more than remains minus what live children may still fill,
so the ladder can never overfill the parent. Apart from a slice being cancelled, at
most one child is live. A refused or rejected attempt goes on to the re-peg or the
fallback only when the refusal was transient; cancels that fail transiently are sent
again; an unconfirmed cancel is chased with queries. The ladder finishes only when no
child is live.

Where things are: ``events`` (what goes in and out), ``states`` (the states and the
transitions between them), ``machine`` (the table, the rules beside it, ``Ladder``),
``entry`` (the handlers of steps 0-1), ``attempts`` (steps 2-4), ``moves`` (what the
handlers build on), ``decisions``, ``prices`` and ``quotes`` (pure functions),
``data`` (everything one ladder knows), ``child`` (one child order), ``report``
(step 5), ``params`` (what a ladder is given).

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
    QuoteConfirmed,
    SetTimer,
    Start,
    SubmitFailed,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.ladder.machine import Ladder
from better_orders.core.ladder.params import LadderParams, ParentOrder
from better_orders.core.ladder.states import LadderState

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
    "ParentOrder",
    "QueryOrder",
    "QuoteArrived",
    "QuoteConfirmed",
    "SetTimer",
    "Start",
    "SubmitFailed",
    "SubmitOrder",
    "TimerFired",
]
