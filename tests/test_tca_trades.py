"""Trades-file prints as executions: loading, merging, the conservative fill rule, the CLI."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest

from better_orders.cli.app import main
from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import ParentOrder
from better_orders.core.model import OrderRequest, OrderStatus, OrderType, Quote, Side
from better_orders.data.dataset import find_trades_file
from better_orders.tca.decisions import QuoteFile
from better_orders.tca.driver import ReplayDriver
from better_orders.tca.policies import BUILTIN_POLICIES
from better_orders.venues.sim.book import QuoteBook
from better_orders.venues.sim.exchange import Latency, QuoteEvent, SimExchange
from better_orders.venues.sim.files import QuoteFileError, TradePrints, quote_venue
from better_orders.venues.sim.replay import ReplayQuotes, merge_trades

OPEN = datetime(2024, 1, 9, 14, 30, tzinfo=UTC)  # 09:30 New York


def ns(at: timedelta) -> int:
    return int((OPEN + at).timestamp()) * 10**9 + at.microseconds * 1000


def write_quotes(path: Path, rows: list[tuple[timedelta, str, str]], symbol: str = "ABC") -> Path:
    lines = ["ts_utc_ns,symbol,bid_px,ask_px,bid_sz,ask_sz"]
    lines += [f"{ns(at)},{symbol},{bid},{ask},200,300" for at, bid, ask in rows]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def write_trades(
    path: Path, rows: list[tuple[timedelta, str, int, str, int]], symbol: str = "ABC"
) -> Path:
    """(time after the open, price, size, cond, corr) in the shared data's trades schema."""
    lines = ["ts_utc_ns,ts_et,symbol,exchange,price,size,cond,corr"]
    lines += [f"{ns(at)},x,{symbol},D,{px},{sz},{cond},{corr}" for at, px, sz, cond, corr in rows]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


# -- loading and merging ------------------------------------------------------------------------


def test_unfillable_corrected_and_subpenny_prints_are_dropped(tmp_path: Path) -> None:
    s = timedelta(seconds=1)
    f = write_trades(
        tmp_path / "abc_20240109_trades.csv.gz",
        [
            (s, "10.01", 100, "", 0),  # regular: kept
            (s, "10.02", 50, "F I", 0),  # sweep, odd lot: kept
            (s, "10.03", 100, "@", 1),  # corrected: dropped
            (s, "10.04", 100, "T", 0),  # extended hours: dropped
            (s, "10.05", 100, "4", 0),  # derivatively priced: dropped
            (s, "10.06", 100, "Z", 0),  # out of sequence: dropped
            (s, "10.07", 100, "Q", 0),  # official open report: dropped
            (s, "10.075", 100, "", 0),  # sub-penny (midpoint): dropped
        ],
    )
    prints = TradePrints.from_file(f, symbol="ABC")
    assert [int(p) for p in prints.price_e4] == [100_100, 100_200]
    assert [int(x) for x in prints.size] == [100, 50]
    assert prints.dropped == 6
    with pytest.raises(QuoteFileError, match="is for ABC, not XYZ"):
        TradePrints.from_file(f, symbol="XYZ")


def test_algoseek_condition_flags_are_read_as_hex_bit_sets(tmp_path: Path) -> None:
    s = timedelta(seconds=1)
    f = write_trades(
        tmp_path / "abc_20240109_trades.csv.gz",
        [
            (s, "10.01", 100, "1", 0),  # regular: kept
            (s, "10.02", 200, "20000020", 0),  # sweep, trade-through exempt: kept
            (s, "10.03", 300, "40", 0),  # opening print: kept
            (s, "10.04", 100, "2000", 0),  # extended hours: dropped
            (s, "10.05", 100, "20100200", 0),  # average price, derivatively priced: dropped
            (s, "10.06", 100, "4800", 0),  # sold last, out of sequence: dropped
            (s, "10.07", 100, "4000000", 0),  # official open: dropped
        ],
    )
    prints = TradePrints.from_file(f, symbol="ABC")
    assert [int(x) for x in prints.size] == [100, 200, 300]
    assert prints.dropped == 4


