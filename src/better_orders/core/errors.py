"""Typed errors, one family for the whole product.

Every error a user can meet carries a message a trader understands on its own
("TQQQ quote is crossed: bid 51.02 > ask 51.00; no order sent"). The CLI prints
``str(error)`` on one line and exits non-zero; nothing here is ever swallowed.
"""

from __future__ import annotations

from typing import Any


class BetterOrdersError(Exception):
    """Base of every error the product raises on purpose."""

    #: Process exit code the CLI uses for this family of error.
    exit_code: int = 1


class InvalidInputError(BetterOrdersError, ValueError):
    """Input (a quantity, a side, a symbol, a time, a target) is malformed."""

    exit_code = 2


class ConfigError(InvalidInputError):
    """Configuration failed validation; the message names the field."""


class QuoteError(BetterOrdersError):
    """A quote cannot be traded on (zero, one-sided, crossed, locked, NaN, stale, absurd)."""

    exit_code = 3


class OffTickError(InvalidInputError):
    """A price is not on the valid tick grid and correction was not allowed."""


class MarketClosedError(BetterOrdersError):
    """The market is closed at the requested instant (holiday, weekend, after the close)."""

    exit_code = 4


class BrokerError(BetterOrdersError):
    """The broker refused or failed a request. ``code`` is a stable machine-readable tag."""

    exit_code = 5

    def __init__(self, message: str, *, code: str = "broker_error", retryable: bool = False):
        super().__init__(message)
        self.code = code
        self.retryable = retryable


#: ``BrokerError.code`` of an order the broker refused for the account's buying power.
BUYING_POWER = "insufficient_buying_power"


class RiskLimitError(BetterOrdersError):
    """A pre-trade risk check refused an order before it reached a broker."""

    exit_code = 6
    #: Stable machine-readable tag, journalled with the refusal (like ``BrokerError.code``).
    code: str = "risk_limit"


class KillSwitchError(RiskLimitError):
    """The kill switch is on: nothing new is sent and working orders are cancelled."""

    code = "kill_switch"


class GuardTrippedError(RiskLimitError):
    """A guard for unattended runs refused a whole run before any order was sent."""

    code = "guard"


class JournalError(BetterOrdersError):
    """The journal cannot be opened, is locked by another run, or is inconsistent."""

    exit_code = 7


class RunFailedError(BetterOrdersError):
    """A run stopped because part of it failed; every working order was cancelled first.

    The message says what failed and what became of the orders (any still open at
    the broker is named). The exit code is the failure's own when it was one of
    ours (a broker error stays a broker error), else 1. ``reports`` holds each leg's
    report as far as it got (None for a leg that could not give one).
    """

    def __init__(
        self, message: str, *, exit_code: int = 1, reports: list[Any] | None = None
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.reports = list(reports or [])
