"""Recovery on Alpaca (the local exchange): a run whose process died, finished by the same
command, whatever the exchange's clock did meanwhile."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from alpaca_server import LocalAlpaca, run_local_alpaca, venue_at
from better_orders.core.model import (
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from better_orders.engine.commands import VenueChoice, run_rebalance, run_rebalance_simulated
from better_orders.engine.legs import LadderEvent
from better_orders.server.shapes import ACCOUNT_NUMBER
from better_orders.store.journal import Journal
from better_orders.store.progress import run_progress
from better_orders.store.records import RunStatus
from cli_runner import run_cli

ET = ZoneInfo("America/New_York")
#: Two minutes before the close of Tuesday 2026-11-24.
BEFORE_CLOSE = datetime(2026, 11, 24, 15, 58, tzinfo=ET)
RUN = "20261124T155800-dead"
#: The local exchange's account, as runs on it record their venue.
LOCAL_VENUE = f"alpaca-paper {ACCOUNT_NUMBER}"
#: The simulator's session of the same day.
SESSION_OPEN = datetime(2026, 11, 24, 9, 30, tzinfo=ET)


class Crash(BaseException):
    """Stands in for the process dying at that point (a dying process cleans nothing up)."""


def crash_on(predicate: Any) -> Any:
    def observer(ev: LadderEvent) -> None:
        if predicate(ev):
            raise Crash(f"crashed at leg {ev.leg}")

    return observer


def a_fill(ev: LadderEvent) -> bool:
    return isinstance(ev.item, OrderUpdate) and ev.item.fill is not None


@pytest.fixture
def exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAlpaca]:
    with run_local_alpaca(venue_at(BEFORE_CLOSE, db_path=tmp_path / "exchange.sqlite3")) as local:
        for name, value in local.environment().items():
            monkeypatch.setenv(name, value)
        yield local


def post(local: LocalAlpaca, path: str, body: dict[str, Any]) -> Any:
    response = requests.post(local.base_url + path, json=body, headers=local.headers, timeout=5)
    response.raise_for_status()
    return response.json()


def killed_order(local: LocalAlpaca, db: Path, qty: int, filled: int) -> None:
    """The journal of ``order buy SPY qty`` whose process died once its first child, for
    ``filled`` shares at a marketable limit, was acknowledged and then filled."""
    coid = f"bo-{RUN}-1-1"
    ask = D(str(local.get("/v2/stocks/SPY/quotes/latest")["quote"]["ap"]))
    child = OrderRequest(coid, "SPY", Side.BUY, D(filled), OrderType.LIMIT, ask + 1)
    params = {"orders": [{"symbol": "SPY", "side": "buy", "qty": str(qty)}], "feed": "sip"}
    with Journal.open(db) as journal:
        journal.start_run(RUN, "order", params, "alpaca-paper")
        journal.record_intent(RUN, 1, "SPY", Side.BUY, D(qty))
        journal.size_intent(RUN, 1, D(qty))
        journal.record_order_pending(child, RUN, 1, 1)
        sent = post(
            local,
            "/v2/orders",
            {
                "symbol": "SPY",
                "qty": str(filled),
                "side": "buy",
                "type": "limit",
                "limit_price": str(child.limit_price),
                "time_in_force": TimeInForce.DAY.value,
                "client_order_id": coid,
            },
        )
        journal.record_order_ack(
            OrderUpdate(coid, OrderStatus.NEW, D(0), datetime.now(UTC), broker_order_id=sent["id"])
        )
    deadline = time.monotonic() + 5
    while local.get(f"/v2/orders/{sent['id']}")["status"] != "filled":
        assert time.monotonic() < deadline, "the marketable child did not fill"
        time.sleep(0.05)


def overnight(local: LocalAlpaca, *symbols: str) -> None:
    """Wednesday 09:31, with the exchange caught up on the symbols' quotes and trades of the
    night (generating them takes it tens of seconds, longer than a command waits for an
    answer)."""
    local.advance(17.5 * 3600)
    for symbol, what in itertools.product(symbols, ("quotes", "trades")):
        url = f"{local.base_url}/v2/stocks/{symbol}/{what}/latest"
        requests.get(url, headers=local.headers, timeout=300).raise_for_status()


def held(local: LocalAlpaca) -> dict[str, D]:
    return {p["symbol"]: D(p["qty"]) for p in local.get("/v2/positions")}


def test_an_order_resumed_after_the_close_is_finished_at_the_next_open_not_sent_again(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Killed with 4 of 10 shares bought; run again once the session has closed, the order
    # can send nothing: it says so (exit 4) and stays unfinished, so the same command at
    # the next open buys the 6 left, not 10 more.
    db = tmp_path / "journal.sqlite3"
    killed_order(exchange, db, qty=10, filled=4)
    assert held(exchange) == {"SPY": D(4)}
    exchange.advance(180)  # 16:01: the session is over
    command = ["order", "buy", "SPY", "10", "--broker", "alpaca", "--db", str(db), "--json"]

    code, out, err = run_cli(command, capsys)
    assert code == 4, err
    assert "market closed" in err
    notes = json.loads(out)["report"]["notes"]
    assert f"run {RUN} left unfinished (buy 6 SPY not sent)" in notes[-1]
    assert exchange.requests_to("POST /v2/orders") == 1  # nothing sent after the close
    with Journal.open(db) as journal:
        run = journal.get_run(RUN)
    assert run is not None and run.status is RunStatus.INTERRUPTED

    overnight(exchange, "SPY")
    code, out, err = run_cli(command, capsys)
    assert code == 0, err
    assert D(json.loads(out)["report"]["filled_qty"]) == D(6)
    assert held(exchange) == {"SPY": D(10)}
    assert exchange.get("/v2/orders", status="open") == []
    with Journal.open(db) as journal:
        run = journal.get_run(RUN)
        assert [r.run_id for r in journal.find_runs(kind="order")] == [RUN]
        assert journal.positions_from_fills() == {"SPY": D(10)}
    assert run is not None and run.status is RunStatus.COMPLETED


def test_a_simulator_command_on_the_same_journal_leaves_alpacas_orders_to_alpaca(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One journal file (the default one) holds runs of both venues. An order killed on
    # Alpaca once its child had filled there, then a simulator command: the simulator does
    # not know that child, which is no reason to close it as lost. Alpaca's reconciliation
    # later records its fill, so the same order run again buys nothing more.
    db = tmp_path / "journal.sqlite3"
    killed_order(exchange, db, qty=10, filled=10)
    sim = ["order", "buy", "TQQQ", "7", "--at", "2026-11-24T09:30:00", "--db", str(db)]
    code, _, err = run_cli(sim, capsys)
    assert code == 0, err
    with Journal.open(db) as journal:
        child = journal.get_order(f"bo-{RUN}-1-1")
    assert child is not None and child.status == "new"  # left to Alpaca's reconciliation

    # each venue's reconciliation compares the positions its own runs' fills explain
    code, _, err = run_cli(["reconcile", "--db", str(db)], capsys)
    assert code == 0, err
    command = ["order", "buy", "SPY", "10", "--broker", "alpaca", "--db", str(db), "--json"]
    code, out, err = run_cli(command, capsys)
    assert code == 0, err
    assert "already done, nothing sent" in json.loads(out)["report"]["notes"][-1]
    assert held(exchange) == {"SPY": D(10)}
    assert exchange.requests_to("POST /v2/orders") == 1
    code, _, err = run_cli(["reconcile", "--broker", "alpaca", "--db", str(db)], capsys)
    assert code == 0, err
    with Journal.open(db) as journal:
        assert journal.positions_from_fills(broker=LOCAL_VENUE) == {"SPY": D(10)}
        assert journal.positions_from_fills(broker="sim") == {"TQQQ": D(7)}


def test_a_run_is_resumed_only_on_the_account_it_traded(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "journal.sqlite3"
    # A rebalance of the simulator's paper account, killed after its first fill: its plan
    # and what is left of it are that account's, so --resume on Alpaca is refused.
    with pytest.raises(Crash):
        run_rebalance_simulated({"SOXL": 0.5}, at=SESSION_OPEN, db=db, observer=crash_on(a_fill))
    with Journal.open(db) as journal:
        killed = journal.latest_run(kind="rebalance")
    assert killed is not None and killed.status is not RunStatus.COMPLETED
    resume = ["rebalance", "--resume", killed.run_id, "--broker", "alpaca", "--db", str(db)]
    code, _, err = run_cli(resume, capsys)
    assert code == 2, err
    assert f"run {killed.run_id} was traded on sim, not alpaca-paper" in err
    assert exchange.requests_to("POST /v2/orders") == 0 and held(exchange) == {}

    # An order killed on the paper account with 4 of 10 bought: the same order on the
    # live account is a new order for 10 there, not the paper account's 6 left.
    killed_order(exchange, db, qty=10, filled=4)
    code, _, err = run_cli(["reconcile", "--broker", "alpaca", "--db", str(db)], capsys)
    assert code == 0, err  # the paper run is interrupted, its 4 shares recorded
    live = ["order", "buy", "SPY", "10", "--broker", "alpaca", "--live", "--yes"]
    code, out, err = run_cli([*live, "--db", str(db), "--json"], capsys)
    assert code == 0, err
    found = json.loads(out)
    assert found["run_id"] != RUN and D(found["report"]["filled_qty"]) == D(10)
    assert not any("resumed run" in note for note in found["report"]["notes"])
    with Journal.open(db) as journal:
        paper = journal.get_run(RUN)
        assert [o.attempt for o in journal.orders(run_id=RUN)] == [1]  # nothing more sent
    assert paper is not None and paper.status is RunStatus.INTERRUPTED


def test_a_rebalance_resumed_after_the_close_can_be_resumed_again_at_the_next_open(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "journal.sqlite3"
    with pytest.raises(Crash):
        run_rebalance(
            {"SOXL": 0.3, "SPY": 0.3},
            venue=VenueChoice("alpaca"),
            db=db,
            observer=crash_on(lambda ev: True),  # its plan journalled, before any order
        )
    with Journal.open(db) as journal:
        killed = journal.latest_run(kind="rebalance")
    assert killed is not None and exchange.requests_to("POST /v2/orders") == 0
    exchange.advance(180)  # 16:01
    resume = ["rebalance", "--resume", killed.run_id, "--broker", "alpaca", "--db", str(db)]
    code, _, err = run_cli(resume, capsys)
    assert code == 4, err
    assert "market closed" in err
    sent = exchange.requests_to("POST /v2/orders")

    overnight(exchange, "SOXL", "SPY")
    code, out, err = run_cli([*resume, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["complete"] is True
    assert exchange.requests_to("POST /v2/orders") > sent
    assert exchange.get("/v2/orders", status="open") == []
    with Journal.open(db) as journal:
        run = journal.get_run(killed.run_id)
        assert held(exchange) == journal.positions_from_fills(broker=LOCAL_VENUE)
        assert all(p.remaining_qty == 0 for p in run_progress(journal, killed.run_id))
    assert run is not None and run.status is RunStatus.COMPLETED


def test_another_paper_account_on_the_same_journal_keeps_its_runs(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A run on another paper account (another key pair), killed with its child acknowledged
    # and 4 of 10 SPY bought there. This account's broker has never heard of that child:
    # which makes it the other account's, not lost, and its fills not this account's.
    db = tmp_path / "journal.sqlite3"
    other = "alpaca-paper PAOTHER0001"
    coid = f"bo-{RUN}-1-1"
    child = OrderRequest(coid, "SPY", Side.BUY, D(4), OrderType.LIMIT, D("600"))
    params = {"orders": [{"symbol": "SPY", "side": "buy", "qty": "10"}], "feed": "sip"}
    with Journal.open(db) as journal:
        journal.start_run(RUN, "order", params, other)
        journal.record_intent(RUN, 1, "SPY", Side.BUY, D(10))
        journal.size_intent(RUN, 1, D(10))
        journal.record_order_pending(child, RUN, 1, 1)
        journal.record_order_ack(OrderUpdate(coid, OrderStatus.NEW, D(0), datetime.now(UTC)))

    code, _, err = run_cli(["reconcile", "--broker", "alpaca", "--db", str(db)], capsys)
    assert code == 0, err
    command = ["order", "buy", "SPY", "10", "--broker", "alpaca", "--db", str(db), "--json"]
    code, out, err = run_cli(command, capsys)
    assert code == 0, err
    found = json.loads(out)
    assert found["run_id"] != RUN and D(found["report"]["filled_qty"]) == D(10)
    assert held(exchange) == {"SPY": D(10)}  # a new order for 10 here, not the other's 6
    with Journal.open(db) as journal:
        assert journal.get_order(coid).status == "new"  # left to its own account
        assert journal.get_run(found["run_id"]).broker == LOCAL_VENUE
        assert journal.positions_from_fills(broker=LOCAL_VENUE) == {"SPY": D(10)}
