"""The journal: write-ahead order records, exactly-once fills, monotonic order state, locks."""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from better_orders.core.errors import InvalidInputError, JournalError
from better_orders.core.model import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from better_orders.store.encoding import params_hash, to_json
from better_orders.store.ids import (
    MAX_CLIENT_ORDER_ID,
    client_order_id,
    new_run_id,
    parse_client_order_id,
)
from better_orders.store.journal import Journal
from better_orders.store.locks import LockHeldError, LockOwner, run_lock_name
from better_orders.store.records import PENDING_SUBMIT, RunStatus

T0 = datetime(2026, 11, 27, 14, 30, 0, tzinfo=UTC)
RUN = "20261127T093000-3f9a"


class FakeClock:
    """Wall clock stand-in so lock expiry is tested without waiting."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def journal(tmp_path: Path, clock: FakeClock) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.sqlite", clock=clock) as j:
        j.start_run(RUN, "order", {"symbol": "TQQQ", "qty": Decimal("10")}, "sim")
        yield j


def limit_order(
    leg: int = 0, attempt: int = 1, qty: str = "10", price: str = "51.01"
) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id(RUN, leg, attempt),
        symbol="TQQQ",
        side=Side.BUY,
        qty=Decimal(qty),
        order_type=OrderType.LIMIT,
        limit_price=Decimal(price),
    )


def update(
    coid: str,
    status: OrderStatus,
    filled: str,
    avg: str | None = None,
    seconds: float = 0,
) -> OrderUpdate:
    return OrderUpdate(
        client_order_id=coid,
        status=status,
        filled_qty=Decimal(filled),
        ts=T0 + timedelta(seconds=seconds),
        filled_avg_price=None if avg is None else Decimal(avg),
        broker_order_id="b-" + coid,
    )


def fill(
    exec_id: str, coid: str, qty: str, price: str, side: Side = Side.BUY, symbol: str = "TQQQ"
) -> Fill:
    return Fill(exec_id, coid, symbol, side, Decimal(qty), Decimal(price), T0)


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# --------------------------------------------------------------------------- file settings


def test_wal_mode_normal_sync_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "journal.sqlite"
    Journal.open(path).close()
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("SELECT version FROM schema_version").fetchall() == [(4,)]
    raw.close()
    with Journal.open(path) as j:
        assert j._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert j._conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    with Journal.open(path, durable=True) as j:
        assert j._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_version_1_journal_is_migrated_and_keeps_its_legs(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    raw = sqlite3.connect(path)
    raw.executescript(
        """
        CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
        INSERT INTO schema_version VALUES (1, '2026-01-01T00:00:00+00:00');
        CREATE TABLE intents (run_id TEXT NOT NULL, leg INTEGER NOT NULL, symbol TEXT NOT NULL,
            side TEXT NOT NULL, qty TEXT NOT NULL, status TEXT NOT NULL, report_json TEXT,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (run_id, leg));
        INSERT INTO intents VALUES ('r1', 1, 'SPY', 'buy', '10', 'pending', NULL,
            '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00');
        """
    )
    raw.close()
    with Journal.open(path) as j:
        (intent,) = j.intents("r1")
        assert (intent.qty, intent.sized_qty) == (Decimal(10), None)
        j.size_intent("r1", 1, Decimal(7))
        j.size_intent("r1", 1, Decimal(3))  # a resumed leg keeps its first size
        assert j.intents("r1")[0].sized_qty == Decimal(7)
        versions = j._conn.execute("SELECT version FROM schema_version ORDER BY version")
        assert [v for (v,) in versions] == [1, 4]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    Journal.open(path).close()
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO schema_version VALUES (99, 'later')")
    raw.commit()
    raw.close()
    with pytest.raises(JournalError, match="newer"):
        Journal.open(path)


def test_a_file_that_is_not_a_journal_is_a_journal_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match=r"notes\.txt"):
        Journal.open(path)


# --------------------------------------------------------------------------- ids


def test_client_order_id_round_trips_and_is_short() -> None:
    coid = client_order_id(RUN, 3, 2)
    assert coid == f"bo-{RUN}-3-2"
    assert len(coid) <= MAX_CLIENT_ORDER_ID
    assert parse_client_order_id(coid) == (RUN, 3, 2)
    assert len({client_order_id(RUN, leg, a) for leg in range(12) for a in range(12)}) == 144


@pytest.mark.parametrize("coid", ["abc", "bo-x-1", "bo-x-01-1", "bo--1-1", "xx-r-1-1", ""])
def test_foreign_client_order_ids_do_not_parse(coid: str) -> None:
    assert parse_client_order_id(coid) is None


def test_client_order_id_rejects_bad_parts() -> None:
    with pytest.raises(InvalidInputError, match="longer than 48"):
        client_order_id("r" * 60, 0, 1)
    with pytest.raises(InvalidInputError, match="leg"):
        client_order_id(RUN, -1, 1)
    with pytest.raises(InvalidInputError, match="run id"):
        client_order_id("bad id", 0, 1)


def test_new_run_id_is_sortable_and_fits_a_client_order_id() -> None:
    early = new_run_id(datetime(2026, 11, 27, 9, 30, 0), "3f9a")
    late = new_run_id(datetime(2026, 11, 27, 9, 31, 5))
    assert early == "20261127T093000-3f9a"
    assert early < late
    assert len(client_order_id(late, 99, 99)) <= MAX_CLIENT_ORDER_ID
    with pytest.raises(InvalidInputError, match="token"):
        new_run_id(T0, "NOT-OK")


# --------------------------------------------------------------------------- runs


def test_find_runs_by_params_hash_and_status(tmp_path: Path, clock: FakeClock) -> None:
    targets = {"targets": {"SPY": Decimal("0.60"), "TQQQ": Decimal("0.4")}, "cash": "0"}
    same_written_otherwise = {
        "cash": "0",
        "targets": {"TQQQ": Decimal("0.40"), "SPY": Decimal("0.6")},
    }
    other = {"targets": {"SPY": Decimal("0.5"), "TQQQ": Decimal("0.5")}, "cash": "0"}
    assert params_hash(targets) == params_hash(same_written_otherwise)
    assert params_hash(targets) != params_hash(other)

    with Journal.open(tmp_path / "j.sqlite", clock=clock) as j:
        j.start_run("r1", "rebalance", targets, "sim")
        clock.advance(60)
        j.start_run("r2", "rebalance", other, "sim")
        clock.advance(60)
        j.start_run("r3", "rebalance", same_written_otherwise, "alpaca-paper")
        j.finish_run("r1", RunStatus.COMPLETED, {"filled": Decimal("12.5")})

        again = j.find_runs(params_hash=params_hash(targets))
        assert [r.run_id for r in again] == ["r1", "r3"]
        assert [r.run_id for r in j.find_runs(status="running")] == ["r2", "r3"]
        done = j.find_runs(params_hash=params_hash(targets), status=RunStatus.COMPLETED)
        assert [r.run_id for r in done] == ["r1"]
        assert done[0].report == {"filled": "12.5"}
        assert done[0].finished_at == T0 + timedelta(seconds=120)
        assert done[0].started_at == T0
        latest = j.latest_run("rebalance")
        assert latest is not None and latest.run_id == "r3"
        assert latest.broker == "alpaca-paper"
        assert latest.params == {"cash": "0", "targets": {"TQQQ": "0.40", "SPY": "0.6"}}


def test_a_run_id_is_used_once_and_unknown_runs_are_errors(journal: Journal) -> None:
    with pytest.raises(JournalError, match=f"run {RUN} is already in the journal"):
        journal.start_run(RUN, "order", {}, "sim")
    with pytest.raises(JournalError, match="not in the journal"):
        journal.finish_run("nope", "failed")
    with pytest.raises(InvalidInputError, match="unknown run status"):
        journal.finish_run(RUN, "done")
    journal.finish_run(RUN, "interrupted")
    record = journal.get_run(RUN)
    assert record is not None and record.status is RunStatus.INTERRUPTED
    assert journal.get_run("nope") is None


def test_credentials_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    # Values made at run time, so only the journal could have written them to the file.
    secret, key, password = (secrets.token_hex(12) for _ in range(3))
    with Journal.open(path) as j:
        j.start_run(
            "r1",
            "order",
            {"symbol": "SPY", "broker": {"APCA_API_SECRET_KEY": secret, "api_key": key}},
            "alpaca-paper",
        )
        j.finish_run("r1", "completed", {"notes": [{"password": password}]})
        record = j.get_run("r1")
    assert record is not None and record.params["broker"]["api_key"] == "[redacted]"
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the file and its WAL
    for value in (secret, key, password):
        assert value.encode() not in data


# --------------------------------------------------------------------------- intents


def test_intents_are_recorded_once_and_updated(journal: Journal) -> None:
    journal.record_intent(RUN, 1, "SOXL", "sell", Decimal("3.5"))
    journal.record_intent(RUN, 0, "TQQQ", Side.BUY, Decimal("10"))
    with pytest.raises(JournalError, match=f"leg 0 of run {RUN} is already"):
        journal.record_intent(RUN, 0, "TQQQ", Side.BUY, Decimal("10"))
    with pytest.raises(JournalError, match="start it first"):
        journal.record_intent("other", 0, "TQQQ", Side.BUY, Decimal("10"))
    with pytest.raises(InvalidInputError, match="TQQQ quantity"):
        journal.record_intent(RUN, 5, "TQQQ", Side.BUY, Decimal("0"))
    journal.update_intent(RUN, 1, "partial", {"filled_qty": Decimal("2.25")})
    journal.update_intent(RUN, 1, "failed")  # no report: the stored one is kept
    legs = journal.intents(RUN)
    assert [(i.leg, i.symbol, i.side, i.qty, i.status) for i in legs] == [
        (0, "TQQQ", Side.BUY, Decimal("10"), "pending"),
        (1, "SOXL", Side.SELL, Decimal("3.5"), "failed"),
    ]
    assert legs[1].report == {"filled_qty": "2.25"}
    with pytest.raises(JournalError, match="leg 7"):
        journal.update_intent(RUN, 7, "failed")


# --------------------------------------------------------------------------- orders


def test_order_is_recorded_before_the_ack_and_updated_by_it(journal: Journal) -> None:
    request = limit_order()
    journal.record_order_pending(request, RUN, 0, 1)
    pending = journal.get_order(request.client_order_id)
    assert pending is not None and pending.status == PENDING_SUBMIT and pending.pending_submit
    assert pending.filled_qty == 0 and pending.broker_order_id is None
    assert [o.client_order_id for o in journal.orders(RUN, open_only=True)] == [
        request.client_order_id
    ]

    journal.record_order_ack(update(request.client_order_id, OrderStatus.NEW, "0"))
    acked = journal.get_order(request.client_order_id)
    assert acked is not None and acked.status == "new"
    assert acked.broker_order_id == "b-" + request.client_order_id
    assert acked.created_at <= acked.updated_at
    assert [e.update.status for e in journal.events(request.client_order_id)] == [OrderStatus.NEW]


def test_an_ack_for_an_unrecorded_order_is_an_error_but_the_event_is_kept(
    journal: Journal,
) -> None:
    coid = client_order_id(RUN, 0, 9)
    with pytest.raises(JournalError, match="must be recorded before they are sent"):
        journal.record_order_ack(update(coid, OrderStatus.NEW, "0"))
    assert journal.get_order(coid) is None
    assert [e.update.client_order_id for e in journal.events()] == [coid]


def test_a_rejection_ack_closes_the_order(journal: Journal) -> None:
    request = limit_order()
    journal.record_order_pending(request, RUN, 0, 1)
    rejected = OrderUpdate(
        request.client_order_id, OrderStatus.REJECTED, Decimal(0), T0, reason="insufficient bp"
    )
    journal.record_order_ack(rejected)
    order = journal.get_order(request.client_order_id)
    assert order is not None and order.is_terminal and order.reason == "insufficient bp"
    assert journal.orders(RUN, open_only=True) == []


def test_a_client_order_id_is_never_recorded_twice(journal: Journal) -> None:
    request = limit_order()
    journal.record_order_pending(request, RUN, 0, 1)
    with pytest.raises(JournalError, match="refusing to send it twice"):
        journal.record_order_pending(request, RUN, 0, 1)
    repriced = limit_order(price="51.02")  # same attempt, new price: still the same order id
    with pytest.raises(JournalError, match="already in the journal"):
        journal.record_order_pending(repriced, RUN, 0, 1)
    assert len(journal.orders(RUN)) == 1
    assert journal.next_attempt(RUN, 0) == 2
    journal.record_order_pending(limit_order(attempt=2), RUN, 0, 2)
    assert [o.attempt for o in journal.orders(RUN)] == [1, 2]


def test_an_order_must_match_its_run_leg_and_attempt(journal: Journal) -> None:
    with pytest.raises(JournalError, match="leg 0 attempt 1, not to run"):
        journal.record_order_pending(limit_order(leg=0, attempt=1), RUN, 1, 1)
    journal.start_run("other", "order", {}, "sim")
    with pytest.raises(JournalError, match="start it first"):
        journal.record_order_pending(
            OrderRequest(
                client_order_id("nope", 0, 1), "SPY", Side.BUY, Decimal(1), OrderType.MARKET
            ),
            "nope",
            0,
            1,
        )
    assert journal.orders() == []


def test_decimals_round_trip_digit_for_digit(journal: Journal) -> None:
    request = limit_order(qty="7.227357600", price="0.1234")
    coid = request.client_order_id
    journal.record_order_pending(request, RUN, 0, 1)
    journal.record_event(update(coid, OrderStatus.PARTIALLY_FILLED, "3.000000100", "0.1230"))
    journal.record_fill(fill("e1", coid, "3.000000100", "0.1230"))
    journal.record_intent(RUN, 0, "TQQQ", Side.BUY, Decimal("7.227357600"))
    order = journal.get_order(coid)
    assert order is not None
    assert str(order.qty) == "7.227357600" and str(order.limit_price) == "0.1234"
    assert str(order.filled_qty) == "3.000000100" and str(order.filled_avg_price) == "0.1230"
    assert order.remaining_qty == Decimal("4.227357500")
    assert [str(f.qty) for f in journal.fills(RUN)] == ["3.000000100"]
    assert [str(f.price) for f in journal.fills(RUN)] == ["0.1230"]
    assert str(journal.intents(RUN)[0].qty) == "7.227357600"
    assert journal.events(coid)[0].update == update(
        coid, OrderStatus.PARTIALLY_FILLED, "3.000000100", "0.1230"
    )


# --------------------------------------------------------------------------- events


EVENTS = [
    (OrderStatus.NEW, "0", None),
    (OrderStatus.PARTIALLY_FILLED, "3", "51.01"),
    (OrderStatus.PENDING_CANCEL, "3", "51.01"),
    (OrderStatus.PARTIALLY_FILLED, "7", "51.015"),
    (OrderStatus.FILLED, "10", "51.012"),
]


def test_order_state_survives_events_in_any_order(journal: Journal) -> None:
    for n, order in enumerate(itertools.permutations(EVENTS)):
        request = OrderRequest(
            client_order_id(RUN, n, 1),
            "TQQQ",
            Side.BUY,
            Decimal(10),
            OrderType.LIMIT,
            Decimal("51.02"),
        )
        journal.record_order_pending(request, RUN, n, 1)
        for i, (status, filled, avg) in enumerate(order):
            journal.record_event(update(request.client_order_id, status, filled, avg, i))
        row = journal.get_order(request.client_order_id)
        assert row is not None
        assert (row.status, row.filled_qty, row.filled_avg_price) == (
            "filled",
            Decimal(10),
            Decimal("51.012"),
        ), order
        assert len(journal.events(request.client_order_id)) == len(EVENTS)


def test_filled_qty_never_decreases_and_terminal_status_is_sticky(journal: Journal) -> None:
    request = limit_order()
    coid = request.client_order_id
    journal.record_order_pending(request, RUN, 0, 1)
    seen = []
    for status, filled in [
        (OrderStatus.PARTIALLY_FILLED, "6"),
        (OrderStatus.CANCELED, "6"),
        (OrderStatus.PARTIALLY_FILLED, "4"),  # late, stale
        (OrderStatus.NEW, "0"),  # later still
    ]:
        journal.record_event(update(coid, status, filled))
        row = journal.get_order(coid)
        assert row is not None
        seen.append((row.status, row.filled_qty))
    assert seen == [
        ("partially_filled", Decimal(6)),
        ("canceled", Decimal(6)),
        ("canceled", Decimal(6)),
        ("canceled", Decimal(6)),
    ]
    # A venue may still fill an order it reported canceled: that fact is kept.
    journal.record_event(update(coid, OrderStatus.FILLED, "10", "51.00"))
    journal.record_event(update(coid, OrderStatus.CANCELED, "6"))
    row = journal.get_order(coid)
    assert row is not None and (row.status, row.filled_qty) == ("filled", Decimal(10))
    assert row.filled_avg_price == Decimal("51.00")


def test_events_for_orders_not_in_the_journal_are_kept(journal: Journal) -> None:
    journal.record_event(update("manual-order-1", OrderStatus.FILLED, "5", "10.00"))
    assert journal.get_order("manual-order-1") is None
    assert [e.update.filled_qty for e in journal.events("manual-order-1")] == [Decimal(5)]


# --------------------------------------------------------------------------- fills


def test_a_duplicate_exec_id_is_recorded_once(journal: Journal) -> None:
    request = limit_order()
    coid = request.client_order_id
    journal.record_order_pending(request, RUN, 0, 1)
    first = fill("exec-1", coid, "4", "51.01")
    assert journal.record_fill(first) is True
    assert journal.record_fill(first) is False
    assert journal.record_fill(fill("exec-1", coid, "4", "51.01"), RUN) is False
    assert journal.record_fill(fill("exec-2", coid, "6", "51.02")) is True
    assert [f.exec_id for f in journal.fills(RUN)] == ["exec-1", "exec-2"]
    assert journal.fills(client_order_id=coid)[0] == first
    assert journal.positions_from_fills(RUN) == {"TQQQ": Decimal(10)}


def test_a_fill_known_from_the_cumulative_quantity_counts_only_what_is_new(
    journal: Journal,
) -> None:
    # A new process knows nothing of what the last one was told: its broker adapter derives
    # one fill for the order's whole cumulative quantity. The shares already journalled
    # under their real execution ids are not counted again.
    from better_orders.core.model import cumulative_exec_id, cumulative_of

    request = limit_order()
    coid = request.client_order_id
    journal.record_order_pending(request, RUN, 0, 1)
    assert journal.record_fill(fill("exec-1", coid, "12", "51.01")) is True
    assert journal.record_fill(fill("exec-2", coid, "8", "51.02")) is True
    again = cumulative_exec_id("ord-9", Decimal(20))
    assert again == "ord-9-cum-20" and cumulative_of(again) == Decimal(20)
    assert journal.record_fill(fill(again, coid, "20", "51.014")) is False
    more = cumulative_exec_id("ord-9", Decimal("26.5"))
    assert journal.record_fill(fill(more, coid, "26.5", "51.03")) is True
    assert [(f.exec_id, f.qty) for f in journal.fills(RUN)][-1] == (more, Decimal("6.5"))
    assert journal.positions_from_fills(RUN) == {"TQQQ": Decimal("26.5")}
    assert cumulative_of("exec-1") is None and cumulative_of("x-cum-abc") is None


def test_positions_from_fills_are_signed_and_per_run(journal: Journal) -> None:
    journal.start_run("r2", "order", {}, "sim")
    journal.record_fill(fill("a", "x-1", "10", "51.00"), RUN)
    journal.record_fill(fill("b", "x-2", "2.5", "51.10", Side.SELL), RUN)
    journal.record_fill(fill("c", "x-3", "3", "20.00", Side.SELL, "SOXL"), RUN)
    journal.record_fill(fill("d", "y-1", "4", "600.00", Side.BUY, "SPY"), "r2")
    journal.record_fill(fill("e", "y-2", "4", "600.10", Side.SELL, "SPY"), "r2")
    journal.record_fill(fill("f", "y-3", "1", "52.00", Side.BUY), "r2")
    assert journal.positions_from_fills(RUN) == {"TQQQ": Decimal("7.5"), "SOXL": Decimal(-3)}
    assert journal.positions_from_fills("r2") == {"TQQQ": Decimal(1)}  # SPY flat: omitted
    assert journal.positions_from_fills() == {"TQQQ": Decimal("8.5"), "SOXL": Decimal(-3)}


# --------------------------------------------------------------------------- transactions


def test_a_failed_transaction_leaves_nothing_behind(journal: Journal) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), journal.transaction():
        journal.record_intent(RUN, 0, "TQQQ", Side.BUY, Decimal(10))
        journal.record_order_pending(limit_order(), RUN, 0, 1)
        raise Boom
    assert journal.intents(RUN) == [] and journal.orders() == []

    with journal.transaction():
        journal.record_intent(RUN, 0, "TQQQ", Side.BUY, Decimal(10))
        with pytest.raises(Boom), journal.transaction():  # rolls back only its own block
            journal.record_intent(RUN, 1, "SOXL", Side.BUY, Decimal(5))
            raise Boom
        with pytest.raises(JournalError):
            journal.record_intent(RUN, 0, "TQQQ", Side.BUY, Decimal(10))
        journal.record_order_pending(limit_order(), RUN, 0, 1)
    assert [i.leg for i in journal.intents(RUN)] == [0] and len(journal.orders()) == 1


# --------------------------------------------------------------------------- two processes


def test_two_journals_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    with Journal.open(path) as a, Journal.open(path) as b:
        a.start_run(RUN, "order", {"symbol": "TQQQ"}, "sim")
        b.record_order_pending(limit_order(), RUN, 0, 1)
        assert [o.client_order_id for o in a.orders(RUN)] == [client_order_id(RUN, 0, 1)]
        with pytest.raises(JournalError, match="refusing to send it twice"):
            a.record_order_pending(limit_order(), RUN, 0, 1)
        assert b.record_fill(fill("e1", client_order_id(RUN, 0, 1), "10", "51.01")) is True
        assert a.record_fill(fill("e1", client_order_id(RUN, 0, 1), "10", "51.01")) is False
        assert a.positions_from_fills(RUN) == {"TQQQ": Decimal(10)}


def test_a_lock_held_by_this_process_is_refused_to_another_process(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    with Journal.open(path) as j:
        j.acquire_lock(f"run {RUN}", LockOwner.current())
        script = textwrap.dedent(
            f"""
            from better_orders.core.errors import JournalError
            from better_orders.store.journal import Journal
            from better_orders.store.locks import LockOwner
            with Journal.open({str(path)!r}) as j:
                try:
                    j.acquire_lock("run {RUN}", LockOwner.current())
                except JournalError as exc:
                    print(exc)
                else:
                    print("acquired")
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    assert f"run {RUN} is already running in process {os.getpid()}" in result.stdout
    assert "refusing to start it twice" in result.stdout


