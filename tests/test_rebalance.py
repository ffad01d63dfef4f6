"""Rebalancing on the simulator: planning, ordering, buying power, concurrency, failures."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from better_orders import rebalance_portfolio
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Fill, Side
from better_orders.engine.rebalance import RebalanceReport, rebalance
from better_orders.store.journal import Journal
from better_orders.store.records import MarkKind
from better_orders.venues.assets import builtin_assets, plain_asset
from better_orders.venues.sim.account import PaperAccount
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.faults import FaultPlan
from better_orders.venues.sim.venue import SimVenue

ET = ZoneInfo("America/New_York")
DAY1 = datetime(2026, 11, 24, 9, 45, tzinfo=ET)
DAY2 = datetime(2026, 11, 25, 9, 45, tzinfo=ET)


def weights(report: RebalanceReport) -> dict[str, D]:
    return {r.symbol: r.final_weight for r in report.results}


def test_from_cash_to_targets_then_switch_sells_first(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    first = rebalance_portfolio({"TQQQ": 0.6, "SPY": 0.4}, at=DAY1, db=db)
    assert first.complete, first.undone
    w = weights(first)
    assert abs(w["TQQQ"] - D("0.6")) <= D("0.01")
    assert abs(w["SPY"] - D("0.4")) <= D("0.01")
    assert first.final_cash is not None and first.final_cash >= 0

    second = rebalance_portfolio({"SOXL": 0.5, "SPY": 0.5}, at=DAY2, db=db)
    assert second.complete, second.undone
    sells = [e for e in second.executions if e.side is Side.SELL]
    buys = [e for e in second.executions if e.side is Side.BUY]
    assert [e.symbol for e in sells] == ["TQQQ"]
    assert sells[0].filled_qty == sells[0].requested_qty  # sold in full
    assert {e.symbol for e in buys} >= {"SOXL"}
    # the buys waited for the sells that fund them
    assert min(b.started for b in buys) >= max(s.finished for s in sells)
    w = weights(second)
    assert w.get("TQQQ", D(0)) == 0
    assert abs(w["SOXL"] - D("0.5")) <= D("0.01")
    assert abs(w["SPY"] - D("0.5")) <= D("0.01")

    # the same targets again: nothing left to do beyond remaining drift
    third = rebalance_portfolio({"SOXL": 0.5, "SPY": 0.5}, at=DAY2, db=db)
    assert third.executions == [] or all(
        e.requested_qty * (e.avg_fill_price or 0) < D("0.011") * (third.final_equity or 0)
        for e in third.executions
    )


def test_dry_run_sends_nothing(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    report = rebalance_portfolio({"TQQQ": 0.5}, at=DAY1, db=db, dry_run=True)
    assert report.dry_run and report.executions == []
    assert [t.symbol for t in report.plan.trades] == ["TQQQ"]
    assert PaperAccount.load(db).positions == {}
    with Journal.open(db) as journal:
        assert journal.orders() == []


def _seed_position(db: Path, symbol: str, qty: str, price: str) -> None:
    account = PaperAccount.load(db)
    account.apply_fill(Fill("seed", "seed", symbol, Side.BUY, D(qty), D(price), DAY1))
    account.save()


def test_fractional_position_is_closed_exactly(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    _seed_position(db, "TQQQ", "7.2273576", "70")
    report = rebalance_portfolio({"SPY": 0.5}, at=DAY1, db=db)
    sell = next(e for e in report.executions if e.symbol == "TQQQ")
    assert sell.side is Side.SELL and sell.filled_qty == D("7.2273576")
    assert "TQQQ" not in PaperAccount.load(db).positions


def test_buys_are_scaled_to_buying_power_never_exceeding_it(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    account = PaperAccount.load(db)
    account.reset(D(10_000))
    report = rebalance_portfolio({"SPY": 0.5, "QQQ": 0.5}, at=DAY1, db=db)
    assert report.complete, report.undone
    spent = sum((e.avg_fill_price or 0) * e.filled_qty for e in report.executions)
    assert spent <= D(10_000)
    assert report.final_cash is not None and report.final_cash >= 0


@pytest.mark.parametrize(
    ("targets", "fragment"),
    [
        ({"TQQQ": -0.1}, "negative"),
        ({"TQQQ": 0.7, "SPY": 0.5}, "sum"),
        ({"TQQQ": float("nan")}, "TQQQ"),
        ([("spy", 0.2), ("SPY", 0.3)], "duplicate"),
        ({}, "no targets"),
    ],
)
def test_bad_targets_are_rejected_and_nothing_is_sent(
    tmp_path: Path, targets: Any, fragment: str
) -> None:
    db = tmp_path / "j.sqlite3"
    with pytest.raises(InvalidInputError, match=fragment):
        rebalance_portfolio(targets, at=DAY1, db=db)
    assert PaperAccount.load(db).positions == {}
    with Journal.open(db) as journal:
        assert journal.orders() == []


@pytest.fixture
def default_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quotes 5 s and 60 s after each fill are journalled, as by default (the tests'
    environment turns them off elsewhere)."""
    monkeypatch.delenv("BETTER_ORDERS_TCA__MARKOUT_SECONDS")


