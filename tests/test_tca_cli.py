"""``better-orders tca`` end to end on small quote files (and, when present, the real ones)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from better_orders.cli.app import main
from better_orders.cli.tca_options import parse_duration
from better_orders.tca.decisions import QuoteFile

OPEN = datetime(2024, 1, 9, 14, 30, tzinfo=UTC)  # 09:30 New York


def run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


#: Every chart of the report, in page order.
CHARTS = (
    "ratio_to_market",
    "cost_decomposition",
    "cost_distribution",
    "cost_by_minute",
    "completion_by_minute",
    "example_decision",
)


def small_file(path: Path, symbol: str = "ABC") -> Path:
    """Two minutes of quotes: 30c wide, coming in to 2c every 20 s for a few seconds."""
    lines = ["ts_utc_ns,symbol,bid_px,ask_px,bid_sz,ask_sz"]
    for s in range(0, 150):
        narrow = s % 20 >= 15
        bid, ask = ("40.10", "40.12") if narrow else ("40.00", "40.30")
        ns = int((OPEN + timedelta(seconds=s)).timestamp()) * 10**9
        lines.append(f"{ns},{symbol},{bid},{ask},300,300")
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def run_json(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict[str, Any]:
    assert run(["tca", *args, "--json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def test_json_summary_and_decisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = small_file(tmp_path / "abc.csv.gz")
    data = run_json(
        capsys,
        ["--quotes", str(f), "--from", "09:30", "--to", "09:31", "--every", "10s"],
    )
    assert data["files"] == [{"file": "abc.csv.gz", "symbol": "ABC", "decisions": 6}]
    assert [p["name"] for p in data["policies"]] == ["ladder", "seed-ladder", "market", "passive"]
    assert data["sides"] == ["buy", "sell"]
    summary = {s["policy"]: s for s in data["summary"]}
    assert set(summary) == {"ladder", "seed-ladder", "market", "passive"}
    for s in summary.values():
        assert s["decisions"] == 12
        for key in (
            "mean_cost_bps",
            "median_cost_bps",
            "p90_cost_bps",
            "completion_rate",
            "complete_within_rate",
            "mean_time_to_fill_seconds",
            "p90_time_to_fill_seconds",
            "ratio_to_market",
        ):
            assert key in s
    market = summary["market"]
    # A market order at 30c wide pays 15c of a 40.15 mid every time.
    assert market["mean_cost_bps"] == pytest.approx(0.15 / 40.15 * 1e4, abs=1e-3)
    assert market["ratio_to_market"] == 1.0
    # The ladder waits for the 2c spreads that come every 20 s: far cheaper, all filled.
    ladder = summary["ladder"]
    assert ladder["ratio_to_market"] < 0.2
    assert ladder["completion_rate"] == 1.0 and ladder["complete_within_rate"] == 1.0
    assert len(data["decisions"]) == 6 * 2 * 4
    first = data["decisions"][0]
    assert first["policy"] == "ladder" and first["side"] == "buy"
    assert first["decision"] == "2024-01-09T14:30:00+00:00"
    for key in (
        "cost_bps",
        "effective_spread_bps",
        "improvement_bps",
        "completion",
        "time_to_fill_seconds",
        "waited_seconds",
        "repegs",
        "fallback_used",
    ):
        assert key in first
    assert {row["minute"] for row in data["by_minute"]} == {0}


def test_latency_option_delays_orders_and_a_late_order_misses_the_narrow_spread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = small_file(tmp_path / "abc.csv.gz")
    # A budget wide enough to cross the 30c spread (75 bps): with the stock's 15 bps the
    # late order would rest at the budget's bound instead of paying for its lateness.
    cfg = tmp_path / "wide-budget.toml"
    cfg.write_text("max_slippage_bps = 100\nother_stock_bps = 100\n", encoding="utf-8")
    base = ["--quotes", str(f), "--to", "09:30:20", "--every", "10s", "--summary-only"]
    base += ["--config", str(cfg)]
    costs = {}
    for latency in ("30ms", "6s"):
        data = run_json(capsys, [*base, "--policy", "ladder", "--latency", latency])
        assert data["latency_ms"] == {"30ms": 30.0, "6s": 6000.0}[latency]
        (summary,) = data["summary"]
        costs[latency] = summary["mean_cost_bps"]
    # Narrow spreads last 5 s: an order 6 s late finds the 30c spread back.
    assert costs["6s"] > costs["30ms"]
    assert run(["tca", *base, "--latency", "fast"]) == 2
    assert "--latency must be a duration" in capsys.readouterr().err


def test_qty_notional_and_policy_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = small_file(tmp_path / "abc.csv.gz")
    base = ["--quotes", str(f), "--to", "09:30:30", "--every", "30s", "--summary-only"]
    data = run_json(capsys, [*base, "--policy", "market", "--side", "sell", "--notional", "1000"])
    assert "decisions" not in data
    (only,) = data["summary"]
    assert only["policy"] == "market" and only["decisions"] == 1
    code = run(["tca", *base, "--qty", "5", "--notional", "100"])
    assert code == 2
    assert "not both" in capsys.readouterr().err
    assert run(["tca", *base, "--policy", "nope"]) == 2
    assert "unknown policy 'nope'" in capsys.readouterr().err
    assert run(["tca", "--quotes", str(tmp_path / "missing.csv.gz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_html_report_is_self_contained_and_pngs_are_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = small_file(tmp_path / "abc.csv.gz")
    html_path, png_dir = tmp_path / "out" / "tca.html", tmp_path / "png"
    args = ["--quotes", str(f), "--to", "09:30:40", "--every", "20s"]
    assert run(["tca", *args, "--report", str(html_path), "--png", str(png_dir)]) == 0
    out = capsys.readouterr().out
    assert "abc.csv.gz" in out and "ladder" in out
    page = html_path.read_text(encoding="utf-8")
    assert "<table>" in page and "seed-ladder" in page
    # Self-contained: no script, nothing loaded from elsewhere; links only point inside the page.
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert not re.search(r"\bsrc\s*=", page, re.IGNORECASE)
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    for ref in re.findall(r'href="([^"]*)"', page) + re.findall(r"url\(([^)]*)\)", page):
        assert ref.startswith("#") and ref[1:] in ids, ref
    # The six charts, each drawn inline as SVG.
    for name in CHARTS:
        figure = re.search(rf'<figure id="{name}">(.*?)</figure>', page, re.DOTALL)
        assert figure is not None, name
        assert figure.group(1).startswith("<svg") and figure.group(1).rstrip().endswith("</svg>")
    assert page.count("<svg") == len(CHARTS)
    names = sorted(p.name for p in png_dir.iterdir())
    assert names == sorted(f"{name}.png" for name in CHARTS)
    assert all((png_dir / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names)


@pytest.mark.realdata
def test_default_ladder_never_costs_more_than_market_and_completes_on_each_real_file(
    quotes_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What must hold on every symbol-day, seen or not: decisions every second 09:30-09:35,
    buys and sells together. The cost target is a corpus-level, out-of-sample figure measured
    by a benchmark; a single day can only show that the ladder is never worse
    than crossing at once (beyond noise) and that it finishes within the window."""
    files = sorted(quotes_dir.glob("*_l1.csv.gz")) + sorted(quotes_dir.glob("*_bbo.csv.gz"))
    assert files, f"no quote files in {quotes_dir}"
    data = run_json(capsys, ["--quotes", *map(str, files), "--policy", "ladder,market"])
    ladders = [s for s in data["summary"] if s["policy"] == "ladder"]
    assert len(ladders) == len(files)
    for s in ladders:
        assert s["decisions"] == 600, s["file"]
    # Never above market: the whole order's shortfall, what the budget left valued at the far
    # touch at the end of the window, so a day whose open ran away is not flattered.
    days = [
        d
        for d in data["corpus"]["per_symbol_day"]
        if d["policy"] == "ladder" and d["side"] == "both"
    ]
    assert len(days) == len(files)
    for d in days:
        assert 0 < d["ratio_to_market"] <= 1.02, d["file"]
    # Finished within the window, or stopped by the slippage budget (which binds every child
    # order, so an open that runs away from the arrival mid leaves part of an order).
    for r in data["decisions"]:
        if r["policy"] == "ladder" and r["completion"] < 1:
            assert "budget" in (r["unfilled_reason"] or ""), r


