"""The ladder's named states, and the step it takes next once it has a usable quote."""

from __future__ import annotations

from enum import StrEnum


class LadderState(StrEnum):
    IDLE = "idle"
    WAITING_OPEN = "waiting_open"
    WAITING_QUOTE = "waiting_quote"
    WAITING_SPREAD = "waiting_spread"
    WORKING = "working"
    CANCELLING = "cancelling"
    DONE = "done"


class NextStep(StrEnum):
    """What the ladder does once it has a usable quote (and no live child)."""

    FIRST = "first"
    #: Cross now (first-attempt pricing, no spread check): the part a cancelled resting
    #: limit left, once the rest of the order crossed and filled (``_end_rest``).
    CROSS = "cross"
    REPEG = "repeg"
    FALLBACK = "fallback"
    FINISH = "finish"
