"""An interrupted ``order`` resumes like a rebalance: the same order completes only what is left."""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from collections import Counter
from datetime import datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from better_orders import place_better_order, rebalance_portfolio
from better_orders.core.errors import JournalError
from better_orders.core.ladder import Finished
from better_orders.core.model import OrderUpdate
from better_orders.engine.commands import run_orders_simulated
from better_orders.engine.execution import OrderSpec
from better_orders.engine.legs import LadderEvent
from better_orders.store.journal import Journal
from better_orders.store.locks import LockOwner, account_lock_name
from better_orders.store.progress import run_progress
from better_orders.venues.sim.account import PaperAccount, load_venue_records

ET = ZoneInfo("America/New_York")
OPEN = datetime(2026, 11, 24, 9, 30, tzinfo=ET)


class Crash(BaseException):
    """Stands in for the process dying at that point (not an ``Exception``: a failure the
    run catches is contained, its orders cancelled, and a dying process cleans up nothing)."""


def crash_on(predicate: Any) -> Any:
    def observer(ev: LadderEvent) -> None:
        if predicate(ev):
            raise Crash(f"crashed at leg {ev.leg}")

    return observer


def a_fill(ev: LadderEvent) -> bool:
    return isinstance(ev.item, OrderUpdate) and ev.item.fill is not None


def held(db: Path) -> dict[str, D]:
    """The account's positions, which must be what the journal's fills add up to."""
    positions = {s: p.qty for s, p in PaperAccount.load(db).positions.items()}
    with Journal.open(db) as journal:
        assert positions == journal.positions_from_fills()
        sent = [o.client_order_id for o in journal.orders()]
        assert max(Counter(sent).values(), default=1) == 1
    return positions


