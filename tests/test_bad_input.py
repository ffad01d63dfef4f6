"""Every kind of bad input the product accepts: a clear error, a non-zero exit, and no order.

Each command runs in-process through ``better_orders.cli.app.main`` against its own
journal (``--db``), and afterwards the journal's orders table and the paper account
are checked: nothing reached the broker. Where a pre-trade risk check refuses an
order, the journal holds it as rejected with the reason, and still nothing traded.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import BrokerError, InvalidInputError, QuoteError
from better_orders.core.model import OrderRequest, OrderType, Quote, Side
from better_orders.core.sanity import require_valid_quote
from better_orders.engine.execution import OrderSpec, execute
from better_orders.store.journal import Journal
from better_orders.store.records import OrderRecord
from better_orders.venues.sim.account import DEFAULT_CASH, PaperAccount
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.venue import SimVenue
from cli_runner import run_cli

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=ET)  # an ordinary Tuesday
AT = ["--at", "2026-11-24T10:00:00"]
HEADER = "ts_utc_ns,ts_et,symbol,bid_px,ask_px,bid_sz,ask_sz,source\n"


# -- helpers -------------------------------------------------------------------------------------


def refused(
    args: Sequence[str],
    capsys: pytest.CaptureFixture[str],
    fragment: str,
    db: Path,
    *,
    risk_refusals: bool = False,
) -> str:
    """Run a command that must fail: non-zero, the fragment shown, no traceback, nothing sent."""
    code, out, err = run_cli([*args, "--db", str(db)], capsys)
    assert code != 0, out
    assert fragment in err + out, err + out
    assert "Traceback" not in err
    assert_nothing_sent(db, risk_refusals=risk_refusals)
    return err + out


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
    path: Path, bid: str, ask: str, *, at: datetime = T0, seconds: int = 60, size: int = 500
) -> Path:
    rows = [
        f"{ns(at + timedelta(seconds=s))},x,TQQQ,{bid},{ask},{size},{size},test\n"
        for s in range(seconds)
    ]
    path.write_text(HEADER + "".join(rows))
    return path


def json_report(out: str) -> dict[str, object]:
    data = json.loads(out)
    report: dict[str, object] = data["report"]
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
    code, out, err = run_cli(["assess", "TQQQ", "--bid", bid, "--ask", ask], capsys)
    assert code == QuoteError.exit_code
    assert fragment in err
    assert "Traceback" not in err and out == ""


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
    text = refused(args, capsys, fragment, db)
    assert "no order sent" in text
    report = json_report(text[text.index("{") :])
    assert D(str(report["filled_qty"])) == 0 and report["attempts"] == []


def test_order_on_a_stale_quote_file_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The file's only quote is from 10:00:00; the order starts five minutes later.
    quotes = quote_file(tmp_path / "q.csv", "50.00", "50.01", seconds=1)
    args = ["order", "buy", "TQQQ", "10", "--quotes", str(quotes), "--json"]
    args += ["--at", "2026-11-24T10:05:00"]
    refused(args, capsys, "TQQQ quote is stale: 300.0 s old", tmp_path / "j.sqlite3")


def test_order_on_a_quote_file_with_nan_prices_is_refused_at_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quotes = quote_file(tmp_path / "q.csv", "NaN", "50.01")
    args = ["order", "buy", "TQQQ", "10", "--quotes", str(quotes)]
    refused(args, capsys, "row 1 has no valid bid_px", tmp_path / "j.sqlite3")


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
    ],
)
def test_a_bad_quote_file_is_named_and_nothing_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, make: object, fragment: str
) -> None:
    path = tmp_path / name
    assert callable(make)
    make(path)
    args = ["order", "buy", "TQQQ", "10", *AT, "--quotes", str(path)]
    text = refused(args, capsys, fragment, tmp_path / "j.sqlite3")
    assert f"quote file {path}" in text


# -- orders --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["buy", "TQQQ", "0"], "quantity must be positive, got 0"),
        (["buy", "TQQQ", "--", "-5"], "quantity must be positive, got -5"),
        (["buy", "TQQQ", "NaN"], "quantity is not a finite number: 'NaN'"),
        (["buy", "TQQQ", "Infinity"], "quantity is not a finite number"),
        (["buy", "TQQQ", "ten"], "quantity is not a number: 'ten'"),
        (["buy", "TQQQ", "0.0000000001"], "has more than 9 decimals"),
        (["hold", "TQQQ", "5"], "unknown side 'hold': use buy or sell"),
        (["BUYY", "TQQQ", "5"], "unknown side 'BUYY'"),
        (["buy", "TQ$Q", "5"], "invalid symbol 'TQ$Q'"),
        (["buy", "", "5"], "invalid symbol ''"),
        (["buy", "ABCDEFGHIJKLM", "5"], "invalid symbol 'ABCDEFGHIJKLM'"),
        (["buy", "TQQQ", "5", "--max-slippage-bps", "-1"], "max_slippage_bps must be >= 0"),
        (["buy", "TQQQ", "5", "--max-slippage-bps", "NaN"], "max_slippage_bps is not a finite"),
    ],
)
def test_a_malformed_order_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    # options first: after "--" every word is an argument
    code, _, err = run_cli(["order", *AT, "--db", str(tmp_path / "j.sqlite3"), *args], capsys)
    assert code == InvalidInputError.exit_code
    assert fragment in err and "Traceback" not in err
    assert not (tmp_path / "j.sqlite3").exists()  # not even a run was recorded


def test_a_negative_quantity_without_the_separator_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(["order", "buy", "TQQQ", "-5", *AT], capsys, "No such option", tmp_path / "j.sqlite3")


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
                    config=BetterOrdersConfig(),
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


@pytest.mark.parametrize(
    ("qty", "fragment"),
    [
        ("150000", "TQQQ order quantity 150000 exceeds max_order_qty 100000; order not sent"),
        ("6000", "exceeds max_order_notional $250,000.00; order not sent"),
    ],
)
def test_an_absurd_order_size_is_refused_by_the_risk_check_and_journalled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], qty: str, fragment: str
) -> None:
    db = tmp_path / "j.sqlite3"
    args = ["order", "buy", "TQQQ", qty, *AT, "--json"]
    text = refused(args, capsys, fragment, db, risk_refusals=True)
    report = json_report(text[text.index("{") :])
    assert "refused by a pre-trade risk check" in str(report["error"])
    assert D(str(report["filled_qty"])) == 0 and D(str(report["unfilled_qty"])) == D(qty)
    (order,) = journal_orders(db)
    assert order.status == "rejected" and order.broker_order_id is None
    assert order.reason is not None and order.reason.startswith("risk_limit: ")
    assert fragment in order.reason


def test_a_limit_outside_the_price_band_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "tight.toml"
    cfg.write_text("[risk]\nprice_band_pct = 0.001\n")
    args = ["order", "buy", "TQQQ", "10", *AT, "--json", "--config", str(cfg)]
    refused(
        args, capsys, "beyond price_band_pct 0.001%", tmp_path / "j.sqlite3", risk_refusals=True
    )


def test_a_rebalance_too_big_for_the_risk_limits_buys_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "j.sqlite3"
    rich = D(10_000_000)
    code, _, _ = run_cli(["account", "reset", "--cash", str(rich), "--db", str(db)], capsys)
    assert code == 0
    code, out, err = run_cli(["rebalance", "TQQQ=1", *AT, "--json", "--db", str(db)], capsys)
    assert code != 0 and "Traceback" not in err
    data = json.loads(out)
    assert data["complete"] is False
    (undone,) = data["undone"]
    assert "exceeds max_order_qty 100000; order not sent" in undone
    assert_nothing_sent(db, cash=rich, risk_refusals=True)


# -- targets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "fragment"),
    [
        (["TQQQ=-0.1"], "negative target weight: TQQQ -0.1"),
        (["TQQQ=1.5"], "target weights sum to 1.50 (> 1)"),
        (["TQQQ=150%"], "target weights sum to 1.50 (> 1)"),
        (["TQQQ=0.6", "SPY=0.6"], "target weights sum to 1.20 (> 1)"),
        (["TQQQ=NaN"], "TQQQ target weight is not a finite number: 'NaN'"),
        (["TQQQ=inf"], "not a finite number"),
        (["TQQQ=0.3", "TQQQ=0.3"], "duplicate target symbol: TQQQ"),
        (["TQQQ=0.3", "tqqq=0.3"], "duplicate target symbol: TQQQ given as 'TQQQ' and 'tqqq'"),
        ([], "no targets given"),
        (["TQQQ"], "target 'TQQQ' is not SYMBOL=WEIGHT"),
        (["=0.5"], "invalid symbol ''"),
        (["TQQQ="], "TQQQ target weight is not a number: ''"),
        (["TQQQ=abc%"], "weight 'abc%' is not a number"),
        (["TQ@Q=0.5"], "invalid symbol 'TQ@Q'"),
    ],
)
def test_bad_targets_are_refused_and_nothing_trades(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], targets: list[str], fragment: str
) -> None:
    # no --dry-run: had the targets been accepted, orders would have been sent
    code, _, err = run_cli(
        ["rebalance", *targets, *AT, "--db", str(tmp_path / "j.sqlite3")], capsys
    )
    assert code == InvalidInputError.exit_code
    assert fragment in err and "Traceback" not in err
    assert_nothing_sent(tmp_path / "j.sqlite3")


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("t.csv", "symbol,weight\nTQQQ,0.5\nSPY\n", "row 2 should be symbol,weight: ['SPY']"),
        ("t.csv", "symbol,weight\nTQQQ,-0.5\n", "negative target weight"),
        ("t.csv", "", "no targets given"),
        ("t.json", '{"TQQQ": "lots"}', "TQQQ target weight is not a number: 'lots'"),
        ("t.json", "[0.5, 0.5]", "expected a JSON object of SYMBOL: weight"),
        ("t.json", '{"TQQQ": 0.5', "cannot parse targets"),
        ("t.toml", "TQQQ = [", "cannot parse targets"),
        ("t.toml", "[targets]\nTQQQ = 0.7\nSPY = 0.7\n", "target weights sum to 1.40"),
        ("t.txt", "TQQQ=0.5", "targets file must be .toml, .json or .csv"),
        ("t.csv", b"\xff\xfe\x00junk", "is not UTF-8 text"),
        ("missing.csv", None, "does not exist"),
    ],
)
def test_a_bad_targets_file_is_refused_and_nothing_trades(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | bytes | None,
    fragment: str,
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    refused(["rebalance", "--targets", str(path), *AT], capsys, fragment, tmp_path / "j.sqlite3")


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ("nonsense_key = 1\n", "unknown key 'nonsense_key'"),
        ("[ladder]\nmax_repeg = 3\n", "unknown key 'ladder.max_repeg' (did you mean"),
        ('[ladder]\nmax_repegs = "two"\n', "ladder.max_repegs: Input should be a valid integer"),
        ("max_slippage_bps = true\n", "max_slippage_bps: Input should be a number, not a boolean"),
        ("ladder = 5\n", "ladder: must be a table ([ladder]) (got 5)"),
        ("[risk]\nmax_order_notional = -1\n", "risk.max_order_notional: Input should be greater"),
        ("[risk]\nmax_orders_per_minute = 0\n", "risk.max_orders_per_minute"),
        ("requests_per_minute = -5\n", "requests_per_minute: Input should be greater than or"),
        ("[ladder]\nmax_repegs = -1\n", "ladder.max_repegs"),
        ("[ladder\n", "invalid TOML"),
    ],
)
def test_a_bad_config_file_is_refused_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, fragment: str
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml)
    text = refused(
        ["order", "buy", "TQQQ", "5", *AT, "--config", str(cfg)],
        capsys,
        fragment,
        tmp_path / "j.sqlite3",
    )
    assert f"config error in file:{cfg}" in text


def test_a_missing_config_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "nope.toml"
    refused(
        ["rebalance", "TQQQ=0.5", *AT, "--config", str(cfg)],
        capsys,
        f"config error in file:{cfg}: file not found",
        tmp_path / "j.sqlite3",
    )


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("BETTER_ORDERS_LADDER__MAX_REPEGS", "abc", "ladder.max_repegs: Input should be a valid"),
        ("BETTER_ORDERS_RISK__MAX_ORDER_QTY", "-1", "risk.max_order_qty: Input should be greater"),
        ("BETTER_ORDERS_RISK__PRICE_BAND_PCT", "NaN", "risk.price_band_pct"),
        ("BETTER_ORDERS_MODE", "sometimes", "mode"),
        ("BETTER_ORDERS_MAX_SLIPAGE_BPS", "5", "not a configuration setting (did you mean"),
        ("BETTER_ORDERS_RISK", "1", "names the section 'risk', not a setting"),
    ],
)
def test_a_bad_environment_variable_is_refused_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    fragment: str,
) -> None:
    monkeypatch.setenv(name, value)
    text = refused(["order", "buy", "TQQQ", "5", *AT], capsys, fragment, tmp_path / "j.sqlite3")
    assert f"config error in env:{name}" in text


# -- the kill switch -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["order", "buy", "TQQQ", "5"], ["rebalance", "TQQQ=0.5"]])
def test_the_kill_switch_stops_a_command_before_it_sends_anything(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    switch = tmp_path / "STOP"
    switch.touch()
    monkeypatch.setenv("BETTER_ORDERS_KILL_SWITCH", str(switch))
    code, _, err = run_cli([*command, *AT, "--db", str(tmp_path / "j.sqlite3")], capsys)
    assert code == 6
    assert f"error: kill switch {switch} is on: no order sent" in err
    assert "Traceback" not in err
    assert_nothing_sent(tmp_path / "j.sqlite3")


def test_the_kill_switch_file_can_come_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    switch = tmp_path / "halt-trading"
    switch.touch()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[risk]\nkill_switch_file = {json.dumps(str(switch))}\n")
    args = ["order", "buy", "SPY", "1", *AT, "--config", str(cfg), "--json"]
    refused(args, capsys, f"kill switch {switch} is on", tmp_path / "j.sqlite3")
    switch.unlink()  # off again: the same command trades
    code, out, _ = run_cli([*args, "--db", str(tmp_path / "j.sqlite3")], capsys)
    assert code == 0 and D(str(json_report(out)["filled_qty"])) == 1


# -- times ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "fragment"),
    [
        ("tomorrow", "cannot parse time 'tomorrow': use ISO-8601"),
        ("2026-13-01T10:00", "cannot parse time '2026-13-01T10:00'"),
        ("10am", "cannot parse time '10am'"),
        ("", "cannot parse time ''"),
        ("1990-01-02T10:00:00", "outside the exchange calendar"),
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
    refused([*command, "--at", at], capsys, fragment, tmp_path / "j.sqlite3")


@pytest.mark.parametrize(
    ("at", "fragment"),
    [
        ("2026-11-26T10:00:00", "market closed at 2026-11-26 10:00:00 ET"),  # Thanksgiving
        ("2026-11-27T13:30:00", "market closed at 2026-11-27 13:30:00 ET"),  # after a 13:00 close
        ("2026-11-28T10:00:00", "market closed at 2026-11-28 10:00:00 ET"),  # a Saturday
        ("2026-11-24T20:00:00", "market closed at 2026-11-24 20:00:00 ET"),  # after hours
    ],
)
def test_an_order_when_the_market_is_closed_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], at: str, fragment: str
) -> None:
    text = refused(
        ["order", "buy", "TQQQ", "5", "--at", at, "--json"], capsys, fragment, tmp_path / "j.db"
    )
    assert "no order sent" in text


def test_a_rebalance_on_a_holiday_sends_nothing_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["rebalance", "TQQQ=0.5", "SPY=0.3", "--at", "2026-11-26T10:00:00", "--json"]
    text = refused(args, capsys, "market closed at 2026-11-26 10:00:00 ET", tmp_path / "j.db")
    data = json.loads(text[text.index("{") :])
    assert data["complete"] is False and len(data["undone"]) == 2
