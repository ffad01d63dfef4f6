"""What every refusal must look like, and how to tell that nothing was sent.

A refused command exits with its family's code (``cli.exit_codes``), prints exactly
one line on stderr (``error: ...``) naming the problem and no traceback, and leaves
the journal without an order and the paper account as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from better_orders.store.journal import Journal
from better_orders.store.records import OrderRecord
from better_orders.venues.sim.account import DEFAULT_CASH, PaperAccount
from cli_runner import run_cli

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=ET)  # an ordinary Tuesday
AT = ["--at", "2026-11-24T10:00:00"]
HEADER = "ts_utc_ns,ts_et,symbol,bid_px,ask_px,bid_sz,ask_sz,source\n"


def error_line(err: str) -> str:
    """The one line a refusal prints on stderr."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0]


def refused(
    args: Sequence[str],
    capsys: pytest.CaptureFixture[str],
    fragment: str,
    db: Path | None = None,
    *,
    code: int | None = None,
    risk_refusals: bool = False,
) -> tuple[str, str]:
    """Run a command that must fail: (stdout, its one error line).

    Non-zero (``code`` if given), one line naming the problem, no traceback, and, with
    ``db``, nothing sent from that journal and paper account.
    """
    exit_code, out, err = run_cli([*args, *(["--db", str(db)] if db else [])], capsys)
    assert exit_code != 0, out + err
    assert "Traceback" not in out + err
    line = error_line(err)
    assert fragment in line, line
    if code is not None:
        assert exit_code == code, (exit_code, line)
    if db is not None:
        assert_nothing_sent(db, risk_refusals=risk_refusals)
    return out, line


def journal_orders(db: Path) -> list[OrderRecord]:
    if not db.exists():
        return []
    with Journal.open(db) as journal:
        return journal.orders()


def assert_nothing_sent(db: Path, cash: D = DEFAULT_CASH, *, risk_refusals: bool = False) -> None:
    """No order in the journal, and the paper account as it was.

    With ``risk_refusals`` the journal may hold orders a risk check refused: rejected,
    with the reason, and never given a broker order id.
    """
    orders = journal_orders(db)
    if risk_refusals:
        assert orders
        for order in orders:
            assert order.status == "rejected" and order.broker_order_id is None
            assert order.reason is not None and order.reason.startswith("risk_limit: ")
    else:
        assert orders == []
    if db.exists():
        account = PaperAccount.load(db)
        assert account.cash == cash
        assert {s: p.qty for s, p in account.positions.items() if p.qty} == {}


def ns(at: datetime) -> int:
    return int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000


def quote_file(
    path: Path,
    bid: str,
    ask: str,
    *,
    at: datetime = T0,
    seconds: int = 60,
    size: int = 500,
    symbol: str = "TQQQ",
) -> Path:
    rows = [
        f"{ns(at + timedelta(seconds=s))},x,{symbol},{bid},{ask},{size},{size},test\n"
        for s in range(seconds)
    ]
    path.write_text(HEADER + "".join(rows))
    return path
