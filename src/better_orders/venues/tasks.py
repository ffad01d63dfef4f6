"""Stopping a helper task without losing a stop request meant for the task that stops it."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Future[Any], *, report: bool = False) -> None:
    """Cancel ``task`` and wait until it has ended.

    ``task.cancel(); with suppress(CancelledError): await task`` also swallows a cancel
    of the caller that lands while it waits (Ctrl-C, SIGTERM, a lost lock): the caller
    then carries on as if never asked to stop. ``asyncio.wait`` raises neither the
    task's own cancellation nor its failure, and lets the caller's cancel through.
    With ``report`` the task's failure (other than its cancellation) is raised here;
    without, it counts as reported where it happened.
    """
    task.cancel()
    await asyncio.wait({task})
    if report and not task.cancelled():
        failure = task.exception()
        if failure is not None:
            raise failure