# --------------------------------------------------------------------------- locks


def test_a_live_owner_keeps_its_lock(journal: Journal) -> None:
    host = socket.gethostname()
    holder = LockOwner(os.getpid(), host, "first")
    journal.acquire_lock(f"run {RUN}", holder)
    journal.acquire_lock(f"run {RUN}", holder)  # re-acquiring one's own lock renews it
    with pytest.raises(JournalError) as refused:
        journal.acquire_lock(f"run {RUN}", LockOwner(os.getpid(), host, "second"))
    message = str(refused.value)
    assert f"run {RUN} is already running in process {os.getpid()} on host {host}" in message
    assert "since 2026-11-27T14:30:00+00:00" in message and "refusing to start it twice" in message
    lock = journal.get_lock(f"run {RUN}")
    assert lock is not None and lock.owner == holder


def test_a_dead_owners_lock_is_taken_over(journal: Journal) -> None:
    host = socket.gethostname()
    gone = LockOwner(dead_pid(), host, "gone")
    journal.acquire_lock("rebalance", gone)
    successor = LockOwner(os.getpid(), host, "next")
    journal.acquire_lock("rebalance", successor)
    lock = journal.get_lock("rebalance")
    assert lock is not None and lock.owner == successor
    with pytest.raises(JournalError, match="no longer held"):
        journal.heartbeat("rebalance", gone)
    assert journal.release_lock("rebalance", gone) is False
    assert journal.get_lock("rebalance") is not None


