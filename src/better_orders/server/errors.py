"""Alpaca's error answers: an HTTP status and a ``{"code", "message", ...}`` body.

Handlers raise ``AlpacaError``; the app turns it into the response. Alpaca's codes
are the HTTP status followed by a sub-code (40310000 for a 403); a few refusals
carry more keys (``buying_power`` and ``cost_basis``, ``available`` and
``existing_qty``...), which ``extra`` holds.
"""

from __future__ import annotations

from typing import Any

BAD_REQUEST = 40010000
DUPLICATE_CLIENT_ORDER_ID = 40010001
UNAUTHORIZED = 40110000
FORBIDDEN = 40310000
NOT_FOUND = 40410000
METHOD_NOT_ALLOWED = 40510000
TOO_LARGE = 41310000
UNPROCESSABLE = 42210000
RATE_LIMITED = 42910000
SERVER_ERROR = 50010000


def error_body(code: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


class AlpacaError(Exception):
    """An answer in Alpaca's error shape: HTTP status and ``{"code", "message"}``."""

    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, **self.extra)


def bad_request(message: str) -> AlpacaError:
    return AlpacaError(400, BAD_REQUEST, message)


def unprocessable(message: str) -> AlpacaError:
    return AlpacaError(422, UNPROCESSABLE, message)


def forbidden(message: str, **extra: Any) -> AlpacaError:
    return AlpacaError(403, FORBIDDEN, message, **extra)


def not_found(message: str) -> AlpacaError:
    return AlpacaError(404, NOT_FOUND, message)
