"""The tables of ``order``, ``rebalance``, ``account`` and ``config show`` at 80 columns:
every line fits, and no number is split across lines (text columns wrap instead)."""

from __future__ import annotations

import io
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from rich.table import Table

from better_orders import place_better_order
from better_orders.cli.cmd_account import paper_positions_table
from better_orders.cli.cmd_config import _table as config_table
from better_orders.cli.cmd_rebalance import LiveTable, plan_table, summary_table
from better_orders.cli.report_view import IDS_FROM_WIDTH, attempts_table, marks_wait, report_table
from better_orders.config.loader import load_config
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.model import ExecutionReport
from better_orders.core.plan import Plan
from better_orders.engine.commands import run_rebalance_simulated
from better_orders.engine.rebalance import RebalanceReport
from cli_runner import run_cli

NEW_YORK = ZoneInfo("America/New_York")
Rebalanced = tuple[Plan, LiveTable, RebalanceReport, Path]
#: A cell that is a number: a price, a quantity, "811/811", "-12.50", "39.13%", "59,863.96".
NUMBER = re.compile(r"^[-+$]?\d[\d,]*(\.\d+)?(/\d+(\.\d+)?)?%?$")


def render(table: Table, width: int = 80) -> list[str]:
    console = Console(width=width, file=io.StringIO(), color_system=None, record=True)
    console.print(table)
    return console.export_text().splitlines()