def test_a_lock_is_taken_over_after_its_heartbeat_expires(
    journal: Journal, clock: FakeClock
) -> None:
    host = socket.gethostname()
    first = LockOwner(os.getpid(), host, "first")  # alive: only the heartbeat can expire
    second = LockOwner(os.getpid(), host, "second")
    journal.acquire_lock("run x", first)
    clock.advance(50)
    journal.heartbeat("run x", first)
    clock.advance(50)
    with pytest.raises(JournalError, match="already running"):
        journal.acquire_lock("run x", second, stale_after_seconds=60)
    clock.advance(11)
    journal.acquire_lock("run x", second, stale_after_seconds=60)
    lock = journal.get_lock("run x")
    assert lock is not None and lock.owner == second and lock.acquired_at == clock.now
    with pytest.raises(JournalError, match="no longer held"):
        journal.heartbeat("run x", first)
    assert journal.release_lock("run x", second) is True
    assert journal.get_lock("run x") is None
    journal.acquire_lock("run x", first)


def test_a_lock_held_on_another_host_expires_only_by_heartbeat(
    journal: Journal, clock: FakeClock
) -> None:
    elsewhere = LockOwner(dead_pid(), "some-other-host.invalid", "t")
    journal.acquire_lock("run x", elsewhere)
    mine = LockOwner.current()
    with pytest.raises(JournalError, match=r"on host some-other-host\.invalid"):
        journal.acquire_lock("run x", mine, stale_after_seconds=30)
    clock.advance(31)
    journal.acquire_lock("run x", mine, stale_after_seconds=30)


