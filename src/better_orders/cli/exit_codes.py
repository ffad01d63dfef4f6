"""Exit codes: one per family of failure, the same whichever command meets it.

``TABLE`` is the README's table. An error raised before or during a command exits
with its family's ``exit_code`` (``core.errors``); typer's usage errors exit 2 like
our own bad input. A refusal met inside a run ends in a report rather than an error
(a risk check refused the first order, the broker rejected it, the quote could not
be traded on): ``refusal`` names the family of error that report stands for, so an
``order`` and a ``rebalance`` refused for the same reason exit with the same code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from better_orders.core.errors import (
    BetterOrdersError,
    BrokerError,
    InvalidInputError,
    JournalError,
    MarketClosedError,
    QuoteError,
    RiskLimitError,
)
from better_orders.core.model import ExecutionReport, OrderStatus

OK = 0
#: The command ran, but something was left undone (or found wrong) for a reason that
#: is no refusal below: the slippage budget stopped a leg, reconcile found a difference,
#: a doctor check failed, an optional extra is not installed.
INCOMPLETE = BetterOrdersError.exit_code
USAGE = InvalidInputError.exit_code
INTERRUPTED = 130
#: SIGTERM (a service manager stopping ``run``) cut a run short.
STOPPED = 143
INTERRUPTED_LINE = (
    "interrupted: nothing more is sent; a run in progress is journalled as interrupted "
    "(better-orders reconcile settles any order it left open)"
)


@dataclass(frozen=True, slots=True)
class ExitCode:
    code: int
    family: str
    meaning: str


TABLE: tuple[ExitCode, ...] = (
    ExitCode(OK, "done", "the command did what it was asked"),
    ExitCode(
        INCOMPLETE,
        "incomplete",
        "something was left undone for a reason that is no refusal below (e.g. the "
        "slippage budget stopped a leg); `reconcile` found a difference it could only "
        "report; a `doctor` check failed; an optional extra is not installed",
    ),
    ExitCode(
        USAGE,
        "bad input, config",
        "a malformed or out-of-range argument, option or file (quantity, symbol, time, "
        "targets, quote file, port...), an unknown option or a missing argument, or "
        "configuration (TOML file, environment variable, Alpaca keys) that fails validation",
    ),
    ExitCode(
        QuoteError.exit_code,
        "quote",
        "the quote cannot be traded on (zero, one-sided, crossed, locked, stale, absurd) "
        "or none arrived",
    ),
    ExitCode(
        MarketClosedError.exit_code,
        "market closed",
        "the market is closed at the requested time (weekend, holiday, after the close)",
    ),
    ExitCode(
        BrokerError.exit_code,
        "broker",
        "the broker refused or failed a request (a rejected order, no answer, bad keys)",
    ),
    ExitCode(
        RiskLimitError.exit_code,
        "risk",
        "a pre-trade risk check refused the order (size, notional, price band, run "
        "notional, order rate) or the kill switch is on",
    ),
    ExitCode(
        JournalError.exit_code,
        "journal",
        "the journal cannot be opened, is held by another run, or has no such run",
    ),
    ExitCode(INTERRUPTED, "interrupted", "Ctrl-C (SIGINT); the run is journalled as interrupted"),
    ExitCode(
        STOPPED,
        "stopped",
        "SIGTERM during a `run` (a service manager's stop); the run's open orders are "
        "cancelled and it is journalled as interrupted",
    ),
)

#: How the ladder records a child order a pre-trade check refused (``SubmitFailed.code``).
_RISK_REFUSAL = re.compile(r"^refused at submit \((risk_limit|kill_switch)\)")
_CLOSED_PHASES = frozenset({"closed", "after_hours", "pre_market"})


def refusal(report: ExecutionReport) -> type[BetterOrdersError] | None:
    """The family of error that refused ``report``'s order outright, or None.

    Only an order with nothing filled and an error was refused; one that traded a part
    and stopped (the budget, a timeout) was not.
    """
    if report.error is None or report.filled_qty > 0:
        return None
    if report.error.startswith("market closed"):  # at the start, or the close came first
        return MarketClosedError
    rejected = [a for a in report.attempts if a.status is OrderStatus.REJECTED]
    if rejected:
        return RiskLimitError if _RISK_REFUSAL.match(rejected[-1].end_reason or "") else BrokerError
    if not report.attempts:
        return MarketClosedError if report.phase in _CLOSED_PHASES else QuoteError
    return BrokerError  # a child the broker never confirmed ending, an overfill


def run_exit_code(reports: Sequence[ExecutionReport], *, undone: bool) -> int:
    """A run's code: the first refused order's family; else ``INCOMPLETE`` if ``undone``."""
    refused = first_refused(reports)
    if refused is not None:
        family = refusal(refused)
        assert family is not None
        return family.exit_code
    return INCOMPLETE if undone else OK


def first_refused(reports: Sequence[ExecutionReport]) -> ExecutionReport | None:
    return next((r for r in reports if refusal(r) is not None), None)


def undone_line(report: ExecutionReport) -> str:
    """What an order left unfilled, and why, as one line."""
    left = report.requested_qty - report.filled_qty
    why = report.unfilled_reason or "not filled within the order's time"
    return (
        f"order incomplete: {report.side.value} {report.requested_qty} {report.symbol} "
        f"filled {report.filled_qty}, {left} left: {why}"
    )


def refusal_line(report: ExecutionReport) -> str:
    """The refusal as one line naming the order as it was asked for (not a child of it)."""
    return f"{report.side.value} {report.requested_qty} {report.symbol}: {report.error}"
