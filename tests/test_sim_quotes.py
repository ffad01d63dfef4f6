"""Quote sources: synthetic determinism and shape, file replay, typed file errors, the book."""

from __future__ import annotations

import gzip
import itertools
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from better_orders.config.settings import SymbolClass
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote
from better_orders.core.ticks import is_on_grid
from better_orders.venues.sim.book import QuoteBook
from better_orders.venues.sim.files import QuoteFileError
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.source import QuoteSource
from better_orders.venues.sim.synthetic import SymbolProfile, SyntheticQuotes, reference_price

D = Decimal
NY = ZoneInfo("America/New_York")
OPEN = datetime(2026, 3, 2, 9, 30, tzinfo=NY)


def take(source: QuoteSource, n: int | None = None) -> list[Quote]:
    out: list[Quote] = []
    while source.peek_time() is not None and (n is None or len(out) < n):
        out.append(source.pop())
    return out


def synthetic(symbol: str, seed: int = 1, **kw: object) -> SyntheticQuotes:
    args: dict[str, object] = {"start": OPEN, "session_open": OPEN, "seed": seed}
    args.update(kw)
    return SyntheticQuotes(symbol, **args)  # type: ignore[arg-type]


def spreads_between(quotes: list[Quote], start: datetime, end: datetime) -> list[Decimal]:
    return [q.spread for q in quotes if start <= q.ts < end]


# -- synthetic ---------------------------------------------------------------------------------


def test_same_seed_gives_identical_quotes_and_another_seed_does_not() -> None:
    first = take(synthetic("TQQQ", seed=42), 1000)
    assert len(first) == 1000
    assert take(synthetic("TQQQ", seed=42), 1000) == first
    assert take(synthetic("TQQQ", seed=43), 1000) != first
    assert [q.bid for q in take(synthetic("SQQQ", seed=42), 1000)] != [q.bid for q in first]


