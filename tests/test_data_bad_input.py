"""Bad input to ``data`` commands: one clear line, a non-zero exit, nothing fetched or written.

The fetch tests run against the local exchange, which counts every request: a
refused command must not have asked it for any quote or trade.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from alpaca_server import LocalAlpaca, run_local_alpaca
from better_orders.data.example_data import example_quote_files
from cli_runner import run_cli
from test_data_fetch import serving

KEYS = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "APCA_API_BASE_URL", "APCA_API_DATA_URL")


@pytest.fixture(scope="module")
def server() -> Iterator[LocalAlpaca]:
    with run_local_alpaca(serving(example_quote_files())) as local:
        yield local


@pytest.fixture
def exchange(server: LocalAlpaca, monkeypatch: pytest.MonkeyPatch) -> LocalAlpaca:
    values = (server.key_id, server.secret_key, server.base_url, server.base_url)
    for name, value in zip(KEYS, values, strict=True):
        monkeypatch.setenv(name, value)
    return server


def data_requests(local: LocalAlpaca) -> int:
    counts = local.stats()["requests"]
    return sum(n for route, n in counts.items() if route.startswith("GET /v2/stocks"))


def refused(args: list[str], capsys: pytest.CaptureFixture[str], fragment: str) -> str:
    code, out, err = run_cli(args, capsys)
    assert code != 0, out
    assert out == "", out  # no banner before a refusal
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["NOPE", "IBM", "--start", "2013-10-07"], "unknown symbol NOPE"),
        (["IBM", "--start", "2013-10-08", "--end", "2013-10-07"], "is after --end 2013-10-07"),
        (["IBM", "--start", "2013-10-05", "--end", "2013-10-06"], "no NYSE session"),
        (["IBM", "--start", "2013-13-01"], "--start must be a date"),
        # The date given is named: --end defaults to --start.
        (["IBM", "--start", "2099-01-02"], "--start 2099-01-02 is in the future"),
        (["IBM", "--start", "2013-10-07", "--end", "2099-01-02"], "--end 2099-01-02 is in the"),
        (["IBM", "--start", "2013-10-07", "--window", "03:00-05:00"], "outside the trading day"),
        (["IBM", "--start", "2013-10-07", "--window", "09:45-09:25"], "ends before it starts"),
        (["IBM", "--start", "2013-10-07", "--window", "9h30"], "--window must be HH:MM-HH:MM"),
        # The Friday after Thanksgiving closes at 13:00.
        (["IBM", "--start", "2013-11-29", "--window", "14:00-15:00"], "early close"),
        (["IBM", "--start", "2013-10-07", "--window", "17:00-18:00"], "outside the session"),
        (["IBM", "--start", "2013-10-07", "--feed", "nasdaq"], "--feed must be sip or iex"),
        (["IBM", "--start", "2013-10-07", "--page-size", "20000"], "--page-size must be"),
        (["IBM", "--start", "2013-10-07", "--page-size", "10001"], "--page-size must be"),
        (["IBM", "--start", "2013-10-07", "--page-size", "0"], "--page-size must be 1 to"),
        (["IBM", "--start", "2013-10-07", "--rate-limit", "0"], "--rate-limit must be a posi"),
        (["IBM", "--start", "2013-10-07", "--rate-limit", "nan"], "--rate-limit must be a posi"),
        (["BRK/B", "--start", "2013-10-07"], "write it with a dot (BRK.B)"),
        (["I$M", "--start", "2013-10-07"], "invalid symbol"),
    ],
)
def test_bad_fetch_arguments_fetch_nothing(
    exchange: LocalAlpaca,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    fragment: str,
) -> None:
    before = data_requests(exchange)
    dataset = tmp_path / "ds"
    refused(["data", "fetch", *args, "--dataset", str(dataset)], capsys, fragment)
    assert data_requests(exchange) == before
    assert not dataset.exists()


def test_a_dataset_folder_with_foreign_files_is_refused_and_left_alone(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "taxes.xlsx").write_text("mine")
    (folder / "symbol=IBM").mkdir()
    (folder / "symbol=IBM" / "notes.txt").write_text("mine too")
    before = data_requests(exchange)
    args = ["data", "fetch", "IBM", "--start", "2013-10-07", "--dataset", str(folder)]
    line = refused(args, capsys, "is not a dataset folder")
    assert "symbol=IBM/notes.txt" in line and "taxes.xlsx" in line
    assert data_requests(exchange) == before
    assert sorted(p.name for p in folder.rglob("*")) == ["notes.txt", "symbol=IBM", "taxes.xlsx"]
    refused(["data", "ls", "--dataset", str(folder)], capsys, "is not a dataset folder")
    refused(["tca", "--quotes", str(folder)], capsys, "is not a dataset folder")


def test_a_file_as_the_dataset_is_refused(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "ds"
    file.write_text("x")
    args = ["data", "fetch", "IBM", "--start", "2013-10-07", "--dataset", str(file)]
    refused(args, capsys, "is a file, not a folder")


def test_no_credentials_is_one_line_and_nothing_fetched(
    server: LocalAlpaca,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    before = data_requests(server)
    dataset = tmp_path / "ds"
    args = ["data", "fetch", "IBM", "--start", "2013-10-07", "--dataset", str(dataset)]
    refused(args, capsys, "Alpaca keys not found: set APCA_API_KEY_ID and APCA_API_SECRET_KEY")
    assert data_requests(server) == before and not dataset.exists()


def test_wrong_keys_are_refused_without_showing_them(
    server: LocalAlpaca,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    values = (server.key_id, "not-the-secret", server.base_url, server.base_url)
    for name, value in zip(KEYS, values, strict=True):
        monkeypatch.setenv(name, value)
    args = ["data", "fetch", "IBM", "--start", "2013-10-07", "--dataset", str(tmp_path / "d")]
    line = refused(args, capsys, "refused the keys (HTTP 401")
    assert "not-the-secret" not in line


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "Missing argument"),
        (["nope.csv.gz"], "does not exist"),
        (["TRADES"], "trades file without its quote file"),
        (["README"], "neither a quote nor a trades file"),
        (["FOLDER"], "is a folder: give the quote files in it"),
    ],
)
def test_bad_import_arguments_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    examples = example_quote_files()[0].parent
    names = {
        "TRADES": str(examples / "lean_IBM_20131007_trades.csv.gz"),
        "README": str(examples / "README.md"),
        "FOLDER": str(examples),
    }
    dataset = tmp_path / "ds"
    given = [names.get(a, str(tmp_path / a)) for a in args]
    code, out, err = run_cli(["data", "import", *given, "--dataset", str(dataset)], capsys)
    assert code != 0 and "Traceback" not in err
    assert fragment in err + out
    assert not dataset.exists()


def example(symbol: str) -> Path:
    return next(f for f in example_quote_files() if f"_{symbol}_" in f.name)


def test_an_import_with_a_damaged_file_writes_none_of_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, other = example("IBM"), example("BAC")
    damaged = tmp_path / "lean_AIG_20131007_l1.csv.gz"  # the gzip stream cut short
    source = example("AIG").read_bytes()
    damaged.write_bytes(source[: len(source) // 2])
    dataset = tmp_path / "ds"
    args = ["data", "import", str(good), str(damaged), "--dataset", str(dataset)]
    refused(args, capsys, f"{damaged} cannot be imported")
    assert not dataset.exists()  # not even the good file's day before it

    # Into a dataset that exists: it is left as it was.
    code, _, err = run_cli(["data", "import", str(other), "--dataset", str(dataset)], capsys)
    assert code == 0, err
    before = sorted(p.relative_to(dataset) for p in dataset.rglob("*"))
    refused(args, capsys, f"{damaged} cannot be imported")
    assert sorted(p.relative_to(dataset) for p in dataset.rglob("*")) == before
    assert not (dataset / "symbol=IBM").exists()


def test_two_files_of_the_same_symbol_day_are_refused_rather_than_one_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = example("IBM")
    copy = tmp_path / "copy_IBM_20131007_l1.csv.gz"
    shutil.copyfile(original, copy)
    dataset = tmp_path / "ds"
    args = ["data", "import", str(original), str(copy), "--dataset", str(dataset)]
    refused(args, capsys, "both hold IBM 2013-10-07")
    assert not dataset.exists()


def test_trades_of_a_day_without_quotes_are_refused_rather_than_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quotes = tmp_path / "lean_IBM_20131007_l1.csv.gz"
    shutil.copyfile(example("IBM"), quotes)
    trades = tmp_path / "lean_IBM_20131007_trades.csv.gz"
    companion = example("IBM").with_name("lean_IBM_20131007_trades.csv.gz")
    rows = gzip.decompress(companion.read_bytes()).decode().splitlines()
    # One more print, the next day: the quote file has nothing of that day.
    last = rows[-1].split(",")
    last[0] = str(int(last[0]) + 86_400 * 10**9)
    last[1] = last[1].replace("2013-10-07", "2013-10-08")
    trades.write_bytes(gzip.compress("\n".join([*rows, ",".join(last)]).encode() + b"\n"))
    dataset = tmp_path / "ds"
    args = ["data", "import", str(quotes), "--dataset", str(dataset)]
    line = refused(args, capsys, f"{trades} holds trades on 2013-10-08, when {quotes}")
    assert "would be lost" in line
    assert not dataset.exists()
