"""The asyncio runner driving ladders against the simulated venue, on virtual time."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import RunFailedError
from better_orders.core.ladder import LadderParams, ParentOrder
from better_orders.core.market_calendar import default_calendar
from better_orders.core.model import AttemptKind, ExecutionReport, OrderType, Quote, Side
from better_orders.core.patience import NO_PATIENCE
from better_orders.engine.legs import Leg
from better_orders.engine.runner import Runner
from better_orders.store.journal import Journal
from better_orders.venues.assets import AssetMaster, builtin_assets, plain_asset
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.faults import FaultPlan
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.venue import SimVenue

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=ET)


def script(rows: list[tuple[float, str, str, int]], symbol: str = "TQQQ") -> ReplayQuotes:
    """Quotes at T0 + seconds: (seconds, bid, ask, size), and nothing after the last."""
    return ReplayQuotes.from_quotes(
        [Quote(symbol, D(b), D(a), D(n), D(n), T0 + timedelta(seconds=s)) for s, b, a, n in rows]
    )


def crossing(params: LadderParams) -> LadderParams:
    return dataclasses.replace(params, patience=NO_PATIENCE)


def run(
    legs: list[tuple[str, Side, str]],
    tmp_path: Path,
    *,
    replay: dict[str, ReplayQuotes] | None = None,
    faults: FaultPlan | None = None,
    config: BetterOrdersConfig | None = None,
    start: datetime = T0,
    inspect: Callable[[SimVenue, Journal, Runner], Any] | None = None,
    assets: AssetMaster | None = None,
) -> tuple[list[ExecutionReport], Any]:
    cfg = config or BetterOrdersConfig()
    db = tmp_path / "j.sqlite3"

    async def main() -> tuple[list[ExecutionReport], Any]:
        venue = SimVenue.create(
            start=start, seed=7, db_path=db, replay=replay, faults=faults, assets=assets
        )
        with Journal.open(db) as journal:
            journal.start_run("r1", "order", {}, "sim")
            runner = Runner(
                venue.broker,
                venue.feed,
                venue.clock,
                default_calendar(),
                run_id="r1",
                journal=journal,
            )
            # Marketable orders from the first quote (no patient rest): what these tests drive.
            legs_ = [
                Leg(i, ParentOrder(s, side, D(q)), crossing(ladder_params(cfg, s)))
                for i, (s, side, q) in enumerate(legs, start=1)
            ]
            for leg in legs_:
                journal.record_intent(
                    "r1", leg.leg, leg.parent.symbol, leg.parent.side, leg.parent.qty
                )
            reports = await runner.run(legs_)
            extra = inspect(venue, journal, runner) if inspect else None
            if hasattr(extra, "__await__"):
                extra = await extra
            await venue.close()
            return reports, extra

    return run_virtual(main(), start=start)


def test_marketable_buy_fills_at_the_touch_and_is_journalled(tmp_path: Path) -> None:
    replay = {"TQQQ": script([(0, "50.00", "50.01", 1000)])}

    async def check(venue: SimVenue, journal: Journal, runner: Runner) -> Any:
        return await venue.broker.list_open_orders(), journal.fills(run_id="r1")

    (report,), (open_orders, fills) = run(
        [("TQQQ", Side.BUY, "100")], tmp_path, replay=replay, inspect=check
    )
    assert report.filled_qty == D(100)
    assert report.avg_fill_price == D("50.01")
    assert report.attempts[0].limit_price == D("50.02")
    assert open_orders == []
    assert [(f.qty, f.price) for f in fills] == [(D(100), D("50.01"))]


def test_partial_fill_against_displayed_size_then_repeg_of_the_remainder(tmp_path: Path) -> None:
    # Only 60 shares offered; the ask then moves up and refills.
    replay = {"TQQQ": script([(0, "50.00", "50.01", 60), (1, "50.02", "50.04", 500)])}
    (report,), _ = run([("TQQQ", Side.BUY, "100")], tmp_path, replay=replay)
    assert report.filled_qty == D(100)
    assert [a.filled_qty for a in report.attempts] == [D(60), D(40)]
    assert report.attempts[1].kind is AttemptKind.REPEG
    assert report.attempts[1].qty == D(40)  # only what remained
    assert report.attempts[1].limit_price == D("50.05")
    assert report.avg_fill_price == (D(60) * D("50.01") + D(40) * D("50.04")) / D(100)
    assert report.repegs_used == 1


def test_fill_during_cancel_is_counted_and_never_overfills(tmp_path: Path) -> None:
    # 30 shares fill; the rest would rest, and fills while the cancel is in flight.
    replay = {"TQQQ": script([(0, "50.00", "50.01", 30), (0.5, "50.05", "50.08", 30)])}
    faults = FaultPlan().fill_during_cancel("*-1-1")
    (report,), _ = run([("TQQQ", Side.BUY, "100")], tmp_path, replay=replay, faults=faults)
    assert report.filled_qty == D(100)
    assert len(report.attempts) == 1
    assert sum(f.qty for f in report.fills) == D(100)


def test_dropped_fill_update_is_recovered_by_asking_the_broker(tmp_path: Path) -> None:
    replay = {"TQQQ": script([(0, "50.00", "50.01", 30), (1, "50.10", "50.20", 30)])}
    # The fill of the resting remainder never reaches us; the cancel then fails.
    faults = FaultPlan().drop_updates("*-1-1", statuses=["filled"]).fill_during_cancel("*-1-1")
    (report,), _ = run([("TQQQ", Side.BUY, "100")], tmp_path, replay=replay, faults=faults)
    assert report.filled_qty == D(100)
    assert len(report.attempts) == 1


def test_lost_submit_response_is_resolved_by_client_order_id_not_resent(tmp_path: Path) -> None:
    replay = {"TQQQ": script([(0, "50.00", "50.01", 1000)])}
    faults = FaultPlan().lose_submit_response("*-1-1")

    async def check(venue: SimVenue, journal: Journal, runner: Runner) -> Any:
        return journal.orders(run_id="r1")

    (report,), orders = run(
        [("TQQQ", Side.BUY, "100")], tmp_path, replay=replay, faults=faults, inspect=check
    )
    assert report.filled_qty == D(100)
    assert [o.client_order_id for o in orders] == ["bo-r1-1-1"]


def test_rate_limited_submit_is_retried_and_completes(tmp_path: Path) -> None:
    replay = {"TQQQ": script([(0, "50.00", "50.01", 1000)])}
    faults = FaultPlan().fail_submit("rate_limited", "*-1-1", count=2)
    (report,), _ = run([("TQQQ", Side.BUY, "100")], tmp_path, replay=replay, faults=faults)
    assert report.filled_qty == D(100)
    assert report.client_order_ids == ["bo-r1-1-1"]


def test_rejected_order_is_reported_and_others_complete(tmp_path: Path) -> None:
    replay = {
        "TQQQ": script([(0, "50.00", "50.01", 1000)]),
        "SPY": script([(0, "600.00", "600.01", 1000)], symbol="SPY"),
    }
    faults = FaultPlan().reject_submit("*-1-*", reason="potential wash trade detected", count=None)
    reports, _ = run(
        [("TQQQ", Side.BUY, "10"), ("SPY", Side.BUY, "5")], tmp_path, replay=replay, faults=faults
    )
    tqqq, spy = reports
    assert tqqq.filled_qty == 0 and "wash trade" in (tqqq.error or "")
    assert spy.filled_qty == D(5)


def _runaway() -> dict[str, ReplayQuotes]:
    """One share offered, and the offer runs 5 cents a second away from every resting limit."""
    rows = [(k, f"{50 + 0.05 * k:.2f}", f"{50.01 + 0.05 * k:.2f}", 1) for k in range(12)]
    return {"TQQQ": script(rows)}


def test_repegs_exhausted_then_market_fallback_walks_the_book(tmp_path: Path) -> None:
    cfg = BetterOrdersConfig(max_slippage_bps=500, leveraged_etf_bps=500)
    (report,), _ = run([("TQQQ", Side.BUY, "5")], tmp_path, replay=_runaway(), config=cfg)
    kinds = [a.kind for a in report.attempts]
    assert kinds == [
        AttemptKind.AGGRESSIVE,
        AttemptKind.REPEG,
        AttemptKind.REPEG,
        AttemptKind.FALLBACK_MARKET,
    ]
    assert [a.qty for a in report.attempts] == [D(5), D(4), D(3), D(2)]
    assert report.filled_qty == D(5) and report.fallback_used
    # The fallback crosses as a marketable limit at the budget's bound (50.005 + 500 bps).
    market = report.attempts[-1]
    assert market.order_type is OrderType.LIMIT and market.limit_price == D("52.50")
    assert market.filled_qty == D(2)


def test_fallback_blocked_by_budget_reports_the_remainder(tmp_path: Path) -> None:
    (report,), _ = run([("TQQQ", Side.BUY, "5")], tmp_path, replay=_runaway())
    assert report.attempts[-1].kind is AttemptKind.FALLBACK_LIMIT
    assert report.attempts[-1].limit_price == D("50.10")  # 20 bps above the 50.005 arrival mid
    assert report.fallback_blocked
    # Capped at the bound, the re-pegs no longer chase the runaway offer: only the first
    # attempt's share fills, and the report says how far the market ran.
    assert all(a.limit_price is not None and a.limit_price <= D("50.10") for a in report.attempts)
    assert report.filled_qty == D(1) and report.unfilled_qty == D(4)
    assert "budget" in (report.unfilled_reason or "")
    assert report.budget_ran_bps is not None and report.budget_ran_bps > 20


def test_wait_for_spread_costs_no_wall_time(tmp_path: Path) -> None:
    start = datetime(2026, 11, 24, 9, 30, 0, tzinfo=ET)
    rows = [
        Quote("TQQQ", D("50.00"), D("50.12"), D(500), D(500), start),
        Quote("TQQQ", D("50.05"), D("50.06"), D(500), D(500), start + timedelta(seconds=75)),
    ]
    replay = {"TQQQ": ReplayQuotes.from_quotes(rows)}
    began = time.perf_counter()
    (report,), _ = run([("TQQQ", Side.BUY, "100")], tmp_path, replay=replay, start=start)
    wall = time.perf_counter() - began
    assert report.waited_seconds == pytest.approx(75.0)
    assert report.avg_fill_price == D("50.06")
    assert report.arrival_mid == D("50.06")
    assert wall < 30  # generous: a virtual 75 s wait must not be real


def test_many_ladders_run_concurrently(tmp_path: Path) -> None:
    symbols = [f"S{i:02d}" for i in range(20)]
    cfg = BetterOrdersConfig(mode="always")
    listed = builtin_assets().with_assets(plain_asset(s) for s in symbols)
    reports, _ = run([(s, Side.BUY, "10") for s in symbols], tmp_path, config=cfg, assets=listed)
    assert all(r.filled_qty == D(10) for r in reports)
    finish = max(r.finished for r in reports) - T0
    slowest = max(r.finished - r.started for r in reports)
    assert finish <= slowest * 1.5


# -- regressions found by the fault campaign ------------------------------------------------


def test_a_fill_whose_update_was_dropped_is_journalled_once(tmp_path: Path) -> None:
    # 30 shares fill at once, the rest on the next quote; both fill events are lost and
    # the ladder learns the total only from the order's cumulative quantity.
    replay = {"TQQQ": script([(0, "50.00", "50.01", 30), (0.5, "50.00", "50.01", 500)])}
    faults = FaultPlan().drop_updates(statuses=["partially_filled", "filled"], count=None)

    async def check(venue: SimVenue, journal: Journal, runner: Runner) -> Any:
        return list(venue.exchange.fills), journal.fills(run_id="r1")

    (report,), (at_venue, journalled) = run(
        [("TQQQ", Side.BUY, "100")], tmp_path, replay=replay, faults=faults, inspect=check
    )
    assert report.filled_qty == D(100)
    assert len(at_venue) == 2
    assert sorted(f.exec_id for f in journalled) == sorted(f.exec_id for f in at_venue)
    assert sum(f.qty for f in journalled) == D(100)
    assert sum(f.qty for f in report.fills) == D(100)  # the report has them too


def _wide_then_tight(symbol: str, bid: str, start: datetime) -> ReplayQuotes:
    """A 30-cent spread for 20 s after ``start``, then one cent."""
    b = D(bid)
    rows = [
        Quote(symbol, b, b + D("0.30"), D(500), D(500), start + timedelta(seconds=k / 2))
        for k in range(40)
    ]
    rows += [
        Quote(symbol, b, b + D("0.01"), D(500), D(500), start + timedelta(seconds=20 + k))
        for k in range(60)
    ]
    return ReplayQuotes.from_quotes(rows)


def test_a_ladder_admitted_late_at_the_open_ignores_quotes_queued_before_it(
    tmp_path: Path,
) -> None:
    # At 6 requests a minute the second and third ladders start 10 and 20 s late, with
    # quotes queued for them meanwhile; a stale one once made the wait start after the
    # decision time ("wait start ... is after the decision time").
    start = datetime(2026, 11, 24, 9, 30, 0, tzinfo=ET)
    replay = {
        "TQQQ": _wide_then_tight("TQQQ", "50.00", start),
        "SOXL": _wide_then_tight("SOXL", "30.00", start),
        "SPY": _wide_then_tight("SPY", "600.00", start),
    }
    cfg = BetterOrdersConfig(requests_per_minute=6)
    db = tmp_path / "j.sqlite3"

    async def main() -> list[ExecutionReport]:
        venue = SimVenue.create(start=start, seed=7, db_path=db, replay=replay)
        with Journal.open(db) as journal:
            journal.start_run("r1", "order", {}, "sim")
            runner = Runner(
                venue.broker,
                venue.feed,
                venue.clock,
                default_calendar(),
                run_id="r1",
                journal=journal,
                requests_per_minute=6,
            )
            legs = [
                Leg(i, ParentOrder(s, Side.BUY, D(5)), ladder_params(cfg, s))
                for i, s in enumerate(("TQQQ", "SOXL", "SPY"), start=1)
            ]
            reports = await runner.run(legs)
            await venue.close()
            return reports

    reports = run_virtual(main(), start=start)
    assert [r.error for r in reports] == [None, None, None]
    assert [r.filled_qty for r in reports] == [D(5), D(5), D(5)]
    assert reports[1].started == start + timedelta(seconds=10)
    # the late ladders waited from their own start, not from before it
    assert reports[1].waited_seconds == pytest.approx(10.0)


def test_events_reach_the_ladder_in_time_order() -> None:
    from better_orders.core.ladder import QuoteArrived, TimerFired
    from better_orders.core.model import OrderStatus, OrderUpdate
    from better_orders.engine.event_order import EventOrder

    order = EventOrder(seen_at=T0 + timedelta(seconds=5), quote_ts=T0 + timedelta(seconds=4))
    old_quote = Quote("TQQQ", D("50.00"), D("50.01"), D(1), D(1), T0)
    assert order.admit(QuoteArrived(old_quote, T0)) is None  # older than the last
    late = OrderUpdate("bo-r1-1-1", OrderStatus.CANCELED, D(0), T0 + timedelta(seconds=1))
    moved = order.admit(late)
    assert isinstance(moved, OrderUpdate) and moved.ts == T0 + timedelta(seconds=5)
    later = TimerFired(T0 + timedelta(seconds=9))
    assert order.admit(later) == later and order.seen_at == later.now


def test_a_resumed_leg_continues_the_attempt_numbers(tmp_path: Path) -> None:
    replay = {"TQQQ": script([(0, "50.00", "50.01", 60), (1, "50.02", "50.04", 500)])}
    db = tmp_path / "j.sqlite3"
    cfg = BetterOrdersConfig()

    async def main() -> tuple[ExecutionReport, list[str]]:
        venue = SimVenue.create(start=T0, seed=7, db_path=db, replay=replay)
        with Journal.open(db) as journal:
            journal.start_run("r1", "order", {}, "sim")
            journal.record_intent("r1", 1, "TQQQ", Side.BUY, D(100))
            runner = Runner(
                venue.broker, venue.feed, venue.clock, default_calendar(), run_id="r1",
                journal=journal,
            )  # fmt: skip
            leg = Leg(
                1,
                ParentOrder("TQQQ", Side.BUY, D(100)),
                ladder_params(cfg, "TQQQ"),
                first_attempt=4,
            )
            (report,) = await runner.run([leg])
            await venue.close()
            return report, [(o.client_order_id, o.attempt) for o in journal.orders()]

    report, recorded = run_virtual(main(), start=T0)
    assert report.client_order_ids == ["bo-r1-1-4", "bo-r1-1-5"]
    assert recorded == [("bo-r1-1-4", 4), ("bo-r1-1-5", 5)]


def test_a_failing_ladder_stops_the_others_and_unsubscribes(tmp_path: Path) -> None:
    # Leg 1's order rests (one share offered a second); leg 2's observer blows up. No
    # ladder may go on working unwatched once the run has failed, and the run's update
    # stream must be closed (an open one keeps queueing every later update).
    replay = {
        "TQQQ": script([(0, "50.00", "50.01", 1)]),
        "SPY": script([(0, "600.00", "600.01", 1000)], symbol="SPY"),
    }
    db = tmp_path / "j.sqlite3"
    cfg = BetterOrdersConfig()

    def observer(ev: Any) -> None:
        if ev.leg == 2 and type(ev.item).__name__ == "SubmitOrder":
            raise RuntimeError("observer failed")

    async def main() -> tuple[list[str], int, list[Any]]:
        venue = SimVenue.create(start=T0, seed=7, db_path=db, replay=replay)
        with Journal.open(db) as journal:
            journal.start_run("r1", "order", {}, "sim")
            runner = Runner(
                venue.broker, venue.feed, venue.clock, default_calendar(), run_id="r1",
                journal=journal, observer=observer,
            )  # fmt: skip
            legs = [
                Leg(1, ParentOrder("TQQQ", Side.BUY, D(50)), ladder_params(cfg, "TQQQ")),
                Leg(2, ParentOrder("SPY", Side.BUY, D(5)), ladder_params(cfg, "SPY")),
            ]
            with pytest.raises(RunFailedError, match="observer failed") as failed:
                await runner.run(legs)
            assert isinstance(failed.value.__cause__, RuntimeError)
            working = [
                t.get_name()
                for t in asyncio.all_tasks()
                if t.get_name().startswith("ladder-") and not t.done()
            ]
            subscribers = len(venue.broker._hub.update_queues)
            still_open = await venue.broker.list_open_orders()
            await venue.close()
            return working, subscribers, still_open

    working, subscribers, still_open = run_virtual(main(), start=T0)
    assert working == []
    assert subscribers == 0
    assert still_open == []