# --------------------------------------------------------------------------- JSON


def test_to_json_keeps_money_exact() -> None:
    payload = update("c", OrderStatus.FILLED, "7.227357600", "51.0100")
    text = to_json({"update": payload, "side": Side.SELL, "when": T0})
    assert '"filled_qty":"7.227357600"' in text and '"filled_avg_price":"51.0100"' in text
    assert '"side":"sell"' in text and '"when":"2026-11-27T14:30:00+00:00"' in text
    with pytest.raises(JournalError, match="cannot record"):
        to_json({"x": object()})
    with pytest.raises(JournalError, match="cannot record"):
        to_json({"x": float("nan")})


@dataclass(frozen=True)
class _Costed:
    qty: Decimal
    api_key: str = "placeholder-credential"

    __json_properties__ = ("double",)

    @property
    def double(self) -> Decimal:
        return self.qty * 2


def test_dataclasses_in_payloads_keep_properties_and_lose_credentials(journal: Journal) -> None:
    journal.finish_run(RUN, "completed", {"legs": [_Costed(Decimal("1.50"))]})
    record = journal.get_run(RUN)
    assert record is not None and record.report == {
        "legs": [{"qty": "1.50", "api_key": "[redacted]", "double": "3.00"}]
    }


# --------------------------------------------------------------------------- resuming, recovery


