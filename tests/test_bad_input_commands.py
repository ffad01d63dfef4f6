"""Bad input to the commands that do not trade: one line, its exit code, nothing run.

``tca`` replays nothing, ``serve`` starts no server, ``doctor`` sends no request,
``account reset`` leaves the account as it was; every refusal is one ``error:``
line on stderr with the exit code of its family (``cli.exit_codes``).
"""

from __future__ import annotations

import json
import re
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import better_orders.server
from better_orders.cli import cmd_phase, cmd_tca
from better_orders.cli.common import err_console
from better_orders.cli.exit_codes import INCOMPLETE, INTERRUPTED, USAGE
from better_orders.core.errors import ConfigError, JournalError
from better_orders.tca.decisions import QuoteFile
from better_orders.venues.sim.account import DEFAULT_CASH, PaperAccount
from cli_runner import run_cli
from refusal import AT, ET, error_line, quote_file, refused

OPEN = datetime(2026, 11, 24, 9, 30, tzinfo=ET)

# -- tca -----------------------------------------------------------------------------------------


@pytest.fixture
def tca_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small quote file; and a replay that fails the test if anything gets that far."""

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the replay ran")

    monkeypatch.setattr(cmd_tca, "run_tca", never)
    return quote_file(tmp_path / "q.csv", "50.00", "50.01", at=OPEN, seconds=120)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "no quote file given: use --quotes FILE"),
        (["--quotes", "{tmp}/missing.csv.gz"], "missing.csv.gz does not exist"),
        (["--quotes", "{tmp}/*.parquet"], "no file matches"),  # a glob matching nothing
        # A folder is read as the quote files in it: another format among them is refused.
        (["--quotes", "{tmp}"], "holds notes.txt, which is not a quote file"),
        (["--quotes", "{tmp}/notes.txt"], "notes.txt is not a quote file"),  # another format
        (["--qty", "0"], "--qty must be positive, got 0"),
        (["--qty", "1e30"], "--qty is too large: '1e30'"),
        (["--notional", "0"], "--notional must be positive and at most"),
        (["--notional", "1e30"], "--notional must be positive and at most"),
        (["--qty", "5", "--notional", "100"], "give --qty or --notional, not both"),
        (["--within", "0"], "--within must be a positive number of seconds, got 0.0"),
        (["--within", "nan"], "--within must be a positive number of seconds, got nan"),
        (["--from", "25:00"], "--from must be a New York time like 09:30, got '25:00'"),
        (["--every", "0s"], "--every must be at least 1 microsecond"),
        (["--every", "0.0001ms"], "--every must be at least 1 microsecond"),  # rounds to 0
        (["--every", "2d"], "--every must be a duration like 500ms, 1s, 2m or 1h (units us,"),
        (["--every", "99999999999999999h"], "--every 99999999999999999h is too long"),
        (["--within", "1e300"], "--within 1e+300 is longer than a day (86,400 s)"),
        (["--latency", "-5ms"], "--latency must be a duration"),
        (["--side", "hold"], "unknown side 'hold'"),
        (["--side", ","], "--side names nothing: ','"),
        (["--policy", " , "], "--policy names nothing: ' , '"),
        (["--policy", "nope"], "unknown policy 'nope'"),
        (["--symbol", "A$B"], "invalid symbol 'A$B'"),
        (["--report", "{tmp}"], "is a folder: give the HTML file's name"),
        (["--png", "{tmp}/notes.txt"], "notes.txt is a file: give a folder for the charts"),
        (["--report", "{tmp}/notes.txt/r.html"], "notes.txt is a file, not a folder"),
        (["--trades", "{tmp}/t1.csv", "--trades", "{tmp}/t2.csv"], "2 --trades file(s) for 1"),
        (["--within"], "Option '--within' requires an argument"),
    ],
)
def test_tca_refuses_bad_input_before_replaying_anything(
    tca_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    fragment: str,
) -> None:
    (tmp_path / "notes.txt").write_text("some notes\n")
    given = [a.replace("{tmp}", str(tmp_path)) for a in args]
    quotes = [] if not args or "--quotes" in args else ["--quotes", str(tca_file)]
    refused(["tca", *quotes, *given], capsys, fragment, code=USAGE)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--from", "09:40", "--to", "09:35"], "--to 09:35:00 must be after --from 09:40:00"),
        (["--from", "09:35", "--to", "09:35"], "--to 09:35:00 must be after --from 09:35:00"),
        (
            ["--every", "1us"],
            "--every 1us from 09:30:00 to 09:35:00 asks for 300,000,000 decisions per "
            "symbol-day, more than the 100,000 allowed: use --every 3ms or more",
        ),
        (["--every", "0.001ms"], "asks for 300,000,000 decisions per symbol-day"),
        (
            ["--to", "16:00", "--every", "100ms"],
            "asks for 234,000 decisions per symbol-day, more than the 100,000 allowed: use "
            "--every 234ms or more",
        ),
        (
            ["--latency", "10m"],
            "--latency 10m must be shorter than --within 150 s, the completion window",
        ),
        (
            ["--latency", "60s", "--within", "60"],
            "--latency 60s must be shorter than --within 60 s",
        ),
    ],
)
def test_tca_refuses_a_window_or_a_latency_that_cannot_work_before_reading_a_quote(
    tca_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    fragment: str,
) -> None:
    # Options that contradict each other (or would hold billions of decisions in memory)
    # are refused from the options alone: no quote file read first.
    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a quote file was loaded")

    monkeypatch.setattr(QuoteFile, "load", never)
    refused(["tca", "--quotes", str(tca_file), *args], capsys, fragment, code=USAGE)


@pytest.mark.parametrize(
    ("window", "fragment"),
    [
        (["--from", "10:00", "--to", "10:05"], "within its quotes (09:30:00 to 09:31:59 ET)"),
        (["--from", "16:30", "--to", "16:45"], "and the session (to 16:00:00 ET)"),
    ],
)
@pytest.mark.parametrize("terminal", [False, True])
def test_tca_refuses_a_window_its_quotes_or_the_session_do_not_cover(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    window: list[str],
    fragment: str,
    terminal: bool,
) -> None:
    # Decisions there would all trade on the file's last quote, minutes or hours old.
    path = quote_file(tmp_path / "q.csv", "50.00", "50.01", at=OPEN, seconds=120)
    monkeypatch.setattr(err_console, "_force_terminal", terminal)
    code, out, err = run_cli(["tca", "--quotes", str(path), *window], capsys)
    assert code == USAGE, out + err
    # The file is read to know it, but the error is all there is: no progress bar before
    # it (on a terminal), nor the blank line one leaves (elsewhere).
    (line,) = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err).splitlines()
    assert line.startswith("error: ") and fragment in line, err


def test_tca_refuses_a_quote_file_of_two_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only its first day would be replayed, silently.
    first = quote_file(tmp_path / "a.csv", "50.00", "50.01", at=OPEN, seconds=5)
    second = quote_file(
        tmp_path / "b.csv", "50.00", "50.01", at=OPEN + timedelta(days=1), seconds=5
    )
    both = tmp_path / "both.csv"
    both.write_text(first.read_text() + "".join(second.read_text().splitlines(True)[1:]))
    refused(
        ["tca", "--quotes", str(both)],
        capsys,
        "holds quotes from 2026-11-24 to 2026-11-25: a replay is of one day",
        code=USAGE,
    )


def test_tca_refuses_a_trades_file_of_another_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Its prints would fill nothing: the replay would pass for one on a quiet tape.
    path = quote_file(tmp_path / "q.csv", "50.00", "50.01", at=OPEN, seconds=120)
    next_day = int(datetime(2026, 11, 25, 9, 30, 5, tzinfo=ET).timestamp()) * 10**9
    trades = tmp_path / "t.csv"
    trades.write_text(f"ts_utc_ns,symbol,price,size,cond,corr\n{next_day},TQQQ,50.01,100,@,0\n")
    refused(
        ["tca", "--quotes", str(path), "--trades", str(trades), "--to", "09:31"],
        capsys,
        "the trades of 2026-11-25 are not of the quotes' day (2026-11-24)",
        code=USAGE,
    )


# -- serve ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--port", "70000"], "--port must be from 1 to 65535, got 70000"),
        (["--port", "0"], "--port must be from 1 to 65535, got 0"),
        (["--port", "eighty"], "Invalid value for '--port'"),
        (["--quotes", "{tmp}/notes.txt"], "notes.txt is missing column(s)"),
        (["--quotes", "{tmp}/missing.csv"], "missing.csv does not exist"),
        (["--quotes", "{q}", "--quotes", "TQQQ={q}"], "two quote files for TQQQ"),
        (["--quotes", "T$Q={q}"], "invalid symbol 'T$Q'"),
        (["--cash", "-5"], "--cash cannot be negative: -5"),
        (["--cash", "NaN"], "--cash is not a finite number"),
        (["--rate-limit", "0"], "--rate-limit must be at least 1 request per minute"),
        (["--key-id", "PKX"], "--key-id and --secret-key go together"),
        (["--fault", "bogus=1"], "unknown fault 'bogus'"),
        (["--clock-start", "soon"], "cannot parse time 'soon'"),
    ],
)
def test_serve_refuses_bad_input_before_starting(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    fragment: str,
) -> None:
    started: list[object] = []
    monkeypatch.setattr(
        better_orders.server, "serve", lambda config, on_ready=None: started.append(1)
    )
    (tmp_path / "notes.txt").write_text("some notes\n")
    q = quote_file(tmp_path / "q.csv", "50.00", "50.01")
    given = [a.replace("{tmp}", str(tmp_path)).replace("{q}", str(q)) for a in args]
    refused(["serve", *given], capsys, fragment, code=USAGE)
    assert started == []


def test_serve_refuses_an_address_in_use_before_announcing_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(
        better_orders.server, "serve", lambda config, on_ready=None: started.append(1)
    )
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        out, _ = refused(
            ["serve", "--port", str(port)], capsys, f"cannot listen on 127.0.0.1:{port}", code=USAGE
        )
    assert out == "" and started == []


# -- config, account, phase, assess --------------------------------------------------------------


def test_config_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[ladder\n")
    existing = tmp_path / "there.toml"
    existing.write_text("")
    cases = [
        (["config", "show", "--config", str(tmp_path)], "is a directory, not a TOML file"),
        (["config", "show", "--config", str(bad)], "invalid TOML"),
        (["config", "show", "--config", str(tmp_path / "no.toml")], "file not found"),
        (["config", "init", str(existing)], "already exists; pass --force to overwrite it"),
        (["config", "init", str(tmp_path)], "is a directory; give a file name"),
        (["config", "edit"], "No such command 'edit'"),
    ]
    for args, fragment in cases:
        refused(args, capsys, fragment, code=ConfigError.exit_code)
    assert existing.read_text() == ""


@pytest.mark.parametrize(
    ("args", "fragment", "code"),
    [
        (["account", "reset", "--cash", "-1"], "cash must be >= 0, got -1", USAGE),
        (["account", "reset", "--cash", "NaN"], "cash is not a finite number: 'NaN'", USAGE),
        (["account", "reset", "--cash", "lots"], "cash is not a number: 'lots'", USAGE),
        (["account", "reset", "--bogus"], "No such option: --bogus", USAGE),
        (["account", "--broker", "ib"], "unknown broker 'ib'", USAGE),
    ],
)
def test_account_refuses_bad_input_and_stays_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str, code: int
) -> None:
    db = tmp_path / "j.sqlite3"
    PaperAccount.load(db)  # the account exists, with its starting cash
    refused(args, capsys, fragment, db, code=code)
    assert PaperAccount.load(db).cash == DEFAULT_CASH


def test_an_unusable_account_file_is_a_journal_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (["account"], ["account", "reset"], ["reconcile"]):
        _, line = refused([*args, "--db", str(tmp_path)], capsys, "cannot open")
        code, _, _ = run_cli([*args, "--db", str(tmp_path)], capsys)
        assert code == JournalError.exit_code, line


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["phase", "--at", "noon"], "cannot parse time 'noon'"),
        (["phase", "--at", "1990-01-02T10:00"], "outside the exchange calendar"),
        (["assess", "TQQQ", "--bid", "50"], "Missing option '--ask'"),
        (["assess", "TQ Q", "--bid", "50", "--ask", "50.01"], "invalid symbol 'TQ Q'"),
        (["assess", "TQQQ", "--bid", "50", "--ask", "50.01", "--typical-bps", "0"], "positive"),
        (["assess", "TQQQ", "--bid", "50", "--ask", "50.01", "--typical-bps", "x"], "not a number"),
        (["assess", "TQQQ", "--bid", "50", "--ask", "50.01", "--at", "then"], "cannot parse"),
        (["trade", "TQQQ"], "No such command 'trade'"),
    ],
)
def test_phase_and_assess_refuse_bad_input(
    capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    out, _ = refused(args, capsys, fragment, code=USAGE)
    assert out == ""


# -- reconcile, doctor ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--broker", "ib"], "unknown broker 'ib'"),
        (["--live"], "--live needs --broker alpaca"),
        (["--adopt", "yes"], "Got unexpected extra argument(s) (yes)"),
    ],
)
def test_reconcile_refuses_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    refused(["reconcile", *args], capsys, fragment, tmp_path / "j.sqlite3", code=USAGE)


def test_reconcile_exits_non_zero_on_a_difference_it_can_only_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "j.sqlite3"
    code, _, _ = run_cli(["order", "buy", "TQQQ", "5", *AT, "--db", str(db)], capsys)
    assert code == 0
    code, _, _ = run_cli(["reconcile", "--db", str(db)], capsys)
    assert code == 0  # journal and account agree
    # The account forgets its position; the journal still holds the fill.
    code, _, _ = run_cli(["account", "reset", "--db", str(db)], capsys)
    code, out, err = run_cli(["reconcile", "--db", str(db), "--json"], capsys)
    assert code == INCOMPLETE and json.loads(out)["position_differences"] == 1
    line = error_line(err)
    assert line == "error: the journal and the broker differ: TQQQ position differs by -5"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "keys: "),
        (["--timeout", "0"], "--timeout must be a positive number of seconds, got 0.0"),
        (["--feed", "fast"], "unknown Alpaca data feed 'fast'"),
    ],
)
def test_doctor_without_credentials_is_one_line_and_sends_nothing(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    fragment: str,
) -> None:
    pytest.importorskip("alpaca")
    for name in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    out, line = refused(["doctor", "--json", *args], capsys, fragment, code=USAGE)
    if not args:
        assert "APCA_API_KEY_ID" in line
        checks = json.loads(out)["checks"]
        # nothing was asked of Alpaca: every check after the keys was skipped
        assert [c["status"] for c in checks] == ["fail"] + ["skip"] * (len(checks) - 1)


# -- interrupted ---------------------------------------------------------------------------------


def test_ctrl_c_is_one_line_and_exit_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cmd_phase, "default_calendar", interrupted)
    _, line = refused(["phase"], capsys, "interrupted: nothing more is sent", code=INTERRUPTED)
    assert "reconcile" in line
