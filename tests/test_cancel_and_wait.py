"""Stopping a helper task: its end is waited for, and a stop request meant for the caller
is never swallowed on the way."""

from __future__ import annotations

import asyncio

import pytest

from better_orders.venues.tasks import cancel_and_wait
from cancelling import stops_when_cancelled


async def slow_to_stop(stopped: list[str]) -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        await asyncio.sleep(0.05)  # cleaning up takes a moment
        stopped.append("helper")
        raise


def test_the_callers_cancel_goes_through_while_the_helper_stops() -> None:
    stopped: list[str] = []

    async def owner() -> None:
        helper = asyncio.create_task(slow_to_stop(stopped))
        await asyncio.sleep(0)
        await cancel_and_wait(helper)
        stopped.append("owner went on")

    # Cancelled (as by Ctrl-C) while the owner waits for its helper.
    assert asyncio.run(stops_when_cancelled(owner(), after=0.01)) is True
    assert "owner went on" not in stopped


def test_the_helpers_own_end_is_not_raised_and_its_failure_only_when_asked() -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("helper broke")

    async def main() -> None:
        stopped: list[str] = []
        helper = asyncio.create_task(slow_to_stop(stopped))
        await asyncio.sleep(0)
        await cancel_and_wait(helper, report=True)  # its cancellation is not an error
        assert helper.cancelled() and stopped == ["helper"]
        broken = asyncio.create_task(fails())
        await asyncio.sleep(0.01)
        await cancel_and_wait(broken)  # reported where it happened
        broken = asyncio.create_task(fails())
        await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match="helper broke"):
            await cancel_and_wait(broken, report=True)

    asyncio.run(main())