def test_the_same_order_after_a_crash_completes_only_the_remainder(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    with pytest.raises(Crash):
        place_better_order("SOXL", 300, "buy", at=OPEN, db=db, observer=crash_on(a_fill))
    with Journal.open(db) as journal:
        (run,) = journal.find_runs()
        (before,) = run_progress(journal, run.run_id)
        sent_before = {o.client_order_id for o in journal.orders()}
    assert 0 < before.done_qty < 300

    report = place_better_order("SOXL", 300, "buy", at=OPEN, db=db)
    assert report.requested_qty == 300 - before.done_qty
    assert report.filled_qty == report.requested_qty
    assert any(f"resumed run {run.run_id} (buy 300 SOXL)" in n for n in report.notes)
    assert not set(report.client_order_ids) & sent_before  # later attempt numbers
    assert held(db) == {"SOXL": D(300)}
    with Journal.open(db) as journal:
        (again,) = journal.find_runs()
        assert again.run_id == run.run_id and again.status.value == "completed"


def test_every_leg_of_a_batch_resumes_for_what_is_left_of_it(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    # TQQQ's open runs past its 20 bps budget on this day: a wider one lets it complete.
    specs = [OrderSpec.parse("SOXL", 300, "buy"), OrderSpec.parse("TQQQ", 100, "buy", 100)]
    with pytest.raises(Crash):
        run_orders_simulated(specs, at=OPEN, db=db, observer=crash_on(a_fill))
    _, reports = run_orders_simulated(specs, at=OPEN, db=db)
    assert [r.symbol for r in reports] == ["SOXL", "TQQQ"]
    assert held(db) == {"SOXL": D(300), "TQQQ": D(100)}


def test_a_run_whose_fills_were_all_in_sends_nothing_more(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    done = crash_on(lambda ev: isinstance(ev.item, Finished))
    with pytest.raises(Crash):
        place_better_order("SOXL", 300, "buy", at=OPEN, db=db, observer=done)
    with Journal.open(db) as journal:
        orders_before = len(journal.orders())
    report = place_better_order("SOXL", 300, "buy", at=OPEN, db=db)
    assert (report.requested_qty, report.filled_qty) == (D(300), D(300))
    assert report.avg_fill_price is not None and report.fills
    assert any("already done, nothing sent" in n for n in report.notes)
    with Journal.open(db) as journal:
        assert len(journal.orders()) == orders_before
    assert held(db) == {"SOXL": D(300)}


def test_new_starts_over_and_supersedes_the_interrupted_run(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    with pytest.raises(Crash):
        place_better_order("SOXL", 300, "buy", at=OPEN, db=db, observer=crash_on(a_fill))
    partial = held(db)["SOXL"]
    fresh = place_better_order("SOXL", 300, "buy", at=OPEN, db=db, new=True)
    assert fresh.requested_qty == 300 and not any("resumed" in n for n in fresh.notes)
    assert held(db) == {"SOXL": partial + 300}
    # a completed run of the same order came since: the next one is a new order too
    again = place_better_order("SOXL", 300, "buy", at=OPEN, db=db)
    assert again.requested_qty == 300
    assert held(db) == {"SOXL": partial + 600}


def test_an_interrupted_order_too_old_to_resume_is_refused_saying_what_is_left(
    tmp_path: Path,
) -> None:
    db = tmp_path / "j.sqlite3"
    with pytest.raises(Crash):
        place_better_order("SOXL", 300, "buy", at=OPEN, db=db, observer=crash_on(a_fill))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET started_at = '2020-01-02T14:30:00+00:00'")
    conn.close()
    with Journal.open(db) as journal:
        (run,) = journal.find_runs()
        (leg,) = run_progress(journal, run.run_id)
    with pytest.raises(JournalError) as refused:
        place_better_order("SOXL", 300, "buy", at=OPEN, db=db)
    message = str(refused.value)
    assert f"order run {run.run_id}" in message
    assert f"buy {leg.remaining_qty} of 300 SOXL left" in message
    assert "--new" in message
    assert held(db) == {"SOXL": leg.done_qty}  # nothing sent
    place_better_order("SOXL", 300, "buy", at=OPEN, db=db, new=True)
    assert held(db) == {"SOXL": leg.done_qty + 300}


def test_a_run_on_an_account_in_use_is_refused_and_a_dry_run_only_reads(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    assert rebalance_portfolio({"SPY": 0.5}, at=OPEN, db=db).complete
    # the parent process stands in for another run, still trading the account
    other = LockOwner(os.getppid(), socket.gethostname(), "other")
    name = account_lock_name("sim paper")
    with Journal.open(db) as journal:
        journal.acquire_lock(name, other, purpose="order run r-1 (buy 5 SPY)")
    before = load_venue_records(db)
    with pytest.raises(JournalError) as refused:
        place_better_order("TQQQ", 10, "buy", at=OPEN, db=db)
    message = str(refused.value)
    assert message.startswith("account sim paper is in use by order run r-1 (buy 5 SPY)")
    assert f"in process {os.getppid()} on host {socket.gethostname()} since " in message
    with pytest.raises(JournalError, match="in use by"):
        rebalance_portfolio({"QQQ": 0.5}, at=OPEN, db=db)
    plan = rebalance_portfolio({"QQQ": 0.5}, at=OPEN, db=db, dry_run=True)
    assert plan.dry_run and plan.plan.trades
    assert load_venue_records(db) == before
    with Journal.open(db) as journal:
        assert len(journal.find_runs()) == 1
        journal.release_lock(name, other)
    # TQQQ's open runs past its 20 bps budget on this day: a wider one lets it complete.
    report = place_better_order("TQQQ", 10, "buy", at=OPEN, db=db, max_slippage_bps=100)
    assert report.filled_qty == 10


def test_a_new_run_draws_again_an_id_the_journal_already_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Run ids carry the start time and 4 random hex digits: many simulations started at the
    # same instant on one journal draw one twice. The second draw is drawn again.
    draws = iter(["abcd", "abcd", "ef01"])
    real = secrets.token_hex
    monkeypatch.setattr(
        "better_orders.store.ids.secrets.token_hex", lambda n: next(draws) if n == 2 else real(n)
    )
    db = tmp_path / "j.sqlite3"
    specs = [OrderSpec.parse("SPY", 1, "buy")]
    first, _ = run_orders_simulated(specs, at=OPEN, seed=1, db=db)
    second, report = run_orders_simulated(specs, at=OPEN, seed=1, db=db)
    assert (first, second) == ("20261124T093000-abcd", "20261124T093000-ef01")
    assert report[0].complete
    with Journal.open(db) as journal:
        assert {o.client_order_id.split("-")[2] for o in journal.orders()} == {"abcd", "ef01"}