def test_a_folder_a_glob_and_files_give_the_same_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "quotes"
    folder.mkdir()
    a = small_file(folder / "abc_20240109_l1.csv.gz")
    b = small_file(folder / "abd_20240109_l1.csv.gz", "ABD")
    base = ["--to", "09:30:30", "--every", "10s", "--summary-only", "--policy", "ladder,market"]
    by_folder = run_json(capsys, ["--quotes", str(folder), *base])
    by_glob = run_json(capsys, ["--quotes", str(folder / "*_l1.csv.gz"), *base])
    by_files = run_json(capsys, ["--quotes", str(a), str(b), *base])
    for data in (by_folder, by_glob, by_files):
        data.pop("wall_seconds")
    assert by_folder == by_glob == by_files
    corpus = by_folder["corpus"]
    assert corpus["estimator"].startswith("ratio to market = sum of the policy's shortfall")
    assert (corpus["confidence"], corpus["resamples"], corpus["seed"]) == (0.95, 2000, 0)
    assert [d["file"] for d in by_folder["symbol_days"]] == [a.name, b.name]
    assert {d["regime"] for d in by_folder["symbol_days"]} <= {"wide-open", "tick-bound", "other"}
    assert {(r["file"], r["policy"], r["side"]) for r in corpus["per_symbol_day"]} == {
        (f, p, s)
        for f in (a.name, b.name)
        for p in ("ladder", "market")
        for s in ("buy", "sell", "both")
    }
    pooled = {(r["group"], r["policy"], r["side"]): r for r in corpus["pooled"]}
    ladder = pooled[("all", "ladder", "both")]
    assert ladder["symbol_days"] == 2 and ladder["decisions"] == 12
    assert ladder["ratio_to_market_ci95"] is not None
    assert set(ladder["decomposition_bps"]) == {
        "spread",
        "timing",
        "passive",
        "opportunity",
        "fees",
    }
    assert by_folder["fees"]["sec_fee_per_million"] == "27.80"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: [str(d / "*.parquet")], "no file matches"),
        (lambda d: [str(d)], "holds notes.txt, which is not a quote file"),
        (lambda d: [str(d / "notes.txt")], "is not a quote file"),
        (lambda d: [str(d / "abc_20240109_trades.csv.gz")], "is not a quote file: a trades file"),
    ],
)
def test_bad_corpus_input_is_one_line_and_runs_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    make: Any,
    message: str,
) -> None:
    small_file(tmp_path / "abc_20240109_l1.csv.gz")
    with gzip.open(tmp_path / "abc_20240109_trades.csv.gz", "wt") as fh:
        fh.write("ts_utc_ns,symbol,price,size,cond,corr\n")
    (tmp_path / "notes.txt").write_text("not quotes")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing may run on bad input")

    monkeypatch.setattr("better_orders.cli.cmd_tca.run_tca", refuse)
    assert run(["tca", "--quotes", *make(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_terminal_tables_per_symbol_day_pooled_and_decomposition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    small_file(tmp_path / "abc_20240109_l1.csv.gz")
    small_file(tmp_path / "abd_20240109_l1.csv.gz", "ABD")
    args = ["tca", "--quotes", str(tmp_path), "--to", "09:30:30", "--every", "10s", "--per-file"]
    assert run([*args, "--policy", "ladder,market,walk", "--resamples", "300", "--seed", "3"]) == 0
    out, err = capsys.readouterr()
    assert err == ""  # no progress bar where stderr is no terminal, nor the line it leaves
    flat = " ".join(out.split())  # titles wrap to their table's width
    assert "Per symbol-day" in out and out.count("ABC 2024-01-09") == 1
    assert out.count("ABD 2024-01-09") == 1
    assert "Pooled: 95% intervals from resampling whole symbol-days (300 resamples, seed 3)" in flat
    assert "Where the cost went" in out and "unfilled" in out
    assert "abc_20240109_l1.csv.gz (ABC, 6 decisions per policy)" in flat  # --per-file
    assert "walk" in out
    assert run([*args, "--resamples", "0"]) == 2
    assert "--resamples must be at least 1" in capsys.readouterr().err


def test_a_symbol_day_given_twice_is_refused_before_anything_is_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = small_file(tmp_path / "abc_20240109_l1.csv.gz")
    renamed = Path(shutil.copy(a, tmp_path / "renamed.csv.gz"))
    args = ["--to", "09:30:30", "--every", "10s", "--summary-only", "--policy", "market"]
    # The same path twice is one file: one symbol-day, as before.
    data = run_json(capsys, ["--quotes", str(a), str(a), *args])
    assert [d["symbol"] + " " + d["day"] for d in data["symbol_days"]] == ["ABC 2024-01-09"]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing may be loaded or run")

    monkeypatch.setattr(QuoteFile, "load", refuse)
    assert run(["tca", "--quotes", str(a), str(renamed), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"error: ABC 2024-01-09 is given twice: {a} and {renamed}; pass each symbol-day once"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1us", timedelta(microseconds=1)),
        ("0.001ms", timedelta(microseconds=1)),
        ("250ms", timedelta(milliseconds=250)),
        ("1.5", timedelta(seconds=1.5)),
        ("2m", timedelta(minutes=2)),
        ("2min", timedelta(minutes=2)),
        ("2h", timedelta(hours=2)),
    ],
)
def test_durations_from_microseconds_to_hours(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "--every") == expected


def test_every_two_hours_is_one_decision_in_five_minutes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = small_file(tmp_path / "abc.csv.gz")
    data = run_json(capsys, ["--quotes", str(f), "--every", "2h", "--policy", "market"])
    assert data["files"] == [{"file": "abc.csv.gz", "symbol": "ABC", "decisions": 1}]