def test_prints_become_rows_repeating_the_book_in_force(tmp_path: Path) -> None:
    q = write_quotes(
        tmp_path / "abc_20240109_nyse_bbo.csv.gz",
        [
            (timedelta(0), "10.00", "10.10"),
            (timedelta(seconds=2), "10.02", "10.08"),
        ],
    )
    t = write_trades(
        tmp_path / "abc_20240109_trades.csv.gz",
        [
            (-timedelta(seconds=1), "9.99", 10, "", 0),  # before the first quote: dropped
            (timedelta(seconds=1), "10.05", 100, "", 0),
            (timedelta(seconds=2), "10.06", 40, "", 0),  # same instant as a quote: after it
        ],
    )
    merged = ReplayQuotes.from_file(q, trades=t)
    assert merged.trades_path == t and len(merged) == 4
    assert [merged.quote_at(i).bid for i in range(4)] == [
        D("10.00"),
        D("10.00"),
        D("10.02"),
        D("10.02"),
    ]
    assert merged.execution_at(0) is None and merged.execution_at(2) is None
    ex = merged.execution_at(1)
    assert ex is not None and ex.is_print and ex.resting_side is None
    assert (ex.price, ex.size) == (D("10.05"), D(100))
    last = merged.execution_at(3)
    assert last is not None and last.price == D("10.06")
    assert merged.index_at(OPEN + timedelta(seconds=1, milliseconds=500)) == 1


def test_companion_trades_file_is_found_by_symbol_and_day_prefix(tmp_path: Path) -> None:
    q = write_quotes(tmp_path / "taq_ABC_20240109_nyse_bbo.csv.gz", [(timedelta(0), "1", "2")])
    assert find_trades_file(q) is None
    t = write_trades(tmp_path / "taq_ABC_20240109_trades.csv.gz", [])
    assert find_trades_file(q) == t
    other = tmp_path / "lobster_ABC_20240109_l1.csv.gz"
    assert find_trades_file(other) is None  # no lobster_ABC_20240109_trades beside it
    (tmp_path / "taq_trades.csv.gz").write_bytes(b"")
    assert find_trades_file(tmp_path / "taq_XYZ_20240109_nyse_bbo.csv.gz") is None  # no day


# -- the fill rule ------------------------------------------------------------------------------


def venue(
    rows: list[tuple[timedelta, str, str]], prints: list[tuple[timedelta, str, int]]
) -> SimExchange:
    quotes = ReplayQuotes.from_quotes(
        [Quote("ABC", D(bid), D(ask), D(200), D(300), OPEN + at) for at, bid, ask in rows]
    )
    tp = TradePrints(
        ts_ns=np.array([ns(at) for at, _, _ in prints], dtype=np.int64),
        price_e4=np.array([int(D(px) * 10_000) for _, px, _ in prints], dtype=np.int64),
        size=np.array([sz for _, _, sz in prints], dtype=np.int64),
    )
    return SimExchange(QuoteBook.replay({"ABC": merge_trades(quotes, tp)}), latency=Latency())


def rest(ex: SimExchange, side: Side, limit: str, qty: int = 100, coid: str = "o1") -> None:
    ex.submit(OrderRequest(coid, "ABC", side, D(qty), OrderType.LIMIT, limit_price=D(limit)), OPEN)


BOOK = [(timedelta(0), "10.00", "10.10")]


def test_print_through_a_resting_buy_fills_it_at_its_limit_up_to_the_print() -> None:
    ex = venue(BOOK, [(timedelta(seconds=1), "10.02", 60), (timedelta(seconds=2), "10.01", 100)])
    rest(ex, Side.BUY, "10.03")
    ex.advance(OPEN + timedelta(seconds=3))
    fills = ex.fills
    assert [(f.qty, f.price) for f in fills] == [(D(60), D("10.03")), (D(40), D("10.03"))]
    order = ex.order("o1")
    assert order is not None and order.status is OrderStatus.FILLED


