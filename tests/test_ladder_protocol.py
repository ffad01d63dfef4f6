"""The ladder's event protocol: the table covers every state, an illegal event raises naming
the state and the event, an early timer is re-armed, and late, duplicate or out-of-order
broker news cannot move the ladder backwards."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from better_orders.core.ladder import (
    CancelFailed,
    CancelOrder,
    Finished,
    Halt,
    LadderProtocolError,
    LadderState,
    QuoteArrived,
    SetTimer,
    Start,
    SubmitFailed,
    TimerFired,
)
from better_orders.core.ladder.machine import TABLE
from better_orders.core.ladder.states import NEXT
from better_orders.core.model import AttemptKind, Fill, OrderStatus, OrderUpdate, Side
from ladder_kit import et, make, of, quote, started, submit_of, update

T0 = et("2026-11-24T10:00:00")
S = timedelta(seconds=1)
MS = timedelta(milliseconds=1)


def test_the_table_and_the_transitions_cover_every_state() -> None:
    assert set(TABLE) == set(LadderState) == set(NEXT)
    for state, row in TABLE.items():
        # Every state but IDLE and DONE arms a timer, so each must handle it firing.
        assert (row.timer is None) == (state in (LadderState.IDLE, LadderState.DONE)), state
        assert row.quote is not None, state
    # Every state can reach DONE.
    for state in LadderState:
        seen, todo = {state}, [state]
        while todo:
            for nxt in NEXT[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert LadderState.DONE in seen, state


@pytest.mark.parametrize(
    ("event", "match"),
    [
        (TimerFired(T0), "state idle: cannot accept TimerFired before Start"),
        (Halt(T0, "stop"), "state idle: cannot accept Halt before Start"),
        (
            OrderUpdate("t-1", OrderStatus.NEW, D(0), T0),
            "state idle: cannot accept OrderUpdate before Start",
        ),
    ],
)
def test_events_before_start_raise_naming_the_state_and_the_event(
    event: object, match: str
) -> None:
    with pytest.raises(LadderProtocolError, match=match):
        make().handle(event)  # type: ignore[arg-type]


def test_a_timer_after_the_end_and_a_second_start_raise() -> None:
    lad = make()
    started(lad, quote("50.00", "50.01", T0), T0)
    with pytest.raises(LadderProtocolError, match="state working: cannot accept Start"):
        lad.handle(Start(T0))
    lad.handle(update("t-1", OrderStatus.FILLED, "100", T0 + 30 * MS, "50.01", "100"))
    assert lad.done
    with pytest.raises(LadderProtocolError, match="state done: cannot accept TimerFired"):
        lad.handle(TimerFired(T0 + 3 * S))


def test_a_cancel_failure_for_an_order_never_cancelled_raises() -> None:
    lad = make()
    started(lad, quote("50.00", "50.01", T0), T0)
    with pytest.raises(LadderProtocolError, match=r"CancelFailed \(no cancel of t-1 was sent\)"):
        lad.handle(CancelFailed("t-1", T0, "no such order", "not_found"))


def test_an_early_timer_is_re_armed() -> None:
    lad = make()
    sub = submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    assert sub.request.client_order_id == "t-1"
    deadline = T0 + 3 * S
    assert lad.handle(TimerFired(T0 + S)) == [SetTimer(deadline)]
    assert lad.state is LadderState.WORKING
    assert of(lad.handle(TimerFired(deadline)), CancelOrder) == [CancelOrder("t-1")]


def test_an_early_timer_during_a_spread_wait_keeps_the_wait_deadline() -> None:
    t0 = et("2026-11-24T09:30:30")
    lad = make()
    started(lad, quote("50.00", "50.20", t0), t0)
    assert lad.handle(TimerFired(t0 + 10 * S)) == [SetTimer(et("2026-11-24T09:32:00"))]


def test_late_duplicate_and_out_of_order_news_never_moves_the_ladder_backwards() -> None:
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", T0), T0))

    def fill(exec_id: str, qty: str, cum: str, status: OrderStatus, at: int) -> OrderUpdate:
        ts = T0 + at * MS
        f = Fill(exec_id, "t-1", "TQQQ", Side.BUY, D(qty), D("50.01"), ts)
        return OrderUpdate("t-1", status, D(cum), ts, D("50.01"), fill=f)

    second = fill("x2", "30", "70", OrderStatus.PARTIALLY_FILLED, 20)
    first = fill("x1", "40", "40", OrderStatus.PARTIALLY_FILLED, 10)
    assert lad.handle(second) == [] and lad.filled_qty == D(70)  # the later one first
    assert lad.handle(first) == [] and lad.filled_qty == D(70)  # cumulative never goes down
    assert lad.handle(second) == [] and lad.filled_qty == D(70)  # a duplicate counts once
    assert lad.handle(OrderUpdate("t-1", OrderStatus.NEW, D(0), T0)) == []  # stale
    lad.handle(TimerFired(T0 + 3 * S))
    cancelled = OrderUpdate("t-1", OrderStatus.CANCELED, D(70), T0 + 3 * S + 30 * MS)
    repeg = submit_of(lad.handle(cancelled))
    assert repeg.request.qty == D(30)
    # A stale "partially filled" of the cancelled child changes nothing.
    assert lad.handle(second) == []
    attempt = lad.attempt("t-1")
    assert attempt is not None and attempt.status is OrderStatus.CANCELED
    done = lad.handle(update("t-2", OrderStatus.FILLED, "30", T0 + 4 * S, "50.02", "30"))
    report = of(done, Finished)[0].report
    assert report.filled_qty == D(100)
    assert report.avg_fill_price == (D(70) * D("50.01") + D(30) * D("50.02")) / D(100)
    assert len(report.fills) == 3


def test_a_fill_reported_after_the_cancel_is_counted() -> None:
    # Canceled -> Filled: the venue reports, after the cancel, a fill that beat it.
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    lad.handle(TimerFired(T0 + 3 * S))
    lad.handle(QuoteArrived(quote("50.00", "50.01", T0 + 3 * S), T0 + 3 * S))
    repeg = submit_of(lad.handle(update("t-1", OrderStatus.CANCELED, "0", T0 + 3 * S)))
    assert repeg.kind is AttemptKind.REPEG
    lad.handle(update("t-1", OrderStatus.FILLED, "100", T0 + 3 * S + MS, "50.01", "100"))
    attempt = lad.attempt("t-1")
    assert attempt is not None and attempt.status is OrderStatus.FILLED
    # Filled in full: the parent is complete once the re-peg ends.
    (done,) = of(lad.handle(update("t-2", OrderStatus.CANCELED, "0", T0 + 4 * S)), Finished)
    assert done.report.filled_qty == D(100)


def test_a_submit_failure_after_the_broker_reported_the_order_changes_nothing() -> None:
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", T0), T0))
    lad.handle(update("t-1", OrderStatus.NEW, "0", T0 + MS))
    assert lad.handle(SubmitFailed("t-1", T0 + 2 * MS, "timed out", "timeout")) == []
    assert lad.state is LadderState.WORKING and lad.live_children == ["t-1"]
