"""A quote is fresh from the last time the shell confirmed the book stood, not from its own
exchange stamp: a quiet book that does not change stays tradable while it is confirmed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from better_orders.core.ladder import (
    CancelOrder,
    Finished,
    Ladder,
    LadderState,
    QuoteArrived,
    QuoteConfirmed,
    SetTimer,
    Start,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.model import AttemptKind, OrderStatus, Quote
from ladder_kit import et, make, of, quote, submit_of, update

T0 = et("2026-11-24T10:00:00")
S = timedelta(seconds=1)
MS = timedelta(milliseconds=1)
BOOK = quote("50.00", "50.01", T0)  # the book all along: it never changes


def time_out_every_attempt(lad: Ladder, *, confirm: bool) -> tuple[list[object], float]:
    """Start at T0 and let every attempt time out unfilled, the book unchanged throughout;
    with ``confirm`` the shell confirms it every second. Returns the last actions and the
    seconds elapsed."""
    lad.handle(QuoteArrived(BOOK, T0))
    actions: list[object] = lad.handle(Start(T0))
    now = T0
    for _ in range(60):
        subs = of(actions, SubmitOrder)
        if not subs or subs[0].kind is AttemptKind.FALLBACK_MARKET or lad.done:
            break
        coid = subs[0].request.client_order_id
        for _ in range(3):
            now += S
            if confirm:
                lad.handle(QuoteConfirmed(BOOK, now))
        lad.handle(TimerFired(now))
        actions = lad.handle(update(coid, OrderStatus.CANCELED, "0", now))
    return actions, (now - T0).total_seconds()


def test_a_quiet_book_that_is_confirmed_stays_fresh_through_the_whole_ladder() -> None:
    lad = make()
    actions, elapsed = time_out_every_attempt(lad, confirm=True)
    assert elapsed == 9.0  # the book's stamp is 9 s old at the fallback
    fallback = submit_of(actions)
    assert fallback.kind is AttemptKind.FALLBACK_MARKET and fallback.request.qty == D(100)
    assert lad.report is None
    # Confirmations are not quotes: one quote seen, however often it was confirmed.
    lad.handle(update("t-4", OrderStatus.FILLED, "100", T0 + 10 * S, "50.01", "100"))
    assert lad.report is not None and lad.report.quotes_seen == 1


def test_an_unconfirmed_book_goes_stale_and_the_ladder_says_so() -> None:
    lad = make()
    actions, elapsed = time_out_every_attempt(lad, confirm=False)
    # The second re-peg is due 6 s after the last confirmation: too old to price off.
    assert elapsed == 6.0
    assert of(actions, SubmitOrder) == [] and lad.state is LadderState.REPEG_NEEDS_QUOTE
    (timer,) = of(actions, SetTimer)
    (done,) = of(lad.handle(TimerFired(timer.at)), Finished)
    assert "TQQQ quote is stale: 6.0 s old (limit 5.0 s)" in (done.report.error or "")


def test_freshness_runs_from_the_confirmation_not_the_exchange_stamp() -> None:
    # A quote stamped a minute ago but received now (a quiet symbol): usable.
    lad = make()
    lad.handle(QuoteArrived(quote("50.00", "50.01", T0 - 60 * S), T0))
    assert submit_of(lad.handle(Start(T0))).request.limit_price == D("50.02")
    # A quote received 6 s ago and only handed over now (a queue): stale.
    late = make()
    late.handle(QuoteArrived(quote("50.00", "50.01", T0), T0 + 6 * S, confirmed_at=T0))
    assert of(late.handle(Start(T0 + 6 * S)), SubmitOrder) == []
    assert late.state is LadderState.ENTRY_NEEDS_QUOTE


def test_confirming_another_quote_is_news_and_an_older_one_is_ignored() -> None:
    lad = make()
    lad.handle(QuoteArrived(BOOK, T0))
    submit_of(lad.handle(Start(T0)))
    moved = quote("50.02", "50.03", T0 + 2 * S)
    lad.handle(QuoteConfirmed(moved, T0 + 2 * S))
    lad.handle(QuoteConfirmed(BOOK, T0 + 2500 * MS))  # older than the book it has
    assert of(lad.handle(TimerFired(T0 + 3 * S)), CancelOrder) == [CancelOrder("t-1")]
    repeg = submit_of(lad.handle(update("t-1", OrderStatus.CANCELED, "0", T0 + 3 * S)))
    assert repeg.request.limit_price == D("50.04")  # off the confirmed quote


def test_confirmations_keep_a_wide_book_fresh_through_a_wait_without_counting_as_quotes() -> None:
    t0 = et("2026-11-24T09:30:30")
    lad = make()
    wide = Quote("TQQQ", D("50.00"), D("50.20"), D(1000), D(1000), t0)
    lad.handle(QuoteArrived(wide, t0))
    lad.handle(Start(t0))
    lad.handle(update("t-1", OrderStatus.NEW, "0", t0))
    for k in range(1, 11):
        assert of(lad.handle(QuoteConfirmed(wide, t0 + k * S)), SubmitOrder) == []
        assert lad.state is LadderState.SPREAD_WAIT_RESTING
    at = t0 + 10 * S + 5 * MS
    came_in = Quote("TQQQ", D("50.08"), D("50.10"), D(1000), D(1000), at)
    acted = lad.handle(QuoteArrived(came_in, at))
    assert CancelOrder("t-1") in acted and submit_of(acted).request.limit_price == D("50.11")
    lad.handle(update("t-2", OrderStatus.FILLED, "75", at + 30 * MS, "50.10", "75"))
    (rest,) = of(lad.handle(update("t-1", OrderStatus.CANCELED, "0", at + 40 * MS)), SubmitOrder)
    assert rest.request.qty == D(25)
    lad.handle(update("t-3", OrderStatus.FILLED, "25", at + 70 * MS, "50.10", "25"))
    assert lad.report is not None and lad.report.quotes_seen == 2
