"""Quote sanity: can an order be priced off this quote at all?

A ``Quote`` is built unchecked; this module is where it is judged. The checks
run in a fixed order so one quote always gets the same verdict: not a number,
zero or negative, one-sided, crossed, locked, absurdly wide, and only then the
clock (stale, or from the future when clocks disagree). The first failure wins,
and its message names the symbol, bid and ask so a trader can act on it alone.

Pure: the decision time ``now`` is an argument, nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from better_orders.core.errors import InvalidInputError, QuoteError
from better_orders.core.model import Quote, normalize_symbol, to_decimal

#: Quotes stamped up to this far after ``now`` are accepted: exchange and local
#: clocks disagree by a few milliseconds routinely, by a second rarely.
DEFAULT_FUTURE_TOLERANCE_SECONDS = 1.0

_HUNDRED = Decimal(100)
_NO_ORDER = "; no order sent"


class QuoteProblem(StrEnum):
    NAN = "nan"
    ZERO_OR_NEGATIVE = "zero_or_negative"
    ONE_SIDED = "one_sided"
    CROSSED = "crossed"
    LOCKED = "locked"
    ABSURD_SPREAD = "absurd_spread"
    STALE = "stale"
    FUTURE = "future"


@dataclass(frozen=True, slots=True)
class QuoteVerdict:
    ok: bool
    problem: QuoteProblem | None
    message: str


class InvalidQuoteError(QuoteError):
    """A quote was refused; ``problem`` says why in a machine-readable way."""

    def __init__(self, message: str, *, problem: QuoteProblem, symbol: str = "") -> None:
        super().__init__(message)
        self.problem = problem
        self.symbol = symbol


def _bad(problem: QuoteProblem, message: str) -> QuoteVerdict:
    return QuoteVerdict(ok=False, problem=problem, message=message + _NO_ORDER)


def check_prices(quote: Quote, *, absurd_pct_of_mid: Decimal | float | None = None) -> QuoteVerdict:
    """The time-free part of :func:`check_quote` (prices and sizes only).

    ``absurd_pct_of_mid=None`` skips the absurd-spread check.
    """
    sym, bid, ask = quote.symbol, quote.bid, quote.ask
    shown = f"bid {bid} ask {ask}"
    if not (bid.is_finite() and ask.is_finite()):
        return _bad(QuoteProblem.NAN, f"{sym} quote is not a number: {shown}")
    if not (quote.bid_size.is_finite() and quote.ask_size.is_finite()):
        return _bad(
            QuoteProblem.NAN,
            f"{sym} quote size is not a number: bid size {quote.bid_size} "
            f"ask size {quote.ask_size}, {shown}",
        )
    if bid < 0 or ask < 0 or (bid == 0 and ask == 0):
        return _bad(
            QuoteProblem.ZERO_OR_NEGATIVE, f"{sym} quote has a zero or negative price: {shown}"
        )
    if bid == 0 or ask == 0:
        missing = "bid" if bid == 0 else "ask"
        return _bad(QuoteProblem.ONE_SIDED, f"{sym} quote is one-sided (no {missing}): {shown}")
    if quote.bid_size < 0 or quote.ask_size < 0:
        return _bad(
            QuoteProblem.ZERO_OR_NEGATIVE,
            f"{sym} quote has a negative size: bid size {quote.bid_size} "
            f"ask size {quote.ask_size}, {shown}",
        )
    if bid > ask:
        return _bad(QuoteProblem.CROSSED, f"{sym} quote is crossed: bid {bid} > ask {ask}")
    if bid == ask:
        return _bad(QuoteProblem.LOCKED, f"{sym} quote is locked: bid {bid} = ask {ask}")
    if absurd_pct_of_mid is not None:
        limit = to_decimal(absurd_pct_of_mid, "absurd_pct_of_mid")
        mid = quote.mid
        spread = ask - bid
        if spread * _HUNDRED > limit * mid:
            pct = spread * _HUNDRED / mid
            return _bad(
                QuoteProblem.ABSURD_SPREAD,
                f"{sym} quote spread is absurd: {spread} wide is {pct:.1f}% of mid "
                f"(limit {limit}%), {shown}",
            )
    return QuoteVerdict(ok=True, problem=None, message=f"{sym} quote ok: {shown}")


def check_quote(
    quote: Quote,
    now: datetime,
    *,
    max_age_seconds: float,
    absurd_pct_of_mid: Decimal | float,
    future_tolerance_seconds: float = DEFAULT_FUTURE_TOLERANCE_SECONDS,
) -> QuoteVerdict:
    """Judge ``quote`` for a decision taken at ``now``. Never raises for a bad quote."""
    verdict = check_prices(quote, absurd_pct_of_mid=absurd_pct_of_mid)
    if not verdict.ok:
        return verdict
    if (quote.ts.tzinfo is None) != (now.tzinfo is None):
        raise InvalidInputError(
            f"{quote.symbol} quote time {quote.ts.isoformat()} and decision time "
            f"{now.isoformat()} must both carry a time zone (or both not)"
        )
    shown = f"bid {quote.bid} ask {quote.ask}"
    age = (now - quote.ts).total_seconds()
    if age > max_age_seconds:
        return _bad(
            QuoteProblem.STALE,
            f"{quote.symbol} quote is stale: {age:.1f} s old (limit {max_age_seconds:.1f} s), "
            f"{shown}",
        )
    if -age > future_tolerance_seconds:
        return _bad(
            QuoteProblem.FUTURE,
            f"{quote.symbol} quote is from the future: stamped {-age:.1f} s after now "
            f"(tolerance {future_tolerance_seconds:.1f} s; check the clock), {shown}",
        )
    return verdict


def require_valid_quote(
    quote: Quote,
    now: datetime,
    *,
    max_age_seconds: float,
    absurd_pct_of_mid: Decimal | float,
    future_tolerance_seconds: float = DEFAULT_FUTURE_TOLERANCE_SECONDS,
) -> Quote:
    """Return ``quote`` if it can be traded on at ``now``, else raise ``InvalidQuoteError``."""
    verdict = check_quote(
        quote,
        now,
        max_age_seconds=max_age_seconds,
        absurd_pct_of_mid=absurd_pct_of_mid,
        future_tolerance_seconds=future_tolerance_seconds,
    )
    if not verdict.ok:
        assert verdict.problem is not None
        raise InvalidQuoteError(verdict.message, problem=verdict.problem, symbol=quote.symbol)
    return quote


def _price(value: object, symbol: str, what: str, bid: object, ask: object) -> Decimal:
    """A quote field as an exact Decimal; missing (None or blank) means no quote on that side."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Decimal(0)
    try:
        return to_decimal(value, f"{symbol} {what}")
    except InvalidInputError:
        field = "" if what in ("bid", "ask") else f" ({what} {value!r})"
        raise InvalidQuoteError(
            f"{symbol} quote is not a number{field}: bid {bid} ask {ask}{_NO_ORDER}",
            problem=QuoteProblem.NAN,
            symbol=symbol,
        ) from None


def quote_from_raw(
    symbol: str,
    bid: object,
    ask: object,
    bid_size: object,
    ask_size: object,
    ts: datetime,
) -> Quote:
    """Build a ``Quote`` from feed or user input (strings, floats, ints, Decimals) exactly.

    A missing side (``None`` or blank) becomes 0, so :func:`check_quote` reports it
    as one-sided; junk and NaN raise ``InvalidQuoteError`` naming the symbol. The
    result is not otherwise judged.
    """
    sym = normalize_symbol(symbol)
    return Quote(
        symbol=sym,
        bid=_price(bid, sym, "bid", bid, ask),
        ask=_price(ask, sym, "ask", bid, ask),
        bid_size=_price(bid_size, sym, "bid size", bid, ask),
        ask_size=_price(ask_size, sym, "ask size", bid, ask),
        ts=ts,
    )
