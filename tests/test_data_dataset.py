"""The Parquet dataset: import, listing, and replays reading it as they read files.

Built from the example files shipped with the package (and, where the shared data
is available, from its files too): a symbol-day read from the dataset gives the
replay exactly the arrays the CSV file gives it, so ``tca`` and ``order`` come out
the same either way.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from better_orders.data.csv_files import read_csv
from better_orders.data.dataset import Dataset, find_trades_file, symbol_days_at
from better_orders.data.example_data import example_quote_files, examples_folder
from better_orders.data.importer import import_files
from better_orders.data.symbol_day import DatasetError, SymbolDay
from better_orders.venues.sim.replay import ReplayQuotes
from cli_runner import run_cli
from test_dependencies import without_extras

ROOT = Path(__file__).resolve().parents[1]
ARRAYS = ("ts_ns", "bid_e4", "ask_e4", "bid_sz", "ask_sz")
EXECUTIONS = ("exec_px_e4", "exec_sz", "exec_dir", "exec_hidden")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data") / "ds"
    import_files(example_quote_files(), Dataset.for_writing(root))
    return root


def assert_same_replay(a: ReplayQuotes, b: ReplayQuotes) -> None:
    assert a.symbol == b.symbol
    for name in ARRAYS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.has_executions == b.has_executions
    if a.has_executions:
        for name in EXECUTIONS:
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        # Which prints were on another venue than the quotes' (a single venue's quotes).
        away_a = a.exec_away if a.exec_away is not None else np.zeros(len(a), np.bool_)
        away_b = b.exec_away if b.exec_away is not None else np.zeros(len(b), np.bool_)
        assert np.array_equal(away_a, away_b), "exec_away"


def test_import_makes_one_symbol_day_per_file_and_ls_lists_them(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["data", "ls", "--dataset", str(dataset), "--json"], capsys)
    assert code == 0, err
    rows = {(r["symbol"], r["date"]): r for r in json.loads(out)["symbol_days"]}
    assert sorted(rows) == [("AIG", "2013-10-07"), ("BAC", "2013-10-07"), ("IBM", "2013-10-07")]
    ibm = rows[("IBM", "2013-10-07")]
    assert (ibm["quotes"], ibm["trades"]) == (1550, 1539)
    assert (ibm["first_et"], ibm["last_et"]) == ("09:30:00", "09:39:59")
    assert ibm["origin"] == "import" and ibm["complete"]
    assert ibm["provenance"]["origin"]["files"] == [
        "lean_IBM_20131007_l1.csv.gz",
        "lean_IBM_20131007_trades.csv.gz",
    ]
    code, out, _ = run_cli(["data", "ls", "--dataset", str(dataset)], capsys)
    assert code == 0 and "3 symbol-day(s)" in out and "1,550" in out


def test_the_dataset_holds_the_files_rows_unchanged(dataset: Path) -> None:
    import pyarrow.parquet as pq

    day = SymbolDay(
        dataset, "IBM", SymbolDay.from_path(dataset / "symbol=IBM" / "date=2013-10-07").day
    )  # type: ignore[union-attr]
    for kind, file in (("quotes", "lean_IBM_20131007_l1"), ("trades", "lean_IBM_20131007_trades")):
        expected = read_csv(examples_folder() / f"{file}.csv.gz", kind)  # type: ignore[arg-type]
        got = pq.read_table(day.file(kind)).to_pandas()  # type: ignore[arg-type]
        assert list(got.columns) == list(expected.columns)
        for column in expected.columns:
            if column == "ts_et":
                text = got[column].dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
                assert text.tolist() == expected[column].tolist()
            else:
                assert got[column].tolist() == expected[column].tolist(), column


def test_a_symbol_day_replays_exactly_as_its_csv_file(dataset: Path) -> None:
    for quotes in example_quote_files():
        symbol = quotes.name.split("_")[1]
        day = dataset / f"symbol={symbol}" / "date=2013-10-07"
        assert find_trades_file(day) == day / "trades.parquet"
        from_csv = ReplayQuotes.from_file(quotes, trades=find_trades_file(quotes))
        from_dataset = ReplayQuotes.from_file(day, trades=find_trades_file(day))
        assert_same_replay(from_csv, from_dataset)


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name",
    ["taq_XXX_20180102_nyse_bbo", "lobster_AMZN_20120621_l1", "lean1s_SPY_20131007_l1"],
)
def test_shared_files_replay_the_same_from_the_dataset(
    quotes_dir: Path, tmp_path: Path, name: str
) -> None:
    quotes = quotes_dir / f"{name}.csv.gz"
    (imported,) = import_files([quotes], Dataset.for_writing(tmp_path / "ds"))
    day = imported.day.path
    from_csv = ReplayQuotes.from_file(quotes, trades=find_trades_file(quotes))
    from_dataset = ReplayQuotes.from_file(day, trades=find_trades_file(day))
    assert_same_replay(from_csv, from_dataset)


def test_paths_name_one_symbol_day_a_symbols_days_or_the_whole_dataset(dataset: Path) -> None:
    every = symbol_days_at(dataset)
    assert every is not None and [str(d) for d in every] == [
        "AIG 2013-10-07",
        "BAC 2013-10-07",
        "IBM 2013-10-07",
    ]
    ibm = symbol_days_at(dataset / "symbol=IBM")
    assert ibm is not None and [str(d) for d in ibm] == ["IBM 2013-10-07"]
    assert symbol_days_at(example_quote_files()[0]) is None  # a file is read as a file


def test_an_unfinished_symbol_day_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    day = root / "symbol=TQQQ" / "date=2026-11-24"
    (day / ".partial").mkdir(parents=True)
    with pytest.raises(DatasetError, match="is not complete"):
        symbol_days_at(day)
    with pytest.raises(DatasetError, match="TQQQ 2026-11-24 is not complete"):
        symbol_days_at(root)


def one_line_error(code: int, out: str, err: str, *fragments: str) -> str:
    assert code == 2 and out == "" and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_tca_on_a_dataset_refuses_a_day_fetched_halfway_rather_than_leave_it_out(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "ds"
    shutil.copytree(dataset, root)
    (root / "symbol=IBM" / "date=2013-10-08" / ".partial").mkdir(parents=True)
    args = ["--from", "09:30", "--to", "09:31", "--every", "30s", "--json"]
    code, out, err = run_cli(["tca", "--quotes", str(root), *args], capsys)
    one_line_error(code, out, err, "IBM 2013-10-08 is not complete", "data fetch again")
    # The complete days are still there to replay by name.
    code, out, err = run_cli(["tca", "--quotes", str(root / "symbol=AIG"), *args], capsys)
    assert code == 0, err
    assert [f["file"] for f in json.loads(out)["files"]] == ["AIG 2013-10-07"]


def _delete(path: Path) -> None:
    path.unlink()


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _other_rows(path: Path) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - 1), path)


@pytest.mark.parametrize(
    ("file", "damage", "problem"),
    [
        (
            "trades.parquet",
            _delete,
            "trades.parquet is missing (_manifest.json lists 1,539 trades)",
        ),
        ("quotes.parquet", _empty, "quotes.parquet is empty (0 bytes"),
        ("quotes.parquet", _cut, "quotes.parquet is not a readable Parquet file"),
        ("trades.parquet", _other_rows, "trades.parquet holds 1,538 rows, _manifest.json lists"),
    ],
)
def test_a_day_whose_files_do_not_match_its_manifest_is_listed_damaged_and_refused(
    dataset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    file: str,
    damage: Callable[[Path], None],
    problem: str,
) -> None:
    root = tmp_path / "ds"
    shutil.copytree(dataset, root)
    day = root / "symbol=IBM" / "date=2013-10-07"
    damage(day / file)

    code, out, err = run_cli(["data", "ls", "--dataset", str(root), "--json"], capsys)
    assert code == 0, err
    rows = {r["symbol"]: r for r in json.loads(out)["symbol_days"]}
    ibm = rows["IBM"]
    assert (ibm["complete"], ibm["status"], ibm["trades"]) == (False, "damaged", None)
    assert problem in ibm["problem"]
    assert ibm["provenance"]["origin"]["files"][0] == "lean_IBM_20131007_l1.csv.gz"
    assert rows["AIG"]["complete"] and rows["AIG"]["status"] == "complete"
    code, out, _ = run_cli(["data", "ls", "--dataset", str(root)], capsys)
    flat = " ".join(out.split())  # the table's title wraps on a narrow terminal
    assert code == 0 and "3 symbol-day(s), 1 not complete" in flat
    assert f"IBM 2013-10-07 damaged: {problem}" in flat

    named = ("symbol-day IBM 2013-10-07 is damaged", problem, "fetch or import it again")
    window = ["--from", "09:30", "--to", "09:31", "--every", "30s"]
    for quotes in (root, root / "symbol=IBM", day):
        code, out, err = run_cli(["tca", "--quotes", str(quotes), *window], capsys)
        one_line_error(code, out, err, *named)
    at = ["--at", "2013-10-07T09:31:00", "--db", str(tmp_path / "j.sqlite3")]
    code, out, err = run_cli(["order", "buy", "IBM", "100", "--quotes", str(root), *at], capsys)
    one_line_error(code, out, err, *named)
    # Another symbol's day in the same dataset is unaffected.
    code, _, err = run_cli(["order", "buy", "AIG", "100", "--quotes", str(root), *at], capsys)
    assert code == 0, err


def test_tca_over_the_dataset_equals_tca_over_the_files(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--from", "09:30", "--to", "09:31", "--every", "10s", "--policy", "ladder,market"]

    def summary(*quotes: str) -> list[tuple[str, str, float, float]]:
        code, out, err = run_cli(["tca", "--quotes", *quotes, *base, "--json"], capsys)
        assert code == 0, err
        rows = json.loads(out)["summary"]
        return [(r["symbol"], r["policy"], r["mean_cost_bps"], r["decisions"]) for r in rows]

    files = [str(f) for f in example_quote_files()]
    by_file = summary(*files)
    assert summary(str(dataset)) == by_file
    assert summary(str(dataset / "symbol=IBM")) == [r for r in by_file if r[0] == "IBM"]
    code, out, _ = run_cli(
        ["tca", "--quotes", str(dataset / "symbol=BAC" / "date=2013-10-07"), *base], capsys
    )
    assert code == 0 and "BAC 2013-10-07" in out and "trades.parquet" in out


def test_order_replays_the_symbols_day_of_at_from_a_dataset(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "j.sqlite3")
    at = ["--at", "2013-10-07T09:31:00", "--db", db, "--json"]
    code, out, err = run_cli(["order", "buy", "AIG", "100", "--quotes", str(dataset), *at], capsys)
    assert code == 0, err
    from_dataset = json.loads(out)["report"]
    csv = str(next(f for f in example_quote_files() if "_AIG_" in f.name))
    code, out, err = run_cli(["order", "buy", "AIG", "100", "--quotes", csv, *at], capsys)
    assert code == 0, err
    from_file = json.loads(out)["report"]
    for key in ("filled_qty", "avg_fill_price", "cost_bps", "arrival_mid"):
        assert from_dataset[key] == from_file[key], key
    code, _, err = run_cli(
        ["order", "buy", "AIG", "1", "--quotes", str(dataset), "--db", db], capsys
    )
    assert (code == 2 and "--at" not in err) or "1 days" not in err  # one day: no --at needed
    code, _, err = run_cli(
        [
            "order",
            "buy",
            "AIG",
            "1",
            "--quotes",
            str(dataset),
            "--at",
            "2013-10-08T09:31:00",
            "--db",
            db,
        ],
        capsys,
    )
    assert code != 0 and "has no AIG 2013-10-08 (it has AIG 2013-10-07)" in err


# -- the example data in the package ------------------------------------------------------------


def test_the_example_data_is_small_and_says_where_it_comes_from() -> None:
    folder = examples_folder()
    files = sorted(p.name for p in folder.iterdir() if p.name != "__pycache__")
    assert files == [
        "LICENSE-Apache-2.0",
        "README.md",
        "lean_AIG_20131007_l1.csv.gz",
        "lean_AIG_20131007_trades.csv.gz",
        "lean_BAC_20131007_l1.csv.gz",
        "lean_BAC_20131007_trades.csv.gz",
        "lean_IBM_20131007_l1.csv.gz",
        "lean_IBM_20131007_trades.csv.gz",
    ]
    assert sum(p.stat().st_size for p in folder.glob("*.csv.gz")) < 1_000_000
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "QuantConnect/Lean" in readme and "Apache License, Version 2.0" in readme
    assert "AlgoSeek" in readme
    notice = (ROOT / "NOTICE").read_text(encoding="utf-8")
    assert "QuantConnect/Lean" in notice and "Apache" in notice
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = pyproject["tool"]["setuptools"]["package-data"]["better_orders.data"]
    assert {"examples/*.csv.gz", "examples/README.md", "examples/LICENSE-Apache-2.0"} <= set(
        shipped
    )


@pytest.mark.realdata
def test_the_example_rows_are_the_shared_files_rows_around_the_open(quotes_dir: Path) -> None:
    for example in example_quote_files():
        for kind, name in (
            ("quotes", example.name),
            ("trades", example.name.replace("_l1", "_trades")),
        ):
            full = read_csv(quotes_dir / name, kind)  # type: ignore[arg-type]
            clock = full["ts_et"].str.slice(11, 19)
            window = full[(clock >= "09:29:00") & (clock < "09:40:00")].reset_index(drop=True)
            shipped = read_csv(example.parent / name, kind)  # type: ignore[arg-type]
            assert shipped.equals(window), name


def test_tca_example_runs_in_a_base_install() -> None:
    done = without_extras(["tca", "--example", "--to", "09:30:30", "--every", "10s", "--json"])
    assert done.returncode == 0, done.stderr
    files = [f["file"] for f in json.loads(done.stdout)["files"]]
    assert files == [f.name for f in example_quote_files()]


def test_data_examples_prints_the_paths(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["data", "examples", "--paths"], capsys)
    assert code == 0
    assert [Path(line) for line in out.splitlines()] == example_quote_files()
