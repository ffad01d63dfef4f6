"""The corpus: finding quote files, classifying symbol-days, pooling with intervals."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.data.dataset import Dataset
from better_orders.data.example_data import example_quote_files
from better_orders.data.importer import import_files
from better_orders.tca.bootstrap import Resampler, ratio_of_sums
from better_orders.tca.corpus import FileKind, file_kind, resolve_quote_files
from better_orders.tca.decisions import QuoteFile
from better_orders.tca.evaluate import run_tca
from better_orders.tca.policies import BUILTIN_POLICIES
from better_orders.tca.pooled import SIDES
from better_orders.tca.regime import Regime, classify
from test_tca_metrics import write_quotes

OPEN = datetime(2024, 1, 9, 14, 30, tzinfo=UTC)  # 09:30 New York


def trades_file(path: Path) -> Path:
    with gzip.open(path, "wt") as fh:
        fh.write("ts_utc_ns,symbol,price,size,cond,corr\n")
    return path


def quotes_file(path: Path, bid: str = "50.00", ask: str = "50.10", symbol: str = "ABC") -> Path:
    return write_quotes(path, [(float(s), bid, ask, 500, 500) for s in range(0, 30)], symbol)


# -- finding the files ----------------------------------------------------------------------


def test_files_folders_and_patterns(tmp_path: Path) -> None:
    a = quotes_file(tmp_path / "abc_20240109_l1.csv.gz")
    b = quotes_file(tmp_path / "xyz_20240109_l1.csv.gz", symbol="XYZ")
    trades_file(tmp_path / "abc_20240109_trades.csv.gz")
    assert resolve_quote_files([a]) == [a]
    assert resolve_quote_files([str(tmp_path)]) == [a, b]  # the trades file is a companion
    assert resolve_quote_files([str(tmp_path / "*_l1.csv.gz")]) == [a, b]
    assert resolve_quote_files([str(tmp_path / "*.csv.gz")]) == [a, b]
    assert resolve_quote_files([b, str(tmp_path)]) == [b, a]  # once each, first mention first
    assert file_kind(a) == (FileKind.QUOTES, "")
    assert file_kind(tmp_path / "abc_20240109_trades.csv.gz")[0] is FileKind.TRADES


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: [str(d / "*.parquet")], "no file matches"),
        (lambda d: [str(d / "missing.csv.gz")], "does not exist"),
        (lambda d: [], "no quote file given"),
        (lambda d: [str(d / "t_trades.csv.gz")], "is not a quote file: a trades file"),
        (lambda d: [str(d / "notes.txt")], "is not a quote file: not a .csv.gz"),
        (lambda d: [str(d / "bad.csv.gz")], "is not a quote file: not a gzip file"),
        (lambda d: [str(d / "other.csv")], "its columns are when, what"),
        (lambda d: [str(d)], "holds bad.csv.gz, which is not a quote file"),
        (lambda d: [str(d / "empty")], "folder .* holds no quote file"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path: Path, make: object, message: str) -> None:
    quotes_file(tmp_path / "a_l1.csv.gz")
    trades_file(tmp_path / "t_trades.csv.gz")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "bad.csv.gz").write_text("ts_utc_ns,bid_px\n")
    (tmp_path / "other.csv").write_text("when,what\n1,2\n")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match=message):
        resolve_quote_files(make(tmp_path))  # type: ignore[operator]


def test_one_symbol_day_from_two_sources_is_refused_and_one_file_twice_is_one(
    tmp_path: Path,
) -> None:
    a = quotes_file(tmp_path / "abc_20240109_l1.csv.gz")
    (tmp_path / "copies").mkdir()
    renamed = Path(shutil.copy(a, tmp_path / "copies" / "renamed.csv.gz"))
    # Counted twice, the day would weigh double when pooled, and tune would hold it out and
    # train on it at once.
    for given in ([a, renamed], [str(tmp_path), str(tmp_path / "copies")]):
        with pytest.raises(InvalidInputError) as refused:
            resolve_quote_files(given)
        assert str(refused.value) == (
            f"ABC 2024-01-09 is given twice: {a} and {renamed}; pass each symbol-day once"
        )
    # One file named twice, by any spelling of its path, is one source.
    same = tmp_path / "copies" / ".." / a.name
    assert resolve_quote_files([a, same, str(tmp_path)]) == [a]
    # Another symbol, or the same symbol another day, is another symbol-day.
    other = quotes_file(tmp_path / "copies" / "xyz.csv.gz", symbol="XYZ")
    next_day = write_quotes(
        tmp_path / "copies" / "abc_20240110.csv.gz",
        [(86_400.0 + s, "50.00", "50.10", 500, 500) for s in range(30)],
    )
    assert resolve_quote_files([a, other, next_day]) == [a, other, next_day]


def test_two_days_in_files_of_one_name_are_refused_rather_than_merged(tmp_path: Path) -> None:
    # Results are labelled by file name: two days under one label would make one row.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = quotes_file(tmp_path / "a" / "quotes.csv.gz", symbol="ABC")
    second = quotes_file(tmp_path / "b" / "quotes.csv.gz", symbol="XYZ")
    with pytest.raises(InvalidInputError) as refused:
        resolve_quote_files([tmp_path / "a", tmp_path / "b"])
    assert str(refused.value) == (
        f"two quote files are named quotes.csv.gz ({first} and {second}): results are "
        "labelled by file name; give one of them another name"
    )


def test_a_datasets_symbol_day_and_the_file_it_was_imported_from_are_one_day(
    tmp_path: Path,
) -> None:
    ibm = next(f for f in example_quote_files() if "IBM" in f.name)
    root = tmp_path / "ds"
    import_files([ibm], Dataset.for_writing(root))
    day = root / "symbol=IBM" / "date=2013-10-07"
    loose = Path(shutil.copy(day / "quotes.parquet", tmp_path / "ibm.parquet"))
    # (what is given first, the source it names, what is given second)
    pairs = [
        (root, day, ibm),
        (root / "symbol=IBM", day, ibm),
        (day, day, loose),
        (loose, loose, ibm),
    ]
    for first, named, second in pairs:
        with pytest.raises(InvalidInputError) as refused:
            resolve_quote_files([first, second])
        assert str(refused.value) == (
            f"IBM 2013-10-07 is given twice: {named} and {second}; pass each symbol-day once"
        )


# -- regimes ----------------------------------------------------------------------------


def day_file(path: Path, open_spread: str, day_spread: str) -> QuoteFile:
    """A whole session: ``open_spread`` wide for the first 5 minutes, ``day_spread`` after."""
    rows = []
    for s in range(0, 6 * 3600 + 1800, 30):
        width = D(open_spread) if s < 300 else D(day_spread)
        rows.append((float(s), "20.00", str(D("20.00") + width), 500, 500))
    return QuoteFile.load(write_quotes(path, rows))


@pytest.mark.parametrize(
    ("open_spread", "day_spread", "regime"),
    [
        ("0.12", "0.03", Regime.WIDE_OPEN),
        ("0.03", "0.01", Regime.WIDE_OPEN),  # wide at the open outranks one tick all day
        ("0.01", "0.01", Regime.TICK_BOUND),
        ("0.00", "0.01", Regime.TICK_BOUND),  # locked counts as one tick
        ("0.05", "0.04", Regime.OTHER),
    ],
)
def test_regime_of_a_symbol_day(
    tmp_path: Path, open_spread: str, day_spread: str, regime: Regime
) -> None:
    qf = day_file(tmp_path / "d.csv.gz", open_spread, day_spread)
    info = classify(qf.quotes, qf.session())
    assert info.regime is regime
    assert info.day_median_spread == D(day_spread)


@pytest.mark.realdata
def test_the_shared_corpus_regimes(quotes_dir: Path) -> None:
    found = {}
    for path in resolve_quote_files([quotes_dir]):
        qf = QuoteFile.load(path)
        found[qf.quotes.symbol, path.name.split("_")[2]] = classify(qf.quotes, qf.session()).regime
    assert {k for k, v in found.items() if v is Regime.TICK_BOUND} == {
        ("SPY", "20131007"),
        ("SPY", "20131008"),
        ("BAC", "20131007"),
        ("BAC", "20131008"),
    }
    assert found["IBM", "20131007"] is Regime.WIDE_OPEN and found["AIG", "20131009"] is (
        Regime.WIDE_OPEN
    )


# -- the bootstrap ------------------------------------------------------------------------


def test_bootstrap_resamples_whole_days_and_is_seeded() -> None:
    sampler = Resampler(resamples=500, seed=7)
    counts = sampler.counts(5)
    assert counts.shape == (500, 5) and (counts.sum(axis=1) == 5).all()
    assert np.array_equal(counts, Resampler(resamples=500, seed=7).counts(5))
    assert not np.array_equal(counts, Resampler(resamples=500, seed=8).counts(5))
    num, den = [1.0, 2.0, 3.0, 4.0], [10.0, 10.0, 10.0, 10.0]
    interval = sampler.ratio(num, den)
    assert interval is not None
    assert 0.1 <= interval.low < ratio_of_sums(num, den) < interval.high <= 0.4  # type: ignore[operator]
    # Identical days: no spread at all, and one day: no interval.
    same = sampler.ratio([2.0] * 4, [4.0] * 4)
    assert same is not None and same.low == same.high == 0.5
    assert sampler.ratio([1.0], [2.0]) is None
    assert ratio_of_sums([1.0], [0.0]) is None


def test_a_day_twice_as_long_weighs_twice_in_the_pooled_ratio() -> None:
    # Ratio of sums: day 2's 300 decisions outweigh day 1's 100.
    assert ratio_of_sums([10.0, 30.0], [100.0, 300.0]) == pytest.approx(0.1)
    assert ratio_of_sums([10.0, 60.0], [100.0, 300.0]) == pytest.approx(70 / 400)


# -- pooling --------------------------------------------------------------------------------


def test_corpus_summary_per_day_pooled_per_side_and_regime(tmp_path: Path) -> None:
    wide = write_quotes(
        tmp_path / "w_20240109_l1.csv.gz",
        [(float(s), "40.00", "40.30" if s % 20 < 15 else "40.12", 300, 300) for s in range(200)],
    )
    files = [QuoteFile.load(wide), QuoteFile.load(quotes_file(tmp_path / "t_20240109_l1.csv.gz"))]
    result = run_tca(
        files,
        [BUILTIN_POLICIES["ladder"], BUILTIN_POLICIES["market"]],
        BetterOrdersConfig(),
        start=dt_time(9, 30),
        end=dt_time(9, 30, 20),
        every=timedelta(seconds=5),
        resampler=Resampler(resamples=200, seed=1),
    )
    corpus = result.corpus()
    labels = ["w_20240109_l1.csv.gz", "t_20240109_l1.csv.gz"]
    assert list(corpus.regimes) == labels
    rows = [(r.file, r.policy, r.side) for r in corpus.days]
    assert rows == [(f, p, s) for f in labels for p in ("ladder", "market") for s in SIDES]
    assert all(r.figures.ratio == pytest.approx(1.0) for r in corpus.days if r.policy == "market")
    assert all(r.figures.decisions == 4 * (1 + (r.side == "both")) for r in corpus.days)

    market = {
        (r.file, r.decision, r.side): r.shortfall_bps
        for r in result.records
        if r.policy == "market"
    }
    for side in SIDES:
        mine = [
            r
            for r in result.records
            if r.policy == "ladder" and (side == "both" or r.side.value == side)
        ]
        num = sum(r.shortfall_bps or 0.0 for r in mine)
        den = sum(market[(r.file, r.decision, r.side)] or 0.0 for r in mine)
        pooled = corpus.pooled_row("all", "ladder", side)
        assert pooled is not None and pooled.symbol_days == 2
        # The ratio of the sums over the same decisions, not a mean of the days' ratios.
        assert pooled.figures.ratio == pytest.approx(num / den)
        assert pooled.figures.decisions == len(mine)
        assert pooled.ratio_ci is not None
        assert pooled.ratio_ci.low <= num / den <= pooled.ratio_ci.high
        parts = pooled.figures.parts_bps
        assert sum(parts.values()) == pytest.approx(
            sum(r.decomposition.bps("total") for r in mine if r.decomposition) / len(mine)
        )
    # One regime for both files: no separate regime rows; JSON carries it all.
    assert {r.group for r in corpus.pooled} == {"all"}
    data = corpus.as_dict()
    assert str(data["estimator"]).startswith("ratio to market = sum of the policy's shortfall")
    assert data["resamples"] == 200 and data["seed"] == 1
