"""The ladder's view of the book: the latest quote, when it was last confirmed, and whether an
order may be priced off it.

Freshness runs from the last *confirmation* (the instant the shell received the
quote, or later told the ladder the book still stood), not from the quote's own
exchange stamp: a quiet book is not a stale one while the feed is alive. The
price checks (zero, one-sided, crossed, locked, absurd) and the clock check (a
quote stamped in the future) are ``core.sanity``'s; a quote whose mid leaps far
from the book before it is held until later quotes confirm it (``core.quote_jumps``).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

from better_orders.core.errors import InvalidInputError
from better_orders.core.ladder.data import LadderData
from better_orders.core.ladder.events import LadderProtocolError
from better_orders.core.model import TWO, ZERO, Quote
from better_orders.core.quote_jumps import QUIET, JumpNews
from better_orders.core.sanity import (
    DEFAULT_FUTURE_TOLERANCE_SECONDS,
    QuoteVerdict,
    check_prices,
    check_quote,
)

#: The verdict of a quote ``_plainly_fine`` passed (``check_prices`` would say ok too).
_FINE = QuoteVerdict(ok=True, problem=None, message="quote ok")
_HUNDRED = Decimal(100)
_FUTURE_TOLERANCE = timedelta(seconds=DEFAULT_FUTURE_TOLERANCE_SECONDS)


def _plainly_fine(quote: Quote, absurd_pct_of_mid: Decimal) -> bool:
    """The common case, decided without building ``check_prices``'s messages: both sides
    priced, bid below ask, sizes known, the spread not absurd. Anything else (or anything
    odd, such as NaN) goes to ``check_prices`` for its verdict and message."""
    bid, ask = quote.bid, quote.ask
    bid_size, ask_size = quote.bid_size, quote.ask_size
    if not (bid.is_finite() and ask.is_finite()):
        return False
    if not (bid_size.is_finite() and ask_size.is_finite()):
        return False
    if not ZERO < bid < ask or bid_size < ZERO or ask_size < ZERO:
        return False
    return (ask - bid) * _HUNDRED <= absurd_pct_of_mid * (bid + ask) / TWO


def see_quote(d: LadderData, quote: Quote, confirmed_at: datetime) -> None:
    """A new quote: it is the book from now on, confirmed at ``confirmed_at``."""
    if quote.symbol != d.parent.symbol:
        raise LadderProtocolError(
            f"{d.parent.symbol} ladder in state {d.state}: cannot accept QuoteArrived "
            f"for {quote.symbol}"
        )
    last = d.last_quote
    if last is not None:
        d.burst = quote.ts - last.ts < d.params.hold
    d.last_quote = quote
    d.confirmed_at = confirmed_at
    d.price_verdict = None
    d.quotes_seen += 1
    watch = d.jumps
    if watch is not None and _price_verdict(d, quote).ok:
        news = watch.see(quote)
        if news is not QUIET:
            _note_jump(d, quote, news)


def _price_verdict(d: LadderData, quote: Quote) -> QuoteVerdict:
    """``check_prices`` of the latest quote (kept until the next one)."""
    verdict = d.price_verdict
    if verdict is None:
        absurd = d.params.absurd_pct_of_mid
        verdict = (
            _FINE if _plainly_fine(quote, absurd) else check_prices(quote, absurd_pct_of_mid=absurd)
        )
        d.price_verdict = verdict
    return verdict


def _note_jump(d: LadderData, quote: Quote, news: JumpNews) -> None:
    """Tell the report when a quote was held, and how the hold ended."""
    shown = f"bid {quote.bid} ask {quote.ask}"
    if news.held:
        d.quotes_held += 1
        d.notes.append(
            f"quote held: {quote.symbol} mid jumped {news.moved_bps:.0f} bps ({shown}) "
            "beyond recent quotes; nothing is priced off it until later quotes confirm it"
        )
    elif news.confirmed:
        d.notes.append(f"quote jump confirmed by later quotes ({shown}): trading on it")
    elif news.dropped:
        d.notes.append(
            f"held quote dropped: the next quote ({shown}) returned to the book before it"
        )


def confirm_quote(d: LadderData, quote: Quote, confirmed_at: datetime) -> None:
    """The shell confirms the book still stood as ``quote``: news only if it is another quote."""
    last = d.last_quote
    if last is None or quote != last:
        if last is not None and quote.symbol == last.symbol and quote.ts < last.ts:
            return  # an older book than the one the ladder has: nothing to confirm
        see_quote(d, quote, confirmed_at)
        return
    if d.confirmed_at is None or confirmed_at > d.confirmed_at:
        d.confirmed_at = confirmed_at


def usable_quote(d: LadderData, now: datetime) -> Quote | None:
    """The latest quote if an order may be priced off it at ``now``; else None, and why in
    ``quote_problem``."""
    problem = quote_problem(d, now)
    if problem is None:
        return d.last_quote
    d.quote_problem = problem
    return None


def quote_problem(d: LadderData, now: datetime) -> str | None:
    """Why the latest quote cannot be traded on at ``now`` (None: it can)."""
    quote = d.last_quote
    if quote is None:
        return f"no quote for {d.parent.symbol}"
    verdict = _price_verdict(d, quote)
    if not verdict.ok:
        return verdict.message
    watch = d.jumps
    if watch is not None and watch.holding:
        reference = watch.reference
        assert reference is not None
        return (
            f"{quote.symbol} quote held: mid {quote.mid} jumped from {reference.mid} "
            f"(bid {quote.bid} ask {quote.ask}) and no later quote has confirmed it yet; "
            "no order sent"
        )
    try:
        ahead = quote.ts - now
    except TypeError:  # one carries a time zone and the other not
        raise InvalidInputError(
            f"{quote.symbol} quote time {quote.ts.isoformat()} and decision time "
            f"{now.isoformat()} must both carry a time zone (or both not)"
        ) from None
    params = d.params
    if ahead > _FUTURE_TOLERANCE:
        return check_quote(
            quote, now, max_age_seconds=math.inf, absurd_pct_of_mid=params.absurd_pct_of_mid
        ).message
    assert d.confirmed_at is not None
    # Its age is the time since the book was last known to stand.
    if now - d.confirmed_at > d.max_quote_age:
        age = (now - d.confirmed_at).total_seconds()
        limit = params.max_quote_age_seconds
        return (
            f"{quote.symbol} quote is stale: {age:.1f} s old (limit {limit:.1f} s), "
            f"bid {quote.bid} ask {quote.ask}; no order sent"
        )
    return None