def test_synthetic_quotes_do_not_depend_on_the_hash_seed() -> None:
    code = (
        "from datetime import datetime; from zoneinfo import ZoneInfo;"
        "from better_orders.venues.sim.synthetic import SyntheticQuotes;"
        "o = datetime(2026, 3, 2, 9, 30, tzinfo=ZoneInfo('America/New_York'));"
        "s = SyntheticQuotes('ZZZQ', start=o, session_open=o, seed=9);"
        "print([str(s.pop().bid) for _ in range(50)])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outputs) == 1


@pytest.mark.parametrize("symbol", ["TQQQ", "SPY", "SPXL", "AAPL"])
def test_spread_is_several_times_wider_in_the_first_minute(symbol: str) -> None:
    quotes = take(synthetic(symbol, seed=7, end=OPEN + timedelta(minutes=11)))
    first_minute = statistics.median(spreads_between(quotes, OPEN, OPEN + timedelta(minutes=1)))
    at_940 = statistics.median(
        spreads_between(quotes, OPEN + timedelta(minutes=10), OPEN + timedelta(minutes=11))
    )
    assert first_minute >= 2 * at_940
    # Narrowed back by open + 5 min (within a tick or so of the settled spread).
    after_5 = statistics.median(
        spreads_between(quotes, OPEN + timedelta(minutes=5), OPEN + timedelta(minutes=6))
    )
    assert after_5 < first_minute


def test_pre_open_quotes_are_wider_thinner_and_slower() -> None:
    start = OPEN - timedelta(minutes=10)
    quotes = take(synthetic("QQQ", start=start, end=OPEN + timedelta(minutes=16)))
    pre = [q for q in quotes if q.ts < OPEN]
    settled = [q for q in quotes if q.ts >= OPEN + timedelta(minutes=10)]
    assert statistics.median(q.spread for q in pre) > statistics.median(q.spread for q in settled)
    assert statistics.median(q.bid_size for q in pre) < statistics.median(
        q.bid_size for q in settled
    )
    assert len(pre) < len(settled)  # 10 minutes each side, fewer updates before the open


def test_synthetic_quotes_are_sane() -> None:
    quotes = take(synthetic("TQQQ", start=OPEN + timedelta(minutes=10)), 2000)
    assert quotes[0].ts == OPEN + timedelta(minutes=10)
    assert abs(quotes[0].mid - D(75)) / D(75) < D("0.03")
    for a, b in itertools.pairwise(quotes):
        gap = b.ts - a.ts
        assert timedelta(milliseconds=20) <= gap <= timedelta(milliseconds=500)
    for quote in quotes:
        assert 0 < quote.bid < quote.ask
        assert is_on_grid(quote.bid) and is_on_grid(quote.ask)
        assert quote.bid_size % 100 == 0 and 100 <= quote.bid_size <= 5000
    assert statistics.median(q.spread for q in quotes) == D("0.01")


def test_stock_sizes_are_a_few_hundred_shares() -> None:
    quotes = take(synthetic("ZZZQ", start=OPEN + timedelta(minutes=10)), 500)
    assert all(100 <= q.ask_size <= 500 for q in quotes)


def test_profiles_follow_the_symbol_class() -> None:
    assert SymbolProfile.for_symbol("TQQQ").symbol_class is SymbolClass.LEVERAGED_ETF
    assert SymbolProfile.for_symbol("SPY").symbol_class is SymbolClass.HIGH_VOLUME_ETF
    stock = SymbolProfile.for_symbol("ZZZQ")
    assert stock.symbol_class is SymbolClass.STOCK
    assert D(20) <= stock.ref_price <= D(400)
    assert stock.ref_price == reference_price("ZZZQ") == SymbolProfile.for_symbol("ZZZQ").ref_price
    assert SymbolProfile.for_symbol("SPY").ref_price == D(660)
    expensive = [s for s in ("AAAA", "BBBB", "CCCC", "DDDD", "EEEE") if reference_price(s) > 150]
    assert all(SymbolProfile.for_symbol(s).spread_ticks >= 3 for s in expensive)
    with pytest.raises(InvalidInputError):
        SymbolProfile(SymbolClass.STOCK, D(10), spread_ticks=0, daily_vol=0.01, size_lots=(1, 2))


def test_end_stops_the_source_and_skip_to_lands_on_the_quote_in_force() -> None:
    full = take(synthetic("SOXL", end=OPEN + timedelta(seconds=30)))
    assert full[-1].ts <= OPEN + timedelta(seconds=30)
    t = OPEN + timedelta(seconds=12, milliseconds=345)
    in_force = [q for q in full if q.ts <= t][-1]
    skipped = synthetic("SOXL", end=OPEN + timedelta(seconds=30))
    skipped.skip_to(t)
    rest = take(skipped)
    assert rest[0] == in_force
    assert rest == full[full.index(in_force) :]


def test_naive_start_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="time zone"):
        SyntheticQuotes("SPY", start=datetime(2026, 3, 2, 9, 30), session_open=OPEN, seed=1)


# -- replay of the real files -------------------------------------------------------------------


def _data_file(name: str) -> Path:
    folder = os.environ.get("BETTER_ORDERS_DATA")
    if not folder:
        pytest.skip("BETTER_ORDERS_DATA is not set: the shared real quote files are not available")
    path = Path(folder) / "quotes" / name
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.mark.realdata
def test_replay_of_the_amzn_file() -> None:
    quotes = ReplayQuotes.from_file(_data_file("lobster_AMZN_20120621_l1.csv.gz"))
    assert quotes.symbol == "AMZN" and len(quotes) == 57_515
    assert bool(np.all(np.diff(quotes.ts_ns) >= 0))
    first = quotes.quote_at(0)
    assert first.ts.astimezone(NY) >= datetime(2012, 6, 21, 9, 30, tzinfo=NY)
    assert first.bid == D("223.18") and first.ask == D("223.95") and first.ask_size == 100
    assert quotes.has_executions and quotes.execution_at(0) is not None

    rng = np.random.default_rng(3)
    for ns in rng.integers(int(quotes.ts_ns[0]), int(quotes.ts_ns[-1]), size=200):
        t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(ns) // 1000)
        i = quotes.index_at(t)
        assert quotes.quote_at(i).ts <= t
        if i + 1 < len(quotes):
            assert quotes.quote_at(i + 1).ts > t
    before = quotes.quote_at(0).ts - timedelta(seconds=1)
    assert quotes.index_at(before) == -1
    with pytest.raises(IndexError):
        quotes.quote_at(-1)

    # A cursor started mid-file yields the quote in force first, then moves on.
    t = datetime(2012, 6, 21, 10, 0, tzinfo=NY)
    cursor = quotes.starting_at(t)
    in_force = quotes.quote_at(quotes.index_at(t))
    assert cursor.pop() == in_force
    peek = cursor.peek_time()
    assert peek is not None and peek > t


