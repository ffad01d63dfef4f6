"""Alpaca's failures: one failed request, and what it means as a ``BrokerError``.

The same HTTP status means different things for different requests (a 422 on a
cancel is "not cancelable", on a replace "not replaceable"), so classification
takes the kind of request as well as Alpaca's answer.
"""

from __future__ import annotations

from better_orders.core.errors import BUYING_POWER, BrokerError


class AlpacaHTTPError(Exception):
    """One failed request: HTTP status (None when no answer came), Alpaca's code and message."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        kind: str = "http",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.kind = kind  # "http", "timeout", "connection", "bad_response"
        self.retry_after = retry_after


def classify(failure: AlpacaHTTPError, *, op: str) -> tuple[str, bool]:
    """``(BrokerError code, retryable)`` for a failed request of kind ``op``.

    ``op`` is one of submit, replace, cancel, get, list, data: the same HTTP status
    means different things for different requests (a 422 on a cancel is "not
    cancelable", on a replace "not replaceable").
    """
    if failure.kind == "timeout":
        return "timeout", True
    if failure.kind == "connection":
        return "server_error", True
    if failure.kind == "bad_response":
        return "bad_response", False
    status = failure.status or 0
    text = failure.message.lower()
    if status == 429:
        return "rate_limited", True
    if status == 504:
        # The gateway gave up waiting: the request may or may not have been carried out.
        return "timeout", True
    if "subscription does not permit" in text or ("sip" in text and status == 403):
        return "feed_not_permitted", False
    if status == 401 or (
        status == 403
        and any(w in text for w in ("forbidden", "not authorized", "unauthorized", "access key"))
    ):
        return "unauthorized", False
    rules = (
        ("buying power", BUYING_POWER),
        ("wash trade", "wash_trade"),
        ("insufficient qty", "insufficient_qty"),
        ("insufficient quantity", "insufficient_qty"),
        ("sub-penny", "invalid_price"),
        ("pricing criteria", "invalid_price"),
        ("market is closed", "market_closed"),
        ("market closed", "market_closed"),
        ("outside of market hours", "market_closed"),
        ("client_order_id must be unique", "duplicate_client_order_id"),
        ("not fractionable", "not_fractionable"),
        ("fractional", "not_fractionable"),
        ("not tradable", "not_tradable"),
        ("not tradeable", "not_tradable"),
        ("invalid symbol", "unknown_symbol"),
        ("could not find asset", "unknown_symbol"),
    )
    for needle, code in rules:
        if needle in text:
            return code, False
    if "asset" in text and "not found" in text:
        return "unknown_symbol", False
    if op == "cancel" and status == 422:
        return "not_cancelable", False
    if op == "replace" and status == 422:
        return "not_replaceable", False
    if status == 404:
        return "not_found", False
    if status >= 500:
        return "server_error", True
    if status == 403:
        return "forbidden", False
    return "rejected", False


def to_broker_error(failure: AlpacaHTTPError, what: str, *, op: str) -> BrokerError:
    """A ``BrokerError`` about ``what`` ("buy 10 TQQQ @ 51.02 (bo-...)") with Alpaca's message."""
    code, retryable = classify(failure, op=op)
    if failure.status is None:
        detail = failure.message
    else:
        alpaca_code = f", code {failure.code}" if failure.code is not None else ""
        detail = f"{failure.message} (Alpaca HTTP {failure.status}{alpaca_code})"
    error = BrokerError(f"{what}: {detail}", code=code, retryable=retryable)
    error.retry_after = failure.retry_after  # type: ignore[attr-defined]
    error.http_status = failure.status  # type: ignore[attr-defined]
    return error
