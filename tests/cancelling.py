"""Cancelling a task as Ctrl-C cancels a command's main task, for the tests of stop requests."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def stops_when_cancelled(work: Coroutine[Any, Any, Any], after: float) -> bool:
    """Run ``work``, cancel it ``after`` seconds on; whether it ended cancelled (True) rather
    than carrying on to its end (False)."""
    task = asyncio.create_task(work)
    await asyncio.sleep(after)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False