@pytest.mark.usefixtures("default_marks")
@pytest.mark.parametrize("seed", [0, 6])
def test_buys_after_sells_at_the_open_are_sized_at_the_prices_of_then(
    tmp_path: Path, seed: int
) -> None:
    # The sells wait out the open's wide spreads (and, before the buys took them over, the
    # marks a minute after their fills); SOXL rises meanwhile. Sized at the plan's price,
    # SOXL's orders needed more than the margin held back and the broker refused them.
    db = tmp_path / "j.sqlite3"
    open1, open2 = DAY1.replace(minute=30), DAY2.replace(minute=30)
    first = rebalance_portfolio({"TQQQ": 0.6, "SPY": 0.4}, at=open1, db=db, seed=seed)
    assert first.complete, first.undone
    second = rebalance_portfolio({"SOXL": 0.5, "SPY": 0.5}, at=open2, db=db, seed=seed)
    assert second.complete, second.undone
    soxl = next(e for e in second.executions if e.symbol == "SOXL")
    planned = next(t for t in second.plan.desired_buys if t.symbol == "SOXL")
    assert 0 < soxl.filled_qty == soxl.requested_qty <= planned.qty
    assert abs(weights(second)["SOXL"] - D("0.5")) <= D("0.01")


@pytest.mark.usefixtures("default_marks")
def test_buys_start_as_the_sells_end_and_every_fill_is_still_marked(tmp_path: Path) -> None:
    # The sells' batch leaves its marks to the buys' batch instead of waiting a minute.
    db = tmp_path / "j.sqlite3"
    assert rebalance_portfolio({"TQQQ": 0.6, "SPY": 0.4}, at=DAY1, db=db).complete
    report = rebalance_portfolio({"SOXL": 0.5, "SPY": 0.5}, at=DAY2, db=db)
    assert report.complete, report.undone
    sells = [e for e in report.executions if e.side is Side.SELL]
    buys = [e for e in report.executions if e.side is Side.BUY]
    assert sells and buys
    gap = min(b.started for b in buys) - max(s.finished for s in sells)
    assert timedelta(0) <= gap < timedelta(seconds=1)
    with Journal.open(db) as journal:
        fills = journal.fills(run_id=report.run_id)
        marks = journal.quote_marks(report.run_id)
    by = {(m.exec_id, m.kind, m.after_ms): m for m in marks}
    assert {f.symbol for f in fills} == {"TQQQ", "SOXL", "SPY"}
    for fill in fills:
        for after in (5000, 60000):
            mark = by[fill.exec_id, MarkKind.AFTER, after]
            due = fill.ts + timedelta(milliseconds=after)
            assert mark.quote.symbol == fill.symbol
            # The quote in force when the mark was due: no later, and no stale one.
            assert due - timedelta(seconds=5) <= mark.quote.ts <= due <= mark.taken_at
    arrivals = [m for m in marks if m.kind is MarkKind.ARRIVAL]
    assert len(arrivals) == len(report.executions)
    assert len(marks) == len(arrivals) + 3 * len(fills)


