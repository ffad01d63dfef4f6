"""The book's lean: where the displayed sizes at the touch say the next price is.

The *microprice* weighs each touch by the size on the other side,
``(bid x ask_size + ask x bid_size) / (bid_size + ask_size)``: with a thin bid
and a heavy offer it sits near the bid, because the bid is the queue most likely
to be used up next. For one order's side the same figure is a *lean* in
``[-1, 1]``: the microprice's distance from the mid in half-spreads, signed so
that a positive lean points at the far touch (the price is likelier to move away
from a resting order: cross now) and a negative one at the near touch (a short
queue ahead of a resting order and a heavy far side: resting is likely to fill).

Only the quote in force is used, so a decision taken on it cannot look ahead.
Comparisons against a threshold are exact (Decimal cross-multiplication); the
float forms are for reports.
"""

from __future__ import annotations

from decimal import Decimal

from better_orders.core.model import ZERO, Quote, Side


def _sizes(quote: Quote) -> tuple[Decimal, Decimal] | None:
    bid, ask = quote.bid_size, quote.ask_size
    if not (bid.is_finite() and ask.is_finite()) or bid < ZERO or ask < ZERO or bid + ask <= ZERO:
        return None
    return bid, ask


def imbalance(quote: Quote) -> float | None:
    """``bid_size / (bid_size + ask_size)``: 1 all bid, 0 all offer (None: no sizes)."""
    sizes = _sizes(quote)
    if sizes is None:
        return None
    bid, ask = sizes
    return float(bid / (bid + ask))


def microprice(quote: Quote) -> Decimal | None:
    """The size-weighted mid (module docstring); None without displayed sizes."""
    sizes = _sizes(quote)
    if sizes is None:
        return None
    bid_size, ask_size = sizes
    return (quote.bid * ask_size + quote.ask * bid_size) / (bid_size + ask_size)


def _near_far(side: Side, quote: Quote) -> tuple[Decimal, Decimal] | None:
    sizes = _sizes(quote)
    if sizes is None:
        return None
    bid, ask = sizes
    return (bid, ask) if side is Side.BUY else (ask, bid)


def lean(side: Side, quote: Quote) -> float | None:
    """The microprice's lean for an order of ``side``: ``(near - far) / (near + far)`` of the
    displayed sizes, positive towards the far touch (module docstring)."""
    sizes = _near_far(side, quote)
    if sizes is None:
        return None
    near, far = sizes
    return float((near - far) / (near + far))


def leans_against(side: Side, quote: Quote, max_lean: Decimal) -> bool:
    """Whether the book leans towards the far touch by more than ``max_lean`` (exactly).

    Without displayed sizes nothing is known, and the answer is False.
    """
    sizes = _near_far(side, quote)
    if sizes is None:
        return False
    near, far = sizes
    return near - far > max_lean * (near + far)
