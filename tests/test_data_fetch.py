"""``better-orders data fetch`` against the local exchange serving historical files.

The command runs as a user runs it (in-process, or as a process killed halfway),
with its keys and URLs in the environment, and the dataset it writes is compared
row for row with the files the server serves: every column of the shared schema
equal (``ts_et`` as the same instant), nothing missing, nothing twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from alpaca_server import TEST_VENUE, LocalAlpaca, run_local_alpaca
from better_orders.data.csv_files import read_csv
from better_orders.data.dataset import Dataset
from better_orders.data.example_data import example_quote_files
from better_orders.data.symbol_day import SymbolDay
from better_orders.server import ServerConfig
from cli_runner import run_cli

DAY = "2013-10-07"


#: Not in the local exchange's built-in asset list: an asset file lists them (XXX is the
#: shared TAQ file's pseudonym).
ASSETS = Path(tempfile.mkdtemp()) / "assets.csv"
ASSETS.write_text("symbol,name,exchange\nAIG,American International Group,NYSE\nXXX,,NYSE\n")


def serving(files: list[Path], **config: Any) -> ServerConfig:
    venue = replace(TEST_VENUE, asset_files=(ASSETS,))
    return ServerConfig(venue=venue, history=tuple((None, f) for f in files), **config)


@pytest.fixture
def exchange(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAlpaca]:
    with run_local_alpaca(serving(example_quote_files())) as local:
        point_at(monkeypatch, local)
        yield local


def point_at(monkeypatch: pytest.MonkeyPatch, local: LocalAlpaca) -> None:
    for name, value in environment(local).items():
        monkeypatch.setenv(name, value)


def environment(local: LocalAlpaca) -> dict[str, str]:
    return {
        "APCA_API_KEY_ID": local.key_id,
        "APCA_API_SECRET_KEY": local.secret_key,
        "APCA_API_BASE_URL": local.base_url,
        "APCA_API_DATA_URL": local.base_url,
    }


def fetch_args(dataset: Path, *symbols: str, **options: str) -> list[str]:
    args = ["data", "fetch", *symbols, "--start", options.pop("start", DAY)]
    args += ["--dataset", str(dataset), "--rate-limit", options.pop("rate", "6000")]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", value]
    return args


def data_requests(local: LocalAlpaca) -> int:
    counts = local.stats()["requests"]
    return sum(n for route, n in counts.items() if route.startswith("GET /v2/stocks"))


def companion(quotes: Path) -> Path:
    return quotes.with_name(quotes.name.replace("_l1", "_trades").replace("_nyse_bbo", "_trades"))


def assert_same_rows(day: SymbolDay, quote_file: Path, start_ns: int, end_ns: int) -> None:
    """The symbol-day holds exactly the source rows in [start, end), column for column."""
    for kind, path in (("quotes", quote_file), ("trades", companion(quote_file))):
        expected = read_csv(path, kind)  # type: ignore[arg-type]
        ts = expected["ts_utc_ns"]
        expected = expected[(ts >= start_ns) & (ts < end_ns)].reset_index(drop=True)
        got = pq.read_table(day.file(kind)).to_pandas()  # type: ignore[arg-type]
        assert len(got) == len(expected) > 0
        # ts_et is a timestamp in the dataset; the CSV's text is that instant to the microsecond.
        text = got["ts_et"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
        assert text.tolist() == expected["ts_et"].tolist()
        assert str(got["ts_et"].dt.tz) == "America/New_York"
        assert got["ts_utc_ns"].tolist() == got["ts_et"].astype("int64").tolist()
        columns = [c for c in expected.columns if c not in ("ts_et", "source")]
        for column in columns:
            assert got[column].tolist() == expected[column].tolist(), column
        if kind == "quotes":
            assert set(got["source"]) == {f"Alpaca Market Data API v2 ({host(day)}, feed=sip)"}


def host(day: SymbolDay) -> str:
    manifest = day.manifest()
    assert manifest is not None
    return str(manifest["origin"]["url"]).removeprefix("http://")


def ns(text: str) -> int:
    from better_orders.server.market_data import parse_time

    return parse_time(text, "t")


WINDOW = (ns("2013-10-07T13:25:00Z"), ns("2013-10-07T13:45:00Z"))  # 09:25-09:45 New York


def test_fetch_writes_each_symbol_day_exactly_as_served(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "ds"
    args = fetch_args(dataset, "IBM", "AIG", "BAC", page_size="1000")
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    days = Dataset.for_reading(dataset).complete_days()
    assert [str(d) for d in days] == ["AIG 2013-10-07", "BAC 2013-10-07", "IBM 2013-10-07"]
    for day in days:
        source = next(f for f in example_quote_files() if f"_{day.symbol}_" in f.name)
        assert_same_rows(day, source, *WINDOW)
    assert "fetched" in out and "0 answered 429" in out

    # Run again: every symbol-day is complete, nothing is fetched.
    before = data_requests(exchange)
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and out.count("skipped") == 3
    assert data_requests(exchange) == before


def test_429s_are_waited_out_and_the_rows_are_the_same(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exchange.set_faults(rate_limit_burst=4, retry_after=0.2)
    dataset = tmp_path / "ds"
    code, out, err = run_cli([*fetch_args(dataset, "IBM", page_size="500"), "--json"], capsys)
    assert code == 0, err
    assert exchange.stats()["responses"].get("429") == 4
    assert json.loads(out)["rate_limited"] == 4
    day = Dataset.for_reading(dataset).complete_days()[0]
    assert_same_rows(day, next(f for f in example_quote_files() if "_IBM_" in f.name), *WINDOW)


def test_when_the_budget_is_spent_the_fetch_waits_for_the_reset_instead_of_a_429(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 8 requests per 2 s window on the server; the client is told it may send far more.
    config = serving(example_quote_files(), rate_limit_per_minute=8, rate_window_seconds=2.0)
    with run_local_alpaca(config) as local:
        point_at(monkeypatch, local)
        args = fetch_args(tmp_path / "ds", "BAC", page_size="1000", rate="60000")
        started = time.monotonic()
        code, _, err = run_cli(args, capsys)
        elapsed = time.monotonic() - started
        responses = local.stats()["responses"]
    assert code == 0, err
    # 15 requests (the asset, 8 pages of quotes, 6 of trades) need two resets of the window.
    assert responses == {"200": 15} and elapsed >= 2.0
    day = Dataset.for_reading(tmp_path / "ds").complete_days()[0]
    assert_same_rows(day, next(f for f in example_quote_files() if "_BAC_" in f.name), *WINDOW)


def test_an_interrupted_fetch_resumes_from_its_last_page_without_duplicates(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "ds"
    args = fetch_args(dataset, "BAC", page_size="200", rate="240")  # 4 requests a second
    code = "from better_orders.cli.app import main; main()"
    env = os.environ | environment(exchange)
    process = subprocess.Popen([sys.executable, "-c", code, *args], env=env)
    partial = dataset / "symbol=BAC" / f"date={DAY}" / ".partial"
    deadline = time.monotonic() + 120
    while len(list(partial.glob("quotes-*.parquet"))) < 5:
        assert process.poll() is None, "the fetch ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    kept = len(list(partial.glob("quotes-*.parquet")))
    assert not (partial.parent / "_manifest.json").exists()
    listed = run_cli(["data", "ls", "--dataset", str(dataset), "--json"], capsys)[1]
    assert '"fetch in progress"' in listed

    before = exchange.requests_to("GET /v2/stocks/{symbol}/quotes")
    code2, out, err = run_cli([*args[:-2], "--rate-limit", "6000"], capsys)
    assert code2 == 0, err
    assert "resumed" in out
    day = Dataset.for_reading(dataset).complete_days()[0]
    source = next(f for f in example_quote_files() if "_BAC_" in f.name)
    assert_same_rows(day, source, *WINDOW)  # nothing twice, nothing missing
    pages = -(-len(read_csv(source, "quotes")) // 200)
    resent = exchange.requests_to("GET /v2/stocks/{symbol}/quotes") - before
    assert resent <= pages - kept + 1  # only the pages not kept (and one in flight) again
    assert not partial.exists()


@pytest.mark.realdata
def test_several_days_of_a_symbol_and_blank_condition_codes(
    quotes_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = [quotes_dir / f"lean_IBM_2013100{d}_l1.csv.gz" for d in (7, 8)]
    files.append(quotes_dir / "taq_XXX_20180102_nyse_bbo.csv.gz")  # conditions like "F  I"
    with run_local_alpaca(serving(files)) as local:
        point_at(monkeypatch, local)
        dataset = tmp_path / "ds"
        code, out, err = run_cli(fetch_args(dataset, "IBM", end="2013-10-09"), capsys)
        assert code == 0, err
        assert "2013-10-09" in out and "no data" in out
        code, _, err = run_cli(fetch_args(dataset, "XXX", start="2018-01-02"), capsys)
        assert code == 0, err
    days = {str(d): d for d in Dataset.for_reading(dataset).complete_days()}
    # 2013-10-09 is not served: no quotes, so no symbol-day that would stop every replay.
    assert sorted(days) == ["IBM 2013-10-07", "IBM 2013-10-08", "XXX 2018-01-02"]
    assert not (dataset / "symbol=IBM" / "date=2013-10-09").exists()
    assert_same_rows(days["IBM 2013-10-07"], files[0], *WINDOW)
    oct8 = (WINDOW[0] + 86_400 * 10**9, WINDOW[1] + 86_400 * 10**9)
    assert_same_rows(days["IBM 2013-10-08"], files[1], *oct8)
    jan2 = (ns("2018-01-02T14:25:00Z"), ns("2018-01-02T14:45:00Z"))
    assert_same_rows(days["XXX 2018-01-02"], files[2], *jan2)


def test_a_fetch_with_no_data_at_all_keeps_nothing_and_exits_0(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "ds"
    # The server holds 2013-10-07 only: the next session has no quotes for either symbol.
    code, out, err = run_cli(fetch_args(dataset, "IBM", "AIG", start="2013-10-08"), capsys)
    assert code == 0, err  # "no data" is a listed outcome, as the README documents
    assert out.count("no data") == 2
    assert sorted(p.name for p in dataset.iterdir()) == ["_dataset.json"]  # no empty folder
    code, out, err = run_cli(["data", "ls", "--dataset", str(dataset), "--json"], capsys)
    assert code == 0 and json.loads(out)["symbol_days"] == [], err


def test_a_damaged_day_is_fetched_again_rather_than_skipped(
    exchange: LocalAlpaca, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "ds"
    args = fetch_args(dataset, "IBM", "AIG")
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    ibm = Dataset.for_reading(dataset).symbol_day("IBM", date.fromisoformat(DAY))
    ibm.file("trades").unlink()
    code, out, err = run_cli([*args, "--json"], capsys)
    assert code == 0, err
    status = {d["symbol"]: d["status"] for d in json.loads(out)["symbol_days"]}
    assert status == {"IBM": "replaced", "AIG": "skipped"}
    assert ibm.complete
    assert_same_rows(ibm, next(f for f in example_quote_files() if "_IBM_" in f.name), *WINDOW)
