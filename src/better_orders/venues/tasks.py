"""Stopping tasks: a helper without losing a stop request meant for its owner, and a run
working on another thread's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
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


class StopHandle:
    """A request to stop a run that works on another thread, on that thread's event loop.

    The run attaches its main task (``attach``, on its loop); ``stop()``, from any thread,
    cancels it there, at once or as soon as it attaches. Before that, a wait of the run's
    (for its account's lock) asks ``stopped``.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._stopped = False
        self._target: tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]] | None = None

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        with self._guard:
            self._stopped = True
            target = self._target
        if target is not None:
            loop, task = target
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(task.cancel)

    def attach(self, task: asyncio.Task[Any]) -> None:
        """Called on the run's loop, by its main task."""
        with self._guard:
            self._target = (task.get_loop(), task)
            stopped = self._stopped
        if stopped:
            task.cancel()

    def detach(self) -> None:
        with self._guard:
            self._target = None