def test_print_through_a_resting_sell_fills_it_and_a_print_above_a_buy_does_not() -> None:
    ex = venue(BOOK, [(timedelta(seconds=1), "10.09", 500)])
    rest(ex, Side.SELL, "10.08")
    rest(ex, Side.BUY, "10.05", coid="o2")
    ex.advance(OPEN + timedelta(seconds=2))
    assert [(f.client_order_id, f.qty, f.price) for f in ex.fills] == [("o1", D(100), D("10.08"))]


def test_print_at_the_limit_fills_an_improving_order_at_once_a_joining_one_after_its_queue() -> (
    None
):
    ex = venue(BOOK, [(timedelta(seconds=1), "10.03", 61)])
    rest(ex, Side.BUY, "10.03")  # alone above the displayed 10.00 bid
    ex.advance(OPEN + timedelta(seconds=2))
    assert [(f.qty, f.price) for f in ex.fills] == [(D(61), D("10.03"))]

    prints = [(timedelta(seconds=1), "10.00", 150), (timedelta(seconds=2), "10.00", 100)]
    joined = venue(BOOK, prints)
    rest(joined, Side.BUY, "10.00")  # behind the 200 shown at the 10.00 bid
    joined.advance(OPEN + timedelta(milliseconds=1500))
    assert joined.fills == () and joined.queue_ahead("o1") == 50
    joined.advance(OPEN + timedelta(seconds=3))
    assert [(f.qty, f.price) for f in joined.fills] == [(D(50), D("10.00"))]


