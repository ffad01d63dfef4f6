"""Exit codes: one per family, documented in the README, the same from every entry point.

The same refusal exits with the same code from ``order`` and ``rebalance``, and the
Python API raises (or reports) an error of that family, whether the refusal comes
before the run or from inside it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import better_orders.core.errors as errors
from better_orders.api import place_better_order, rebalance_portfolio
from better_orders.cli.exit_codes import INCOMPLETE, INTERRUPTED, TABLE, USAGE, refusal
from better_orders.cli.extras import MissingExtraError
from better_orders.core.errors import (
    BetterOrdersError,
    BrokerError,
    InvalidInputError,
    JournalError,
    MarketClosedError,
    QuoteError,
    RiskLimitError,
)
from better_orders.core.model import ExecutionReport
from better_orders.engine.commands import most_recent_open
from better_orders.venues.alpaca.credentials import LiveTradingRefused
from better_orders.venues.sim.account import PaperAccount
from better_orders.venues.sim.files import QuoteFileError
from cli_runner import run_cli
from refusal import AT, T0, error_line, quote_file

README = Path(__file__).parent.parent / "README.md"
HOLIDAY = datetime(2026, 11, 26, 10, 0, tzinfo=ZoneInfo("America/New_York"))


def test_every_error_family_has_its_code_in_the_table() -> None:
    codes = {row.code for row in TABLE}
    families = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, BetterOrdersError)
    ]
    assert len(families) >= 9
    for cls in [*families, QuoteFileError, LiveTradingRefused, MissingExtraError]:
        assert cls.exit_code in codes, cls
    assert USAGE == InvalidInputError.exit_code == 2  # typer's usage errors exit 2 too
    assert len(codes) == len(TABLE)  # one row per code


def test_the_readme_documents_the_table() -> None:
    text = README.read_text()
    section = text[text.index("### Exit codes") :]
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \| ([^|]+) \|$", section, re.MULTILINE)
    documented = {int(code): (family.strip(), when.strip()) for code, family, when in rows}
    assert documented == {row.code: (row.family, row.meaning) for row in TABLE}


def test_most_recent_open_takes_new_yorks_date_not_the_machines() -> None:
    # 04:00 on Tuesday in New York is still Monday 23:00 in Honolulu: the last open
    # before it is Monday's, not the Friday before the Honolulu date.
    now = datetime(2026, 11, 23, 23, 0, tzinfo=ZoneInfo("Pacific/Honolulu"))
    assert most_recent_open(now) == datetime(2026, 11, 23, 14, 30, tzinfo=ZoneInfo("UTC"))
    # and in the evening on the machine's next day, Tuesday's session is the one
    late = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # Tue 19:00 in New York
    assert most_recent_open(late) == datetime(2026, 11, 24, 14, 30, tzinfo=ZoneInfo("UTC"))


# -- the same refusal from every entry point -----------------------------------------------------


def cli_code(args: list[str], capsys: pytest.CaptureFixture[str]) -> int:
    code, _, err = run_cli(args, capsys)
    assert "Traceback" not in err
    error_line(err)
    return code


def api_family(call: Callable[[], object]) -> type[BaseException] | None:
    """The family the API answers with: the error it raised, else the report's refusal."""
    try:
        report = call()
    except BetterOrdersError as exc:
        return type(exc)
    assert isinstance(report, ExecutionReport)
    return refusal(report)


def test_a_closed_market(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    at = ["--at", HOLIDAY.isoformat(), "--db", str(tmp_path / "j.sqlite3")]
    assert cli_code(["order", "buy", "TQQQ", "5", *at], capsys) == MarketClosedError.exit_code
    assert cli_code(["rebalance", "TQQQ=0.5", *at], capsys) == MarketClosedError.exit_code
    db = tmp_path / "api.sqlite3"
    with pytest.raises(MarketClosedError, match="market closed at 2026-11-26 10:00:00 ET"):
        place_better_order("TQQQ", 5, "buy", at=HOLIDAY, db=db)
    with pytest.raises(MarketClosedError, match="market closed"):
        rebalance_portfolio({"TQQQ": 0.5}, at=HOLIDAY, db=db)


def test_a_risk_limit_before_the_run_and_inside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "j.sqlite3"
    big = ["--db", str(db), *AT]
    assert cli_code(["order", "buy", "TQQQ", "150000", *big], capsys) == RiskLimitError.exit_code
    # before the run too: the order's notional at the mid ($440,000 of TQQQ)
    assert cli_code(["order", "buy", "TQQQ", "6000", *big], capsys) == RiskLimitError.exit_code
    PaperAccount.load(db).reset(D(10_000_000))
    assert cli_code(["rebalance", "TQQQ=1", *big], capsys) == RiskLimitError.exit_code
    with pytest.raises(RiskLimitError, match=r"buy 150000 TQQQ \(.*\) exceeds max_order_qty"):
        place_better_order("TQQQ", 150000, "buy", at=T0, db=db)
    assert api_family(lambda: place_better_order("TQQQ", 6000, "buy", at=T0, db=db)) is (
        RiskLimitError
    )
    with pytest.raises(RiskLimitError, match="exceeds max_order_qty"):
        rebalance_portfolio({"TQQQ": 1}, at=T0, db=db)


def test_bad_input_and_an_unusable_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(tmp_path / "j.sqlite3"), *AT]
    assert cli_code(["order", "buy", "TQQQ", "0", *db], capsys) == USAGE
    assert cli_code(["rebalance", "TQQQ=-1", *db], capsys) == USAGE
    with pytest.raises(InvalidInputError, match="quantity must be positive"):
        place_better_order("TQQQ", 0, "buy", at=T0)
    with pytest.raises(InvalidInputError, match="negative target weight"):
        rebalance_portfolio({"TQQQ": -1}, at=T0)
    folder = ["--db", str(tmp_path), *AT]
    assert cli_code(["order", "buy", "TQQQ", "5", *folder], capsys) == JournalError.exit_code
    assert cli_code(["rebalance", "TQQQ=0.5", *folder], capsys) == JournalError.exit_code
    with pytest.raises(JournalError):
        place_better_order("TQQQ", 5, "buy", at=T0, db=tmp_path)
    with pytest.raises(JournalError):
        rebalance_portfolio({"TQQQ": 0.5}, at=T0, db=tmp_path)


