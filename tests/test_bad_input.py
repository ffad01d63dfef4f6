"""Every kind of bad order the product accepts: one line, its exit code, and no order.

Each command runs in-process through ``better_orders.cli.app.main`` against its own
journal (``--db``), and afterwards the journal's orders table and the paper account
are checked: nothing reached the broker (``refusal``). Where a pre-trade risk check
refuses a child order, the journal holds it as rejected with the reason, and still
nothing traded. Targets, configuration and the kill switch are in
``test_bad_input_settings``; the other commands in ``test_bad_input_commands``.
"""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from better_orders.cli.exit_codes import USAGE
from better_orders.core.errors import (
    BrokerError,
    InvalidInputError,
    JournalError,
    MarketClosedError,
    QuoteError,
    RiskLimitError,
)
from better_orders.core.model import OrderRequest, OrderType, Quote, Side
from better_orders.core.sanity import require_valid_quote
from better_orders.engine.execution import OrderSpec, execute
from better_orders.store.journal import Journal
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.venue import SimVenue
from cli_runner import run_cli
from ladder_kit import CROSS_AT_ONCE_ENV, crossing_config
from refusal import (
    AT,
    HEADER,
    T0,
    assert_nothing_sent,
    error_line,
    journal_orders,
    ns,
    quote_file,
    refused,
)

QUOTES = QuoteError.exit_code
RISK = RiskLimitError.exit_code
CLOSED = MarketClosedError.exit_code


def json_report(out: str) -> dict[str, object]:
    report: dict[str, object] = json.loads(out)["report"]
    return report


# -- quotes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bid", "ask", "fragment"),
    [
        ("0", "0", "TQQQ quote has a zero or negative price: bid 0 ask 0; no order sent"),
        ("-1", "50.01", "zero or negative price"),
        ("0", "50.01", "TQQQ quote is one-sided (no bid): bid 0 ask 50.01"),
        ("50.00", "0", "one-sided"),
        ("50.02", "50.00", "TQQQ quote is crossed: bid 50.02 > ask 50.00; no order sent"),
        ("50.00", "50.00", "TQQQ quote is locked: bid 50.00 = ask 50.00"),
        ("NaN", "50.01", "TQQQ quote is not a number: bid NaN ask 50.01"),
        ("50.00", "inf", "not a number"),
        ("fifty", "50.01", "not a number"),
        ("50.00", "60.00", "wide"),
    ],
)
def test_assess_refuses_a_quote_it_cannot_trade_on(
    capsys: pytest.CaptureFixture[str], bid: str, ask: str, fragment: str
) -> None:
    out, _ = refused(["assess", "TQQQ", "--bid", bid, "--ask", ask], capsys, fragment, code=QUOTES)
    assert out == ""


def test_a_stale_quote_is_refused_with_its_age() -> None:
    quote = Quote("TQQQ", D("50.00"), D("50.01"), D(100), D(100), T0)
    with pytest.raises(QuoteError, match=r"TQQQ quote is stale: 12\.0 s old \(limit 5\.0 s\)"):
        require_valid_quote(
            quote, T0 + timedelta(seconds=12), max_age_seconds=5, absurd_pct_of_mid=10
        )
    # the same quote is fine while fresh
    fresh = T0 + timedelta(seconds=1)
    assert require_valid_quote(quote, fresh, max_age_seconds=5, absurd_pct_of_mid=10) is quote


@pytest.mark.parametrize(
    ("bid", "ask", "fragment"),
    [
        ("0", "0", "TQQQ quote has a zero or negative price"),
        ("0", "50.01", "TQQQ quote is one-sided (no bid)"),
        ("50.02", "50.00", "TQQQ quote is crossed: bid 50.02 > ask 50.00"),
        ("50.00", "50.00", "TQQQ quote is locked: bid 50.00 = ask 50.00"),
    ],
)
def test_order_on_a_file_of_bad_quotes_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bid: str, ask: str, fragment: str
) -> None:
    quotes = quote_file(tmp_path / "q.csv", bid, ask)
    db = tmp_path / "j.sqlite3"
    args = ["order", "buy", "TQQQ", "10", "--quotes", str(quotes), "--json"]
    out, line = refused(args, capsys, fragment, db, code=QUOTES)
    assert line.startswith("error: buy 10 TQQQ: ") and "no order sent" in line
    report = json_report(out)
    assert D(str(report["filled_qty"])) == 0 and report["attempts"] == []


