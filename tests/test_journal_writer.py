"""The journal's writer thread: writes in order, grouped commits, errors to their caller only."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from better_orders.core.errors import JournalError
from better_orders.core.model import OrderRequest, OrderType, Side
from better_orders.store.journal import Journal
from better_orders.store.writer import JournalWriter
from better_orders.venues.sim.clock import SimClock, run_virtual
from cancelling import stops_when_cancelled

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=ZoneInfo("America/New_York"))


def request(attempt: int) -> OrderRequest:
    return OrderRequest(f"bo-r1-1-{attempt}", "TQQQ", Side.BUY, D(10), OrderType.LIMIT, D("50.01"))


def test_writes_run_off_the_loop_in_order_and_queued_ones_share_a_commit(tmp_path: Path) -> None:
    threads: set[str] = set()

    async def main() -> tuple[list[int], int, int]:
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            journal.start_run("r1", "order", {}, "sim")
            writer = JournalWriter(journal)

            def pending(attempt: int) -> int:
                threads.add(threading.current_thread().name)
                journal.record_order_pending(request(attempt), "r1", 1, attempt)
                return attempt

            done = await asyncio.gather(*(writer.call(pending, i) for i in range(1, 41)))
            await writer.close()
            order = [o.attempt for o in journal.orders(run_id="r1")]
            assert order == list(range(1, 41))
            return done, writer.writes, writer.commits

    done, writes, commits = asyncio.run(main())
    assert done == list(range(1, 41))
    assert writes == 40 and commits < 40  # writes queued meanwhile were committed together
    assert threads and threading.main_thread().name not in threads


def test_a_failing_write_fails_its_caller_and_no_other(tmp_path: Path) -> None:
    async def main() -> list[object]:
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            journal.start_run("r1", "order", {}, "sim")
            writer = JournalWriter(journal)
            record = journal.record_order_pending
            calls = [
                writer.call(record, request(1), "r1", 1, 1),
                writer.call(record, request(1), "r1", 1, 1),  # the same order twice
                writer.call(record, request(2), "r1", 1, 2),
            ]
            results = await asyncio.gather(*calls, return_exceptions=True)
            await writer.close()
            assert [o.attempt for o in journal.orders(run_id="r1")] == [1, 2]
            return results

    first, twice, other = asyncio.run(main())
    assert first is None and other is None
    assert isinstance(twice, JournalError) and "refusing to send it twice" in str(twice)


def test_on_virtual_time_a_write_takes_no_time_and_keeps_its_place(tmp_path: Path) -> None:
    async def main() -> tuple[timedelta, list[str]]:
        clock = SimClock(T0)
        seen: list[str] = []
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            journal.start_run("r1", "order", {}, "sim")
            writer = JournalWriter(journal)

            def slow_write() -> None:
                time.sleep(0.2)  # a slow sync to disk
                journal.record_order_pending(request(1), "r1", 1, 1)
                seen.append("written")

            async def ticker() -> None:  # due long before the write ends, in wall time
                await clock.sleep_until(clock.now() + timedelta(milliseconds=1))
                seen.append("timer")

            tick = asyncio.create_task(ticker())
            await writer.call(slow_write)
            elapsed = clock.now() - T0
            await tick
            await writer.close()
            return elapsed, seen

    elapsed, seen = run_virtual(main(), start=T0)
    assert elapsed == timedelta(0)  # the write took no simulated time
    assert seen == ["written", "timer"]  # whatever the disk's speed, the same order


@pytest.mark.parametrize("fails", ["write", "commit"])
def test_a_commit_that_fails_fails_every_write_of_its_group(fails: str, tmp_path: Path) -> None:
    class Broken:
        def __init__(self) -> None:
            self.done: list[int] = []

        def transaction(self) -> object:
            import contextlib

            @contextlib.contextmanager
            def block() -> object:
                yield
                if fails == "commit":
                    raise JournalError("cannot write to journal x: disk full")

            return block()

    async def main() -> list[object]:
        journal = Broken()
        writer = JournalWriter(journal)

        def write(n: int) -> int:
            if fails == "write" and n == 2:
                raise JournalError("disk full")
            return n

        results = await asyncio.gather(
            *(writer.call(write, n) for n in (1, 2, 3)), return_exceptions=True
        )
        await writer.close()
        return results

    results = asyncio.run(main())
    if fails == "commit":
        assert all(isinstance(r, JournalError) for r in results)
    else:
        assert results[0] == 1 and isinstance(results[1], JournalError) and results[2] == 3


def test_the_journal_may_be_used_from_the_loop_while_the_writer_writes(tmp_path: Path) -> None:
    async def main() -> int:
        with Journal.open(tmp_path / "j.sqlite3") as journal:
            journal.start_run("r1", "order", {}, "sim")
            writer = JournalWriter(journal)
            writes = [
                writer.call(journal.record_order_pending, request(i), "r1", 1, i)
                for i in range(1, 21)
            ]
            gathered = asyncio.gather(*writes)
            await asyncio.sleep(0)  # the writer thread is at work
            for leg in range(1, 6):  # meanwhile, on the loop's thread
                journal.record_intent("r1", leg, "TQQQ", Side.BUY, D(10))
            await gathered
            await writer.close()
            return len(journal.orders(run_id="r1")) + len(journal.intents("r1"))

    assert asyncio.run(main()) == 25


def test_closing_while_a_write_runs_lets_a_stop_request_through() -> None:
    # Ctrl-C (or SIGTERM) as a run closes its journal with a write still on the thread:
    # swallowed there, a rebalance stopped as its sells ended would go on to its buys.
    class Slow:
        def write(self) -> None:
            time.sleep(0.3)

    steps: list[str] = []

    async def run() -> None:
        writer = JournalWriter(Slow())
        write = asyncio.create_task(writer.call(writer.journal.write))
        await asyncio.sleep(0.05)
        write.cancel()
        await asyncio.gather(write, return_exceptions=True)
        await writer.close()
        steps.append("went on after close")

    assert asyncio.run(stops_when_cancelled(run(), after=0.1)) is True
    assert steps == []


def test_closing_with_nothing_to_cancel_waits_for_the_writes() -> None:
    done: list[int] = []

    class Slow:
        def write(self) -> None:
            time.sleep(0.1)
            done.append(1)

    async def main() -> None:
        writer = JournalWriter(Slow())
        write = asyncio.create_task(writer.call(writer.journal.write))
        await asyncio.sleep(0.01)
        await writer.close()
        await write

    asyncio.run(main())
    assert done == [1]
