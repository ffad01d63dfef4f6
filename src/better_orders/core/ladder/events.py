"""What goes in and out of a ladder: events in, actions out.

The driver (live, simulator or replay) turns what happens at the broker, in the
quote feed and on its clock into events, and carries out the actions the ladder
returns. An event the ladder cannot accept in its state raises
``LadderProtocolError``: a bug in the driver, never a market condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from better_orders.core.errors import BetterOrdersError
from better_orders.core.model import (
    AttemptKind,
    ExecutionReport,
    OrderRequest,
    OrderUpdate,
    Quote,
)


@dataclass(frozen=True, slots=True)
class Start:
    now: datetime


@dataclass(frozen=True, slots=True)
class QuoteArrived:
    """A quote from the feed. ``confirmed_at``: when the shell received it (default ``now``).

    A quote is fresh for ``max_quote_age_seconds`` from the last time the shell
    confirmed it, not from its own exchange stamp: a quiet book that does not
    change stays usable while the shell keeps confirming it (``QuoteConfirmed``).
    """

    quote: Quote
    now: datetime
    confirmed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class QuoteConfirmed:
    """The book still stood as ``quote`` at ``confirmed_at`` (default ``now``).

    Sent when the stream is quiet (a heartbeat, a REST refresh). It is not a new
    quote: it is not counted and does not make a burst. A ``quote`` other than the
    ladder's latest is news, and is taken as that quote arriving.
    """

    quote: Quote
    now: datetime
    confirmed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    now: datetime


@dataclass(frozen=True, slots=True)
class SubmitFailed:
    """The broker refused a submit outright (no order exists at the broker)."""

    client_order_id: str
    now: datetime
    reason: str
    code: str = "broker_error"
    #: Who refused it: the broker, or a pre-trade risk check before it was sent.
    by: str = "the broker"
    #: A buy refused for buying power, of a leg that may shrink to fit it (a rebalance's
    #: buys): how much of it the account's buying power allows at its price now, as the
    #: shell asked the broker. The ladder cuts the leg to that and goes on (see
    #: ``attempts.cut_to_buying_power``). None: the refusal ends the leg as any other.
    affordable: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CancelFailed:
    """The broker refused a cancel (typically: the order already ended).

    ``retryable`` (or a transient ``code``: rate limited, server error, timeout) means
    the cancel may be sent again; otherwise the ladder asks for the order's state.
    """

    client_order_id: str
    now: datetime
    reason: str
    code: str = "broker_error"
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class Halt:
    """Stop now (the kill switch): send nothing more, cancel the live child, then finish."""

    now: datetime
    reason: str


Event = (
    Start
    | QuoteArrived
    | QuoteConfirmed
    | OrderUpdate
    | TimerFired
    | SubmitFailed
    | CancelFailed
    | Halt
)


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    request: OrderRequest
    kind: AttemptKind
    attempt: int


@dataclass(frozen=True, slots=True)
class CancelOrder:
    client_order_id: str


@dataclass(frozen=True, slots=True)
class QueryOrder:
    """Ask the broker for the order's current state and feed it back as an ``OrderUpdate``."""

    client_order_id: str


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Wake the ladder with ``TimerFired`` at ``at``. A new timer replaces the previous one."""

    at: datetime


@dataclass(frozen=True, slots=True)
class Finished:
    report: ExecutionReport


Action = SubmitOrder | CancelOrder | QueryOrder | SetTimer | Finished


class LadderProtocolError(BetterOrdersError):
    """An event arrived that the ladder cannot accept in its current state (a driver bug).

    The message names the ladder's state and the event.
    """