def test_order_on_a_stale_quote_file_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The quote in force at 10:05:00 is from 10:00:00; the next comes at 10:10:00.
    quotes = quote_file(tmp_path / "q.csv", "50.00", "50.01", seconds=1)
    later = T0 + timedelta(minutes=10)
    with quotes.open("a") as fh:
        fh.write(f"{ns(later)},x,TQQQ,50.00,50.01,500,500,test\n")
    args = ["order", "buy", "TQQQ", "10", "--quotes", str(quotes), "--json"]
    args += ["--at", "2026-11-24T10:05:00"]
    fragment = "TQQQ quote is stale: 300.0 s old"
    refused(args, capsys, fragment, tmp_path / "j.sqlite3", code=QUOTES)


def test_an_order_after_the_last_quote_of_the_file_is_refused_before_anything_is_journalled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quotes = quote_file(tmp_path / "q.csv", "50.00", "50.01", seconds=60)  # 10:00:00-10:00:59
    db = tmp_path / "j.sqlite3"
    args = ["order", "buy", "TQQQ", "10", "--quotes", str(quotes), "--at", "2026-11-24T10:05:00"]
    _, line = refused(args, capsys, "is after the last TQQQ quote", db, code=USAGE)
    assert "10:00:59" in line and line.endswith("no order sent")
    if db.exists():
        with Journal.open(db) as journal:
            assert journal.latest_run() is None


def test_order_on_a_quote_file_with_nan_prices_is_refused_at_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quotes = quote_file(tmp_path / "q.csv", "NaN", "50.01")
    args = ["order", "buy", "TQQQ", "10", "--quotes", str(quotes)]
    refused(args, capsys, "row 1 has no valid bid_px", tmp_path / "j.sqlite3", code=USAGE)


# -- quote files ---------------------------------------------------------------------------------


def _unsorted(path: Path) -> Path:
    rows = [f"{ns(T0 + timedelta(seconds=s))},x,TQQQ,50.00,50.01,100,100,t\n" for s in (5, 1)]
    path.write_text(HEADER + "".join(rows))
    return path


