"""``--broker alpaca`` end to end: the CLI trades through the Alpaca adapter against the local
exchange."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alpaca_server import LocalAlpaca, run_local_alpaca, venue_at
from better_orders.store.journal import Journal
from better_orders.store.records import MarkKind
from cli_runner import run_cli
from ladder_kit import CROSS_AT_ONCE_ENV

ET = ZoneInfo("America/New_York")


@pytest.fixture
def exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAlpaca]:
    # The exchange's clock runs from a trading morning, so the ladder sees a regular session
    # whatever the time of day the tests run; the client syncs to it through /v2/clock.
    start = datetime(2026, 11, 24, 10, 0, tzinfo=ET)
    with run_local_alpaca(venue_at(start, db_path=tmp_path / "exchange.sqlite3")) as local:
        for name, value in local.environment().items():
            monkeypatch.setenv(name, value)
        yield local


def open_orders(local: LocalAlpaca) -> list[dict[str, object]]:
    result: list[dict[str, object]] = local.get("/v2/orders", status="open")
    return result


def test_order_through_alpaca_fills_and_leaves_nothing_open(
    exchange: LocalAlpaca,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in CROSS_AT_ONCE_ENV.items():  # the first order is the marketable one
        monkeypatch.setenv(name, value)
    db = str(tmp_path / "journal.sqlite3")
    code, out, err = run_cli(
        ["order", "buy", "SPY", "5", "--broker", "alpaca", "--db", db, "--json"], capsys
    )
    assert code == 0, err
    report = json.loads(out)["report"]
    assert D(report["filled_qty"]) == D(5) and report["complete"] is True
    assert D(report["attempts"][0]["limit_price"]) > D(report["arrival_ask"]) - D("0.0001")
    assert report["phase"] == "regular"
    assert open_orders(exchange) == []
    assert exchange.requests_to("POST /v2/orders") == len(report["attempts"])


@pytest.mark.parametrize(
    "fault", [{"server_errors": 1}, {"rate_limit_burst": 1, "retry_after": 0.2}]
)
def test_one_refused_request_at_start_up_is_tried_again(
    exchange: LocalAlpaca,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: dict[str, float],
) -> None:
    # The account and clock read before the run are requests like any other: a 5xx or a
    # 429 is tried again, not the end of an unattended run.
    exchange.set_faults(**fault)
    db = str(tmp_path / "journal.sqlite3")
    code, out, err = run_cli(
        ["rebalance", "SPY=0.1", "--broker", "alpaca", "--db", db, "--dry-run", "--json"], capsys
    )
    assert code == 0, err
    assert [t["symbol"] for t in json.loads(out)["plan"]["trades"]] == ["SPY"]


def test_rebalance_through_alpaca_reaches_the_targets(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "journal.sqlite3")
    code, out, err = run_cli(
        ["rebalance", "SPY=0.3", "QQQ=0.3", "--broker", "alpaca", "--db", db, "--json"], capsys
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["complete"] is True
    weights = {r["symbol"]: D(r["final_weight"]) for r in data["results"]}
    assert abs(weights["SPY"] - D("0.3")) <= D("0.01")
    assert abs(weights["QQQ"] - D("0.3")) <= D("0.01")
    assert open_orders(exchange) == []


def test_rebalance_sells_then_buys_through_alpaca_marks_every_fill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cash account, so the buys need what the sells bring and run after them. The quote a
    # second after each fill is marked: the sells' marks are taken by the buys' run, on the
    # real clock, through the Alpaca adapter's own streams.
    start = datetime(2026, 11, 24, 10, 0, tzinfo=ET)
    config = venue_at(start, db_path=tmp_path / "exchange.sqlite3", cash_account=True)
    with run_local_alpaca(config) as local:
        for name, value in local.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("BETTER_ORDERS_TCA__MARKOUT_SECONDS", "1")
        db = tmp_path / "journal.sqlite3"
        args = ["--broker", "alpaca", "--db", str(db), "--json"]
        code, _, err = run_cli(["rebalance", "SPY=0.6", "QQQ=0.3", *args], capsys)
        assert code == 0, err
        code, out, err = run_cli(["rebalance", "SPY=0.2", "QQQ=0.7", *args], capsys)
        assert code == 0, err
        data = json.loads(out)
        assert data["complete"] is True
        assert not any("sells and buys run together" in n for n in data["notes"])
        sides = {(e["symbol"], e["side"]) for e in data["executions"]}
        assert sides == {("SPY", "sell"), ("QQQ", "buy")}
        with Journal.open(db) as journal:
            fills = journal.fills(run_id=data["run_id"])
            marks = journal.quote_marks(data["run_id"])
            orders = journal.orders(run_id=data["run_id"])
        # The buys did not wait for the sells' marks (a second, and its second of grace).
        sold = max(o.updated_at for o in orders if o.symbol == "SPY")
        bought = min(o.created_at for o in orders if o.symbol == "QQQ")
        assert bought - sold < timedelta(seconds=1)
        after = {m.exec_id: m for m in marks if m.kind is MarkKind.AFTER}
        assert {f.symbol for f in fills} == {"SPY", "QQQ"}
        for fill in fills:
            mark = after[fill.exec_id]
            assert mark.quote.symbol == fill.symbol
            assert mark.taken_at >= fill.ts + timedelta(seconds=1)
        assert open_orders(local) == []


def test_simulator_only_options_are_refused_for_alpaca(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        [
            "order",
            "buy",
            "SPY",
            "1",
            "--broker",
            "alpaca",
            "--seed",
            "3",
            "--db",
            str(tmp_path / "j.sqlite3"),
        ],
        capsys,
    )
    assert code != 0 and "only apply to the simulator" in err
    assert exchange.requests_to("POST /v2/orders") == 0