def test_the_api_takes_a_file_or_a_path_and_refuses_other_options_typed(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.sqlite3"
    quotes = quote_file(tmp_path / "q.csv", "50.00", "50.01", symbol="TQQQ", seconds=600)
    settings = tmp_path / "c.toml"
    settings.write_text("leveraged_etf_bps = 12\n")
    # One file as a string, and the configuration as its file's path, as the CLI takes them.
    report = place_better_order("TQQQ", 5, "buy", quotes=str(quotes), config=settings, db=db)
    assert report.filled_qty == 5 and report.budget_bps == D(12)  # read from the file
    for bad, message in (
        ({"config": {"max_slippage_bps": 30}}, "config must be a BetterOrdersConfig or a TOML"),
        ({"seed": "x"}, "seed must be a whole number, got 'x'"),
        ({"quotes": [1, 2]}, "quotes must be a file or a list of files"),
        ({"quotes": 123}, "quotes must be a file or a list of files, got 123"),
        ({"wait": "no"}, "wait must be True or False, got 'no'"),
    ):
        with pytest.raises(InvalidInputError, match=re.escape(message)):
            place_better_order("TQQQ", 5, "buy", at=T0, db=tmp_path / "other.sqlite3", **bad)
        with pytest.raises(InvalidInputError, match=re.escape(message)):
            rebalance_portfolio({"TQQQ": 0.5}, at=T0, db=tmp_path / "other.sqlite3", **bad)
    with pytest.raises(InvalidInputError, match=re.escape("new must be True or False, got 1")):
        place_better_order("TQQQ", 5, "buy", at=T0, db=tmp_path / "other.sqlite3", new=1)
    with pytest.raises(InvalidInputError, match="dry_run must be True or False, got 'no'"):
        rebalance_portfolio({"TQQQ": 0.5}, at=T0, db=tmp_path / "other.sqlite3", dry_run="no")
    assert not (tmp_path / "other.sqlite3").exists()  # nothing journalled
    number = tmp_path / "123"
    with pytest.raises(InvalidInputError, match="db must be the journal file's path, got 123"):
        place_better_order("TQQQ", 5, "buy", at=T0, db=123)
    assert not number.exists() and not Path("123").exists()


def test_a_quote_and_a_broker_refusal_inside_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crossed = quote_file(tmp_path / "q.csv", "50.02", "50.00")
    args = ["order", "buy", "TQQQ", "5", "--quotes", str(crossed), "--db", str(tmp_path / "a")]
    assert cli_code(args, capsys) == QuoteError.exit_code
    family = api_family(lambda: place_better_order("TQQQ", 5, "buy", quotes=[crossed]))
    assert family is QuoteError
    # 2000 TQQQ is more than $100,000 of cash buys, and within the risk checks' notional cap:
    # the broker refuses the first order. (A refused resting slice at the open would not end
    # the order: the rest crosses, and 6000 crossing is refused by the notional cap instead.)
    at = ["--at", "2026-11-24T10:00:00", "--db", str(tmp_path / "b")]
    assert cli_code(["order", "buy", "TQQQ", "2000", *at], capsys) == BrokerError.exit_code
    ten = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("America/New_York"))
    family = api_family(lambda: place_better_order("TQQQ", 2000, "buy", at=ten, db=tmp_path / "c"))
    assert family is BrokerError


def test_interrupted_is_130() -> None:
    assert INTERRUPTED == 130 and any(row.code == 130 for row in TABLE)


def test_an_order_the_budget_left_short_is_incomplete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # TQQQ's open on this day runs ~48 bps from the arrival mid: a 5 bps budget stops it.
    args = ["order", "buy", "TQQQ", "811", "--max-slippage-bps", "5"]
    args += ["--at", "2026-11-24T09:30:00", "--db", str(tmp_path / "j.sqlite3")]
    code, _, err = run_cli(args, capsys)
    assert code == INCOMPLETE
    line = error_line(err)
    assert line.startswith("error: order incomplete: buy 811 TQQQ filled ")
    assert "beyond the 5 bps budget" in line