def _corrupt_gzip(path: Path) -> Path:
    good = gzip.compress((HEADER + f"{ns(T0)},x,TQQQ,50.00,50.01,100,100,t\n").encode())
    path.write_bytes(good[: len(good) // 2])  # truncated
    return path


@pytest.mark.parametrize(
    ("name", "make", "fragment"),
    [
        (
            "q.csv",
            lambda p: p.write_text(f"ts_utc_ns,symbol,bid_px,ask_px\n{ns(T0)},TQQQ,50,50.01\n"),
            "is missing column(s) bid_sz, ask_sz",
        ),
        ("q.csv", _unsorted, "is not sorted by time: row 2"),
        ("q.csv", lambda p: p.write_text(""), "is empty"),
        ("q.csv", lambda p: p.write_text(HEADER), "holds no quote rows (only a header)"),
        ("q.csv.gz", _corrupt_gzip, "is not a valid gzip file (corrupt or truncated?)"),
        ("q.csv.gz", lambda p: p.write_text(HEADER), "is not a valid gzip file"),
        ("q.csv", lambda p: None, "does not exist"),
        ("q.csv", lambda p: p.mkdir(), "is not a readable file"),
        ("q.csv", lambda p: quote_file(p, "50", "50.01", symbol="AMZN"), "holds AMZN quotes"),
        (
            "q.csv",
            lambda p: quote_file(p, "50", "50.01", at=T0 - timedelta(days=400)),
            "is not a day of the TQQQ quotes",
        ),
    ],
    ids=[
        "missing-columns",
        "unsorted",
        "empty",
        "header-only",
        "corrupt-gzip",
        "not-gzip",
        "missing",
        "dir",
        "another-symbol",
        "another-day",
    ],
)
def test_a_bad_quote_file_is_named_and_nothing_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, make: object, fragment: str
) -> None:
    path = tmp_path / name
    assert callable(make)
    make(path)
    args = ["order", "buy", "TQQQ", "10", *AT, "--quotes", str(path)]
    _, line = refused(args, capsys, fragment, tmp_path / "j.sqlite3", code=USAGE)
    assert str(path) in line


def test_another_symbols_quotes_are_never_booked_as_the_order_symbols(
    quotes_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    amzn = quotes_dir / "lobster_AMZN_20120621_l1.csv.gz"
    args = ["order", "buy", "TQQQ", "10", "--quotes", str(amzn)]
    _, line = refused(args, capsys, "holds AMZN quotes, not TQQQ's", tmp_path / "j.sqlite3")
    assert line.endswith("no order sent")


# -- orders --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["buy", "TQQQ", "0"], "quantity must be positive, got 0"),
        (["buy", "TQQQ", "--", "-5"], "quantity must be positive, got -5"),
        (["buy", "TQQQ", "-5"], "quantity must be positive, got -5"),
        (["buy", "TQQQ", "-0.5"], "quantity must be positive, got -0.5"),
        (["buy", "TQQQ", "NaN"], "quantity is not a finite number: 'NaN'"),
        (["buy", "TQQQ", "Infinity"], "quantity is not a finite number"),
        (["buy", "TQQQ", "ten"], "quantity is not a number: 'ten'"),
        (["buy", "TQQQ", "0.0000000001"], "has more than 9 decimals"),
        (["buy", "TQQQ", "1e20"], "quantity is too large: '1e20'"),
        (["buy", "SPY", "1e30"], "quantity is too large: '1e30'"),
        (["hold", "TQQQ", "5"], "unknown side 'hold': use buy or sell"),
        (["BUYY", "TQQQ", "5"], "unknown side 'BUYY'"),
        (["buy", "TQ$Q", "5"], "invalid symbol 'TQ$Q'"),
        (["buy", "", "5"], "invalid symbol ''"),
        (["buy", "ABCDEFGHIJKLM", "5"], "invalid symbol 'ABCDEFGHIJKLM'"),
        (["buy", "TQQQ", "5", "--max-slippage-bps", "-1"], "max_slippage_bps must be > 0"),
        (["buy", "TQQQ", "5", "--max-slippage-bps", "0"], "max_slippage_bps must be > 0"),
        (["buy", "TQQQ", "5", "--max-slippage-bps", "1e30"], "must be at most 1,000,000"),
        (["buy", "TQQQ", "5", "--on-budget", "always"], "unknown on_budget 'always'"),
        (["buy", "TQQQ", "5", "--max-slippage-bps", "NaN"], "max_slippage_bps is not a finite"),
        (["buy", "TQQQ", "5", "--broker", "ib"], "unknown broker 'ib': use sim or alpaca"),
        (["buy", "TQQQ", "5", "--live"], "--live needs --broker alpaca"),
        (["buy", "TQQQ", "5", "--feed", "fast"], "unknown Alpaca data feed 'fast'"),
        (["buy", "TQQQ"], "Missing argument 'QTY'; see 'better-orders order --help'"),
        (["buy", "TQQQ", "5", "6"], "Got unexpected extra argument(s) (6)"),
        (["buy", "TQQQ", "5", "--bogus"], "No such option: --bogus"),
    ],
)
def test_a_malformed_order_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    # options first: after "--" every word is an argument
    db = tmp_path / "j.sqlite3"
    code, _, err = run_cli(["order", *AT, "--db", str(db), *args], capsys)
    assert code == USAGE
    assert fragment in error_line(err) and "Traceback" not in err
    assert not db.exists()  # not even a run was recorded


def test_an_unusable_journal_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("not a database\n")
    for command in (["order", "buy", "TQQQ", "5"], ["rebalance", "TQQQ=0.5"]):
        for db, fragment in ((tmp_path, "cannot open"), (not_a_db, "file is not a database")):
            args = [*command, *AT, "--db", str(db)]
            code, out, err = run_cli(args, capsys)
            assert code == JournalError.exit_code and out == ""
            assert fragment in error_line(err)