def test_an_unfinished_run_is_reopened_and_a_completed_one_is_not(journal: Journal) -> None:
    journal.finish_run(RUN, "interrupted")
    before = journal.reopen_run(RUN)
    assert before.status is RunStatus.INTERRUPTED
    run = journal.get_run(RUN)
    assert run is not None and run.status is RunStatus.RUNNING and run.finished_at is None
    journal.finish_run(RUN, "completed", {"done": True})
    with pytest.raises(JournalError, match="nothing to resume"):
        journal.reopen_run(RUN)
    with pytest.raises(JournalError, match="not in the journal"):
        journal.reopen_run("never-ran")


def test_a_live_lock_is_told_apart_from_a_dead_or_stale_one(
    journal: Journal, clock: FakeClock
) -> None:
    host = socket.gethostname()
    name = run_lock_name(RUN)
    assert name == f"run {RUN}"
    assert journal.live_lock(name) is None
    journal.acquire_lock(name, LockOwner(os.getpid(), host, "me"))
    held = journal.live_lock(name)
    assert held is not None and held.owner.token == "me"
    clock.advance(121)
    assert journal.live_lock(name) is None  # heartbeat too old
    journal.acquire_lock("run other", LockOwner(dead_pid(), host, "gone"))
    assert journal.live_lock("run other") is None  # its process is gone


