"""Virtual time: sleeps cost no wall time, timers keep their order, the clocks agree."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from better_orders.core.errors import InvalidInputError
from better_orders.venues.base import Clock
from better_orders.venues.clock import WallClock
from better_orders.venues.sim.clock import SimClock, VirtualTimeLoop, run_virtual

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def test_base_event_loop_internals_the_virtual_loop_relies_on() -> None:
    """If this fails, a new Python changed what ``VirtualTimeLoop`` overrides."""
    loop = asyncio.SelectorEventLoop()
    try:
        assert callable(getattr(asyncio.BaseEventLoop, "_run_once", None))
        assert callable(getattr(loop, "_check_closed", None))
        internals = vars(loop)
        assert {"_ready", "_scheduled", "_stopping", "_timer_cancelled_count"} <= set(internals)
        handle = loop.call_at(loop.time() + 10, lambda: None)
        assert internals["_scheduled"] == [handle]
        assert handle._when == handle.when()  # type: ignore[attr-defined]
        assert handle._scheduled is True  # type: ignore[attr-defined]
        handle.cancel()
        assert handle._cancelled is True  # type: ignore[attr-defined]
        assert internals["_timer_cancelled_count"] == 1
        assert hasattr(handle, "_source_traceback")
    finally:
        loop.close()


def test_an_hour_of_sleep_costs_no_wall_time() -> None:
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        await asyncio.sleep(3600)
        return before, loop.time()

    wall = time.monotonic()
    before, after = run_virtual(main(), START)
    assert after - before == 3600
    assert time.monotonic() - wall < 2.0  # a real sleep would take an hour


def test_concurrent_timers_fire_in_deadline_order_then_creation_order() -> None:
    fired: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        fired.append((name, asyncio.get_running_loop().time()))

    async def main() -> None:
        await asyncio.gather(
            sleeper("c", 3.0),
            sleeper("a", 1.0),
            sleeper("b1", 2.0),
            sleeper("b2", 2.0),
            sleeper("b3", 2.0),
            sleeper("d", 90.0),
        )

    run_virtual(main())
    assert fired == [("a", 1.0), ("b1", 2.0), ("b2", 2.0), ("b3", 2.0), ("c", 3.0), ("d", 90.0)]


def test_wait_for_times_out_in_virtual_time() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        never: asyncio.Future[None] = loop.create_future()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(never, timeout=2.5)
        return loop.time() - start

    assert run_virtual(main()) == 2.5


def test_call_at_runs_at_its_virtual_instant_and_cancelled_timers_do_not_move_time() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        seen: list[float] = []
        done = loop.create_future()
        loop.call_at(loop.time() + 7.25, lambda: seen.append(loop.time()))
        loop.call_at(loop.time() + 8, done.set_result, None)
        far = loop.call_later(100, lambda: seen.append(-1.0))
        await done
        far.cancel()
        await asyncio.sleep(1)
        seen.append(loop.time())
        return seen

    assert run_virtual(main()) == [7.25, 9.0]


def test_sim_clock_reads_start_plus_virtual_elapsed() -> None:
    async def main() -> list[datetime]:
        clock = SimClock(START)
        assert isinstance(clock, Clock)
        seen = [clock.now()]
        await asyncio.sleep(1.5)
        seen.append(clock.now())
        await clock.sleep_until(START + timedelta(minutes=90, microseconds=7))
        seen.append(clock.now())
        await clock.sleep_until(START)  # in the past: returns at once
        seen.append(clock.now())
        return seen

    assert run_virtual(main(), START) == [
        START,
        START + timedelta(seconds=1.5),
        START + timedelta(minutes=90, microseconds=7),
        START + timedelta(minutes=90, microseconds=7),
    ]


def test_sim_clock_created_outside_the_loop_binds_on_first_use() -> None:
    clock = SimClock(START)
    assert clock.now() == START

    async def main() -> datetime:
        await asyncio.sleep(10)  # before the clock is first used inside the loop
        assert clock.now() == START
        await clock.sleep_until(START + timedelta(seconds=30))
        return clock.now()

    assert run_virtual(main()) == START + timedelta(seconds=30)

    async def later() -> datetime:
        await asyncio.sleep(5)
        return clock.now()

    # A second run continues from where the first one left the clock.
    assert run_virtual(later()) == START + timedelta(seconds=30)


def test_virtual_loop_is_a_selector_loop_and_remembers_its_start() -> None:
    loop = VirtualTimeLoop(START)
    try:
        assert isinstance(loop, asyncio.SelectorEventLoop)
        assert loop.start == START and loop.time() == 0.0
        assert loop.run_until_complete(asyncio.sleep(12, result="ok")) == "ok"
        assert loop.time() == 12.0
    finally:
        loop.close()


def test_naive_start_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="time zone"):
        SimClock(datetime(2026, 3, 2, 9, 30))


def test_wall_clock_is_aware_utc_and_does_not_sleep_for_the_past() -> None:
    clock = WallClock()
    assert isinstance(clock, Clock)
    now = clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)

    async def main() -> None:
        await clock.sleep_until(now - timedelta(hours=1))

    wall = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - wall < 1.0