def test_an_unknown_symbol_is_refused_before_any_leg_starts(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"

    async def attempt() -> None:
        venue = SimVenue.create(start=T0, seed=1, db_path=db, unknown_symbols=["ZZZZ"])
        try:
            with Journal.open(db) as journal:
                journal.start_run("r1", "order", {}, "sim")
                await execute(
                    [OrderSpec.parse("SPY", "5", "buy"), OrderSpec.parse("ZZZZ", "5", "buy")],
                    broker=venue.broker,
                    feed=venue.feed,
                    clock=venue.clock,
                    journal=journal,
                    config=crossing_config(),
                    run_id="r1",
                )
        finally:
            await venue.close()

    with pytest.raises(InvalidInputError, match=r"^unknown symbol ZZZZ; no order sent$"):
        run_virtual(attempt(), start=T0)
    with Journal.open(db) as journal:
        assert journal.intents("r1") == [] and journal.orders() == []
    assert_nothing_sent(db)


@pytest.mark.parametrize(
    ("price", "fragment"),
    [
        ("50.001", "sub-penny price 50.001 for TQQQ: prices >= $1 take at most 2 decimals"),
        ("0.00001", "price 0.00001 for TQQQ: prices below $1 take at most 4 decimals"),
    ],
)
def test_a_sub_penny_limit_is_refused_by_the_venue(price: str, fragment: str) -> None:
    async def attempt() -> tuple[BrokerError, list[object]]:
        venue = SimVenue.create(start=T0, seed=1)
        try:
            request = OrderRequest(
                "bo-r1-1-1", "TQQQ", Side.BUY, D(5), OrderType.LIMIT, limit_price=D(price)
            )
            with pytest.raises(BrokerError) as info:
                await venue.broker.submit_order(request)
            return info.value, list(await venue.broker.list_open_orders())
        finally:
            await venue.close()

    error, open_orders = run_virtual(attempt(), start=T0)
    assert error.code == "invalid_price" and fragment in str(error)
    assert open_orders == []


# -- risk limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("qty", "at"),
    [("150000", "2026-11-24T10:00:00"), ("1e12", "2026-11-24T09:30:00")],
    ids=["crossing", "resting-a-slice-first"],
)
def test_an_order_beyond_max_order_qty_is_refused_as_asked_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], qty: str, at: str
) -> None:
    # At 09:30 the ladder would first rest a quarter of the order: the refusal names
    # the order as asked, not that slice.
    args = ["order", "buy", "SOXL", qty, "--at", at, "--json"]
    fragment = f"buy {int(D(qty))} SOXL ($"  # at the mid in force, which it also names
    out, line = refused(args, capsys, fragment, tmp_path / "j.sqlite3", code=RISK)
    assert "exceeds max_order_qty 100000 and max_order_notional $250,000.00" in line
    assert line.endswith("; no order sent") and str(int(D(qty)) // 4) not in line
    assert out == ""


@pytest.mark.parametrize("cross_at_once", [True, False])
def test_an_order_beyond_max_order_notional_is_refused_before_any_slice(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    cross_at_once: bool,
) -> None:
    # Judged whole at the mid in force, before the ladder splits it: slices that are each
    # under the limit (a resting quarter, then the cross) must not carry it past.
    if cross_at_once:
        for name, value in CROSS_AT_ONCE_ENV.items():
            monkeypatch.setenv(name, value)
    db = tmp_path / "j.sqlite3"
    args = ["order", "buy", "TQQQ", "4000", "--at", "2026-11-24T09:30:00", "--json"]
    out, line = refused(args, capsys, "exceeds max_order_notional $250,000.00", db, code=RISK)
    assert line.startswith("error: buy 4000 TQQQ ($") and line.endswith("; no order sent")
    assert out == "" and journal_orders(db) == []


def test_a_limit_outside_the_price_band_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "tight.toml"
    cfg.write_text("[risk]\nprice_band_pct = 0.001\n")
    args = ["order", "buy", "TQQQ", "10", *AT, "--json", "--config", str(cfg)]
    fragment = "beyond price_band_pct 0.001%"
    refused(args, capsys, fragment, tmp_path / "j.sqlite3", code=RISK, risk_refusals=True)


def test_a_rebalance_too_big_for_the_risk_limits_is_refused_before_any_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "j.sqlite3"
    rich = D(10_000_000)
    code, _, _ = run_cli(["account", "reset", "--cash", str(rich), "--db", str(db)], capsys)
    assert code == 0
    args = ["rebalance", "TQQQ=1", *AT, "--json", "--db", str(db)]
    code, out, err = run_cli(args, capsys)
    assert code == RISK and out == "" and "Traceback" not in err
    line = error_line(err)
    assert line.startswith("error: buy ") and " TQQQ (" in line
    assert "exceeds max_order_qty 100000 and max_order_notional $250,000.00" in line
    assert_nothing_sent(db, cash=rich)
    # the plan's total is bounded too: six legs of $200,000 are $1.2M in all
    targets = [f"{s}=0.02" for s in ("AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOG")]
    code, out, err = run_cli(["rebalance", *targets, *AT, "--db", str(db)], capsys)
    assert code == RISK and "beyond max_run_notional $1,000,000.00" in error_line(err)
    assert "executing" not in out  # refused before any leg: no (empty) live table
    assert_nothing_sent(db, cash=rich)


# -- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "fragment"),
    [
        ("tomorrow", "cannot parse time 'tomorrow': use ISO-8601"),
        ("2026-13-01T10:00", "cannot parse time '2026-13-01T10:00'"),
        ("10am", "cannot parse time '10am'"),
        ("", "cannot parse time ''"),
        ("1990-01-02T10:00:00", "outside the exchange calendar"),
        ("2026-11-24T10:00+25:00", "cannot parse time"),
    ],
)
@pytest.mark.parametrize("command", [["order", "buy", "TQQQ", "5"], ["rebalance", "TQQQ=0.5"]])
def test_an_unusable_time_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    at: str,
    fragment: str,
) -> None:
    refused([*command, "--at", at], capsys, fragment, tmp_path / "j.sqlite3", code=USAGE)


