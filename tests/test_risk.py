"""Pre-trade risk checks, the kill switch and the rate limiter's guarantee."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from better_orders.config.loader import load_config
from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig, RiskSettings
from better_orders.core.errors import ConfigError, KillSwitchError, RiskLimitError
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
)
from better_orders.core.market_calendar import default_calendar
from better_orders.core.model import (
    ExecutionReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
)
from better_orders.engine.commands import run_orders_simulated
from better_orders.engine.execution import OrderSpec, execute
from better_orders.engine.legs import LadderEvent
from better_orders.engine.risk import KillSwitch, RiskChecker, halt_summary
from better_orders.store.journal import Journal
from better_orders.store.records import RunStatus
from better_orders.venues.assets import AssetMaster, builtin_assets, plain_asset
from better_orders.venues.rate_limit import RateLimiter
from better_orders.venues.sim.clock import SimClock, run_virtual
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.venue import SimVenue
from ladder_kit import crossing_config

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=ET)


def quote(bid: str, ask: str, symbol: str = "TQQQ", at: datetime = T0) -> Quote:
    return Quote(symbol, D(bid), D(ask), D(500), D(500), at)


def limit(
    qty: str, price: str, *, side: Side = Side.BUY, leg: int = 1, attempt: int = 1
) -> OrderRequest:
    return OrderRequest(
        f"bo-r1-{leg}-{attempt}", "TQQQ", side, D(qty), OrderType.LIMIT, limit_price=D(price)
    )


def market(qty: str, *, side: Side = Side.BUY, leg: int = 1, attempt: int = 1) -> OrderRequest:
    return OrderRequest(f"bo-r1-{leg}-{attempt}", "TQQQ", side, D(qty), OrderType.MARKET)


# -- the checks, pure ----------------------------------------------------------------------------


def test_order_notional_over_the_limit_is_refused_with_the_numbers() -> None:
    checker = RiskChecker(RiskSettings())
    with pytest.raises(RiskLimitError) as info:
        checker.check(limit("6000", "52.00"), quote("51.99", "52.00"), T0)
    assert str(info.value) == (
        "TQQQ order notional $312,000.00 exceeds max_order_notional $250,000.00; order not sent"
    )
    assert info.value.code == "risk_limit"
    # a refused order commits nothing
    assert checker.run_notional == 0
    assert checker.orders_in_last_minute(T0) == 0


def test_an_order_at_the_limit_passes_and_is_counted() -> None:
    checker = RiskChecker(RiskSettings(max_order_notional=D("5001")))
    notional = checker.check(limit("100", "50.01"), quote("50.00", "50.01"), T0)
    assert notional == D("5001.00")
    assert checker.run_notional == D("5001.00")
    assert checker.orders_in_last_minute(T0) == 1


def test_order_quantity_over_the_limit_is_refused() -> None:
    checker = RiskChecker(RiskSettings(max_order_qty=D(1000)))
    with pytest.raises(RiskLimitError, match=r"quantity 1001 exceeds max_order_qty 1000"):
        checker.check(limit("1001", "1.00"), quote("0.99", "1.00"), T0)
    checker.check(limit("1000", "1.00"), quote("0.99", "1.00"), T0)


@pytest.mark.parametrize(
    ("price", "refused"),
    [("105.00", False), ("105.01", True), ("95.00", False), ("94.99", True), ("100.02", False)],
)
def test_limit_beyond_the_price_band_of_the_mid_is_refused(price: str, refused: bool) -> None:
    checker = RiskChecker(RiskSettings(price_band_pct=D(5)))
    q = quote("99.99", "100.01")  # mid 100.00
    if refused:
        with pytest.raises(
            RiskLimitError, match=r"from the quote's mid 100\.00.*price_band_pct 5%"
        ):
            checker.check(limit("10", price), q, T0)
    else:
        assert checker.check(limit("10", price), q, T0) == D(10) * D(price)


def test_market_orders_are_valued_at_the_far_touch() -> None:
    settings = RiskSettings(max_order_notional=D(250_000))
    q = quote("49.99", "50.01")
    with pytest.raises(RiskLimitError, match=r"\$250,050\.00 exceeds"):
        RiskChecker(settings).check(market("5000"), q, T0)  # buy: the ask
    checker = RiskChecker(settings)
    assert checker.check(market("5000", side=Side.SELL), q, T0) == D("249950.00")  # sell: the bid


@pytest.mark.parametrize(
    ("bid", "ask", "request_", "fragment"),
    [
        ("0", "50.01", "market-sell", "cannot be valued"),
        ("0", "50.01", "limit", "cannot be checked against quote bid 0"),
        ("NaN", "50.01", "limit", "cannot be checked"),
        ("50.00", "NaN", "market-buy", "cannot be valued"),
    ],
)
def test_orders_against_an_unusable_quote_are_refused(
    bid: str, ask: str, request_: str, fragment: str
) -> None:
    request = {
        "market-sell": market("10", side=Side.SELL),
        "market-buy": market("10"),
        "limit": limit("10", "50.01"),
    }[request_]
    with pytest.raises(RiskLimitError, match=fragment):
        RiskChecker(RiskSettings()).check(request, quote(bid, ask), T0)


def test_no_quote_means_no_order() -> None:
    with pytest.raises(RiskLimitError, match="no quote for TQQQ"):
        RiskChecker(RiskSettings()).check(limit("10", "50.01"), None, T0)
    with pytest.raises(RiskLimitError, match="no quote for TQQQ"):
        RiskChecker(RiskSettings()).check(limit("10", "50.01"), quote("1", "2", symbol="SPY"), T0)


def test_run_notional_counts_each_leg_once_across_repegs() -> None:
    checker = RiskChecker(RiskSettings(max_run_notional=D(12_000)))
    q = quote("50.00", "50.01")
    checker.check(limit("100", "50.02", leg=1, attempt=1), q, T0)
    # a re-peg of the remainder at a higher price: the leg is bounded by 100 x 50.05
    checker.check(limit("70", "50.05", leg=1, attempt=2), q, T0)
    assert checker.run_notional == D(100) * D("50.05")
    checker.check(limit("100", "50.02", leg=2), q, T0)
    assert checker.run_notional == D("5005") + D("5002")
    with pytest.raises(RiskLimitError) as info:
        checker.check(limit("40", "50.02", leg=3), q, T0)
    assert "run's notional to $12,007.80, beyond max_run_notional $12,000.00" in str(info.value)
    assert checker.run_notional == D("10007")


def test_orders_per_minute_cap_counts_a_trailing_minute() -> None:
    checker = RiskChecker(RiskSettings(max_orders_per_minute=3))
    q = quote("50.00", "50.01")
    for k in range(3):
        checker.check(limit("1", "50.01", leg=k + 1), q, T0 + timedelta(seconds=k))
    with pytest.raises(RiskLimitError, match=r"3 orders already sent in the last minute"):
        checker.check(limit("1", "50.01", leg=9), q, T0 + timedelta(seconds=59))
    # the first order leaves the window 60 s after it was sent
    checker.check(limit("1", "50.01", leg=9), q, T0 + timedelta(seconds=60))
    assert checker.orders_in_last_minute(T0 + timedelta(seconds=60)) == 3


@dataclass(frozen=True)
class _Prior:
    client_order_id: str
    qty: D
    limit_price: D | None
    filled_avg_price: D | None
    status: str


def test_seeding_counts_orders_already_sent_in_the_run_but_not_refused_ones() -> None:
    checker = RiskChecker(RiskSettings(max_run_notional=D(10_000)))
    checker.seed(
        [
            _Prior("bo-r1-1-1", D(100), D("50.02"), D("50.01"), "canceled"),
            _Prior("bo-r1-2-1", D(10), None, D("600.05"), "filled"),  # a market order
            _Prior("bo-r1-3-1", D(1000), D("50.00"), None, "rejected"),
        ]
    )
    assert checker.run_notional == D("5002") + D("6000.5")
    with pytest.raises(RiskLimitError, match="max_run_notional"):
        checker.check(limit("1", "50.01", leg=4), quote("50.00", "50.01"), T0)


def test_risk_settings_are_validated_at_load(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[risk]\nmax_order_notional = -5\n")
    with pytest.raises(ConfigError, match=r"risk.max_order_notional"):
        load_config(cfg, env={})
    loaded = load_config(env={"BETTER_ORDERS_RISK__MAX_ORDERS_PER_MINUTE": "60"})
    assert loaded.config.risk.max_orders_per_minute == 60
    assert loaded.sources["risk.max_orders_per_minute"] == (
        "env:BETTER_ORDERS_RISK__MAX_ORDERS_PER_MINUTE"
    )


# -- the kill switch, pure -----------------------------------------------------------------------


def test_kill_switch_file_comes_from_the_environment_first(tmp_path: Path) -> None:
    configured = RiskSettings(kill_switch_file=str(tmp_path / "from-config"))
    assert KillSwitch.resolve(RiskSettings(), env={}) is None
    assert KillSwitch.resolve(configured, env={}) == KillSwitch(tmp_path / "from-config")
    env = {"better_orders_kill_switch": str(tmp_path / "from-env")}
    assert KillSwitch.resolve(configured, env=env) == KillSwitch(
        tmp_path / "from-env", named_by="better_orders_kill_switch"
    )
    assert KillSwitch.resolve(configured, env={"BETTER_ORDERS_KILL_SWITCH": " "}) == KillSwitch(
        tmp_path / "from-config"
    )


def test_kill_switch_refuses_every_order_while_the_file_exists(tmp_path: Path) -> None:
    switch = KillSwitch(tmp_path / "STOP")
    checker = RiskChecker(RiskSettings(), switch)
    q = quote("50.00", "50.01")
    checker.check(limit("1", "50.01"), q, T0)
    assert switch.reason() is None
    switch.path.touch()
    with pytest.raises(KillSwitchError) as info:
        checker.check(limit("1", "50.01", attempt=2), q, T0)
    assert str(info.value) == f"kill switch {switch.path} is on: TQQQ order not sent"
    assert info.value.code == "kill_switch" and isinstance(info.value, RiskLimitError)
    assert checker.kill_switch_tripped
    assert switch.reason() == f"kill switch {switch.path} is on"
    switch.path.unlink()
    checker.check(limit("1", "50.01", attempt=3), q, T0)


def test_halt_summary_wording() -> None:
    assert halt_summary("kill switch /k is on", 2) == (
        "kill switch /k is on: 2 working orders cancelled, no new orders sent"
    )
    assert halt_summary("kill switch /k is on", 1, filled_meanwhile=1) == (
        "kill switch /k is on: 1 working order cancelled (1 filled before the cancel landed), "
        "no new orders sent"
    )


# -- Halt in the ladder (no I/O) -----------------------------------------------------------------


def _ladder(qty: str = "100") -> Ladder:
    # Idle waits: no slice rests while a wide spread is waited out.
    params = ladder_params(
        BetterOrdersConfig.model_validate({"timing": {"rest_fraction": 0}}), "TQQQ"
    )
    return Ladder(
        ParentOrder("TQQQ", Side.BUY, D(qty)),
        params,
        default_calendar(),
        lambda n: f"bo-r1-1-{n}",
    )


def test_halt_cancels_the_working_child_and_finishes_once_it_ended() -> None:
    ladder = _ladder()
    ladder.handle(QuoteArrived(quote("50.00", "50.01"), T0))
    (submit, _) = ladder.handle(Start(T0))
    assert isinstance(submit, SubmitOrder)
    t1 = T0 + timedelta(seconds=1)
    ladder.handle(OrderUpdate("bo-r1-1-1", OrderStatus.PARTIALLY_FILLED, D(30), t1, D("50.01")))
    actions = ladder.handle(Halt(t1, "kill switch /k is on"))
    assert actions[0] == CancelOrder("bo-r1-1-1") and isinstance(actions[1], SetTimer)
    assert ladder.state is LadderState.FINISHING
    # quotes and timers no longer lead anywhere but the cancel
    assert ladder.handle(QuoteArrived(quote("50.00", "50.01", at=t1), t1)) == []
    (done,) = ladder.handle(
        OrderUpdate("bo-r1-1-1", OrderStatus.CANCELED, D(30), t1 + timedelta(seconds=0.1))
    )
    assert isinstance(done, Finished)
    report = done.report
    assert (report.filled_qty, report.unfilled_qty) == (D(30), D(70))
    assert report.unfilled_reason == "kill switch /k is on"
    assert report.error is None  # something was filled
    assert [a.end_reason for a in report.attempts] == ["halted"]


def test_halt_without_a_working_child_finishes_at_once_and_later_halts_are_ignored() -> None:
    ladder = _ladder()
    # a wide spread at the open: the ladder waits, with no order out
    at_open = datetime(2026, 11, 24, 9, 30, 0, tzinfo=ET)
    ladder.handle(QuoteArrived(quote("50.00", "50.30", at=at_open), at_open))
    actions = ladder.handle(Start(at_open))
    assert ladder.state is LadderState.SPREAD_WAIT and not any(
        isinstance(a, SubmitOrder) for a in actions
    )
    (done,) = ladder.handle(Halt(at_open + timedelta(seconds=5), "kill switch /k is on"))
    assert isinstance(done, Finished)
    assert done.report.filled_qty == 0 and done.report.attempts == []
    assert done.report.error == "kill switch /k is on"
    assert ladder.handle(Halt(at_open + timedelta(seconds=6), "again")) == []


# -- the rate limiter keeps under its per-minute figure in every trailing minute -----------------


@pytest.mark.parametrize(("per_minute", "burst"), [(12, None), (12, 12), (5, 1), (30, 10)])
def test_rate_limiter_never_exceeds_per_minute_in_any_trailing_minute(
    per_minute: int, burst: int | None
) -> None:
    async def main() -> list[datetime]:
        clock = SimClock(T0)
        limiter = RateLimiter(clock, per_minute, burst)
        stamps: list[datetime] = []
        for _ in range(per_minute * 3):
            await limiter.acquire()
            stamps.append(clock.now())
        return stamps

    stamps = run_virtual(main(), start=T0)
    for i, t in enumerate(stamps):
        in_window = [s for s in stamps[: i + 1] if t - s < timedelta(seconds=60)]
        assert len(in_window) <= per_minute
    # and it is not slower than its rate demands: 3 minutes' worth within about 3 minutes
    assert stamps[-1] - stamps[0] <= timedelta(seconds=180)


# -- through the runner on the simulator ---------------------------------------------------------


def script(rows: list[tuple[float, str, str, int]], symbol: str = "TQQQ") -> ReplayQuotes:
    """Quotes at T0 + seconds (bid, ask, size), and nothing after the last."""
    return ReplayQuotes.from_quotes(
        [Quote(symbol, D(b), D(a), D(n), D(n), T0 + timedelta(seconds=s)) for s, b, a, n in rows]
    )


@dataclass
class Outcome:
    reports: list[ExecutionReport] | None
    error: BaseException | None
    open_at_broker: list[Any]
    journal_orders: list[Any]
    open_in_journal: list[Any]
    positions: dict[str, D]
    intents: list[Any]


def execute_on_sim(
    orders: list[tuple[str, Side, str]],
    tmp_path: Path,
    *,
    replay: dict[str, ReplayQuotes] | None = None,
    config: BetterOrdersConfig | None = None,
    observer: Callable[[LadderEvent], None] | None = None,
    assets: AssetMaster | None = None,
    prices: dict[str, D] | None = None,
) -> Outcome:
    db = tmp_path / "j.sqlite3"
    cfg = config or crossing_config()

    async def main() -> Outcome:
        venue = SimVenue.create(start=T0, seed=3, db_path=db, replay=replay, assets=assets)
        reports: list[ExecutionReport] | None = None
        error: BaseException | None = None
        with Journal.open(db) as journal:
            journal.start_run("r1", "order", {}, "sim")
            try:
                reports = await execute(
                    [OrderSpec.parse(s, q, side) for s, side, q in orders],
                    broker=venue.broker,
                    feed=venue.feed,
                    clock=venue.clock,
                    journal=journal,
                    config=cfg,
                    run_id="r1",
                    observer=observer,
                    prices=prices,
                )
            except RiskLimitError as exc:
                error = exc
            await asyncio.sleep(5)  # let any late broker event land before looking
            outcome = Outcome(
                reports,
                error,
                await venue.broker.list_open_orders(),
                journal.orders(run_id="r1"),
                journal.orders(run_id="r1", open_only=True),
                {p.symbol: p.qty for p in await venue.broker.get_positions()},
                journal.intents("r1"),
            )
        await venue.close()
        return outcome

    return run_virtual(main(), start=T0)


def test_a_refused_child_is_journalled_with_its_reason_and_never_sent(tmp_path: Path) -> None:
    replay = {"TQQQ": script([(0, "51.99", "52.00", 10_000)])}
    cfg = crossing_config(leveraged_etf_bps=50)
    # No price known up front (``prices={}``): the order is judged child by child.
    out = execute_on_sim(
        [("TQQQ", Side.BUY, "6000")], tmp_path, replay=replay, config=cfg, prices={}
    )
    assert out.error is None and out.reports is not None
    (report,) = out.reports
    assert report.filled_qty == 0 and report.unfilled_qty == D(6000)
    expected = "TQQQ order notional $312,060.00 exceeds max_order_notional $250,000.00"
    assert expected in (report.unfilled_reason or "")
    assert "refused by a pre-trade risk check" in (report.error or "")
    (order,) = out.journal_orders
    assert order.status == "rejected" and order.reason is not None
    assert order.reason.startswith("risk_limit: " + expected)
    assert out.open_at_broker == [] and out.open_in_journal == [] and out.positions == {}
    assert [i.status for i in out.intents] == ["failed"]


def test_run_notional_limit_stops_the_leg_that_would_breach_it(tmp_path: Path) -> None:
    replay = {
        "TQQQ": script([(0, "50.00", "50.01", 10_000)]),
        "SPY": script([(0, "600.00", "600.01", 10_000)], symbol="SPY"),
    }
    cfg = crossing_config(risk={"max_run_notional": "8000"})
    # No prices up front (``prices={}``): the run's notional is counted order by order.
    out = execute_on_sim(
        [("TQQQ", Side.BUY, "100"), ("SPY", Side.BUY, "10")],
        tmp_path,
        replay=replay,
        config=cfg,
        prices={},
    )
    assert out.reports is not None
    tqqq, spy = out.reports
    assert tqqq.filled_qty + spy.filled_qty > 0
    refused = [r for r in out.reports if r.filled_qty == 0]
    assert len(refused) == 1 and "max_run_notional $8,000.00" in (refused[0].error or "")
    assert out.positions == {r.symbol: r.filled_qty for r in out.reports if r.filled_qty}


def test_the_runner_keeps_below_the_orders_per_minute_cap(tmp_path: Path) -> None:
    symbols = [f"S{i:02d}" for i in range(8)]
    listed = builtin_assets().with_assets(plain_asset(s) for s in symbols)
    cfg = crossing_config(mode="always", risk={"max_orders_per_minute": 3})
    out = execute_on_sim([(s, Side.BUY, "5") for s in symbols], tmp_path, config=cfg, assets=listed)
    assert out.reports is not None
    # the limiter paced the submits: none was refused by the cap, all filled
    assert [r.filled_qty for r in out.reports] == [D(5)] * 8
    assert all(o.status == "filled" for o in out.journal_orders)
    starts = sorted(a.started for r in out.reports for a in r.attempts)
    for t in starts:
        assert sum(1 for s in starts if timedelta(0) <= t - s < timedelta(seconds=60)) <= 3


def test_kill_switch_on_at_the_start_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    switch = tmp_path / "STOP"
    switch.touch()
    monkeypatch.setenv("BETTER_ORDERS_KILL_SWITCH", str(switch))
    out = execute_on_sim([("TQQQ", Side.BUY, "10"), ("SPY", Side.SELL, "1")], tmp_path)
    assert isinstance(out.error, KillSwitchError)
    assert str(out.error) == f"kill switch {switch} is on: no order sent (2 order(s) not started)"
    assert out.journal_orders == [] and out.intents == [] and out.open_at_broker == []


def _partly_resting() -> dict[str, ReplayQuotes]:
    """30 shares offered at the touch, then the offer runs away: the rest of a buy rests."""
    return {
        "TQQQ": script([(0, "50.00", "50.01", 30), (0.5, "50.10", "50.20", 30)]),
        "SPY": script([(0, "600.00", "600.01", 2), (0.5, "600.20", "600.30", 2)], symbol="SPY"),
    }


def _switch_on_when_both_rest(path: Path) -> Callable[[LadderEvent], None]:
    resting: set[str] = set()

    def observe(ev: LadderEvent) -> None:
        item = ev.item
        if isinstance(item, OrderUpdate) and item.status is OrderStatus.PARTIALLY_FILLED:
            resting.add(ev.symbol)
            if resting == {"TQQQ", "SPY"}:
                path.touch()

    return observe


def test_kill_switch_mid_run_cancels_working_orders_and_sends_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    switch = tmp_path / "STOP"
    monkeypatch.setenv("BETTER_ORDERS_KILL_SWITCH", str(switch))
    out = execute_on_sim(
        [("TQQQ", Side.BUY, "100"), ("SPY", Side.BUY, "10")],
        tmp_path,
        replay=_partly_resting(),
        observer=_switch_on_when_both_rest(switch),
    )
    assert isinstance(out.error, KillSwitchError)
    assert str(out.error) == (
        f"kill switch {switch} is on: 2 working orders cancelled, no new orders sent"
    )
    # nothing left open anywhere; the fills before the switch are kept
    assert out.open_at_broker == [] and out.open_in_journal == []
    assert [(o.client_order_id, o.status) for o in out.journal_orders] == [
        ("bo-r1-1-1", "canceled"),
        ("bo-r1-2-1", "canceled"),
    ]
    assert out.positions == {"TQQQ": D(30), "SPY": D(2)}
    # each leg's report says why it stopped, in the journal
    assert [i.status for i in out.intents] == ["partial", "partial"]
    for intent in out.intents:
        assert intent.report is not None
        assert intent.report["unfilled_reason"] == f"kill switch {switch} is on"


def test_kill_switch_mid_run_through_the_session_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    switch = tmp_path / "STOP"
    db = tmp_path / "session.sqlite3"
    monkeypatch.setenv("BETTER_ORDERS_KILL_SWITCH", str(switch))
    with pytest.raises(KillSwitchError, match="2 working orders cancelled, no new orders sent"):
        run_orders_simulated(
            [OrderSpec.parse("TQQQ", "100", "buy"), OrderSpec.parse("SPY", "10", "buy")],
            at=T0,
            db=db,
            config=crossing_config(),
            replay=_partly_resting(),
            observer=_switch_on_when_both_rest(switch),
        )
    with Journal.open(db) as journal:
        run = journal.latest_run("order")
        assert run is not None and run.status is RunStatus.FAILED
        assert journal.orders(open_only=True) == []
        assert {o.status for o in journal.orders()} == {"canceled"}
