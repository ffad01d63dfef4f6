"""The ladder's states: every mode that changes what the ladder does next has its own name.

"Resting" means a passive slice of the order rests at the venue while the
spread is waited out (``timing.rest_fraction``); "needs quote" means the next
step is known but waits for a usable quote. Which events each state accepts,
and what it does with them, is the table in ``machine``.
"""

from __future__ import annotations

from enum import StrEnum


class LadderState(StrEnum):
    #: Not started: quotes are noted, nothing else.
    IDLE = "idle"
    #: Before the open; the timer is the open.
    WAITING_OPEN = "waiting_open"
    #: Step 1 needs a usable quote (nothing live).
    ENTRY_NEEDS_QUOTE = "entry_needs_quote"
    #: Step 1 needs a usable quote while a slice rests (a bad quote interrupted the wait).
    ENTRY_NEEDS_QUOTE_RESTING = "entry_needs_quote_resting"
    #: Waiting out a wide spread, nothing resting (the next quote may rest a slice).
    SPREAD_WAIT = "spread_wait"
    #: Waiting out a wide spread while a slice rests.
    SPREAD_WAIT_RESTING = "spread_wait_resting"
    #: The spread came in inside a burst of quotes: acting only once it has stood ``hold``.
    SPREAD_HOLD = "spread_hold"
    #: The same, while a slice rests.
    SPREAD_HOLD_RESTING = "spread_hold_resting"
    #: The wait is over and the slice rested the whole remainder: cancelling it, then step 1.
    REST_CANCEL_THEN_ENTRY = "rest_cancel_then_entry"
    #: A marketable child (first attempt, re-peg, fallback, standard) is working, or the
    #: whole order rests patiently before crossing (``core.patience``).
    WORKING = "working"
    #: A marketable child is working while the wait's slice is being cancelled.
    WORKING_REST_CANCEL = "working_rest_cancel"
    #: The attempt is over (timed out, or ended by the venue): once no child is live,
    #: the next step (re-peg, fallback or finish).
    CANCEL_THEN_NEXT = "cancel_then_next"
    #: The cross filled while the slice's cancel was in flight: once the slice ended,
    #: what it left crosses.
    REST_CANCEL_THEN_CROSS = "rest_cancel_then_cross"
    #: What a cancelled slice left crosses (first-attempt price) once a usable quote exists.
    CROSS_NEEDS_QUOTE = "cross_needs_quote"
    #: Step 3 (re-peg) needs a usable quote.
    REPEG_NEEDS_QUOTE = "repeg_needs_quote"
    #: Step 4 (fallback) needs a usable quote.
    FALLBACK_NEEDS_QUOTE = "fallback_needs_quote"
    #: Nothing more is sent: once no child is live, finish.
    FINISHING = "finishing"
    #: Finished; late broker updates still fold into the report.
    DONE = "done"


#: The states in which a slice rests (it may still fill).
RESTING = frozenset(
    {
        LadderState.ENTRY_NEEDS_QUOTE_RESTING,
        LadderState.SPREAD_WAIT_RESTING,
        LadderState.SPREAD_HOLD_RESTING,
    }
)
#: The states of step 1's spread wait (the hold rule applies only in these).
SPREAD_WAITS = frozenset(
    {
        LadderState.SPREAD_WAIT,
        LadderState.SPREAD_WAIT_RESTING,
        LadderState.SPREAD_HOLD,
        LadderState.SPREAD_HOLD_RESTING,
    }
)


_S = LadderState
#: Where each state may go next (besides staying where it is). Every change of state
#: goes through ``moves.to``, which holds the ladder to this table.
# fmt: off
NEXT: dict[LadderState, frozenset[LadderState]] = {
    state: frozenset(targets) for state, targets in {
        _S.IDLE:                      (_S.WAITING_OPEN, _S.ENTRY_NEEDS_QUOTE, _S.DONE),
        _S.WAITING_OPEN:              (_S.ENTRY_NEEDS_QUOTE, _S.DONE),
        _S.ENTRY_NEEDS_QUOTE:         (_S.WAITING_OPEN, _S.SPREAD_WAIT, _S.WORKING, _S.DONE),
        _S.ENTRY_NEEDS_QUOTE_RESTING: (_S.SPREAD_WAIT_RESTING, _S.WORKING_REST_CANCEL,
                                       _S.REST_CANCEL_THEN_ENTRY, _S.ENTRY_NEEDS_QUOTE,
                                       _S.CROSS_NEEDS_QUOTE, _S.FINISHING, _S.DONE),
        _S.SPREAD_WAIT:               (_S.SPREAD_WAIT_RESTING, _S.SPREAD_HOLD,
                                       _S.ENTRY_NEEDS_QUOTE, _S.WAITING_OPEN, _S.WORKING,
                                       _S.DONE),
        _S.SPREAD_WAIT_RESTING:       (_S.SPREAD_HOLD_RESTING, _S.SPREAD_WAIT,
                                       _S.ENTRY_NEEDS_QUOTE_RESTING, _S.WORKING_REST_CANCEL,
                                       _S.REST_CANCEL_THEN_ENTRY, _S.CROSS_NEEDS_QUOTE,
                                       _S.FINISHING, _S.DONE),
        _S.SPREAD_HOLD:               (_S.SPREAD_WAIT, _S.ENTRY_NEEDS_QUOTE, _S.WAITING_OPEN,
                                       _S.WORKING, _S.DONE),
        _S.SPREAD_HOLD_RESTING:       (_S.SPREAD_WAIT_RESTING, _S.SPREAD_HOLD,
                                       _S.ENTRY_NEEDS_QUOTE_RESTING, _S.WORKING_REST_CANCEL,
                                       _S.REST_CANCEL_THEN_ENTRY, _S.CROSS_NEEDS_QUOTE,
                                       _S.FINISHING, _S.DONE),
        _S.REST_CANCEL_THEN_ENTRY:    (_S.ENTRY_NEEDS_QUOTE, _S.FINISHING, _S.DONE),
        _S.WORKING:                   (_S.CANCEL_THEN_NEXT, _S.CROSS_NEEDS_QUOTE,
                                       _S.REPEG_NEEDS_QUOTE, _S.FALLBACK_NEEDS_QUOTE,
                                       _S.FINISHING, _S.DONE),
        _S.WORKING_REST_CANCEL:       (_S.WORKING, _S.CANCEL_THEN_NEXT,
                                       _S.REST_CANCEL_THEN_CROSS, _S.FINISHING, _S.DONE),
        _S.CANCEL_THEN_NEXT:          (_S.CROSS_NEEDS_QUOTE, _S.REPEG_NEEDS_QUOTE,
                                       _S.FALLBACK_NEEDS_QUOTE, _S.FINISHING, _S.DONE),
        _S.REST_CANCEL_THEN_CROSS:    (_S.CROSS_NEEDS_QUOTE, _S.FINISHING, _S.DONE),
        _S.CROSS_NEEDS_QUOTE:         (_S.WORKING, _S.DONE),
        _S.REPEG_NEEDS_QUOTE:         (_S.SPREAD_WAIT, _S.WAITING_OPEN, _S.WORKING, _S.DONE),
        _S.FALLBACK_NEEDS_QUOTE:      (_S.WORKING, _S.DONE),
        _S.FINISHING:                 (_S.DONE,),
        _S.DONE:                      (),
    }.items()
}
# fmt: on
