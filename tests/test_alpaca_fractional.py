"""Fractional and notional orders end to end: the rules, the simulator and the Alpaca adapter
agreeing on them, and ``order`` / ``rebalance --broker alpaca`` against the local exchange."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alpaca_server import TEST_VENUE, LocalAlpaca, run_local_alpaca, venue_at
from better_orders.core.errors import BrokerError
from better_orders.core.fractional import fractional_refusal
from better_orders.core.model import OrderRequest, OrderType, Side, TimeInForce
from better_orders.server import ServerConfig
from better_orders.venues.alpaca.broker import AlpacaBroker
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.venue import SimVenue
from cli_runner import run_cli
from ladder_kit import CROSS_AT_ONCE_ENV

ET = ZoneInfo("America/New_York")
MARKET, LIMIT = OrderType.MARKET, OrderType.LIMIT
DAY, IOC = TimeInForce.DAY, TimeInForce.IOC


def request(
    symbol: str,
    qty: str,
    kind: OrderType = MARKET,
    tif: TimeInForce = DAY,
    *,
    notional: str | None = None,
    coid: str = "c-1",
) -> OrderRequest:
    price = D("5.00") if kind is LIMIT else None
    amount = D(notional) if notional is not None else None
    return OrderRequest(coid, symbol, Side.BUY, D(qty), kind, price, tif, notional=amount)


# -- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "fractionable", "extended", "refusal"),
    [
        (request("SPY", "0.5"), True, False, None),
        (request("SPY", "0.5", LIMIT), True, False, None),
        (request("SPY", "3", LIMIT, IOC), False, False, None),  # whole shares: any asset
        (request("SPY", "0.5", LIMIT, IOC), True, False, "only on market or limit DAY orders"),
        (request("BRK.A", "0.5"), False, False, "BRK.A is not fractionable"),
        (request("SPY", "0.5", LIMIT), True, True, "does not trade in extended hours"),
        (request("SPY", "0.1234567891"), True, False, "more than 9 decimals"),
        (request("SPY", "1", notional="25"), True, False, None),
        (request("SPY", "1", notional="0.99"), True, False, "below the $1 minimum"),
        (request("SPY", "1", MARKET, IOC, notional="25"), True, False, "market DAY order"),
        (request("DFEN", "1", notional="25"), False, False, "DFEN is not fractionable"),
    ],
)
def test_fractional_and_notional_rules(
    order: OrderRequest, fractionable: bool, extended: bool, refusal: str | None
) -> None:
    said = fractional_refusal(order, fractionable=fractionable, extended_hours=extended)
    if refusal is None:
        assert said is None
    else:
        assert said is not None and refusal in said and order.symbol in said


# -- the simulator and the adapter agree -------------------------------------------------------

#: (request, taken?): DFEN is not fractionable in the asset master (nor at the exchange).
AGREEMENT = [
    (request("SPY", "0.5", LIMIT), True),
    (request("SPY", "0.5"), True),
    (request("SPY", "0.5", LIMIT, IOC), False),
    (request("SPY", "0.5", MARKET, IOC), False),
    (request("DFEN", "0.5"), False),
    (request("DFEN", "2", LIMIT), True),
    (request("SPY", "1", notional="25"), True),
    (request("SPY", "1", notional="0.50"), False),
    (request("DFEN", "1", notional="25"), False),
]


def _outcomes_on_the_simulator(tmp_path: Path) -> list[str | None]:
    start = datetime(2026, 3, 2, 14, 40, tzinfo=UTC)  # Monday 09:40 New York time

    async def main() -> list[str | None]:
        venue = SimVenue.create(start=start, seed=1, db_path=tmp_path / "sim.db")
        codes: list[str | None] = []
        try:
            for n, (order, _) in enumerate(AGREEMENT):
                try:
                    await venue.broker.submit_order(replace(order, client_order_id=f"s-{n}"))
                    codes.append(None)
                except BrokerError as exc:
                    codes.append(exc.code)
        finally:
            await venue.close()
        return codes

    return run_virtual(main(), start)


async def _outcomes_at_alpaca(local: LocalAlpaca) -> list[str | None]:
    broker = AlpacaBroker(local.credentials(), use_stream=False)
    codes: list[str | None] = []
    try:
        for n, (order, _) in enumerate(AGREEMENT):
            try:
                await broker.submit_order(replace(order, client_order_id=f"a-{n}"))
                codes.append(None)
            except BrokerError as exc:
                codes.append(exc.code)
    finally:
        await broker.close()
    return codes


def test_what_passes_on_the_simulator_passes_at_alpaca(tmp_path: Path) -> None:
    on_sim = _outcomes_on_the_simulator(tmp_path)
    venue = replace(TEST_VENUE, non_fractionable_symbols=("DFEN",))
    with run_local_alpaca(ServerConfig(venue=venue)) as local:
        at_alpaca = asyncio.run(_outcomes_at_alpaca(local))
        sent = local.requests_to("POST /v2/orders")
    taken = [ok for _, ok in AGREEMENT]
    assert [code is None for code in on_sim] == taken, on_sim
    assert [code is None for code in at_alpaca] == taken, at_alpaca
    assert {c for c in on_sim + at_alpaca if c is not None} == {"not_fractionable"}
    assert sent == sum(taken)  # every refusal was made before the wire, and the rest accepted


async def test_a_refusal_names_the_rule_and_sends_nothing() -> None:
    with run_local_alpaca() as local:
        broker = AlpacaBroker(local.credentials(), use_stream=False, extended_hours=True)
        try:
            with pytest.raises(BrokerError) as extended:
                await broker.submit_order(request("SPY", "0.5", LIMIT))
            with pytest.raises(BrokerError) as below:
                await broker.submit_order(request("SPY", "1", notional="0.5", coid="c-2"))
        finally:
            await broker.close()
        assert local.requests_to("POST /v2/orders") == 0
    assert "fractional quantity (0.5) does not trade in extended hours" in str(extended.value)
    assert "Alpaca's fractional trading rules" in str(extended.value)
    assert "below the $1 minimum" in str(below.value)


# -- order and rebalance --broker alpaca --------------------------------------------------------


@contextmanager
def pointed_at(
    start: datetime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalAlpaca]:
    """The exchange with its clock from ``start``, and the ``APCA_*`` variables on it."""
    with run_local_alpaca(venue_at(start, db_path=tmp_path / "exchange.sqlite3")) as local:
        for name, value in local.environment().items():
            monkeypatch.setenv(name, value)
        yield local


@pytest.fixture
def exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAlpaca]:
    with pointed_at(datetime(2026, 11, 24, 10, 0, tzinfo=ET), tmp_path, monkeypatch) as local:
        yield local


def positions(local: LocalAlpaca) -> dict[str, D]:
    return {p["symbol"]: D(p["qty"]) for p in local.get("/v2/positions")}


def cli(args: list[str], db: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    code, out, err = run_cli([*args, "--broker", "alpaca", "--db", str(db), "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_a_fractional_order_buys_and_closes_with_limit_orders(
    exchange: LocalAlpaca,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in CROSS_AT_ONCE_ENV.items():  # one marketable limit, no patient rest
        monkeypatch.setenv(name, value)
    db = tmp_path / "journal.sqlite3"
    bought = cli(["order", "buy", "TQQQ", "0.5"], db, capsys)["report"]
    assert bought["complete"] is True and D(bought["filled_qty"]) == D("0.5")
    assert [a["order_type"] for a in bought["attempts"]] == ["limit"]
    assert positions(exchange) == {"TQQQ": D("0.5")}

    sold = cli(["order", "sell", "TQQQ", "0.5"], db, capsys)["report"]
    assert sold["complete"] is True and D(sold["filled_qty"]) == D("0.5")
    assert sold["attempts"][0]["order_type"] == "limit"  # a fractional limit sell
    assert positions(exchange) == {}
    assert exchange.get("/v2/orders", status="open") == []


def test_rebalance_to_fractional_targets_holds_the_exact_fractions(
    exchange: LocalAlpaca,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BETTER_ORDERS_REBALANCE__WHOLE_SHARES_FOR_LIMIT", "false")
    db = tmp_path / "journal.sqlite3"
    data = cli(["rebalance", "SPY=0.3", "TQQQ=0.2"], db, capsys)
    assert data["complete"] is True
    planned = {t["symbol"]: D(t["qty"]) for t in data["plan"]["trades"]}
    assert any(q != q.to_integral_value() for q in planned.values())
    assert positions(exchange) == planned  # to the last of the 9 decimals

    # Closing a fractional position completes: nothing of it is left.
    closed = cli(["rebalance", "SPY=0.3", "TQQQ=0"], db, capsys)
    assert closed["complete"] is True
    assert "TQQQ" not in positions(exchange)
    assert exchange.get("/v2/orders", status="open") == []


def test_notional_buys_invest_the_amounts_with_market_orders(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "journal.sqlite3"
    data = cli(["rebalance", "SPY=0.25", "QQQ=0.25", "--notional-buys"], db, capsys)
    assert data["complete"] is True
    assert {e["strategy"] for e in data["executions"]} == {"notional"}
    orders = exchange.get("/v2/orders", status="all")
    assert {o["symbol"] for o in orders} == {"SPY", "QQQ"}
    assert all(o["qty"] is None and D(o["notional"]) > 0 for o in orders)
    assert all(o["type"] == "market" and o["time_in_force"] == "day" for o in orders)
    amounts = {t["symbol"]: D(t["notional"]) for t in data["plan"]["trades"]}
    for o in orders:
        assert D(o["notional"]) == amounts[o["symbol"]].quantize(D("0.01"), "ROUND_DOWN")
    held = positions(exchange)
    for execution in data["executions"]:
        assert held[execution["symbol"]] == D(execution["filled_qty"])
    weights = {r["symbol"]: D(r["final_weight"]) for r in data["results"]}
    assert abs(weights["SPY"] - D("0.25")) < D("0.001")
    assert abs(weights["QQQ"] - D("0.25")) < D("0.001")


def test_notional_buys_are_refused_outside_regular_hours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pointed_at(datetime(2026, 11, 24, 8, 0, tzinfo=ET), tmp_path, monkeypatch) as local:
        args = ["rebalance", "SPY=0.25", "--notional-buys", "--broker", "alpaca"]
        code, _, err = run_cli([*args, "--db", str(tmp_path / "j.sqlite3")], capsys)
        assert code == 4, err
        assert "regular hours only" in err
        assert local.requests_to("POST /v2/orders") == 0


# Fully invested too: a notional buy holds its amount, not its shares at the ask plus the
# market buy's 1% cushion, which refused the last buy of a fully invested rebalance.
@pytest.mark.parametrize("weights", [("0.3", "0.2"), ("0.6", "0.4")])
def test_notional_buys_on_the_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], weights: tuple[str, str]
) -> None:
    spy, tqqq = weights
    args = ["rebalance", f"SPY={spy}", f"TQQQ={tqqq}", "--notional-buys"]
    args += ["--at", "2026-11-24T10:00:00", "--db", str(tmp_path / "j.sqlite3"), "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["complete"] is True
    assert {e["strategy"] for e in data["executions"]} == {"notional"}
    final = {r["symbol"]: D(r["final_weight"]) for r in data["results"]}
    assert abs(final["SPY"] - D(spy)) < D("0.004")
    assert abs(final["TQQQ"] - D(tqqq)) < D("0.004")
    assert D(data["final_cash"]) >= 0
    assert all(D(r["final_qty"]) != D(r["final_qty"]).to_integral_value() for r in data["results"])


def test_notional_buys_after_sells_at_the_open_wait_for_regular_hours(tmp_path: Path) -> None:
    # The sells go through ladders from 09:30; the notional buys are market orders, which
    # would pay the opening's spreads: they wait for 09:35 instead of stopping the run
    # with its sells done and nothing bought.
    from better_orders import rebalance_portfolio
    from better_orders.config.settings import BetterOrdersConfig

    db = tmp_path / "j.sqlite3"
    day1 = datetime(2026, 11, 24, 10, 0, tzinfo=ET)
    assert rebalance_portfolio({"TQQQ": 0.6, "SPY": 0.35}, at=day1, db=db).complete
    notional = BetterOrdersConfig.model_validate({"rebalance": {"notional_buys": True}})
    at = datetime(2026, 11, 25, 9, 30, tzinfo=ET)
    report = rebalance_portfolio({"SOXL": 0.5, "SPY": 0.45}, at=at, db=db, config=notional)
    assert report.complete, report.undone
    sells = [e for e in report.executions if e.side is Side.SELL]
    buys = [e for e in report.executions if e.side is Side.BUY]
    assert [e.symbol for e in sells] == ["TQQQ"] and sells[0].started == at
    assert {e.symbol for e in buys} == {"SOXL", "SPY"}
    assert all(e.strategy == "notional" for e in buys)
    assert min(e.started for e in buys) >= at.replace(minute=35)
