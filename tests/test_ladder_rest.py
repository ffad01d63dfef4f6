"""``timing.rest_fraction``: a passive slice rests during a spread wait; when the wait ends the
ladder cancels it and crosses (the rest of the order at once, the slice's leftover after)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import (
    CancelOrder,
    Finished,
    Halt,
    Ladder,
    LadderState,
    ParentOrder,
    QuoteArrived,
    SetTimer,
    Start,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.market_calendar import default_calendar
from better_orders.core.model import AttemptKind, Fill, OrderStatus, OrderUpdate, Quote, Side

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 24, 9, 30, 30, tzinfo=ET)


def quote(bid: str, ask: str, ts: datetime) -> Quote:
    return Quote("TQQQ", D(bid), D(ask), D(1000), D(1000), ts)


def make(side: Side = Side.BUY, fraction: str = "1") -> Ladder:
    cfg = BetterOrdersConfig()
    cfg = cfg.model_copy(
        update={"timing": cfg.timing.model_copy(update={"rest_fraction": D(fraction)})}
    )
    params = ladder_params(cfg, "TQQQ")
    return Ladder(ParentOrder("TQQQ", side, D(100)), params, default_calendar(), lambda n: f"t-{n}")


def of(actions: list[object], kind: type) -> list[object]:
    return [a for a in actions if isinstance(a, kind)]


def update(
    coid: str,
    status: OrderStatus,
    cum: str,
    ts: datetime,
    price: str | None = None,
    fill_qty: str | None = None,
    side: Side = Side.BUY,
) -> OrderUpdate:
    fill = None
    if fill_qty is not None and price is not None:
        fill = Fill(f"{coid}-{cum}", coid, "TQQQ", side, D(fill_qty), D(price), ts)
    return OrderUpdate(coid, status, D(cum), ts, D(price) if price else None, fill=fill)


def start(lad: Ladder, q: Quote) -> list[object]:
    lad.handle(QuoteArrived(q, q.ts))
    return lad.handle(Start(q.ts))


def test_a_quarter_rests_by_default_and_zero_waits_idle() -> None:
    assert BetterOrdersConfig().timing.rest_fraction == D("0.25")
    lad = make(fraction="0")
    assert of(start(lad, quote("50.00", "50.20", T0)), SubmitOrder) == []
    assert lad.state is LadderState.SPREAD_WAIT


def test_buy_rests_one_tick_inside_the_bid_then_cancels_and_crosses_when_it_comes_in() -> None:
    lad = make()
    actions = start(lad, quote("50.00", "50.20", T0))  # 20c: wide
    (sub,) = of(actions, SubmitOrder)
    assert isinstance(sub, SubmitOrder)
    assert sub.kind is AttemptKind.PASSIVE and sub.request.limit_price == D("50.01")
    assert lad.state is LadderState.SPREAD_WAIT_RESTING
    assert SetTimer(datetime(2026, 11, 24, 9, 32, tzinfo=ET)) in actions
    lad.handle(update("t-1", OrderStatus.NEW, "0", T0))
    # Partly filled while resting: the rest of the wait carries on with 60 left.
    t1 = T0 + timedelta(seconds=5)
    assert lad.handle(update("t-1", OrderStatus.PARTIALLY_FILLED, "40", t1, "50.01", "40")) == []
    t2 = T0 + timedelta(seconds=9)
    actions = lad.handle(QuoteArrived(quote("50.08", "50.10", t2), t2))  # 2c: came in
    assert of(actions, SubmitOrder) == [] and CancelOrder("t-1") in actions
    assert lad.state is LadderState.REST_CANCEL_THEN_ENTRY
    t3 = t2 + timedelta(milliseconds=35)
    lad.handle(QuoteArrived(quote("50.08", "50.10", t3), t3))
    (cross,) = of(lad.handle(update("t-1", OrderStatus.CANCELED, "40", t3)), SubmitOrder)
    assert isinstance(cross, SubmitOrder)
    assert cross.kind is AttemptKind.AGGRESSIVE
    assert (cross.request.qty, cross.request.limit_price) == (D(60), D("50.11"))
    lad.handle(update("t-2", OrderStatus.FILLED, "60", t3, "50.10", "60"))
    report = lad.report
    assert report is not None and report.filled_qty == D(100)
    assert report.avg_fill_price == (D(40) * D("50.01") + D(60) * D("50.10")) / D(100)


def test_spread_gone_again_after_the_cancel_crosses_off_the_quote_that_came_in() -> None:
    lad = make(Side.SELL)
    (sub,) = of(start(lad, quote("50.00", "50.20", T0)), SubmitOrder)
    assert isinstance(sub, SubmitOrder) and sub.request.limit_price == D("50.19")
    lad.handle(update("t-1", OrderStatus.NEW, "0", T0, side=Side.SELL))
    t1 = T0 + timedelta(seconds=3)
    assert CancelOrder("t-1") in lad.handle(QuoteArrived(quote("50.08", "50.10", t1), t1))
    t2 = t1 + timedelta(milliseconds=20)
    lad.handle(QuoteArrived(quote("50.00", "50.20", t2), t2))  # wide again
    (cross,) = of(
        lad.handle(update("t-1", OrderStatus.CANCELED, "0", t2, side=Side.SELL)), SubmitOrder
    )
    assert isinstance(cross, SubmitOrder)
    assert cross.kind is AttemptKind.AGGRESSIVE and cross.request.limit_price == D("50.07")


def test_wait_limit_cancels_the_resting_limit_then_executes() -> None:
    lad = make()
    start(lad, quote("50.00", "50.12", T0))
    lad.handle(update("t-1", OrderStatus.NEW, "0", T0))
    deadline = datetime(2026, 11, 24, 9, 32, tzinfo=ET)
    last = deadline - timedelta(seconds=1)
    waiting = lad.handle(QuoteArrived(quote("50.00", "50.13", last), last))
    assert of(waiting, SubmitOrder) == [] and of(waiting, CancelOrder) == []
    actions = lad.handle(TimerFired(deadline))
    assert CancelOrder("t-1") in actions and of(actions, SubmitOrder) == []
    (sub,) = of(lad.handle(update("t-1", OrderStatus.CANCELED, "0", deadline)), SubmitOrder)
    assert isinstance(sub, SubmitOrder) and sub.request.limit_price == D("50.14")


def test_fully_filled_while_resting_finishes_without_crossing() -> None:
    lad = make()
    start(lad, quote("50.00", "50.20", T0))
    t1 = T0 + timedelta(seconds=2)
    lad.handle(update("t-1", OrderStatus.FILLED, "100", t1, "50.01", "100"))
    assert lad.done and lad.report is not None
    assert lad.report.avg_fill_price == D("50.01") and len(lad.report.attempts) == 1


# -- a slice: the rest of the order does not wait for the slice's cancel ------------------


def test_slice_rests_a_quarter_and_the_rest_crosses_with_the_cancel() -> None:
    lad = make(fraction="0.25")
    (rest,) = of(start(lad, quote("50.00", "50.20", T0)), SubmitOrder)
    assert isinstance(rest, SubmitOrder)
    assert rest.kind is AttemptKind.PASSIVE
    assert (rest.request.qty, rest.request.limit_price) == (D(25), D("50.01"))
    lad.handle(update("t-1", OrderStatus.NEW, "0", T0))
    t1 = T0 + timedelta(seconds=4)
    lad.handle(update("t-1", OrderStatus.PARTIALLY_FILLED, "10", t1, "50.01", "10"))
    t2 = T0 + timedelta(seconds=9)
    actions = lad.handle(QuoteArrived(quote("50.08", "50.10", t2), t2))  # 2c: came in
    (cross,) = of(actions, SubmitOrder)
    assert isinstance(cross, SubmitOrder)
    assert CancelOrder("t-1") in actions
    # 100 - 10 filled - 15 still open on the slice = 75: never more than can remain.
    assert (cross.request.qty, cross.request.limit_price) == (D(75), D("50.11"))
    assert cross.kind is AttemptKind.AGGRESSIVE
    assert set(lad.live_children) == {"t-1", "t-2"}
    t3 = t2 + timedelta(milliseconds=35)
    # The cross fills first: the slice's leftover waits for the cancel to be confirmed.
    assert (
        of(lad.handle(update("t-2", OrderStatus.FILLED, "75", t3, "50.10", "75")), SubmitOrder)
        == []
    )
    assert lad.state is LadderState.REST_CANCEL_THEN_CROSS and lad.live_children == ["t-1"]
    t4 = t3 + timedelta(milliseconds=5)
    lad.handle(QuoteArrived(quote("50.05", "50.20", t4), t4))  # wide again: it crosses anyway
    (left,) = of(lad.handle(update("t-1", OrderStatus.CANCELED, "10", t4)), SubmitOrder)
    assert isinstance(left, SubmitOrder)
    # ask + 1 tick is 50.21, beyond the budget's bound (arrival mid 50.10 + 20 bps = 50.20)
    assert (left.request.qty, left.request.limit_price) == (D(15), D("50.20"))
    lad.handle(update("t-3", OrderStatus.FILLED, "15", t4, "50.20", "15"))
    report = lad.report
    assert report is not None and lad.done
    assert report.filled_qty == D(100)
    expected = (D(10) * D("50.01") + D(75) * D("50.10") + D(15) * D("50.20")) / D(100)
    assert report.avg_fill_price == expected
    assert report.waited_seconds == 9.0  # to the cross, not to the slice (sent at once)


def test_slice_filling_while_its_cancel_is_in_flight_still_counts_and_nothing_more_is_sent() -> (
    None
):
    lad = make(fraction="0.25")
    start(lad, quote("50.00", "50.20", T0))
    lad.handle(update("t-1", OrderStatus.NEW, "0", T0))
    t1 = T0 + timedelta(seconds=3)
    lad.handle(QuoteArrived(quote("50.08", "50.10", t1), t1))
    t2 = t1 + timedelta(milliseconds=30)
    assert lad.handle(update("t-1", OrderStatus.FILLED, "25", t2, "50.01", "25")) == []
    finished = lad.handle(update("t-2", OrderStatus.FILLED, "75", t2, "50.10", "75"))
    assert of(finished, SubmitOrder) == [] and lad.done
    assert lad.report is not None and lad.report.filled_qty == D(100)


def test_slice_that_fills_during_the_wait_is_followed_by_the_next_slice_at_the_new_touch() -> None:
    lad = make(fraction="0.25")
    start(lad, quote("50.00", "50.20", T0))
    t1 = T0 + timedelta(seconds=2)
    lad.handle(update("t-1", OrderStatus.FILLED, "25", t1, "50.01", "25"))
    assert lad.state is LadderState.SPREAD_WAIT and lad.live_child is None
    t2 = t1 + timedelta(seconds=1)
    (nxt,) = of(lad.handle(QuoteArrived(quote("49.90", "50.10", t2), t2)), SubmitOrder)
    assert isinstance(nxt, SubmitOrder)
    # A quarter of the 75 left, in whole shares, one tick inside the new bid.
    assert (nxt.request.qty, nxt.request.limit_price) == (D(18), D("49.91"))


def test_wait_limit_with_a_slice_cancels_it_and_crosses_the_rest_in_one_step() -> None:
    lad = make(fraction="0.25")
    start(lad, quote("50.00", "50.12", T0))
    lad.handle(update("t-1", OrderStatus.NEW, "0", T0))
    deadline = datetime(2026, 11, 24, 9, 32, tzinfo=ET)
    last = deadline - timedelta(seconds=1)
    assert of(lad.handle(QuoteArrived(quote("50.00", "50.12", last), last)), SubmitOrder) == []
    actions = lad.handle(TimerFired(deadline))
    (sub,) = of(actions, SubmitOrder)
    assert isinstance(sub, SubmitOrder) and CancelOrder("t-1") in actions
    assert (sub.request.qty, sub.request.limit_price) == (D(75), D("50.13"))


def test_cross_timing_out_while_the_slice_cancel_is_pending_repegs_what_both_left() -> None:
    lad = make(fraction="0.25")
    start(lad, quote("50.00", "50.20", T0))
    lad.handle(update("t-1", OrderStatus.NEW, "0", T0))
    t1 = T0 + timedelta(seconds=3)
    lad.handle(QuoteArrived(quote("50.08", "50.10", t1), t1))
    lad.handle(update("t-2", OrderStatus.NEW, "0", t1))
    t2 = t1 + timedelta(seconds=3)  # past the attempt's timeout; the slice never confirmed
    assert CancelOrder("t-2") in lad.handle(TimerFired(t2))
    t3 = t2 + timedelta(milliseconds=40)
    lad.handle(QuoteArrived(quote("50.09", "50.11", t3), t3))
    assert (
        of(lad.handle(update("t-2", OrderStatus.CANCELED, "50", t3, "50.10", "50")), SubmitOrder)
        == []
    )
    assert lad.state is LadderState.CANCEL_THEN_NEXT
    (repeg,) = of(
        lad.handle(update("t-1", OrderStatus.CANCELED, "5", t3, "50.01", "5")), SubmitOrder
    )
    assert isinstance(repeg, SubmitOrder)
    assert repeg.kind is AttemptKind.REPEG and repeg.request.qty == D(45)


def test_halt_with_a_slice_and_a_cross_out_finishes_only_once_both_ended() -> None:
    lad = make(fraction="0.25")
    start(lad, quote("50.00", "50.20", T0))
    lad.handle(update("t-1", OrderStatus.NEW, "0", T0))
    t1 = T0 + timedelta(seconds=3)
    lad.handle(QuoteArrived(quote("50.08", "50.10", t1), t1))  # cancel t-1, cross with t-2
    t2 = t1 + timedelta(milliseconds=10)
    halted = lad.handle(Halt(t2, "kill switch /k is on"))
    assert of(halted, CancelOrder) == [CancelOrder("t-2")] and of(halted, SubmitOrder) == []
    assert lad.handle(update("t-2", OrderStatus.CANCELED, "30", t2, "50.10", "30")) == [
        SetTimer(t2 + timedelta(seconds=5))
    ]
    assert not lad.done and lad.live_children == ["t-1"]
    t3 = t2 + timedelta(milliseconds=20)
    (done,) = lad.handle(update("t-1", OrderStatus.CANCELED, "5", t3, "50.01", "5"))
    assert isinstance(done, Finished) and lad.live_children == []
    assert (done.report.filled_qty, done.report.unfilled_qty) == (D(35), D(65))
    assert done.report.unfilled_reason == "kill switch /k is on"