@pytest.mark.parametrize(
    ("at", "fragment"),
    [
        ("2026-11-26T10:00:00", "market closed at 2026-11-26 10:00:00 ET"),  # Thanksgiving
        ("2026-11-27T13:30:00", "market closed at 2026-11-27 13:30:00 ET"),  # after a 13:00 close
        ("2026-11-28T10:00:00", "market closed at 2026-11-28 10:00:00 ET"),  # a Saturday
        ("2026-11-24T20:00:00", "market closed at 2026-11-24 20:00:00 ET"),  # after hours
    ],
)
@pytest.mark.parametrize(
    "command", [["order", "buy", "TQQQ", "5", "--json"], ["rebalance", "TQQQ=0.5", "SPY=0.3"]]
)
def test_an_order_when_the_market_is_closed_is_one_line_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], at: str, fragment: str
) -> None:
    out, line = refused([*command, "--at", at], capsys, fragment, tmp_path / "j.db", code=CLOSED)
    assert out == "" and line.endswith("; no order sent") and "next open" in line


def test_a_usage_error_of_tca_points_at_the_help_as_it_is_typed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # ``tca`` runs its hidden evaluation command: its help is ``tca --help``, not the
    # hidden command's name.
    for args, typed in (
        (["tca", "--bogus"], "better-orders tca"),
        (["tca", "tune", "--bogus"], "better-orders tca tune"),
    ):
        code, _, err = run_cli(args, capsys)
        line = error_line(err)
        assert code == USAGE
        assert "No such option: --bogus" in line and line.endswith(f"; see '{typed} --help'")
        assert "tca run" not in err


def test_a_book_empty_until_the_open_is_reported_once_not_at_every_refresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # The file starts at the open; the order is given half an hour before it.
    quotes = quote_file(tmp_path / "q.csv", "50.00", "50.01", at=T0.replace(hour=9, minute=30))
    args = ["order", "buy", "TQQQ", "10", "--quotes", str(quotes), "--json"]
    args += ["--at", "2026-11-24T09:00:00", "--db", str(tmp_path / "j.sqlite3")]
    exit_code, out, err = run_cli(args, capsys)
    assert exit_code == 0, err
    assert D(str(json_report(out)["filled_qty"])) == 10
    messages = [r.getMessage() for r in caplog.records]
    failures = [m for m in messages if "refreshing the TQQQ quote failed" in m]
    assert len(failures) == 1, failures
    assert "no quote for TQQQ yet" in failures[0] and "no order sent" not in failures[0]