@pytest.mark.usefixtures("default_marks")
def test_a_run_of_sells_only_still_marks_the_quotes_after_its_fills(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    assert rebalance_portfolio({"TQQQ": 0.6, "SPY": 0.4}, at=DAY1, db=db).complete
    report = rebalance_portfolio({"SPY": 0.3}, at=DAY2, db=db)
    assert report.complete, report.undone
    assert sorted((e.symbol, e.side) for e in report.executions) == [
        ("SPY", Side.SELL),
        ("TQQQ", Side.SELL),
    ]
    with Journal.open(db) as journal:
        fills = journal.fills(run_id=report.run_id)
        after = {(m.exec_id, m.after_ms) for m in journal.quote_marks(report.run_id)}
    assert fills and all({(f.exec_id, 5000), (f.exec_id, 60000)} <= after for f in fills)


def _run_on_venue(tmp_path: Path, targets: dict[str, object], **venue: Any) -> RebalanceReport:
    db = tmp_path / "j.sqlite3"
    cfg = venue.pop("config", BetterOrdersConfig())

    async def main() -> RebalanceReport:
        sim = SimVenue.create(start=DAY1, seed=3, db_path=db, **venue)
        with Journal.open(db) as journal:
            journal.start_run("rb", "rebalance", {}, "sim")
            try:
                return await rebalance(
                    targets,
                    broker=sim.broker,
                    feed=sim.feed,
                    clock=sim.clock,
                    journal=journal,
                    config=cfg,
                    run_id="rb",
                )
            finally:
                await sim.close()

    return run_virtual(main(), start=DAY1)


def test_unknown_symbol_is_rejected_before_any_order(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="ZZZZ"):
        _run_on_venue(tmp_path, {"SPY": 0.5, "ZZZZ": 0.5}, unknown_symbols=["ZZZZ"])
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        assert journal.orders() == []


def test_one_symbol_rejected_is_reported_while_the_others_complete(tmp_path: Path) -> None:
    faults = FaultPlan().reject_submit("*-2-*", reason="not tradable today", count=None)
    report = _run_on_venue(tmp_path, {"SPY": 0.3, "QQQ": 0.3, "TQQQ": 0.3}, faults=faults)
    failed = [e for e in report.executions if e.filled_qty == 0]
    done = [e for e in report.executions if e.complete]
    assert len(failed) == 1 and len(done) == 2
    assert "not tradable today" in (failed[0].error or "")
    assert any(failed[0].symbol in u for u in report.undone)
    assert not report.complete


def test_twenty_symbols_take_about_as_long_as_the_slowest(tmp_path: Path) -> None:
    symbols = [f"S{i:02d}" for i in range(20)]
    targets: dict[str, object] = {s: D("0.045") for s in symbols}
    listed = builtin_assets().with_assets(plain_asset(s) for s in symbols)
    report = _run_on_venue(
        tmp_path, targets, config=BetterOrdersConfig(mode="always"), assets=listed
    )
    assert len(report.executions) == 20 and report.complete, report.undone
    span = max(e.finished for e in report.executions) - min(e.started for e in report.executions)
    slowest = max(e.finished - e.started for e in report.executions)
    assert span < slowest * 1.5


def test_a_buy_the_buying_power_cannot_fund_is_journalled_as_skipped(tmp_path: Path) -> None:
    # Half the cash is held back for a 10,000 bps budget: the buys are scaled to 99%,
    # which leaves the one-share SPY buy at no share at all.
    wide = BetterOrdersConfig(
        max_slippage_bps=10_000,
        leveraged_etf_bps=10_000,
        high_volume_etf_bps=10_000,
        other_stock_bps=10_000,
    )
    report = _run_on_venue(tmp_path, {"QQQ": D("0.5"), "SPY": D("0.011")}, config=wide)
    assert [(t.symbol, t.qty) for t in report.plan.desired_buys] == [("QQQ", 82), ("SPY", 1)]
    assert any(u.startswith("SPY: buying power left less than") for u in report.undone)
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        legs = {i.symbol: i for i in journal.intents("rb")}
        sent = {o.symbol for o in journal.orders(run_id="rb")}
    assert sent == {"QQQ"} and legs["QQQ"].status == "filled"
    assert legs["SPY"].status == "skipped" and legs["SPY"].sized_qty is None
    assert legs["SPY"].report == {"reason": "buying power left less than one whole share to buy"}


def test_a_buy_without_a_quote_after_the_sells_keeps_its_plan_price() -> None:
    # Sizing the buys at the prices of now must not stop them all for one symbol whose
    # quote is missing or stale then: that one keeps the plan's price, and its ladder waits
    # for a quote as it would anyway.
    import asyncio

    from better_orders.core.errors import BrokerError
    from better_orders.core.model import Quote
    from better_orders.engine.rebalance import _mids_now

    now = DAY2

    class Feed:
        async def latest_quote(self, symbol: str) -> Quote:
            if symbol == "SOXL":
                raise BrokerError("no quote for SOXL")
            if symbol == "TQQQ":  # an hour old
                return Quote(symbol, D("70"), D("70.02"), D(1), D(1), now.replace(hour=8))
            return Quote(symbol, D("650.00"), D("650.02"), D(100), D(100), now)

    class Clock:
        def now(self) -> datetime:
            return now

    mids = asyncio.run(
        _mids_now(Feed(), Clock(), ["SOXL", "TQQQ", "SPY"], BetterOrdersConfig())  # type: ignore[arg-type]
    )
    assert mids == {"SPY": D("650.01")}
