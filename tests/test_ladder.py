"""The ladder as a pure state machine: events in, actions out, no I/O at all."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import (
    CancelFailed,
    CancelOrder,
    Finished,
    Ladder,
    LadderProtocolError,
    LadderState,
    QueryOrder,
    QuoteArrived,
    QuoteConfirmed,
    SetTimer,
    SubmitFailed,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.model import (
    AttemptKind,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
)
from ladder_kit import et, make, of, quote, started, submit_of, update

# -- step 2: aggressive limit ----------------------------------------------------------------


def test_full_fill_on_first_attempt_reports_exact_cost() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    actions = started(lad, quote("50.00", "50.01", t0), t0)
    sub = submit_of(actions)
    assert sub.request.order_type is OrderType.LIMIT
    assert sub.request.limit_price == D("50.02")  # ask + 1 tick
    assert sub.request.qty == D(100)
    assert sub.kind is AttemptKind.AGGRESSIVE
    assert of(actions, SetTimer)[0].at == t0 + timedelta(seconds=3.0)  # regular: standard timeout
    done = lad.handle(
        update("t-1", OrderStatus.FILLED, "100", t0 + timedelta(milliseconds=40), "50.01", "100")
    )
    report = of(done, Finished)[0].report
    assert report.filled_qty == D(100) and report.avg_fill_price == D("50.01")
    assert report.unfilled_qty == 0 and report.unfilled_reason is None
    assert report.arrival_mid == D("50.005")
    expected = float((D("50.01") - D("50.005")) / D("50.005") * 10000)
    assert report.cost_bps == pytest.approx(expected)
    assert report.client_order_ids == ["t-1"]
    assert lad.state is LadderState.DONE


def test_sell_limit_is_bid_minus_ticks() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make(side=Side.SELL, config=BetterOrdersConfig(ladder={"aggressive_ticks": 2}))
    sub = submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    assert sub.request.limit_price == D("49.98")
    assert sub.request.side is Side.SELL


# -- step 3: re-peg ---------------------------------------------------------------------------


def test_partial_fill_then_repeg_covers_only_the_remainder() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    t1 = t0 + timedelta(milliseconds=50)
    assert lad.handle(update("t-1", OrderStatus.PARTIALLY_FILLED, "40", t1, "50.01", "40")) == []
    lad.handle(
        QuoteArrived(quote("50.05", "50.06", t0 + timedelta(seconds=1)), t0 + timedelta(seconds=1))
    )
    t2 = t0 + timedelta(seconds=3)
    actions = lad.handle(TimerFired(t2))
    assert of(actions, CancelOrder) == [CancelOrder("t-1")]
    assert lad.state is LadderState.CANCEL_THEN_NEXT
    actions = lad.handle(update("t-1", OrderStatus.CANCELED, "40", t2 + timedelta(milliseconds=30)))
    sub = submit_of(actions)
    assert sub.kind is AttemptKind.REPEG
    assert sub.request.qty == D(60)
    assert sub.request.limit_price == D("50.07")  # fresh ask + 1 tick
    assert sub.request.client_order_id == "t-2"
    done = lad.handle(
        update("t-2", OrderStatus.FILLED, "60", t2 + timedelta(seconds=1), "50.06", "60")
    )
    report = of(done, Finished)[0].report
    assert report.filled_qty == D(100)
    assert report.repegs_used == 1
    assert report.avg_fill_price == (D(40) * D("50.01") + D(60) * D("50.06")) / D(100)
    assert [a.filled_qty for a in report.attempts] == [D(40), D(60)]


def test_fill_racing_the_cancel_is_counted_and_nothing_more_is_sent() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    lad.handle(update("t-1", OrderStatus.PARTIALLY_FILLED, "30", t0, "50.01", "30", n=1))
    actions = lad.handle(TimerFired(t0 + timedelta(seconds=3)))
    assert of(actions, CancelOrder)
    # The rest fills while the cancel is in flight: the venue reports filled, not canceled.
    done = lad.handle(
        update("t-1", OrderStatus.FILLED, "100", t0 + timedelta(seconds=3.01), "50.01", "70", n=2)
    )
    report = of(done, Finished)[0].report
    assert report.filled_qty == D(100)
    assert len(report.attempts) == 1
    assert of(done, SubmitOrder) == []


def test_cancel_refused_because_filled_queries_and_finishes() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    lad.handle(TimerFired(t0 + timedelta(seconds=3)))
    actions = lad.handle(
        CancelFailed("t-1", t0 + timedelta(seconds=3), "order is already filled", "not_cancelable")
    )
    assert actions == [QueryOrder("t-1")]
    done = lad.handle(update("t-1", OrderStatus.FILLED, "100", t0 + timedelta(seconds=3), "50.01"))
    report = of(done, Finished)[0].report
    assert report.filled_qty == D(100) and report.avg_fill_price == D("50.01")


def test_duplicate_fill_events_are_counted_once() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    ev = update("t-1", OrderStatus.PARTIALLY_FILLED, "40", t0, "50.01", "40")
    lad.handle(ev)
    lad.handle(ev)
    assert lad.filled_qty == D(40)


# -- step 4: fallback ---------------------------------------------------------------------------


def _exhaust_repegs(lad: Ladder, t0: datetime, q: Quote) -> tuple[list, datetime]:
    """Time out every attempt with nothing filled; returns the actions after the last cancel.

    The book stays ``q`` throughout, and the feed keeps confirming it.
    """
    now = t0
    actions: list = []
    lad.handle(QuoteArrived(q, now))
    for n in range(1, lad.params.max_repegs + 2):
        now = now + timedelta(seconds=3)
        lad.handle(QuoteConfirmed(q, now))
        assert of(lad.handle(TimerFired(now)), CancelOrder) == [CancelOrder(f"t-{n}")]
        actions = lad.handle(update(f"t-{n}", OrderStatus.CANCELED, "0", now))
    return actions, now


def test_every_repeg_failing_falls_back_to_a_marketable_limit_at_the_budget_for_the_rest() -> None:
    # The fallback crosses like a market order but cannot walk the book past the budget.
    t0 = et("2026-11-24T10:00:00")
    lad = make()  # TQQQ: 20 bps, bound 50.005 x 1.002 = 50.105 -> 50.10
    q = quote("50.00", "50.01", t0)
    submit_of(started(lad, q, t0))
    actions, now = _exhaust_repegs(lad, t0, q)
    sub = submit_of(actions)
    assert sub.kind is AttemptKind.FALLBACK_MARKET
    assert sub.request.order_type is OrderType.LIMIT and sub.request.limit_price == D("50.10")
    assert sub.request.qty == D(100)
    done = lad.handle(update(sub.request.client_order_id, OrderStatus.FILLED, "100", now, "50.01"))
    report = of(done, Finished)[0].report
    assert report.fallback_used and not report.fallback_blocked
    assert report.repegs_used == 2
    assert [a.kind for a in report.attempts] == [
        AttemptKind.AGGRESSIVE,
        AttemptKind.REPEG,
        AttemptKind.REPEG,
        AttemptKind.FALLBACK_MARKET,
    ]


def test_fallback_blocked_by_budget_uses_a_limit_at_the_bound_then_reports_the_rest() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()  # TQQQ: leveraged ETF, 20 bps budget
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    # The market runs away: the ask is now 1% above the arrival mid.
    away = quote("50.49", "50.51", t0)
    lad.handle(update("t-1", OrderStatus.PARTIALLY_FILLED, "10", t0, "50.01", "10"))
    actions, now = _exhaust_repegs(lad, t0, away)
    sub = submit_of(actions)
    assert sub.kind is AttemptKind.FALLBACK_LIMIT
    bound = D("50.005") * (1 + D(20) / 10000)
    assert sub.request.limit_price == bound.quantize(D("0.01"), rounding="ROUND_FLOOR")
    assert sub.request.qty == D(90)
    later = now + timedelta(seconds=10)
    assert of(lad.handle(TimerFired(later)), CancelOrder)
    done = lad.handle(update(sub.request.client_order_id, OrderStatus.CANCELED, "0", later))
    report = of(done, Finished)[0].report
    assert report.fallback_blocked
    assert report.filled_qty == D(10) and report.unfilled_qty == D(90)
    assert "budget" in (report.unfilled_reason or "")
    assert all(a.order_type is OrderType.LIMIT for a in report.attempts)


def test_repeg_chases_the_fresh_quote_but_never_past_the_budget() -> None:
    # Steps 2-3 follow the far touch, but the budget binds them as it binds step 4:
    # ask 50.32 + 1 tick is beyond the bound 50.10 (20 bps over the arrival mid 50.005).
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    lad.handle(QuoteArrived(quote("50.03", "50.05", t0), t0))
    lad.handle(TimerFired(t0 + timedelta(seconds=3)))
    sub = submit_of(lad.handle(update("t-1", OrderStatus.CANCELED, "0", t0 + timedelta(seconds=3))))
    assert sub.request.limit_price == D("50.06")  # within budget: the fresh far touch + 1
    t5 = t0 + timedelta(seconds=5)
    lad.handle(QuoteArrived(quote("50.30", "50.32", t5), t5))
    lad.handle(TimerFired(t0 + timedelta(seconds=6)))
    sub = submit_of(lad.handle(update("t-2", OrderStatus.CANCELED, "0", t0 + timedelta(seconds=6))))
    assert sub.kind is AttemptKind.REPEG and sub.request.limit_price == D("50.10")


def test_stop_protection_reports_unfilled_without_another_order() -> None:
    t0 = et("2026-11-24T10:00:00")
    cfg = BetterOrdersConfig(ladder={"protection": "stop", "max_repegs": 0})
    lad = make(config=cfg)
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    lad.handle(QuoteArrived(quote("51.00", "51.02", t0), t0))
    lad.handle(TimerFired(t0 + timedelta(seconds=3)))
    done = lad.handle(update("t-1", OrderStatus.CANCELED, "0", t0 + timedelta(seconds=3)))
    assert of(done, SubmitOrder) == []
    report = of(done, Finished)[0].report
    assert report.unfilled_qty == D(100) and report.fallback_blocked
    assert "beyond the 20 bps budget" in (report.unfilled_reason or "")


# -- step 1: timing -----------------------------------------------------------------------


def test_wide_spread_at_open_waits_then_executes_when_it_normalises() -> None:
    t0 = et("2026-11-24T09:30:30")
    lad = make(
        config=BetterOrdersConfig.model_validate({"timing": {"rest_fraction": 0}})
    )  # an idle wait (no resting slice)
    actions = started(lad, quote("50.00", "50.20", t0), t0)  # 20c: wide
    assert of(actions, SubmitOrder) == []
    assert lad.state is LadderState.SPREAD_WAIT
    assert of(actions, SetTimer)[0].at == et("2026-11-24T09:32:00")  # 90 s, bounded
    t1 = t0 + timedelta(seconds=15)
    sub = submit_of(lad.handle(QuoteArrived(quote("50.08", "50.10", t1), t1)))
    assert sub.request.limit_price == D("50.11")
    lad.handle(update("t-1", OrderStatus.FILLED, "100", t1, "50.10"))
    report = lad.report
    assert report is not None
    assert report.waited_seconds == pytest.approx(15.0)
    assert report.arrival_mid == D("50.10")  # the decision-time mid, before the wait
    assert report.strategy == "wait_for_spreads"
    assert report.phase == "opening"
    assert report.spread_class == "wide"


def test_wide_spread_that_never_normalises_executes_at_the_wait_limit() -> None:
    t0 = et("2026-11-24T09:30:30")
    lad = make()
    started(lad, quote("50.00", "50.12", t0), t0)
    deadline = et("2026-11-24T09:32:00")
    last = deadline - timedelta(seconds=1)
    assert of(lad.handle(QuoteArrived(quote("50.00", "50.13", last), last)), SubmitOrder) == []
    sub = submit_of(lad.handle(TimerFired(deadline)))
    assert sub.request.limit_price == D("50.14")
    assert any("wait limit reached" in n for n in lad.notes)


def test_after_0935_a_wide_spread_does_not_wait() -> None:
    t0 = et("2026-11-24T09:36:00")
    lad = make()
    sub = submit_of(started(lad, quote("50.00", "50.12", t0), t0))
    assert sub.request.limit_price == D("50.13")


def test_before_the_open_waits_for_the_open_then_trades() -> None:
    t0 = et("2026-11-24T09:00:00")
    lad = make()
    actions = started(lad, quote("50.00", "50.02", t0), t0)
    assert actions == [SetTimer(et("2026-11-24T09:30:00"))]
    assert lad.state is LadderState.WAITING_OPEN
    t1 = et("2026-11-24T09:30:00")
    lad.handle(QuoteArrived(quote("50.00", "50.02", t1), t1))
    sub = submit_of(lad.handle(TimerFired(t1)))
    assert sub.request.limit_price == D("50.03")


def test_before_the_open_can_be_refused_by_configuration() -> None:
    t0 = et("2026-11-24T09:00:00")
    lad = make(config=BetterOrdersConfig(timing={"pre_open": "refuse"}))
    report = of(started(lad, quote("50.00", "50.02", t0), t0), Finished)[0].report
    assert report.filled_qty == 0 and report.attempts == []
    assert "refuse" in (report.error or "")


@pytest.mark.parametrize(
    ("when", "fragment"),
    [("2026-11-26T10:00:00", "market closed"), ("2026-11-27T13:30:00", "market closed")],
)
def test_market_closed_is_a_clear_refusal(when: str, fragment: str) -> None:
    t0 = et(when)
    lad = make()
    report = of(started(lad, quote("50.00", "50.02", t0), t0), Finished)[0].report
    assert report.attempts == []
    assert fragment in (report.error or "")
    assert "next open" in (report.error or "")


# -- bad quotes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bid", "ask", "fragment"), [("51.02", "51.00", "crossed"), ("0", "51.00", "TQQQ")]
)
def test_bad_quote_sends_no_order_and_explains(bid: str, ask: str, fragment: str) -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    actions = started(lad, quote(bid, ask, t0), t0)
    assert of(actions, SubmitOrder) == []
    deadline = of(actions, SetTimer)[0].at
    report = of(lad.handle(TimerFired(deadline)), Finished)[0].report
    assert report.attempts == [] and report.filled_qty == 0
    assert fragment in (report.error or "")
    assert bid in (report.error or "")


def test_bad_quote_then_good_quote_trades() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    started(lad, quote("51.02", "51.00", t0), t0)
    t1 = t0 + timedelta(seconds=1)
    sub = submit_of(lad.handle(QuoteArrived(quote("51.00", "51.01", t1), t1)))
    assert sub.request.limit_price == D("51.02")


# -- standard execution, rejects, protocol ---------------------------------------------------


def test_unrouted_symbol_gets_standard_execution() -> None:
    t0 = et("2026-11-24T09:30:30")
    lad = make(symbol="AAPL")  # AUTO mode: not a configured symbol
    sub = submit_of(started(lad, quote("230.00", "230.40", t0, symbol="AAPL"), t0))
    assert sub.kind is AttemptKind.STANDARD  # no spread wait, even at 09:30:30
    assert of(lad.handle(TimerFired(t0 + timedelta(seconds=2.5))), CancelOrder) == []
    cancel = lad.handle(TimerFired(t0 + timedelta(seconds=3.0)))
    assert of(cancel, CancelOrder)
    nxt = lad.handle(update("t-1", OrderStatus.CANCELED, "0", t0 + timedelta(seconds=3)))
    # no re-pegs for standard execution: straight to the fallback rules
    assert submit_of(nxt).kind in (AttemptKind.FALLBACK_MARKET, AttemptKind.FALLBACK_LIMIT)


def test_submit_refused_finishes_with_the_brokers_reason() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    done = lad.handle(
        SubmitFailed("t-1", t0, "insufficient buying power", "insufficient_buying_power")
    )
    report = of(done, Finished)[0].report
    assert report.filled_qty == 0
    assert "insufficient buying power" in (report.error or "")


def test_rejected_update_finishes_with_reason() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    submit_of(started(lad, quote("50.00", "50.01", t0), t0))
    rej = OrderUpdate("t-1", OrderStatus.REJECTED, D(0), t0, reason="potential wash trade")
    report = of(lad.handle(rej), Finished)[0].report
    assert "potential wash trade" in (report.unfilled_reason or "")


def test_events_before_start_are_refused() -> None:
    lad = make()
    with pytest.raises(LadderProtocolError, match="before Start"):
        lad.handle(TimerFired(et("2026-11-24T10:00:00")))


def test_update_for_unknown_order_is_an_error() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make()
    started(lad, quote("50.00", "50.01", t0), t0)
    with pytest.raises(LadderProtocolError, match="unknown order"):
        lad.handle(update("zzz", OrderStatus.FILLED, "1", t0))


# -- property: whatever the venue does, the ladder never asks for more than remains ----------------


@settings(max_examples=150, deadline=None)
@given(
    qty=st.integers(min_value=1, max_value=500),
    script=st.lists(
        st.tuples(st.sampled_from(["fill", "timeout", "cancelled", "tick"]), st.integers(0, 200)),
        min_size=1,
        max_size=30,
    ),
)
def test_child_orders_never_exceed_the_remaining_quantity(qty: int, script: list) -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make(qty=str(qty))
    actions = started(lad, quote("50.00", "50.01", t0), t0)
    now = t0
    live: dict[str, D] = {}
    cum: dict[str, D] = {}
    sent_total = D(0)
    for step, amount in script:
        for a in actions:
            if isinstance(a, SubmitOrder):
                # every new child is for exactly what is left, never more
                assert a.request.qty == lad.parent.qty - lad.filled_qty
                assert not live, "a second child while one is live"
                live[a.request.client_order_id] = a.request.qty
                cum[a.request.client_order_id] = D(0)
                sent_total += a.request.qty
        if lad.done:
            break
        now = now + timedelta(seconds=1)
        actions = []
        coid = next(iter(live), None)
        if step == "fill" and coid is not None:
            left = live[coid] - cum[coid]
            take = min(left, D(amount % 50 + 1))
            cum[coid] += take
            status = OrderStatus.FILLED if cum[coid] == live[coid] else OrderStatus.PARTIALLY_FILLED
            actions = lad.handle(
                update(coid, status, str(cum[coid]), now, "50.01", str(take), n=int(cum[coid]))
            )
            if status is OrderStatus.FILLED:
                live.pop(coid)
        elif step == "cancelled" and coid is not None and lad.state is LadderState.CANCEL_THEN_NEXT:
            actions = lad.handle(update(coid, OrderStatus.CANCELED, str(cum[coid]), now))
            live.pop(coid)
        elif step == "timeout":
            actions = lad.handle(TimerFired(now + timedelta(seconds=30)))
        else:
            actions = lad.handle(QuoteArrived(quote("50.00", "50.01", now), now))
        assert lad.filled_qty <= lad.parent.qty
    assert lad.filled_qty <= D(qty)
    if lad.report is not None:
        r = lad.report
        assert r.filled_qty + r.unfilled_qty == r.requested_qty


# -- entry modes (used by policies in replay evaluation) ---------------------------------------


def test_passive_entry_walks_from_the_mid_to_the_far_touch_then_market() -> None:
    t0 = et("2026-11-24T10:00:00")
    lad = make(config=BetterOrdersConfig(ladder={"entry": "passive"}))
    q = quote("50.00", "50.10", t0)
    first = submit_of(started(lad, q, t0))
    assert first.kind is AttemptKind.PASSIVE
    assert first.request.limit_price == D("50.05")  # the mid
    limits = [first.request.limit_price]
    now = t0
    for n in (1, 2, 3):
        now += timedelta(seconds=3)
        lad.handle(QuoteArrived(quote("50.00", "50.10", now), now))
        lad.handle(TimerFired(now))
        nxt = submit_of(lad.handle(update(f"t-{n}", OrderStatus.CANCELED, "0", now)))
        limits.append(nxt.request.limit_price)
    # mid, halfway to ask + 1 tick (rounded down), ask + 1 tick, then the fallback: a
    # marketable limit at the budget's bound (50.05 x 1.002 = 50.1501 -> 50.15)
    assert limits == [D("50.05"), D("50.08"), D("50.11"), D("50.15")]


def test_market_entry_sends_a_market_order_at_decision_even_when_wide() -> None:
    t0 = et("2026-11-24T09:30:30")
    lad = make(config=BetterOrdersConfig(ladder={"entry": "market"}))
    sub = submit_of(started(lad, quote("50.00", "50.12", t0), t0))
    assert sub.kind is AttemptKind.MARKET
    assert sub.request.order_type is OrderType.MARKET
    done = lad.handle(update("t-1", OrderStatus.FILLED, "100", t0, "50.12"))
    assert of(done, Finished)[0].report.waited_seconds == 0.0
