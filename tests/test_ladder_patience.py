"""The ladder's patient rest (``patience``): where it would cross at once, the whole order
rests at or inside the touch for a while, ends early when the book turns against it, and
what it leaves crosses; and no wait (the rest, or the opening's spread wait) outlasts the
slippage budget's urgency."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

from better_orders.core.ladder import (
    CancelOrder,
    LadderState,
    QuoteArrived,
    SetTimer,
    SubmitFailed,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.model import AttemptKind, OrderStatus, Quote, Side
from better_orders.core.patience import PatienceRules
from ladder_kit import et, make, of, started, submit_of, update

T0 = et("2026-11-24T15:45:00")
RULES = PatienceRules(opening_seconds=3, regular_seconds=20, at=D("0.5"), max_lean=D("0.3"))


def book(bid: str, ask: str, seconds: float, bid_size: int = 1000, ask_size: int = 1000) -> Quote:
    return Quote("TQQQ", D(bid), D(ask), D(bid_size), D(ask_size), T0 + timedelta(seconds=seconds))


def test_after_the_open_the_order_rests_at_the_mid_then_crosses_what_is_left() -> None:
    lad = make(patience=RULES)
    actions = started(lad, book("50.00", "50.04", 0), T0)
    rest = submit_of(actions)
    assert (rest.kind, rest.request.limit_price, rest.request.qty) == (
        AttemptKind.PATIENT,
        D("50.02"),
        D(100),
    )
    assert SetTimer(T0 + timedelta(seconds=20)) in actions
    assert lad.state is LadderState.WORKING
    coid = rest.request.client_order_id
    lad.handle(update(coid, OrderStatus.NEW, "0", T0))
    lad.handle(update(coid, OrderStatus.PARTIALLY_FILLED, "40", T0, "50.02", "40"))
    end = T0 + timedelta(seconds=20)
    assert of(lad.handle(TimerFired(end)), CancelOrder) == [CancelOrder(coid)]
    lad.handle(QuoteArrived(book("50.01", "50.03", 20), end))
    cross = submit_of(lad.handle(update(coid, OrderStatus.CANCELED, "40", end)))
    assert (cross.kind, cross.request.limit_price, cross.request.qty) == (
        AttemptKind.AGGRESSIVE,
        D("50.04"),
        D(60),
    )


def test_the_rest_ends_early_when_the_book_leans_against_it() -> None:
    lad = make(patience=RULES)
    rest = submit_of(started(lad, book("50.00", "50.01", 0, 300, 900), T0))
    assert rest.kind is AttemptKind.PATIENT and rest.request.limit_price == D("50.00")
    coid = rest.request.client_order_id
    lad.handle(update(coid, OrderStatus.NEW, "0", T0))
    now = T0 + timedelta(seconds=2)
    assert lad.handle(QuoteArrived(book("50.00", "50.01", 2, 500, 700), now)) == []
    now += timedelta(seconds=1)
    turned = lad.handle(QuoteArrived(book("50.00", "50.01", 3, 900, 100), now))
    assert of(turned, CancelOrder) == [CancelOrder(coid)]
    cross = submit_of(lad.handle(update(coid, OrderStatus.CANCELED, "0", now)))
    assert cross.kind is AttemptKind.AGGRESSIVE and cross.request.qty == D(100)
    assert any("leans against" in n for n in lad.notes)


def test_a_book_leaning_against_the_order_crosses_at_once() -> None:
    lad = make(patience=RULES)
    cross = submit_of(started(lad, book("50.00", "50.01", 0, 900, 100), T0))
    assert cross.kind is AttemptKind.AGGRESSIVE


def test_a_rest_that_fills_ends_the_order_and_no_patience_crosses_at_once() -> None:
    lad = make(patience=RULES)
    rest = submit_of(started(lad, book("50.00", "50.04", 0), T0))
    coid = rest.request.client_order_id
    lad.handle(update(coid, OrderStatus.FILLED, "100", T0, "50.02", "100"))
    assert lad.done and lad.report is not None and lad.report.avg_fill_price == D("50.02")
    plain = make()
    first = of(started(plain, book("50.00", "50.04", 0), T0), SubmitOrder)
    assert [s.kind for s in first] == [AttemptKind.AGGRESSIVE]


def test_in_the_opening_windows_a_spread_worth_waiting_out_is_waited_out_first() -> None:
    lad = make(patience=RULES)
    opening = et("2026-11-24T09:30:40")
    wide = Quote("TQQQ", D("50.00"), D("50.20"), D(1000), D(1000), opening)
    started(lad, wide, opening)
    assert lad.state in (LadderState.SPREAD_WAIT, LadderState.SPREAD_WAIT_RESTING)
    narrow = Quote("TQQQ", D("50.10"), D("50.11"), D(1000), D(1000), opening)
    lad2 = make(patience=RULES)
    rest = submit_of(started(lad2, narrow, opening))
    assert rest.kind is AttemptKind.PATIENT
    assert lad2.d.timer == opening + timedelta(seconds=3)


URGENT = PatienceRules(
    opening_seconds=3, regular_seconds=20, at=D("0.5"), max_lean=D("0.3"), budget_urgency=D("0.5")
)


def test_the_opening_wait_ends_once_the_ask_runs_half_way_to_the_budgets_bound() -> None:
    opening = et("2026-11-24T09:30:40")
    wide = Quote("TQQQ", D("50.00"), D("50.20"), D(1000), D(1000), opening)
    # 60 bps of 50.10: the bound is 50.40, 20c above the ask at arrival; half way is 50.30.
    lad = make(patience=URGENT, budget_bps=D(60))
    started(lad, wide, opening)
    assert lad.state is LadderState.SPREAD_WAIT_RESTING and lad.budget_bound == D("50.40")
    slice_coid = lad.live_child
    assert slice_coid is not None
    later = opening + timedelta(seconds=5)
    still_wide = Quote("TQQQ", D("50.05"), D("50.29"), D(1000), D(1000), later)
    assert of(lad.handle(QuoteArrived(still_wide, later)), SubmitOrder) == []
    ran = Quote("TQQQ", D("50.06"), D("50.30"), D(1000), D(1000), later)
    actions = lad.handle(QuoteArrived(ran, later))
    cross = submit_of(actions)
    assert CancelOrder(slice_coid) in actions
    assert (cross.kind, cross.request.limit_price, cross.request.qty) == (
        AttemptKind.AGGRESSIVE,
        D("50.31"),
        D(75),
    )
    assert any(n.startswith("not waiting: the far touch 50.30") for n in lad.notes)
    # Without the urgency the same quote leaves the wait as it was.
    calm = make(patience=RULES, budget_bps=D(60))
    started(calm, wide, opening)
    assert of(calm.handle(QuoteArrived(ran, later)), SubmitOrder) == []
    assert calm.state is LadderState.SPREAD_WAIT_RESTING


def test_a_patient_sell_crosses_before_the_bid_falls_through_its_bound() -> None:
    lad = make(side=Side.SELL, patience=URGENT)
    rest = submit_of(started(lad, book("50.00", "50.04", 0), T0))
    assert rest.kind is AttemptKind.PATIENT and rest.request.limit_price == D("50.02")
    assert lad.budget_bound == D("49.92")  # 20 bps below 50.02; the bid has 8c to fall
    coid = rest.request.client_order_id
    lad.handle(update(coid, OrderStatus.NEW, "0", T0))
    now = T0 + timedelta(seconds=4)
    assert lad.handle(QuoteArrived(book("49.97", "50.02", 4), now)) == []  # 3c of 8
    now += timedelta(seconds=1)
    assert of(lad.handle(QuoteArrived(book("49.96", "50.02", 5), now)), CancelOrder) == [
        CancelOrder(coid)
    ]
    cross = submit_of(lad.handle(update(coid, OrderStatus.CANCELED, "0", now)))
    assert (cross.kind, cross.request.limit_price, cross.request.qty) == (
        AttemptKind.AGGRESSIVE,
        D("49.95"),
        D(100),
    )
    assert any("crossing while it can" in n for n in lad.notes)


def test_a_patient_rest_refused_at_submit_keeps_the_refusal_and_the_rest_crosses() -> None:
    lad = make(patience=RULES)
    rest = submit_of(started(lad, book("50.00", "50.04", 0), T0))
    assert rest.kind is AttemptKind.PATIENT
    coid = rest.request.client_order_id
    reason = "TQQQ is not fractionable"
    cross = submit_of(lad.handle(SubmitFailed(coid, T0, reason, "not_fractionable")))
    assert cross.kind is AttemptKind.AGGRESSIVE and cross.request.qty == D(100)
    attempt = lad.attempt(coid)
    assert attempt is not None
    assert attempt.end_reason == f"refused at submit (not_fractionable): {reason}"
    assert f"patient rest {coid} refused by the broker ({reason}): crossing the rest" in lad.notes