@pytest.mark.realdata
def test_replay_with_symbol_override_and_start() -> None:
    t = datetime(2018, 1, 2, 9, 45, tzinfo=NY)
    quotes = ReplayQuotes.from_file(
        _data_file("taq_XXX_20180102_nyse_bbo.csv.gz"), symbol="abc", start=t
    )
    assert quotes.symbol == "ABC" and not quotes.has_executions
    first = quotes.pop()
    assert first.symbol == "ABC" and first.ts <= t


# -- file errors -------------------------------------------------------------------------------

HEADER = "ts_utc_ns,ts_et,symbol,bid_px,bid_sz,ask_px,ask_sz,source\n"


def row(ns: int, bid: str = "10.00", ask: str = "10.02") -> str:
    return f"{ns},x,ABC,{bid},100,{ask},200,test\n"


def write(path: Path, text: str, *, gz: bool = False) -> Path:
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_small_file_loads_exactly(tmp_path: Path) -> None:
    base = 1_772_461_800_000_000_000
    text = HEADER + row(base) + row(base + 5, "9.9999", "10.5")
    quotes = ReplayQuotes.from_file(write(tmp_path / "q.csv.gz", text, gz=True))
    assert quotes.bid_e4.tolist() == [100_000, 99_999]
    assert quotes.ask_e4.tolist() == [100_200, 105_000]
    second = quotes.quote_at(1)
    assert second.bid == D("9.9999") and second.ask == D("10.50") and second.bid_size == 100