def test_prints_on_other_venues_fill_a_single_venues_order_only_through_its_limit(
    tmp_path: Path,
) -> None:
    quotes = write_quotes(tmp_path / "abc_20240109_nyse_bbo.csv.gz", BOOK)
    s = timedelta(seconds=1)
    lines = ["ts_utc_ns,ts_et,symbol,exchange,price,size,cond,corr"]
    lines += [
        f"{ns(s * k)},x,ABC,{venue},{px},{size},,0"
        for k, venue, px, size in [
            (1, "D", "10.03", 500),  # at our limit elsewhere: not our queue
            (2, "N", "10.03", 40),  # at our limit on NYSE: fills us
            (3, "D", "10.02", 30),  # through our limit anywhere: fills us
        ]
    ]
    trades = tmp_path / "abc_20240109_trades.csv.gz"
    with gzip.open(trades, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    assert quote_venue(quotes) == ("N",)
    assert quote_venue(tmp_path / "lean_ABC_20240109_l1.csv.gz") == ()
    prints = TradePrints.from_file(trades, venue=("N",))
    assert prints.away is not None and list(prints.away) == [True, False, True]
    rq = ReplayQuotes.from_file(quotes, trades=trades)
    ex = SimExchange(QuoteBook.replay({"ABC": rq}), latency=Latency())
    rest(ex, Side.BUY, "10.03")  # alone above the 10.00 bid
    ex.advance(OPEN + timedelta(seconds=4))
    assert [(f.qty, f.price) for f in ex.fills] == [(D(40), D("10.03")), (D(30), D("10.03"))]


def test_print_before_the_order_reaches_the_venue_does_not_fill_it() -> None:
    ex = venue(BOOK, [(timedelta(milliseconds=10), "10.01", 500)])
    rest(ex, Side.BUY, "10.05")  # arrives at +30 ms
    ex.advance(OPEN + timedelta(seconds=1))
    assert ex.fills == ()


def test_print_rows_are_not_published_and_do_not_replenish_the_touch() -> None:
    ex = venue(BOOK, [(timedelta(seconds=1), "10.50", 10)])
    ex.watch("ABC", OPEN)
    seen = [e for e in ex.advance(OPEN + timedelta(milliseconds=500)) if isinstance(e, QuoteEvent)]
    assert len(seen) == 1
    # A buy at the ask takes the 300 displayed; the print row repeats the book but adds none.
    rest(ex, Side.BUY, "10.10", qty=500)
    ex.advance(OPEN + timedelta(seconds=2))
    assert sum(f.qty for f in ex.fills) == D(300)
    later = [e for e in ex.advance(OPEN + timedelta(seconds=3)) if isinstance(e, QuoteEvent)]
    assert later == []


# -- replay and the CLI -------------------------------------------------------------------------


def test_skipping_quotes_changes_nothing_with_prints(tmp_path: Path) -> None:
    rows = []
    for s in range(0, 120):
        narrow = s % 25 >= 22
        rows.append(
            (timedelta(seconds=s), "40.10" if narrow else "40.00", "40.12" if narrow else "40.30")
        )
    q = write_quotes(tmp_path / "abc_20240109_nyse_bbo.csv.gz", rows)
    trades = [
        (timedelta(seconds=s, milliseconds=300), px, 100, "", 0)
        for s, px in [(3, "40.05"), (7, "40.02"), (11, "40.25"), (13, "40.28"), (40, "40.01")]
    ]
    t = write_trades(tmp_path / "abc_20240109_trades.csv.gz", trades)
    loaded = QuoteFile.load(q, find_trades=True)
    assert loaded.trades == t
    for name, overlay in [
        ("passive", {}),
        ("rest all", {"timing": {"rest_fraction": D(1)}}),
        ("rest a slice", {"timing": {"rest_fraction": D("0.25")}}),
    ]:
        policy = BUILTIN_POLICIES["passive" if name == "passive" else "ladder"]
        # A budget that reaches across the 30c (75 bps) spread, so every order completes.
        cfg = policy.config(BetterOrdersConfig(max_slippage_bps=100, other_stock_bps=100))
        if overlay:
            cfg = cfg.model_copy(update={"timing": cfg.timing.model_copy(update=overlay["timing"])})
        params = ladder_params(cfg, "ABC")
        fast, slow = ReplayDriver(loaded.quotes), ReplayDriver(loaded.quotes, skip=False)
        for k in range(0, 30, 3):
            for side in (Side.BUY, Side.SELL):
                when = OPEN + timedelta(seconds=k)
                a = fast.run(ParentOrder("ABC", side, D(100)), params, when).report
                b = slow.run(ParentOrder("ABC", side, D(100)), params, when).report
                assert [(f.qty, f.price, f.ts) for f in a.fills] == [
                    (f.qty, f.price, f.ts) for f in b.fills
                ], (name, k, side)
                assert a.filled_qty == D(100)


def test_cli_uses_the_companion_trades_file_unless_told_not_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    q = write_quotes(
        tmp_path / "abc_20240109_nyse_bbo.csv.gz",
        [(timedelta(seconds=s), "40.00", "40.30") for s in range(0, 200)],
    )
    t = write_trades(
        tmp_path / "abc_20240109_trades.csv.gz",
        [(timedelta(seconds=s, milliseconds=500), "40.01", 100, "", 0) for s in range(0, 200)],
    )
    wide = tmp_path / "wide-budget.toml"
    wide.write_text("max_slippage_bps = 100\nother_stock_bps = 100\n", encoding="utf-8")
    args = [
        "tca",
        "--quotes",
        str(q),
        "--to",
        "09:30:10",
        "--every",
        "5s",
        "--json",
        "--summary-only",
        "--policy",
        "passive",
        # A budget that reaches across the 30c (75 bps) spread: the fallback completes.
        "--config",
        str(wide),
    ]

    def run(extra: list[str]) -> dict[str, object]:
        try:
            main([*args, *extra])
        except SystemExit as exc:
            assert not exc.code
        return dict(json.loads(capsys.readouterr().out))

    with_prints = run([])
    assert with_prints["files"] == [
        {"file": q.name, "symbol": "ABC", "decisions": 2, "trades": str(t)}
    ]
    without = run(["--no-trades"])
    assert without["files"] == [{"file": q.name, "symbol": "ABC", "decisions": 2}]
    # Prints at 40.01 fill a passive buy resting at the 40.15 mid, which nothing else would.
    (a,) = with_prints["summary"]  # type: ignore[misc]
    (b,) = without["summary"]  # type: ignore[misc]
    assert a["mean_cost_bps"] < b["mean_cost_bps"]
    named = run(["--trades", str(t)])
    assert named["files"] == with_prints["files"]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--trades", str(t), "--trades", str(t)])
    assert exc.value.code == 2
    assert "one per quote file" in capsys.readouterr().err
