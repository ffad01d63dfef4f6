"""``timing.rest_while_waiting``: a passive limit rests during a spread wait, then the ladder
cancels it and crosses once the spread comes in or the wait ends."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from better_orders.config import BetterOrdersConfig
from better_orders.core.ladder import (
    CancelOrder,
    Ladder,
    LadderParams,
    LadderState,
    ParentOrder,
    QuoteArrived,
    SetTimer,
    Start,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.model import AttemptKind, Fill, OrderStatus, OrderUpdate, Quote, Side
from better_orders.core.timing import default_calendar

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 24, 9, 30, 30, tzinfo=ET)


def quote(bid: str, ask: str, ts: datetime) -> Quote:
    return Quote("TQQQ", D(bid), D(ask), D(1000), D(1000), ts)


def make(side: Side = Side.BUY, rest: bool = True) -> Ladder:
    cfg = BetterOrdersConfig()
    cfg = cfg.model_copy(
        update={"timing": cfg.timing.model_copy(update={"rest_while_waiting": rest})}
    )
    params = LadderParams.from_config(cfg, "TQQQ")
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


def test_off_by_default_the_wait_sends_nothing() -> None:
    assert BetterOrdersConfig().timing.rest_while_waiting is False
    lad = make(rest=False)
    assert of(start(lad, quote("50.00", "50.20", T0)), SubmitOrder) == []


def test_buy_rests_one_tick_inside_the_bid_then_cancels_and_crosses_when_it_comes_in() -> None:
    lad = make()
    actions = start(lad, quote("50.00", "50.20", T0))  # 20c: wide
    (sub,) = of(actions, SubmitOrder)
    assert isinstance(sub, SubmitOrder)
    assert sub.kind is AttemptKind.PASSIVE and sub.request.limit_price == D("50.01")
    assert lad.state is LadderState.WAITING_SPREAD
    assert SetTimer(datetime(2026, 11, 24, 9, 32, tzinfo=ET)) in actions
    lad.handle(update("t-1", OrderStatus.NEW, "0", T0))
    # Partly filled while resting: the rest of the wait carries on with 60 left.
    t1 = T0 + timedelta(seconds=5)
    assert lad.handle(update("t-1", OrderStatus.PARTIALLY_FILLED, "40", t1, "50.01", "40")) == []
    t2 = T0 + timedelta(seconds=9)
    actions = lad.handle(QuoteArrived(quote("50.08", "50.10", t2), t2))  # 2c: came in
    assert of(actions, SubmitOrder) == [] and CancelOrder("t-1") in actions
    assert lad.state is LadderState.CANCELLING
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