def test_a_real_fill_after_a_recovered_cumulative_one_is_not_counted_twice(
    journal: Journal,
) -> None:
    # A broker that cannot list executions: reconciliation recorded the 30 shares it
    # reported as one recovered fill. The real executions' events then turn up late.
    request = limit_order(qty="50")
    coid = request.client_order_id
    journal.record_order_pending(request, RUN, 0, 1)
    journal.record_event(update(coid, OrderStatus.CANCELED, "30", "51.00"))
    recovered = fill(f"recovered-{coid}-30", coid, "30", "51.00")
    assert journal.record_fill(recovered) is True
    journal.record_event(update(coid, OrderStatus.PARTIALLY_FILLED, "10", "51.00"))
    assert journal.record_fill(fill("exec-1", coid, "10", "51.00")) is False
    assert journal.record_fill(fill("exec-2", coid, "20", "51.00")) is False
    assert sum(f.qty for f in journal.fills(client_order_id=coid)) == Decimal(30)
    # fills beyond what the broker reported when it was recovered still count
    journal.record_event(update(coid, OrderStatus.FILLED, "35", "51.00"))
    assert journal.record_fill(fill("exec-3", coid, "5", "51.00")) is True
    assert sum(f.qty for f in journal.fills(client_order_id=coid)) == Decimal(35)


