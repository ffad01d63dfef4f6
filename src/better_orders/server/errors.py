"""Alpaca's error answers: an HTTP status and a ``{"code", "message"}`` body.

Handlers raise ``AlpacaError``; the app turns it into the response. The
simulator's own refusals (``BrokerError``) are put in Alpaca's words here too.
"""

from __future__ import annotations

from typing import Any

from better_orders.core.errors import BrokerError
from better_orders.core.model import OrderRequest
from better_orders.server import shapes


class AlpacaError(Exception):
    """An answer in Alpaca's error shape: HTTP status and ``{"code", "message"}``."""

    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return shapes.error_body(self.code, self.message, **self.extra)


def unprocessable(message: str) -> AlpacaError:
    return AlpacaError(422, shapes.UNPROCESSABLE, message)


def not_found(message: str) -> AlpacaError:
    return AlpacaError(404, shapes.NOT_FOUND, message)


def venue_refusal(exc: BrokerError, request: OrderRequest) -> AlpacaError:
    """The simulator's refusal in Alpaca's words."""
    code = exc.code
    if code == "insufficient_buying_power":
        return AlpacaError(403, shapes.FORBIDDEN, "insufficient buying power")
    if code == "insufficient_qty":
        return AlpacaError(
            403,
            shapes.FORBIDDEN,
            f"insufficient qty available for order (requested: {request.qty})",
        )
    if code == "unknown_symbol":
        return unprocessable(f'asset "{request.symbol}" not found')
    if code == "asset_not_tradable":
        return unprocessable(f"asset {request.symbol} is not tradable")
    if code == "invalid_price":
        return unprocessable(
            f"invalid limit_price {request.limit_price}. sub-penny increment does not "
            "fulfill minimum pricing criteria"
        )
    if code == "duplicate_client_order_id":
        return unprocessable("client_order_id must be unique")
    return unprocessable(str(exc))
