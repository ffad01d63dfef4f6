"""The async API: the run works in a thread, and cancelling the await stops it there."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from better_orders.api import place_better_order, place_better_order_async
from better_orders.engine.run_locks import RunLocks
from better_orders.store.journal import Journal
from better_orders.store.records import RunStatus

AT = datetime(2026, 11, 24, 9, 30, tzinfo=ZoneInfo("America/New_York"))


def test_the_async_form_trades_as_the_sync_one(tmp_path: Path) -> None:
    sync = place_better_order("SPY", 10, "buy", at=AT, db=tmp_path / "a.sqlite3")
    report = asyncio.run(
        place_better_order_async("SPY", 10, "buy", at=AT, db=tmp_path / "b.sqlite3")
    )
    assert report.filled_qty == sync.filled_qty == Decimal(10)
    assert report.avg_fill_price == sync.avg_fill_price


def test_giving_up_while_queued_for_the_account_sends_nothing_later(tmp_path: Path) -> None:
    db = tmp_path / "j.sqlite3"
    with Journal.open(db) as holder:
        other = RunLocks(holder)
        other.take_account("sim paper", "another run")
        # The other run ends 3 s on: a run still queued behind it would trade then.
        freed = threading.Timer(3.0, other.release_all)
        freed.start()

        async def main() -> None:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await place_better_order_async("SPY", 10, "buy", at=AT, db=db, wait=True)

        began = time.monotonic()
        asyncio.run(main())
        returned = time.monotonic() - began
        freed.join()
    time.sleep(1.0)
    assert returned < 2.5  # the caller is not held until the account frees
    with Journal.open(db) as journal:
        assert journal.orders() == [] and journal.latest_run() is None


def test_cancelling_the_await_stops_the_run_as_ctrl_c_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Paced: SOXL's 90 s wait for its spread at the open takes 4.5 s of wall time.
    monkeypatch.setenv("BETTER_ORDERS_SIM_PACE", "0.05")
    db = tmp_path / "j.sqlite3"

    async def main() -> float:
        task = asyncio.create_task(place_better_order_async("SOXL", 300, "buy", at=AT, db=db))
        await asyncio.sleep(1.0)
        began = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - began

    assert asyncio.run(main()) < 3
    with Journal.open(db) as journal:
        run = journal.latest_run()
        assert run is not None and run.status is RunStatus.INTERRUPTED
        assert sum(f.qty for f in journal.fills()) < 300