def test_a_killed_but_unreaped_owner_counts_as_dead(journal: Journal) -> None:
    # A scheduler that has not yet collected its killed child must not block the rerun.
    proc = subprocess.Popen(["sleep", "30"])
    try:
        owner = LockOwner(proc.pid, socket.gethostname(), "child")
        journal.acquire_lock("run z", owner)
        assert journal.live_lock("run z") is not None
        proc.kill()
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while journal.live_lock("run z") is not None:  # until the kernel marks it a zombie
            assert datetime.now(UTC) < deadline, "the killed process never became a zombie"
        journal.acquire_lock("run z", LockOwner.current())
    finally:
        proc.kill()
        proc.wait()


def test_a_lock_says_what_its_holder_is_doing(journal: Journal) -> None:
    host = socket.gethostname()
    holder = LockOwner(os.getpid(), host, "first")
    journal.acquire_lock("account sim paper", holder, purpose="order buy 300 SOXL (starting)")
    journal.describe_lock("account sim paper", holder, "order run r-1 (buy 300 SOXL)")
    journal.describe_lock("account sim paper", LockOwner(os.getpid(), host, "x"), "not mine")
    with pytest.raises(LockHeldError) as refused:
        journal.acquire_lock("account sim paper", LockOwner(os.getpid(), host, "second"))
    assert refused.value.holder.purpose == "order run r-1 (buy 300 SOXL)"
    assert "(order run r-1 (buy 300 SOXL)) since" in str(refused.value)
    journal.acquire_lock("account sim paper", holder)  # renewing keeps the purpose
    lock = journal.get_lock("account sim paper")
    assert lock is not None and lock.purpose == "order run r-1 (buy 300 SOXL)"