def assert_readable(table: Table, width: int = 80) -> list[str]:
    """Every line fits in ``width``, and every number cell is whole on one line."""
    lines = render(table, width)
    too_wide = [line for line in lines if len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    numbers = 0
    for column in table.columns:
        for cell in column.cells:
            text = str(cell)
            if NUMBER.match(text):
                numbers += 1
                whole = re.compile(rf"(?<![\w.,/]){re.escape(text)}(?![\w.,/])")
                assert any(whole.search(line) for line in lines), (
                    f"{column.header!s}: {text!r} is split\n" + "\n".join(lines)
                )
    assert numbers, "a table of numbers without numbers"
    return lines


@pytest.fixture(scope="module")
def soxl_order(tmp_path_factory: pytest.TempPathFactory) -> ExecutionReport:
    """A wide open: resting slices, a cancelled one with a long reason, then crosses."""
    db = tmp_path_factory.mktemp("order") / "j.sqlite3"
    at = datetime(2026, 11, 24, 9, 30, tzinfo=NEW_YORK)
    return place_better_order("SOXL", 300, "buy", at=at, db=db)


def test_attempts_table_fits_80_columns(soxl_order: ExecutionReport) -> None:
    assert len(soxl_order.attempts) >= 3
    lines = assert_readable(attempts_table(soxl_order, 80))
    # Too narrow for the 27-character client order ids: the attempt number stands for them.
    assert not any(a.client_order_id in "\n".join(lines) for a in soxl_order.attempts)


def test_attempts_table_shows_client_order_ids_when_wide(soxl_order: ExecutionReport) -> None:
    lines = assert_readable(attempts_table(soxl_order, IDS_FROM_WIDTH), IDS_FROM_WIDTH)
    assert all(any(a.client_order_id in line for line in lines) for a in soxl_order.attempts)


def test_order_report_fits_80_columns(soxl_order: ExecutionReport) -> None:
    assert all(len(line) <= 80 for line in render(report_table(soxl_order)))


@pytest.fixture(scope="module")
def rebalance_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Rebalanced:
    db = tmp_path_factory.mktemp("rebalance") / "j.sqlite3"
    plans: list[Plan] = []
    live = LiveTable()
    report = run_rebalance_simulated(
        {"TQQQ": "0.3", "SOXL": "0.3", "SPY": "0.3"},
        at=datetime(2026, 11, 24, 9, 30, tzinfo=NEW_YORK),
        db=db,
        observer=live,
        on_plan=plans.append,
        # TQQQ's open on this day runs 48 bps past its arrival mid: a budget wide enough to
        # complete, so that every table has all three positions to show.
        config=BetterOrdersConfig(max_slippage_bps=100, leveraged_etf_bps=100),
    )
    return plans[0], live, report, db


def test_rebalance_tables_fit_80_columns(
    rebalance_run: Rebalanced,
) -> None:
    plan, live, report, _ = rebalance_run
    assert_readable(plan_table(plan))
    assert_readable(live.render())
    assert_readable(summary_table(report))


def test_live_table_wraps_words_not_numbers() -> None:
    """Mid-run rows are the widest: a long state and attempt kind beside the numbers."""
    live = LiveTable()
    live.rows[1] = {
        "symbol": "BRK.B",
        "side": "sell",
        "state": "waiting spread",
        "spread": "normal",
        "attempt": "12 fallback market",
        "filled": "12345/12345",
        "cost": "-1234.56",
    }
    live.rows[2] = {"symbol": "TQQQ", "side": "buy", "state": "waiting open", "filled": "0/406"}
    lines = assert_readable(live.render())
    assert any("12345/12345" in line and "-1234.56" in line for line in lines)


def test_account_table_fits_80_columns(
    rebalance_run: Rebalanced,
) -> None:
    from better_orders.venues.sim.account import PaperAccount, PaperPosition

    _, _, _, db = rebalance_run
    positions = sorted(PaperAccount.load(db).positions.values(), key=lambda p: p.symbol)
    assert len(positions) == 3
    assert_readable(paper_positions_table(positions))
    big = [PaperPosition("BRK.A", Decimal("12345.123456789"), Decimal("712345.6789"))]
    assert_readable(paper_positions_table(big))


def test_config_show_fits_80_columns(tmp_path: Path) -> None:
    cfg = tmp_path / "a-rather-long-directory-name-for-settings" / "better-orders.toml"
    cfg.parent.mkdir()
    cfg.write_text("[symbols.TQQQ]\nmax_slippage_bps = 25\n", encoding="utf-8")
    env = {"BETTER_ORDERS_LADDER__MAX_REPEGS": "3", "BETTER_ORDERS_RISK__MAX_ORDER_QTY": "5000"}
    lines = assert_readable(config_table(load_config(cfg, env=env)))
    text = "\n".join(lines)
    # Each variable named whole, under the table.
    assert "BETTER_ORDERS_LADDER__MAX_REPEGS" in text
    assert "BETTER_ORDERS_RISK__MAX_ORDER_QTY" in text
    repegs = next(line for line in lines if "ladder.max_repegs " in line)
    assert re.search(r"│ 3\s+│ env\s+│$", repegs)
    slippage = next(line for line in lines if "symbols.TQQQ.max_slippage_bps" in line)
    assert re.search(r"│ 25\s+│ file\s+│$", slippage)


def test_order_and_rebalance_commands_fit_80_columns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for args in (
        ["order", "buy", "SOXL", "300", "--at", "2026-11-24T09:30:00"],
        ["rebalance", "TQQQ=0.6", "SPY=0.4", "--at", "2026-11-25T09:30:00"],
        ["account"],
        ["config", "show"],
    ):
        code, out, err = run_cli(args, capsys)
        assert code == 0, err
        too_wide = [line for line in out.splitlines() if len(line) > 80]
        assert not too_wide, f"{' '.join(args)}:\n" + "\n".join(too_wide)


def test_a_run_waiting_for_its_marks_says_so_once_every_leg_is_done() -> None:
    note = marks_wait([60, 5, 0])
    assert note is not None
    assert note.startswith("journalling the quotes 5 s and 60 s after each fill")
    assert "about 61 s after the last fill" in note and "[] skips" in note
    assert marks_wait([]) is None
    live = LiveTable(marks_after=[5, 60])
    live.rows[1] = {"symbol": "SPY", "side": "sell", "state": "done", "filled": "5/5"}
    live.rows[2] = {"symbol": "QQQ", "side": "buy", "state": "working", "filled": "0/9"}
    assert not any("journalling" in line for line in render(live.render()))
    live.rows[2]["state"] = "done"
    lines = assert_readable(live.render())
    assert any(line.startswith("journalling the quotes 5 s") for line in lines)
    assert all("journalling" not in line for line in render(LiveTable().render()))


def test_step_printer_says_once_that_the_run_waits_for_its_marks(tmp_path: Path) -> None:
    from better_orders.cli.report_view import StepPrinter
    from better_orders.engine.commands import run_orders_simulated
    from better_orders.engine.execution import OrderSpec

    out = io.StringIO()
    printer = StepPrinter(Console(file=out, width=200, color_system=None), marks_after=[5, 60])
    specs = [OrderSpec.parse("SPY", 1, "buy"), OrderSpec.parse("QQQ", 1, "buy")]
    at = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    run_orders_simulated(specs, at=at, db=tmp_path / "j.sqlite3", observer=printer)
    lines = out.getvalue().splitlines()
    done = [i for i, line in enumerate(lines) if " done: filled 1/1" in line]
    waits = [i for i, line in enumerate(lines) if line.startswith("journalling the quotes")]
    assert len(done) == 2 and len(waits) == 1
    assert waits[0] == done[0] + 1


def test_step_printer_names_a_refused_submit_and_who_refused_it(tmp_path: Path) -> None:
    from better_orders.cli.report_view import StepPrinter
    from better_orders.engine.commands import run_orders_simulated
    from better_orders.engine.execution import OrderSpec

    out = io.StringIO()
    printer = StepPrinter(Console(file=out, width=300, color_system=None))
    at = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    spec = OrderSpec.parse("DFEN", Decimal("0.5"), "buy")
    _, (report,) = run_orders_simulated([spec], at=at, db=tmp_path / "j.sqlite3", observer=printer)
    refusals = [line for line in out.getvalue().splitlines() if " refused by " in line]
    first = report.attempts[0].client_order_id
    assert refusals and refusals[0].endswith(
        f"DFEN {first} refused by the broker (not_fractionable): DFEN is not fractionable: "
        "a fractional quantity (0.5) must be whole shares (Alpaca's fractional trading rules, "
        "which the simulated venue applies); no order sent"
    )
    assert "SubmitFailed" not in out.getvalue()
    assert report.filled_qty == 0
    assert all(a.end_reason.startswith("refused at submit") for a in report.attempts)


def test_account_shows_its_journals_path_whole_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / ("a-long-folder-name-" * 4) / "journal.sqlite3"
    db.parent.mkdir()
    code, out, _ = run_cli(
        ["order", "buy", "SOXL", "3", "--at", "2026-11-24T10:00", "--db", str(db)], capsys
    )
    assert code == 0
    code, out, _ = run_cli(["account", "--db", str(db)], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0] == f"paper account ({db})"
    assert any(line.startswith("│ SOXL   │   3 │") for line in lines)
    code, out, _ = run_cli(["account", "reset", "--cash", "1000", "--db", str(db)], capsys)
    assert code == 0
    assert out.splitlines() == [f"paper account reset: cash $1,000.00, no positions ({db})"]
