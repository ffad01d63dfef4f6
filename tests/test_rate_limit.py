"""The one request budget: on the loop's clock, cancels first, new orders capped, server heard."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from better_orders.venues.rate_limit import Priority, RateLimiter
from better_orders.venues.sim.clock import SimClock, run_virtual

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=ZoneInfo("America/New_York"))


def test_waiting_cancels_go_before_waiting_new_orders() -> None:
    async def main() -> list[str]:
        clock = SimClock(T0)
        limiter = RateLimiter(clock, per_minute=60, burst=1)
        served: list[str] = []

        async def request(name: str, priority: Priority) -> None:
            await limiter.acquire(priority)
            served.append(name)

        await limiter.acquire()  # the bucket is empty now: everyone below waits
        tasks = [asyncio.create_task(request(f"submit{i}", Priority.SUBMIT)) for i in range(3)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(request("query", Priority.QUERY)))
        tasks.append(asyncio.create_task(request("cancel", Priority.CANCEL)))
        await asyncio.gather(*tasks)
        return served

    assert run_virtual(main(), start=T0) == ["cancel", "query", "submit0", "submit1", "submit2"]


def test_new_orders_are_capped_within_the_budget_but_cancels_are_not() -> None:
    async def main() -> tuple[list[float], list[float]]:
        clock = SimClock(T0)
        limiter = RateLimiter(clock, per_minute=600, burst=100, submits_per_minute=2)
        submits: list[float] = []
        cancels: list[float] = []
        for _ in range(3):
            await limiter.acquire(Priority.SUBMIT)
            submits.append((clock.now() - T0).total_seconds())
        for _ in range(3):
            await limiter.acquire(Priority.CANCEL)
            cancels.append((clock.now() - T0).total_seconds())
        return submits, cancels

    submits, cancels = run_virtual(main(), start=T0)
    assert submits == [0.0, 0.0, 60.0]  # the third new order waits for the trailing minute
    assert cancels == [60.0, 60.0, 60.0]  # cancels are never held by the order cap


def test_a_429_holds_every_request_and_the_reserve_is_kept_for_cancels() -> None:
    async def main() -> dict[str, float]:
        clock = SimClock(T0)
        limiter = RateLimiter(clock, per_minute=600, burst=100, reserve=2)
        at: dict[str, float] = {}
        limiter.back_off(1.5)
        await limiter.acquire(Priority.QUERY)
        at["after 429"] = (clock.now() - T0).total_seconds()
        # The server says 2 requests are left until its reset, 10 s from now.
        limiter.observe(limit=200, remaining=2, reset_in=10)
        await limiter.acquire(Priority.CANCEL)
        at["cancel"] = (clock.now() - T0).total_seconds()
        await limiter.acquire(Priority.SUBMIT)
        at["submit"] = (clock.now() - T0).total_seconds()
        return at

    at = run_virtual(main(), start=T0)
    assert at["after 429"] == 1.5
    assert at["cancel"] == 1.5  # a cancel may spend the reserve
    assert at["submit"] == 11.5  # a new order waits for the server's reset
    # nothing here cost wall time: the limiter waits on the loop's (virtual) clock


def test_a_prepaid_token_is_spent_by_the_same_task_only() -> None:
    async def main() -> tuple[float, float]:
        clock = SimClock(T0)
        limiter = RateLimiter(clock, per_minute=6, burst=1)
        await limiter.prepay()
        await limiter.acquire()  # the prepaid token: no wait
        mine = (clock.now() - T0).total_seconds()

        async def other() -> float:
            await limiter.acquire()
            return (clock.now() - T0).total_seconds()

        return mine, await asyncio.create_task(other())

    mine, other = run_virtual(main(), start=T0)
    assert mine == 0.0 and other == 10.0


def test_the_servers_reset_is_a_delay_never_longer_than_a_window() -> None:
    # A local exchange on a past clock (or a broker whose clock is days apart from this
    # machine's) must not hold requests back until its epoch comes round on the run's clock.
    import time

    import httpx

    from better_orders.venues.alpaca.http import _server_count

    async def main() -> float:
        clock = SimClock(T0)
        limiter = RateLimiter(clock, per_minute=600, burst=100, reserve=2)
        headers = httpx.Headers(
            {
                "X-RateLimit-Limit": "200",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time()) + 8 * 86_400),
            }
        )
        _server_count(limiter, headers)
        await limiter.acquire(Priority.SUBMIT)
        return (clock.now() - T0).total_seconds()

    assert 0 < run_virtual(main(), start=T0) <= 60