def test_a_version_2_journal_gains_the_locks_purpose(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    raw = sqlite3.connect(path)
    raw.executescript(
        """
        CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
        INSERT INTO schema_version VALUES (2, '2026-01-01T00:00:00+00:00');
        CREATE TABLE locks (name TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL,
            token TEXT NOT NULL, acquired_at TEXT NOT NULL, heartbeat_at TEXT NOT NULL);
        INSERT INTO locks VALUES ('run old', 1, 'elsewhere', 't',
            '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00');
        """
    )
    raw.close()
    with Journal.open(path) as j:
        lock = j.get_lock("run old")
        assert lock is not None and lock.purpose is None
        versions = j._conn.execute("SELECT version FROM schema_version ORDER BY version")
        assert [v for (v,) in versions] == [2, 4]


def test_a_run_belongs_to_its_account_and_older_runs_to_their_kind() -> None:
    from better_orders.store.records import RunRecord, RunStatus

    def run(broker: str) -> RunRecord:
        return RunRecord(
            "r", "order", {}, "h", broker, RunStatus.RUNNING, datetime.now(UTC), None, None
        )

    assert run("alpaca-paper PA1").traded_on("alpaca-paper PA1")
    assert not run("alpaca-paper PA1").traded_on("alpaca-paper PA2")
    assert not run("alpaca-paper PA1").traded_on("alpaca-paper")
    assert run("alpaca-paper").traded_on("alpaca-paper PA2")  # journalled before numbers
    assert not run("alpaca-paper").traded_on("alpaca-live PA2")
    assert not run("alpaca-paper").traded_on("alpaca-paperx")
    assert not run("sim").traded_on("alpaca-paper PA1") and run("sim").traded_on("sim")
