"""``sim calibrate``: the simulator's models recovered from a journal it produced itself.

A journal is produced on the simulator with known parameters (orders reach the venue
120 ms after they are sent, updates take 8 ms back, three fills in ten are cut to
half); the fit must recover them within the tolerances ``tca.calibrate`` states:
latencies within 1 ms, the partial-fill probability within 0.1. The synthetic
quotes never show what the queue share changes (no trades, no locked book at a
resting price), so the queue share is recovered from a small hand-made journal in
which a limit resting at the bid fills when the book locks at its price.

Whether the fitted profile predicts what the journal cost is checked on a journal of the
same orders with no fill cut: there the venue draws nothing, so the replay with the true
parameters must give the journal's shortfall exactly, where the built-in profile's does
not. (With cut fills a journal is one draw and the prediction their mean: on 24 orders
that noise is larger than the built-in profile's error.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    Side,
)
from better_orders.engine.commands import run_orders_simulated
from better_orders.engine.execution import OrderSpec
from better_orders.store.journal import Journal
from better_orders.store.records import MarkKind, QuoteMark
from better_orders.tca.calibrate import calibrate
from better_orders.tca.journal_legs import load_legs, open_journal
from better_orders.tca.own_fills import own_fills
from better_orders.venues.sim.exchange import Latency
from better_orders.venues.sim.profile import SimProfile
from cli_runner import run_cli
from one_order_journal import send_one_order
from refusal import error_line

KNOWN = SimProfile(
    latency=Latency(
        submit=timedelta(milliseconds=120),
        cancel=timedelta(milliseconds=120),
        update=timedelta(milliseconds=8),
    ),
    partial_fill=0.3,
)
WHOLE_FILLS = SimProfile(latency=KNOWN.latency, partial_fill=0.0)
DAYS = (2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16, 17)


def make_journal(tmp_path_factory: pytest.TempPathFactory, profile: SimProfile) -> Path:
    db = tmp_path_factory.mktemp("calibrate") / "journal.sqlite3"
    config = BetterOrdersConfig()
    for seed, day in enumerate(DAYS):
        for side, hour, minute in (("buy", 13, 31), ("sell", 14, 45)):
            run_orders_simulated(
                [OrderSpec.parse("SOXL", 1500, side)],
                at=datetime(2026, 3, day, hour, minute, tzinfo=UTC),
                seed=seed,
                db=db,
                config=config,
                sim_profile=profile,
                new=True,
            )
    return db


@pytest.fixture(scope="module")
def known_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_journal(tmp_path_factory, KNOWN)


def test_the_known_parameters_are_recovered(known_journal: Path) -> None:
    with open_journal(known_journal) as journal:
        legs = load_legs(journal, BetterOrdersConfig())
        fit = calibrate(journal, legs, str(known_journal))
    got = fit.profile
    ms = timedelta(milliseconds=1)
    assert abs(got.latency.submit / ms - 120) <= 1
    assert abs(got.latency.update / ms - 8) <= 1
    assert got.latency.cancel == got.latency.submit
    assert fit.eligible_fills >= 40
    assert got.partial_fill == pytest.approx(0.3, abs=0.1)
    # Resting orders there were, but none whose replay depends on the queue share.
    assert fit.resting_orders > 0 and fit.queue_evidence == 0
    assert got.queue_share == D(1)


def lock_journal(path: Path, *, filled: bool) -> None:
    """A buy limit joining the bid (500 shown) that fills, or not, when the book locks there."""
    t0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    t1 = t0 + timedelta(seconds=1)
    coid = "bo-r1-1-1"

    def quote(bid: str, ask: str, ts: datetime) -> Quote:
        return Quote("XYZ", D(bid), D(ask), D(500), D(500), ts)

    with Journal.open(path) as j:
        request = OrderRequest(coid, "XYZ", Side.BUY, D(100), OrderType.LIMIT, D("10.00"))
        send_one_order(j, request, t0)
        j.record_event(OrderUpdate(coid, OrderStatus.NEW, D(0), t0 + timedelta(milliseconds=30)))
        marks = [QuoteMark("r1", 1, "", MarkKind.ARRIVAL, 0, quote("10.00", "10.02", t0), t0)]
        # The book locks at the bid one second later (marked around some other fill).
        marks.append(QuoteMark("r1", 1, "other", MarkKind.FILL, 0, quote("10.00", "10.00", t1), t1))
        ended = t1 + timedelta(seconds=2)
        if filled:
            fill = Fill("x1", coid, "XYZ", Side.BUY, D(100), D("10.00"), t1)
            j.record_event(OrderUpdate(coid, OrderStatus.FILLED, D(100), t1, fill=fill))
            j.record_fill(fill)
            marks.append(
                QuoteMark("r1", 1, "x1", MarkKind.FILL, 0, quote("10.00", "10.00", t1), t1)
            )
            ended = t1
        else:
            j.record_event(OrderUpdate(coid, OrderStatus.CANCELED, D(0), ended))
        j.record_quote_marks(marks)
        attempt = {"client_order_id": coid, "started": t0.isoformat(), "ended": ended.isoformat()}
        j.update_intent("r1", 1, "done", {"strategy": "passive", "attempts": [attempt]})
        j.finish_run("r1", "completed")


@pytest.mark.parametrize(("filled", "share"), [(True, D(0)), (False, D(1))])
def test_the_queue_share_follows_a_resting_fill_on_a_locked_book(
    tmp_path: Path, filled: bool, share: D
) -> None:
    db = tmp_path / "lock.sqlite3"
    lock_journal(db, filled=filled)
    with open_journal(db) as journal:
        legs = load_legs(journal, BetterOrdersConfig())
        if not filled:
            with pytest.raises(InvalidInputError, match="no fills to calibrate from"):
                calibrate(journal, legs, str(db))
            return
        fit = calibrate(journal, legs, str(db))
    assert (fit.resting_orders, fit.resting_filled, fit.queue_evidence) == (1, 1, 1)
    assert fit.profile.queue_share == share


@pytest.fixture(scope="module")
def whole_fill_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same orders with no fill cut: nothing in the venue is random, so a replay with
    the true parameters must predict the journal exactly."""
    return make_journal(tmp_path_factory, WHOLE_FILLS)


