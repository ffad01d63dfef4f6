"""The quotes around each fill in the journal, and ``tca --journal`` over them.

Outcomes: the marks a seeded simulator run journals; figures hand-computed on a tiny
synthetic journal; a simulator journal replayed with the simulator's own profile has
no calibration error; bad input is one line and a non-zero exit.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.model import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
)
from better_orders.engine.commands import run_orders_simulated, run_rebalance_simulated
from better_orders.engine.execution import OrderSpec
from better_orders.store.journal import Journal
from better_orders.store.records import MarkKind, QuoteMark
from better_orders.tca.fill_replay import DRAWS, FillReplay
from better_orders.tca.journal_legs import load_legs
from better_orders.tca.own_fills import own_fills
from better_orders.venues.sim.profile import SimProfile
from cli_runner import run_cli
from one_order_journal import send_one_order
from refusal import error_line

AT = datetime(2026, 3, 10, 13, 31, tzinfo=UTC)  # 09:31 New York


def sim_journal(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "sim.sqlite3"
    run_id, _ = run_orders_simulated(
        [OrderSpec.parse("TQQQ", 300, "buy")], at=AT, seed=7, db=db, config=BetterOrdersConfig()
    )
    return db, run_id


def test_a_simulator_run_journals_the_quotes_around_each_fill(tmp_path: Path) -> None:
    db, run_id = sim_journal(tmp_path)
    with Journal.open(db) as journal:
        fills = journal.fills(run_id=run_id)
        marks = journal.quote_marks(run_id)
        (intent,) = journal.intents(run_id)
    assert fills
    by = {(m.exec_id, m.kind, m.after_ms): m for m in marks}
    (arrival,) = [m for m in marks if m.kind is MarkKind.ARRIVAL]
    report = intent.report or {}
    assert (str(arrival.quote.bid), str(arrival.quote.ask)) == (
        report["arrival_bid"],
        report["arrival_ask"],
    )
    for fill in fills:
        at = by[fill.exec_id, MarkKind.FILL, 0]
        # The quote in force at the fill, heard after it (the update latency, 5 ms).
        assert at.quote.ts <= fill.ts
        assert at.taken_at - fill.ts == timedelta(milliseconds=5)
        price_ok = fill.price <= at.quote.ask if fill.side is Side.BUY else True
        assert price_ok
        for after in (5000, 60000):
            mark = by[fill.exec_id, MarkKind.AFTER, after]
            assert mark.quote.ts <= fill.ts + timedelta(milliseconds=after)
            assert mark.taken_at >= fill.ts + timedelta(milliseconds=after)
    assert len(marks) == 1 + 3 * len(fills)


def test_a_simulator_journal_replayed_with_its_own_profile_has_no_calibration_error(
    tmp_path: Path,
) -> None:
    db, run_id = sim_journal(tmp_path)
    result = own_fills(db, BetterOrdersConfig())
    with Journal.open(db) as journal:
        (intent,) = journal.intents(run_id)
    (leg,) = result.leg_rows
    # The leg's shortfall is the ladder's own cost in its report, computed apart.
    assert leg.actual.shortfall_bps == pytest.approx((intent.report or {})["cost_bps"])
    assert leg.actual.shares == 300
    for row in [*result.orders, result.overall]:
        for name in ("shortfall_bps", "effective_bps", "improved", "filled"):
            error = row.error(name)
            assert error is None or error == pytest.approx(0.0, abs=1e-9), (row.key, name)


def _q(bid: str, ask: str, ts: datetime) -> Quote:
    return Quote("XYZ", D(bid), D(ask), D(500), D(500), ts)


def tiny_journal(path: Path) -> None:
    """One buy of 100 XYZ, two fills (60 at the ask, 40 inside it), hand-made quotes."""
    t0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # 10:00 New York
    t1, t2 = t0 + timedelta(seconds=1), t0 + timedelta(seconds=2)
    coid = "bo-r1-1-1"
    with Journal.open(path) as j:
        j.start_run("r1", "order", {"orders": []}, "alpaca")
        j.record_intent("r1", 1, "XYZ", Side.BUY, D(100))
        request = OrderRequest(coid, "XYZ", Side.BUY, D(100), OrderType.LIMIT, D("10.03"))
        j.record_order_pending(request, "r1", 1, 1)
        j.record_order_ack(OrderUpdate(coid, OrderStatus.NEW, D(0), t0))
        f1 = Fill("x1", coid, "XYZ", Side.BUY, D(60), D("10.02"), t1)
        f2 = Fill("x2", coid, "XYZ", Side.BUY, D(40), D("10.01"), t2)
        j.record_event(OrderUpdate(coid, OrderStatus.PARTIALLY_FILLED, D(60), t1, fill=f1))
        j.record_fill(f1)
        j.record_event(OrderUpdate(coid, OrderStatus.FILLED, D(100), t2, fill=f2))
        j.record_fill(f2)
        marks = [QuoteMark("r1", 1, "", MarkKind.ARRIVAL, 0, _q("10.00", "10.02", t0), t0)]
        for fill, later5, later60 in (
            (f1, ("10.02", "10.04"), ("10.04", "10.06")),
            (f2, ("10.00", "10.02"), ("9.98", "10.00")),
        ):
            ts = fill.ts
            marks.append(
                QuoteMark("r1", 1, fill.exec_id, MarkKind.FILL, 0, _q("10.00", "10.02", ts), ts)
            )
            for after, (bid, ask) in ((5000, later5), (60000, later60)):
                when = ts + timedelta(milliseconds=after)
                marks.append(
                    QuoteMark(
                        "r1", 1, fill.exec_id, MarkKind.AFTER, after, _q(bid, ask, when), when
                    )
                )
        assert j.record_quote_marks(marks) == 7
        assert j.record_quote_marks(marks[:2]) == 0  # a mark is written once
        attempt = {
            "client_order_id": coid,
            "started": t0.isoformat(),
            "ended": t2.isoformat(),
        }
        report = {"strategy": "aggressive", "routed": "better", "attempts": [attempt]}
        j.update_intent("r1", 1, "filled", report)
        j.finish_run("r1", "completed")


def test_figures_on_a_tiny_journal_match_the_hand_computed_ones(tmp_path: Path) -> None:
    db = tmp_path / "tiny.sqlite3"
    tiny_journal(db)
    result = own_fills(db, BetterOrdersConfig())
    a = result.overall.actual
    # Arrival mid 10.01. Shortfall: (0.01 x 60 + 0 x 40) / (10.01 x 100).
    assert a.shortfall_bps == pytest.approx(0.6 / 1001 * 1e4)
    # Effective spread: 2 x 0.01 / 10.01 on 60 shares, 0 on 40.
    assert a.effective_bps == pytest.approx(2 * 0.01 / 10.01 * 1e4 * 0.6)
    assert a.improved == pytest.approx(0.4)  # the 40 bought inside the ask
    assert a.realized_bps[5000] == pytest.approx((2 * -0.01 / 10.01 * 1e4) * 0.6)
    rs60 = (2 * -0.03 / 10.01 * 1e4) * 0.6 + (2 * 0.02 / 10.01 * 1e4) * 0.4
    assert a.realized_bps[60000] == pytest.approx(rs60)
    assert a.filled == 1.0
    assert [r.key for r in result.groups["class"]] == ["stock"]
    assert [r.key for r in result.groups["time"]] == ["10:00-15:30"]
    assert [r.key for r in result.groups["policy"]] == ["aggressive"]
    # The simulator, replaying the limit on those quotes, buys at the ask it meets.
    assert result.overall.predicted is not None
    assert result.overall.predicted.shares == 100


def test_since_keeps_the_legs_from_that_day(tmp_path: Path) -> None:
    db = tmp_path / "tiny.sqlite3"
    tiny_journal(db)
    with Journal.open(db) as j:
        config = BetterOrdersConfig()
        assert len(load_legs(j, config, datetime(2026, 3, 10).date())) == 1
        assert load_legs(j, config, datetime(2026, 3, 11).date()) == []


def ran_away_journal(path: Path) -> datetime:
    """A buy of 100 XYZ priced at 10.03 after the market ran to 10.10 x 10.12: never filled.

    Returns when the order was sent (8 ms after the ladder decided: it heard of
    something first)."""
    t0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    decided = t0 + timedelta(seconds=30)
    sent = decided + timedelta(milliseconds=8)
    ended = decided + timedelta(seconds=2)
    coid = "bo-r1-1-1"
    with Journal.open(path) as j:
        request = OrderRequest(coid, "XYZ", Side.BUY, D(100), OrderType.LIMIT, D("10.03"))
        send_one_order(j, request, sent)
        j.record_event(OrderUpdate(coid, OrderStatus.NEW, D(0), sent + timedelta(milliseconds=30)))
        j.record_event(OrderUpdate(coid, OrderStatus.CANCELED, D(0), ended))
        j.record_quote_marks(
            [QuoteMark("r1", 1, "", MarkKind.ARRIVAL, 0, _q("10.00", "10.02", t0), t0)]
        )
        attempt = {
            "client_order_id": coid,
            "started": decided.isoformat(),
            "ended": ended.isoformat(),
            "quote_bid": "10.10",
            "quote_ask": "10.12",
        }
        j.update_intent("r1", 1, "done", {"strategy": "aggressive", "attempts": [attempt]})
        j.finish_run("r1", "completed")
    return sent


def test_a_child_is_replayed_on_the_quote_it_was_priced_from(tmp_path: Path) -> None:
    db = tmp_path / "ran.sqlite3"
    sent = ran_away_journal(db)
    with Journal.open(db) as j:
        (leg,) = load_legs(j, BetterOrdersConfig())
    (order,) = leg.orders
    assert order.sent == sent
    # The marks hold only the arrival; the book also holds the quote the child was
    # priced from (sizes not journalled: the arrival's stand).
    assert [(q.bid, q.ask, q.ask_size) for q in leg.book] == [
        (D("10.00"), D("10.02"), D(500)),
        (D("10.10"), D("10.12"), D(500)),
    ]
    # On the arrival quote alone the replay would buy 100 at 10.02: nothing filled.
    result = own_fills(db, BetterOrdersConfig())
    assert result.overall.predicted is not None
    assert result.overall.predicted.shares == 0
    assert result.overall.error("filled") == 0


def test_random_partial_fills_are_predicted_as_the_mean_of_draws(tmp_path: Path) -> None:
    db = tmp_path / "tiny.sqlite3"
    tiny_journal(db)
    config = BetterOrdersConfig()
    whole = own_fills(db, config).overall.predicted
    cut = own_fills(db, config, profile=SimProfile(partial_fill=0.5))
    (leg,) = cut.legs
    weights = {mf.weight for mf in FillReplay(SimProfile(partial_fill=0.5), [])(leg)["bo-r1-1-1"]}
    assert weights == {1 / DRAWS}
    predicted = cut.overall.predicted
    assert whole is not None and predicted is not None
    assert whole.shares == 100 and 50 <= predicted.shares <= 100
    # What a cut fill left rests at its limit (10.03) and fills there, above the ask.
    assert predicted.shortfall_bps is not None and whole.shortfall_bps is not None
    assert predicted.shortfall_bps > whole.shortfall_bps


def test_tca_journal_json_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "tiny.sqlite3"
    tiny_journal(db)
    code, out, _ = run_cli(["tca", "--journal", str(db), "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["overall"]["shares"] == 100
    assert data["overall"]["price_improved"] == pytest.approx(0.4)
    assert set(data["groups"]) == {"symbol", "class", "time", "policy"}
    assert "calibration_error" in data["legs"][0]
    pytest.importorskip("matplotlib")
    report, png = tmp_path / "own.html", tmp_path / "charts"
    code, out, _ = run_cli(
        ["tca", "--journal", str(db), "--report", str(report), "--png", str(png)], capsys
    )
    assert code == 0
    page = report.read_text()
    assert "Execution cost of your own fills" in page and "<svg" in page
    assert (png / "own_fills.png").stat().st_size > 0


def test_an_older_journal_gains_the_quote_marks(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite3"
    raw = sqlite3.connect(path)
    raw.executescript(
        """
        CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
        INSERT INTO schema_version VALUES (3, '2026-01-01T00:00:00+00:00');
        """
    )
    raw.close()
    with Journal.open(path) as j:
        assert j.quote_marks() == []
        versions = j._conn.execute("SELECT version FROM schema_version ORDER BY version")
        assert [v for (v,) in versions] == [3, 4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--journal", "{missing}"], "does not exist"),
        (["--journal", "{notdb}"], "is not a Better Orders journal"),
        (["--journal", "{other}"], "is not a Better Orders journal (no"),
        (["--journal", "{db}", "--since", "2999-01-01"], "is in the future"),
        (["--journal", "{db}", "--since", "yesterday"], "give a date as YYYY-MM-DD"),
        (["--journal", "{db}", "--quotes", "x.csv.gz"], "does not take --quotes"),
        # The replay's options would be ignored: refused instead.
        (["--journal", "{db}", "--from", "15:45", "--side", "buy"], "not take --from, --side"),
        (["--journal", "{db}", "--latency", "100ms"], "does not take --latency"),
        (["--since", "2026-03-01", "--quotes", "x.csv.gz"], "go with --journal"),
        (["--journal", "{db}", "--sim-profile", "{missing}"], "does not exist"),
    ],
)
def test_tca_journal_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    db = tmp_path / "tiny.sqlite3"
    tiny_journal(db)
    (tmp_path / "notdb").write_text("not a database")
    other = sqlite3.connect(tmp_path / "other.sqlite3")
    other.execute("CREATE TABLE t (x)")
    other.close()
    paths = {
        "db": db,
        "missing": tmp_path / "missing.sqlite3",
        "notdb": tmp_path / "notdb",
        "other": tmp_path / "other.sqlite3",
    }
    code, _, err = run_cli(["tca", *(a.format(**paths) for a in args)], capsys)
    assert code != 0
    assert message in error_line(err)
    assert not (tmp_path / "missing.sqlite3").exists()


def test_a_legs_predicted_fills_never_exceed_what_it_asked(tmp_path: Path) -> None:
    """Child 1 (100) really filled 60 and was cancelled; child 2 was sent for the 40 left.
    Replayed on a book with 500 shown, child 1 fills all 100 before its cancel lands, and
    child 2's 40 would make 140: the prediction stops at the leg's 100."""
    db = tmp_path / "two.sqlite3"
    t0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    first, second = "bo-r1-1-1", "bo-r1-1-2"
    with Journal.open(db) as j:
        j.start_run("r1", "order", {"orders": []}, "alpaca")
        j.record_intent("r1", 1, "XYZ", Side.BUY, D(100))
        marks = [QuoteMark("r1", 1, "", MarkKind.ARRIVAL, 0, _q("10.00", "10.02", t0), t0)]
        attempts = []
        for n, (coid, qty, filled, sent) in enumerate(
            ((first, 100, 60, t0), (second, 40, 40, t0 + timedelta(seconds=3))), start=1
        ):
            request = OrderRequest(coid, "XYZ", Side.BUY, D(qty), OrderType.LIMIT, D("10.03"))
            j.record_order_pending(request, "r1", 1, n)
            j.record_order_ack(OrderUpdate(coid, OrderStatus.NEW, D(0), sent))
            at = sent + timedelta(seconds=1)
            fill = Fill(f"x{n}", coid, "XYZ", Side.BUY, D(filled), D("10.02"), at)
            status = OrderStatus.FILLED if filled == qty else OrderStatus.PARTIALLY_FILLED
            j.record_event(OrderUpdate(coid, status, D(filled), at, fill=fill))
            j.record_fill(fill)
            marks.append(
                QuoteMark("r1", 1, fill.exec_id, MarkKind.FILL, 0, _q("10.00", "10.02", at), at)
            )
            ended = at
            if filled < qty:
                ended = sent + timedelta(seconds=2)
                j.record_event(OrderUpdate(coid, OrderStatus.CANCELED, D(filled), ended))
            attempts.append(
                {"client_order_id": coid, "started": sent.isoformat(), "ended": ended.isoformat()}
            )
        j.record_quote_marks(marks)
        j.update_intent("r1", 1, "filled", {"strategy": "aggressive", "attempts": attempts})
        j.finish_run("r1", "completed")
    result = own_fills(db, BetterOrdersConfig())
    assert result.overall.actual.shares == 100
    predicted = result.overall.predicted
    assert predicted is not None
    assert predicted.shares == 100
    assert result.overall.error("filled") == 0


def test_a_fill_the_run_recovered_from_the_broker_is_marked_like_any_other(
    tmp_path: Path,
) -> None:
    # SPY's child fills as the ladder asks about it: the answer (filled, no execution)
    # finishes the leg, whose fill is then recovered from the broker's executions. It
    # keeps its quote marks, and a replay with the simulator's own profile predicts it.
    db = tmp_path / "j.sqlite3"
    at = datetime(2026, 3, 11, 13, 35, tzinfo=UTC)
    run_rebalance_simulated({"SPY": 0.4}, at=at, db=db, config=BetterOrdersConfig())
    result = own_fills(db, BetterOrdersConfig())
    (leg,) = result.legs
    assert leg.fills and all(mf.at is not None for mf in leg.fills)
    assert all(set(mf.after) == {5000, 60000} for mf in leg.fills)
    assert result.overall.error("filled") == 0
    assert result.overall.predicted is not None
    assert result.overall.predicted.shares == result.overall.actual.shares
