"""The trading commands end to end: order, rebalance, account, demo (JSON and exit codes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from better_orders.core.errors import MarketClosedError
from better_orders.core.model import OrderStatus
from better_orders.store.journal import Journal
from better_orders.venues.sim.account import load_venue_records
from cli_runner import run_cli

ET = ZoneInfo("America/New_York")


def test_order_json_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first order crosses at once (no patient rest): its limit is marketable.
    monkeypatch.setenv("BETTER_ORDERS_PATIENCE__REGULAR_SECONDS", "0")
    db = str(tmp_path / "j.sqlite3")
    code, out, _ = run_cli(
        ["order", "buy", "TQQQ", "25", "--at", "2026-11-24T10:00:00", "--db", db, "--json"], capsys
    )
    assert code == 0
    data = json.loads(out)
    report = data["report"]
    assert report["symbol"] == "TQQQ" and report["side"] == "buy"
    assert D(report["filled_qty"]) == D(25) and report["complete"] is True
    assert report["client_order_ids"][0].startswith(f"bo-{data['run_id']}-1-")
    # a buy limit is at or above the arrival ask
    assert D(report["attempts"][0]["limit_price"]) > D(report["arrival_ask"])


def test_order_then_account_shows_the_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "j.sqlite3")
    run_cli(["account", "reset", "--cash", "20000", "--db", db], capsys)
    run_cli(
        ["order", "buy", "SPY", "3", "--at", "2026-11-24T10:00:00", "--db", db, "--json"], capsys
    )
    code, out, _ = run_cli(["account", "--db", db, "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert [(p["symbol"], D(p["qty"])) for p in data["positions"]] == [("SPY", D(3))]
    spent = D(3) * D(data["positions"][0]["avg_entry_price"])
    assert D(data["cash"]) == D(20000) - spent


def test_an_order_still_working_at_the_close_ends_there_without_a_fill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The ask runs 50 bps away, beyond the 5 bps budget: the ladder rests limits at its
    # bound (100.06) until the close. 50 ms after it the ask comes back through that limit.
    arrival = datetime(2026, 3, 2, 15, 59, 50, tzinfo=ET)
    close = datetime(2026, 3, 2, 16, 0, tzinfo=ET)
    rows = [(arrival, "100.00", "100.02")]
    rows += [(arrival + timedelta(seconds=s), "100.50", "100.52") for s in range(1, 11)]
    rows += [(close + timedelta(milliseconds=50 + 1000 * s), "99.98", "100.00") for s in range(60)]
    quotes = tmp_path / "tqqq.csv"
    quotes.write_text(
        "ts_utc_ns,symbol,bid_px,ask_px,bid_sz,ask_sz\n"
        + "".join(
            f"{int(t.timestamp()) * 10**9 + t.microsecond * 1000},TQQQ,{b},{a},500,500\n"
            for t, b, a in rows
        )
    )
    db = tmp_path / "j.sqlite3"
    args = ["order", "buy", "TQQQ", "100", "--at", arrival.isoformat(), "--quotes", str(quotes)]
    code, out, _ = run_cli([*args, "--max-slippage-bps", "5", "--db", str(db), "--json"], capsys)
    report = json.loads(out)["report"]
    assert code == MarketClosedError.exit_code
    assert D(report["filled_qty"]) == 0 and report["fills"] == []
    assert report["attempts"][-1]["status"] == "expired"
    assert report["unfilled_reason"].startswith("market closed at 2026-03-02 16:00:00 ET")
    with Journal.open(db) as journal:
        assert journal.orders(open_only=True) == []
    orders, fills = load_venue_records(db)
    assert fills == [] and orders[-1].status is OrderStatus.EXPIRED
    assert all(o.status.is_terminal for o in orders)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["order", "buy", "TQQQ", "0"], "quantity must be positive"),
        (["order", "buy", "TQQQ", "NaN"], "not a finite number"),
        (["order", "hold", "TQQQ", "5"], "unknown side"),
        (["order", "buy", "TQQQ", "5", "--at", "tomorrow"], "cannot parse time"),
        (["order", "buy", "TQQQ", "5", "--at", "2026-11-26T10:00:00"], "market closed"),
        (["rebalance", "TQQQ=1.5"], "sum"),
        (["rebalance", "TQQQ"], "SYMBOL=WEIGHT"),
        (["account", "reset", "--cash", "lots"], "not a number"),
    ],
)
def test_bad_input_is_one_clear_line_and_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    code, out, err = run_cli([*args, "--db", str(tmp_path / "j.sqlite3")], capsys)
    assert code != 0
    assert fragment in (err + out)
    assert "Traceback" not in err


def test_rebalance_dry_run_json_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "j.sqlite3")
    code, out, _ = run_cli(
        [
            "rebalance",
            "TQQQ=0.6",
            "SPY=40%",
            "--dry-run",
            "--json",
            "--db",
            db,
            "--at",
            "2026-11-24T09:45:00",
        ],
        capsys,
    )
    assert code == 0
    data = json.loads(out)
    assert data["dry_run"] is True and data["executions"] == []
    assert [t["symbol"] for t in data["plan"]["trades"]] == ["TQQQ", "SPY"]
    code, out, _ = run_cli(["account", "--db", db, "--json"], capsys)
    assert json.loads(out)["positions"] == []


def test_rebalance_from_a_targets_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    targets = tmp_path / "targets.csv"
    targets.write_text("symbol,weight\nTQQQ,0.5\nSPY,0.5\n")
    db = str(tmp_path / "j.sqlite3")
    code, out, _ = run_cli(
        [
            "rebalance",
            "--targets",
            str(targets),
            "--json",
            "--db",
            db,
            "--at",
            "2026-11-24T09:45:00",
        ],
        capsys,
    )
    assert code == 0
    data = json.loads(out)
    weights = {r["symbol"]: D(r["final_weight"]) for r in data["results"]}
    assert abs(weights["TQQQ"] - D("0.5")) <= D("0.01")
    assert abs(weights["SPY"] - D("0.5")) <= D("0.01")
    assert data["complete"] is True


def test_demo_scenes_show_a_wait_a_repeg_and_a_fallback() -> None:
    from better_orders.cli.cmd_demo import run_scenes
    from better_orders.core.model import AttemptKind

    wait, repeg, fallback = run_scenes()
    assert all(r.complete for r in (wait, repeg, fallback))
    assert wait.waited_seconds > 0 and wait.spread_class == "wide" and wait.repegs_used == 0
    assert repeg.repegs_used == 1 and [a.kind for a in repeg.attempts] == [
        AttemptKind.AGGRESSIVE,
        AttemptKind.REPEG,
    ]
    assert repeg.attempts[1].qty == repeg.requested_qty - repeg.attempts[0].filled_qty
    assert fallback.fallback_used and fallback.attempts[-1].kind is AttemptKind.FALLBACK_MARKET


def test_the_demos_fallback_scene_says_what_its_fallback_sends() -> None:
    from better_orders.cli.cmd_demo import SCENES, run_scenes

    *_, fallback = run_scenes()
    last = fallback.attempts[-1]
    # The fallback is a marketable limit at the budget's bound, not a market order.
    assert last.limit_price is not None
    assert any(f"at the budget's bound {last.limit_price} " in n for n in fallback.notes)
    title = SCENES[-1][0]
    assert title.endswith("then the fallback at the budget's bound")
    assert "market-order" not in title


def test_demo_command_exits_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["demo"], capsys)
    assert code == 0 and "Next:" in out


def test_a_reader_that_goes_away_does_not_stop_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``better-orders order ... | head -1``: the order still completes and is journalled."""
    db = tmp_path / "j.sqlite3"
    # Paced so that the ladder's later steps are printed after the reader has gone.
    env = {**os.environ, "BETTER_ORDERS_SIM_PACE": "0.01"}
    entry = [sys.executable, "-c", "from better_orders.cli.app import main; main()"]
    proc = subprocess.Popen(
        # TQQQ's open runs past its 20 bps budget on this day: a wider one lets it complete.
        [
            *entry,
            "order",
            "buy",
            "TQQQ",
            "100",
            "--at",
            "2026-11-24T09:30:00",
            "--db",
            str(db),
            "--max-slippage-bps",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert "TQQQ start" in proc.stdout.readline().decode()
    proc.stdout.close()  # the reader leaves after one line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err
    code, out, _ = run_cli(["account", "--db", str(db), "--json"], capsys)
    assert code == 0
    (position,) = json.loads(out)["positions"]
    assert (position["symbol"], D(position["qty"])) == ("TQQQ", D(100))
