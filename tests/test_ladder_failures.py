"""When the broker refuses, rejects or races the ladder: it never finishes with a child live,
never re-sends a refused slice in a loop, goes on after a transient refusal, and re-sends a
cancel that failed transiently."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from better_orders.core.ladder import (
    CancelFailed,
    CancelOrder,
    Finished,
    LadderState,
    QueryOrder,
    QuoteArrived,
    SetTimer,
    SubmitFailed,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.model import AttemptKind, OrderStatus, OrderUpdate
from ladder_kit import et, make, of, quote, started, submit_of, update

T0 = et("2026-11-24T09:30:30")  # the opening window: a wide spread is waited out
MS = timedelta(milliseconds=1)
S = timedelta(seconds=1)


def resting_ladder() -> tuple[object, SubmitOrder]:
    """A buy of 100 waiting out a 20-cent spread with a quarter resting (``t-1``)."""
    lad = make()
    actions = started(lad, quote("50.00", "50.20", T0), T0)
    slice_ = submit_of(actions)
    assert slice_.kind is AttemptKind.PASSIVE and slice_.request.qty == D(25)
    assert lad.state is LadderState.SPREAD_WAIT_RESTING
    lad.handle(update("t-1", OrderStatus.NEW, "0", T0))
    return lad, slice_


# -- Finished only when no child is live ---------------------------------------------------------


def test_a_wait_that_ends_without_a_usable_quote_cancels_the_slice_before_finishing() -> None:
    lad, _ = resting_ladder()
    deadline = et("2026-11-24T09:32:00")
    # No quote since 09:30:30: at the wait's limit the book is 90 s stale.
    waiting = lad.handle(TimerFired(deadline))
    assert of(waiting, Finished) == [] and lad.state is LadderState.ENTRY_NEEDS_QUOTE_RESTING
    (timer,) = of(waiting, SetTimer)
    gave_up = lad.handle(TimerFired(timer.at))
    assert of(gave_up, Finished) == [] and CancelOrder("t-1") in gave_up
    assert lad.state is LadderState.FINISHING and lad.live_children == ["t-1"]
    (done,) = of(lad.handle(update("t-1", OrderStatus.CANCELED, "0", timer.at + 30 * MS)), Finished)
    assert lad.live_children == []
    assert "stale" in (done.report.error or "")
    assert [a.status for a in done.report.attempts] == [OrderStatus.CANCELED]


def test_a_cross_rejected_while_the_slice_cancel_is_in_flight_waits_for_the_slice() -> None:
    lad, _ = resting_ladder()
    t1 = T0 + 3 * S
    actions = lad.handle(QuoteArrived(quote("50.08", "50.10", t1), t1))  # came in
    cross = submit_of(actions)
    assert CancelOrder("t-1") in actions and cross.request.qty == D(75)
    rejected = OrderUpdate("t-2", OrderStatus.REJECTED, D(0), t1 + 30 * MS, reason="wash trade")
    after = lad.handle(rejected)
    assert of(after, Finished) == [] and of(after, SubmitOrder) == []
    assert lad.state is LadderState.FINISHING and lad.live_children == ["t-1"]
    done = lad.handle(update("t-1", OrderStatus.CANCELED, "10", t1 + 40 * MS, "50.01", "10"))
    (finished,) = of(done, Finished)
    report = finished.report
    assert report.filled_qty == D(10) and "wash trade" in (report.unfilled_reason or "")
    assert all(a.status is not None and a.status.is_terminal for a in report.attempts)


# -- a refused or rejected slice is given up in favour of crossing --------------------------------


def test_a_rejected_slice_is_not_sent_again_and_the_rest_crosses() -> None:
    lad, _ = resting_ladder()
    sent: list[SubmitOrder] = []
    actions = lad.handle(
        OrderUpdate("t-1", OrderStatus.REJECTED, D(0), T0 + 10 * MS, reason="no passive orders")
    )
    for k in range(1, 6):  # five more quotes, still wide
        sent += of(actions, SubmitOrder)
        for s in of(actions, SubmitOrder):
            if s.kind is AttemptKind.PASSIVE:  # a venue that rejects every resting slice
                lad.handle(
                    OrderUpdate(s.request.client_order_id, OrderStatus.REJECTED, D(0), T0 + k * S)
                )
        now = T0 + k * S + 500 * MS
        actions = lad.handle(QuoteArrived(quote("50.00", "50.20", now), now))
    sent += of(actions, SubmitOrder)
    assert [s.kind for s in sent] == [AttemptKind.AGGRESSIVE]
    # ask + 1 tick is 50.21, beyond the budget's bound (arrival mid 50.10 + 20 bps = 50.20)
    assert (sent[0].request.qty, sent[0].request.limit_price) == (D(100), D("50.20"))
    assert any("resting slice t-1 rejected" in n for n in lad.notes)


def test_a_slice_refused_at_submit_is_not_fatal_the_rest_crosses() -> None:
    lad = make()
    started(lad, quote("50.00", "50.20", T0), T0)
    actions = lad.handle(SubmitFailed("t-1", T0, "internal server error (500)", "server_error"))
    assert of(actions, Finished) == []
    cross = submit_of(actions)
    assert cross.kind is AttemptKind.AGGRESSIVE and cross.request.qty == D(100)
    done = lad.handle(update("t-2", OrderStatus.FILLED, "100", T0 + 40 * MS, "50.20", "100"))
    report = of(done, Finished)[0].report
    assert report.complete and report.error is None
    assert (
        report.attempts[0].end_reason
        == "refused at submit (server_error): internal server error (500)"
    )


# -- a transient refusal of an attempt goes on to the re-peg -------------------------------------


def test_a_transient_refusal_of_an_attempt_re_pegs_and_the_report_says_why() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    actions = lad.handle(SubmitFailed("t-1", t0, "rate limit exceeded (429)", "rate_limited"))
    repeg = submit_of(actions)
    assert repeg.kind is AttemptKind.REPEG and repeg.request.qty == D(100)
    assert any("rate limit exceeded" in n and "re-peg" in n for n in lad.notes)
    done = lad.handle(update("t-2", OrderStatus.FILLED, "100", t0 + S, "50.01", "100"))
    report = of(done, Finished)[0].report
    assert report.complete and report.error is None and report.repegs_used == 1


def test_a_refusal_by_a_risk_check_is_not_retried() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    refused = SubmitFailed(
        "t-1", t0, "over the notional cap", "rate_limited", "a pre-trade risk check"
    )
    (done,) = of(lad.handle(refused), Finished)
    assert "refused by a pre-trade risk check" in (done.report.error or "")


# -- cancels: re-sent when the failure was transient, the order queried otherwise -----------------


def test_a_cancel_that_fails_transiently_is_sent_again_a_bounded_number_of_times() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    t1 = t0 + 3 * S
    assert of(lad.handle(TimerFired(t1)), CancelOrder) == [CancelOrder("t-1")]
    answers = [
        lad.handle(CancelFailed("t-1", t1 + k * MS, "too many requests", "rate_limited"))
        for k in range(1, 5)
    ]
    assert answers == [[CancelOrder("t-1")]] * 3 + [[QueryOrder("t-1")]]
    # Refused because the order already ended: ask for it.
    done = lad.handle(update("t-1", OrderStatus.CANCELED, "0", t1 + 10 * MS))
    assert submit_of(done).kind is AttemptKind.REPEG


def test_a_cancel_that_is_never_confirmed_is_chased_and_never_finishes_with_it_live() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    now = t0 + 3 * S
    lad.handle(TimerFired(now))
    sent: list[object] = []
    for _ in range(8):
        now += 5 * S
        actions = lad.handle(TimerFired(now))
        assert of(actions, Finished) == []
        sent += [a for a in actions if not isinstance(a, SetTimer)]
        lad.handle(update("t-1", OrderStatus.NEW, "0", now))  # each query: still open
    assert sent.count(QueryOrder("t-1")) == 8
    assert sent.count(CancelOrder("t-1")) == 7  # with every query after the first
    assert any("did not confirm its cancel" in n for n in lad.notes)
    lad.handle(QuoteArrived(quote("50.00", "50.01", now), now))
    done = lad.handle(update("t-1", OrderStatus.CANCELED, "0", now + S))
    assert submit_of(done).kind is AttemptKind.REPEG


# -- a buy refused for buying power: cut to what it allows, when the shell says so ---------------


def _bp_refusal(coid: str, now: object, affordable: str | None) -> SubmitFailed:
    return SubmitFailed(
        coid,
        now,  # type: ignore[arg-type]
        "insufficient buying power (403)",
        "insufficient_buying_power",
        affordable=None if affordable is None else D(affordable),
    )


def test_a_buy_refused_for_buying_power_is_cut_to_what_it_allows_and_goes_on() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    first = submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    assert first.request.qty == D(100)
    # The first child filled 30 before the broker refused the rest's re-peg for cash.
    lad.handle(update("t-1", OrderStatus.PARTIALLY_FILLED, "30", t0 + 40 * MS, "50.02", "30"))
    lad.handle(TimerFired(t0 + 3 * S))
    repeg = submit_of(
        lad.handle(update("t-1", OrderStatus.CANCELED, "30", t0 + 3 * S + 40 * MS, "50.02"))
    )
    assert repeg.request.qty == D(70)
    again = submit_of(lad.handle(_bp_refusal("t-2", t0 + 3 * S + 80 * MS, "45")))
    assert again.request.qty == D(45)  # the next step, for what the buying power allows
    assert again.kind is AttemptKind.REPEG
    done = lad.handle(update("t-3", OrderStatus.FILLED, "45", t0 + 4 * S, "50.03", "45"))
    report = of(done, Finished)[0].report
    assert (report.requested_qty, report.filled_qty, report.unfilled_qty) == (
        D(100),
        D(75),
        D(25),
    )
    assert report.error is None
    assert report.unfilled_reason == (
        "the buying power allowed 75 of 100 (order t-2 refused for buying power)"
    )
    assert any("cut from 100 to 75" in n for n in report.notes)


def test_a_fallback_refused_for_buying_power_is_sent_again_smaller() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make(max_repegs=0)
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    lad.handle(TimerFired(t0 + 3 * S))
    fallback = submit_of(lad.handle(update("t-1", OrderStatus.CANCELED, "0", t0 + 3 * S)))
    assert fallback.kind in (AttemptKind.FALLBACK_MARKET, AttemptKind.FALLBACK_LIMIT)
    again = submit_of(lad.handle(_bp_refusal("t-2", t0 + 3 * S + 40 * MS, "60")))
    assert (again.kind, again.request.qty) == (fallback.kind, D(60))
    done = lad.handle(update("t-3", OrderStatus.FILLED, "60", t0 + 4 * S, "50.01", "60"))
    report = of(done, Finished)[0].report
    assert (report.filled_qty, report.unfilled_qty, report.error) == (D(60), D(40), None)


def test_a_buying_power_refusal_without_an_affordable_quantity_ends_the_leg() -> None:
    t0 = et("2026-11-24T10:00:00")
    for affordable in (None, "0"):
        lad = make()
        submit_of(started(lad, quote("50.00", "50.01", t0), t0))
        (done,) = of(lad.handle(_bp_refusal("t-1", t0 + 40 * MS, affordable)), Finished)
        assert done.report.filled_qty == 0
        assert "insufficient buying power" in (done.report.error or "")


def test_buying_power_cuts_are_bounded() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make(max_repegs=10)
    sent = submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    sizes = []
    for k in range(1, 10):
        actions = lad.handle(_bp_refusal(sent.request.client_order_id, t0 + k * S, "80"))
        if of(actions, Finished):
            break
        sent = submit_of(actions)
        sizes.append(sent.request.qty)
    # Three cuts (buying power that never grows answers each the same), then the leg ends.
    assert sizes == [D(80), D(80), D(80)]
    report = of(actions, Finished)[0].report
    assert report.filled_qty == 0 and "insufficient buying power" in (report.error or "")


# -- the close comes while the order works: nothing more is sent ----------------------------------


def test_a_child_the_close_expires_is_not_followed_by_orders_after_the_close() -> None:
    t0 = et("2026-11-27T12:59:58")  # an early close, 13:00
    lad = make()
    first = submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    lad.handle(update("t-1", OrderStatus.PARTIALLY_FILLED, "30", t0 + 40 * MS, "50.02", "30"))
    close = et("2026-11-27T13:00:00")
    done = lad.handle(update("t-1", OrderStatus.EXPIRED, "30", close, "50.02"))
    assert of(done, SubmitOrder) == [] and first.request.qty == D(100)
    report = of(done, Finished)[0].report
    assert (report.filled_qty, report.unfilled_qty) == (D(30), D(70))
    assert report.unfilled_reason == (
        "market closed at 2026-11-27 13:00:00 ET (after_hours); no more orders sent"
    )
    assert len(report.attempts) == 1


def test_an_attempt_that_times_out_after_the_close_is_cancelled_not_re_pegged() -> None:
    t0 = et("2026-11-24T15:59:59")
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    t1 = t0 + 3 * S  # 16:00:02
    assert of(lad.handle(TimerFired(t1)), CancelOrder) == [CancelOrder("t-1")]
    done = lad.handle(update("t-1", OrderStatus.CANCELED, "0", t1 + 40 * MS))
    assert of(done, SubmitOrder) == []
    report = of(done, Finished)[0].report
    assert report.filled_qty == 0 and (report.error or "").startswith("market closed at")
