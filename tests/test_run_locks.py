"""A run's locks: renewed on the wall clock whatever the loop does, waited for, lost loudly."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from better_orders.engine import run_locks
from better_orders.engine.run_locks import RunLocks
from better_orders.store.journal import Journal
from better_orders.store.locks import LockHeldError, LockOwner
from better_orders.venues.clock import WallClock

ACCOUNT = "account sim paper"


@pytest.fixture(autouse=True)
def quick_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_locks, "HEARTBEAT", timedelta(milliseconds=50))


def test_held_locks_are_renewed_while_nothing_else_runs(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as journal:
        locks = RunLocks(journal)
        locks.take_account("sim paper", "order buy 1 SPY")
        lock = journal.get_lock(ACCOUNT)
        assert lock is not None and lock.purpose == "order buy 1 SPY"
        time.sleep(0.3)  # a blocked event loop: only the keeper thread can renew the lock
        renewed = journal.get_lock(ACCOUNT)
        assert renewed is not None and renewed.heartbeat_at > lock.heartbeat_at
        locks.release_all()
        locks.release_all()  # twice is harmless
        assert journal.get_lock(ACCOUNT) is None


def test_a_run_whose_lock_is_taken_over_is_cancelled_from_the_keeper(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"

    async def work(journal: Journal, locks: RunLocks) -> None:
        # the loop's own heartbeat is far away: only the wall-clock keeper can notice
        async with locks.kept_alive(WallClock()):
            journal._conn.execute("UPDATE locks SET token = 'successor' WHERE name = ?", (ACCOUNT,))
            await asyncio.sleep(30)

    with Journal.open(db) as journal:
        locks = RunLocks(journal)
        locks.take_account("sim paper", "rebalance SPY=1")
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(work(journal, locks))
        assert time.monotonic() - started < 10
        assert locks.lost and "no longer held" in locks.lost[0]
        locks.release_all()
        lock = journal.get_lock(ACCOUNT)  # the successor's lock is left alone
        assert lock is not None and lock.owner.token == "successor"


def test_wait_queues_behind_the_holder_until_it_releases(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    other = LockOwner(os.getppid(), socket.gethostname(), "other")
    with Journal.open(db) as journal:
        journal.acquire_lock(ACCOUNT, other, purpose="order run r-1 (buy 1 SPY)")
        locks = RunLocks(journal)
        with pytest.raises(LockHeldError, match=r"in use by order run r-1 \(buy 1 SPY\)"):
            locks.take_account("sim paper", "reconcile")
        assert locks.held == []

        def release_soon() -> None:
            time.sleep(0.3)
            with Journal.open(db) as mine:
                mine.release_lock(ACCOUNT, other)

        threading.Thread(target=release_soon).start()
        started = time.monotonic()
        locks.take_account("sim paper", "reconcile", wait=True)
        assert time.monotonic() - started >= 0.25
        lock = journal.get_lock(ACCOUNT)
        assert lock is not None and lock.purpose == "reconcile"
        locks.release_all()


def test_releasing_never_raises_a_lock_the_journal_cannot_release_expires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # In a finally, an error here would replace the stop or the failure on its way out.
    from better_orders.core.errors import JournalError

    with Journal.open(tmp_path / "j.sqlite3") as journal:
        locks = RunLocks(journal)
        locks.take_account("sim paper", "order buy 1 SPY")
        locks.take("order params abc", "order buy 1 SPY")

        def busy(name: str, owner: LockOwner) -> None:
            raise JournalError("journal is busy: another process held it for 10 s")

        real = journal.release_lock
        monkeypatch.setattr(journal, "release_lock", busy)
        locks.release_all()
        assert locks.held == []
        assert sum("not released" in r.getMessage() for r in caplog.records) == 2
        monkeypatch.setattr(journal, "release_lock", real)
        assert journal.get_lock(ACCOUNT) is not None  # left to expire unrenewed
