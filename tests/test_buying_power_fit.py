"""A rebalance's buy the broker refuses for buying power buys what the buying power allows;
an order the user sized is never cut."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

from better_orders.core.errors import BUYING_POWER
from better_orders.core.model import ExecutionReport, OrderStatus, Side
from better_orders.engine.execution import OrderSpec, execute
from better_orders.engine.rebalance import rebalance
from better_orders.store.journal import Journal
from better_orders.venues.sim.account import PaperAccount
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.faults import FaultPlan
from better_orders.venues.sim.venue import SimVenue
from ladder_kit import crossing_config

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=ET)


def _buy_spy(tmp_path: Path, *, fit: bool) -> tuple[ExecutionReport, Journal]:
    db = tmp_path / "j.sqlite3"

    async def main() -> ExecutionReport:
        venue = SimVenue.create(start=T0, seed=3, db_path=db, starting_cash=D(10_000))
        with Journal.open(db) as journal:
            journal.start_run("r1", "order", {}, "sim")
            try:
                (report,) = await execute(
                    [OrderSpec("SPY", Side.BUY, D(100), fit_buying_power=fit)],
                    broker=venue.broker,
                    feed=venue.feed,
                    clock=venue.clock,
                    journal=journal,
                    config=crossing_config(),
                    run_id="r1",
                )
            finally:
                await asyncio.sleep(1)
                await venue.close()
        return report

    return run_virtual(main(), start=T0), Journal.open(db)


def test_a_buy_that_may_fit_buys_what_the_buying_power_allows(tmp_path: Path) -> None:
    report, journal = _buy_spy(tmp_path, fit=True)
    with journal:
        orders = journal.orders(run_id="r1")
    refused, *rest = orders
    assert refused.status == OrderStatus.REJECTED and BUYING_POWER in (refused.reason or "")
    assert refused.qty == 100 and refused.limit_price is not None
    # The next child asks for the whole shares $10,000 pays at the refused child's limit.
    affordable = (D(10_000) / refused.limit_price).to_integral_value(rounding="ROUND_FLOOR")
    assert rest and rest[0].qty == affordable
    assert 0 < report.filled_qty <= affordable and report.error is None
    assert report.unfilled_qty == 100 - report.filled_qty
    reason = report.unfilled_reason or ""
    assert reason.startswith(f"the buying power allowed {affordable} of 100")
    account = PaperAccount.load(tmp_path / "j.sqlite3")
    assert account.positions["SPY"].qty == report.filled_qty
    assert D(0) <= account.cash < (report.avg_fill_price or D(0))  # not one more share


def test_an_order_the_user_sized_is_never_cut(tmp_path: Path) -> None:
    report, journal = _buy_spy(tmp_path, fit=False)
    with journal:
        orders = journal.orders(run_id="r1")
    assert [o.status for o in orders] == [OrderStatus.REJECTED]  # one child, refused
    assert report.filled_qty == 0
    assert "insufficient buying power" in (report.error or "")


def test_a_rebalance_buy_refused_for_buying_power_it_has_goes_on(tmp_path: Path) -> None:
    # The broker refuses the first buy for buying power the account does have (funds it
    # had not released yet): the leg asks the account, and the buy goes on in full.
    db = tmp_path / "j.sqlite3"
    faults = FaultPlan().fail_submit(BUYING_POWER, "*-rb-1-1")

    async def main() -> object:
        venue = SimVenue.create(start=T0, seed=3, db_path=db, faults=faults)
        with Journal.open(db) as journal:
            journal.start_run("rb", "rebalance", {}, "sim")
            try:
                return await rebalance(
                    {"SPY": D("0.5")},
                    broker=venue.broker,
                    feed=venue.feed,
                    clock=venue.clock,
                    journal=journal,
                    config=crossing_config(),
                    run_id="rb",
                )
            finally:
                await venue.close()

    report = run_virtual(main(), start=T0)
    assert report.complete, report.undone  # type: ignore[attr-defined]
    (buy,) = report.executions  # type: ignore[attr-defined]
    assert buy.filled_qty == buy.requested_qty > 0
    assert buy.attempts[0].status is OrderStatus.REJECTED
    assert any("going on for what the buying power allows" in n for n in buy.notes)