def test_the_fitted_profile_predicts_the_journal_exactly_and_the_default_does_not(
    whole_fill_journal: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fitted.toml"
    code, _, err = run_cli(
        ["sim", "calibrate", "--journal", str(whole_fill_journal), "--out", str(out)], capsys
    )
    assert code == 0, err
    fitted = SimProfile.load(out)
    assert fitted.latency.submit == timedelta(milliseconds=120)
    assert fitted.partial_fill == 0
    config = BetterOrdersConfig()
    before = own_fills(whole_fill_journal, config).overall
    after = own_fills(whole_fill_journal, config, profile=fitted).overall
    # The built-in profile's orders arrive 90 ms early: it misprices the shortfall; the
    # fitted one replays every child's life as it was.
    b, a = before.error("shortfall_bps"), after.error("shortfall_bps")
    assert b is not None and a is not None
    assert a == pytest.approx(0, abs=1e-9), (b, a)
    assert abs(b) >= 0.05, (b, a)
    code, text, _ = run_cli(
        ["tca", "--journal", str(whole_fill_journal), "--sim-profile", str(out), "--json"],
        capsys,
    )
    assert code == 0 and json.loads(text)["sim_profile"] == str(out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--journal", "{missing}"], "does not exist"),
        (["--journal", "{notdb}"], "is not a Better Orders journal"),
        (["--journal", "{empty}"], "no orders with an arrival quote"),
        (["--journal", "{empty}", "--since", "2999-01-01"], "is in the future"),
        (["--journal", "{empty}", "--since", "March"], "give a date as YYYY-MM-DD"),
    ],
)
def test_calibrate_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "notdb").write_text("not a database")
    Journal.open(tmp_path / "empty.sqlite3").close()
    paths = {
        "missing": tmp_path / "missing.sqlite3",
        "notdb": tmp_path / "notdb",
        "empty": tmp_path / "empty.sqlite3",
    }
    code, _, err = run_cli(["sim", "calibrate", *(a.format(**paths) for a in args)], capsys)
    assert code != 0
    assert message in error_line(err)


def test_a_bad_profile_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[partial]\nprobability = 2\n")
    with pytest.raises(InvalidInputError, match=r"within 0\.\.1"):
        SimProfile.load(bad)
    bad.write_text("[latency]\nsubmit_ms = 'fast'\n")
    with pytest.raises(InvalidInputError, match="must be a number"):
        SimProfile.load(bad)
    assert SimProfile.load(_written(tmp_path, KNOWN)) == KNOWN


def _written(tmp_path: Path, profile: SimProfile) -> Path:
    return profile.write(tmp_path / "p.toml")