def test_parquet_loads_like_csv(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    base = 1_772_461_800_000_000_000
    csv = write(tmp_path / "q.csv", HEADER + row(base) + row(base + 7, "10.01", "10.03"))
    pd.read_csv(csv).to_parquet(tmp_path / "q.parquet")
    a = ReplayQuotes.from_file(csv)
    b = ReplayQuotes.from_file(tmp_path / "q.parquet")
    assert [a.quote_at(i) for i in range(2)] == [b.quote_at(i) for i in range(2)]


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", "ts_utc_ns,symbol,bid_px,bid_sz,ask_px\n1,ABC,1,1,1\n")
    with pytest.raises(QuoteFileError, match="missing column\\(s\\) ask_sz") as err:
        ReplayQuotes.from_file(path)
    assert str(path) in str(err.value)


def test_unsorted_timestamps_name_the_row(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", HEADER + row(3_000) + row(2_000) + row(1_000))
    with pytest.raises(QuoteFileError, match="not sorted by time: row 2") as err:
        ReplayQuotes.from_file(path)
    assert str(path) in str(err.value)


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.csv", "")
    with pytest.raises(QuoteFileError, match="empty"):
        ReplayQuotes.from_file(empty)
    header = write(tmp_path / "header.csv.gz", HEADER, gz=True)
    with pytest.raises(QuoteFileError, match="no quote rows"):
        ReplayQuotes.from_file(header)


def test_corrupt_gzip(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"this is not gzip at all")
    with pytest.raises(QuoteFileError, match="not a valid gzip file") as err:
        ReplayQuotes.from_file(bad)
    assert str(bad) in str(err.value)
    good = gzip.compress((HEADER + "".join(row(1_000 + i) for i in range(2000))).encode())
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(QuoteFileError, match="truncated"):
        ReplayQuotes.from_file(truncated)


def test_nan_and_negative_prices_name_the_row(tmp_path: Path) -> None:
    nan = write(tmp_path / "nan.csv", HEADER + row(1) + row(2, bid="") + row(3))
    with pytest.raises(QuoteFileError, match="row 2 has no valid bid_px"):
        ReplayQuotes.from_file(nan)
    negative = write(tmp_path / "neg.csv", HEADER + row(1) + row(2) + row(3, ask="-1"))
    with pytest.raises(QuoteFileError, match="row 3 has a negative ask_px"):
        ReplayQuotes.from_file(negative)


def test_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(QuoteFileError, match="does not exist"):
        ReplayQuotes.from_file(tmp_path / "nope.csv.gz")
    with pytest.raises(QuoteFileError, match="not a readable file"):
        ReplayQuotes.from_file(tmp_path)
    junk = write(tmp_path / "junk.csv", HEADER + "notanumber,x,ABC,1,1,1,1,t\n")
    with pytest.raises(QuoteFileError, match="cannot be parsed"):
        ReplayQuotes.from_file(junk)
    assert issubclass(QuoteFileError, InvalidInputError)


# -- the book ----------------------------------------------------------------------------------


def test_book_merges_sources_by_time() -> None:
    t = datetime(2026, 3, 2, 14, 35, tzinfo=UTC)

    def quotes(symbol: str, offsets: list[int]) -> ReplayQuotes:
        rows = [
            Quote(symbol, D(10), D("10.01"), D(1), D(1), t + timedelta(seconds=s)) for s in offsets
        ]
        return ReplayQuotes.from_quotes(rows)

    book = QuoteBook.replay({"AAA": quotes("AAA", [0, 2, 4]), "BBB": quotes("BBB", [1, 2, 3])})
    order = []
    while book.peek_time() is not None:
        event = book.pop()
        order.append((event.quote.symbol, (event.quote.ts - t).seconds))
    assert order == [("AAA", 0), ("BBB", 1), ("AAA", 2), ("BBB", 2), ("BBB", 3), ("AAA", 4)]
    assert book.knows("AAA") and not book.knows("CCC")
    with pytest.raises(IndexError):
        book.pop()


def test_book_follows_a_source_skipped_while_queued() -> None:
    t = datetime(2026, 3, 2, 14, 35, tzinfo=UTC)
    rows = [Quote("AAA", D(10), D("10.01"), D(1), D(1), t + timedelta(seconds=s)) for s in range(6)]
    source = ReplayQuotes.from_quotes(rows)
    late = Quote("BBB", D(5), D("5.01"), D(1), D(1), t + timedelta(seconds=3))
    other = ReplayQuotes.from_quotes([late])
    book = QuoteBook.replay({"AAA": source, "BBB": other})
    assert book.pop().quote == rows[0]
    source.skip_to(t + timedelta(seconds=4))
    assert book.peek_time() == t + timedelta(seconds=3)
    assert book.pop().quote.symbol == "BBB"
    assert [book.pop().quote for _ in range(2)] == rows[4:]
    assert book.peek_time() is None
    with pytest.raises(InvalidInputError, match="no quotes for CCC"):
        book.source("CCC")


def test_synthetic_book_creates_sources_on_demand() -> None:
    book = QuoteBook.synthetic(OPEN, OPEN, seed=3, unknown_symbols=["NOPE"])
    assert book.knows("TQQQ") and not book.knows("NOPE") and not book.knows("bad symbol!")
    later = OPEN + timedelta(minutes=3)
    book.source("TQQQ", later)
    event = book.pop()
    reference = synthetic("TQQQ", seed=3)
    reference.skip_to(later)
    assert event.quote == reference.pop() and event.quote.ts <= later
