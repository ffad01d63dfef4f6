"""The journal's writes on a thread of their own, so the event loop never waits on the disk.

Rules of this file:

* **The caller still waits for its write.** ``await writer.call(journal.method, ...)``
  returns once the write is committed (or raises its error), so "journalled before
  it is sent" holds; only the event loop is free meanwhile, for the other ladders.
* **Writes keep their order.** One thread runs them, first come first served.
* **Group commit.** Writes that queue up while one commits are committed together, in
  one transaction (each in a savepoint of its own, so one failing write does not undo
  the others): one sync of the disk for many writes.
* **Simulations stay reproducible.** The work is handed over with the loop's
  ``run_in_executor``, which the simulator's virtual-time loop runs at once on its
  own thread: there, a write takes no simulated time and events keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, TypeVar

T = TypeVar("T")

_Write = tuple[Callable[[], Any], asyncio.Future[Any]]


class JournalWriter:
    """Runs a journal's calls on one worker thread; see the module docstring.

    ``journal`` is any object; if it has ``transaction()`` (``Journal`` does), queued
    writes are grouped into one commit.
    """

    def __init__(self, journal: Any, *, name: str = "journal-writer") -> None:
        self.journal = journal
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._guard = threading.Lock()
        self._queue: list[_Write] = []
        self._draining = False
        self._job: asyncio.Future[None] | None = None
        #: How many commits the writes took (fewer than writes when they were grouped).
        self.commits = 0
        self.writes = 0

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the writer thread; its result once committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        with self._guard:
            self._queue.append((functools.partial(fn, *args, **kwargs), done))
            start, self._draining = not self._draining, True
        if start:
            self._job = loop.run_in_executor(self._executor, self._drain, loop)
        return await done

    async def close(self) -> None:
        """Wait for the queued writes, then stop the thread.

        A cancel of the caller (Ctrl-C, SIGTERM, a lost lock) goes on up: swallowed here, a
        rebalance stopped as its sells ended would go on to its buys. The writes already
        queued are still committed by the thread.
        """
        job = self._job
        try:
            if job is not None:
                await asyncio.shield(job)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
        finally:
            self._executor.shutdown(wait=False)

    # -- the writer thread ------------------------------------------------------------------

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._guard:
                batch, self._queue = self._queue, []
                if not batch:
                    self._draining = False
                    return
            # One wake-up of the loop for the whole batch.
            loop.call_soon_threadsafe(_settle_all, self._commit(batch))

    def _commit(
        self, batch: list[_Write]
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            with self._group():
                for write, done in batch:
                    try:
                        outcomes.append((done, write(), None))
                    except Exception as exc:  # that write's own error, for its caller
                        outcomes.append((done, None, exc))
        except Exception as exc:  # the commit failed: none of the batch is known written
            return [(done, None, exc) for _, done in batch]
        self.commits += 1
        self.writes += len(batch)
        return outcomes

    def _group(self) -> AbstractContextManager[None]:
        transaction = getattr(self.journal, "transaction", None)
        return transaction() if transaction is not None else _nothing()


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


def _settle_all(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for done, value, error in outcomes:
        if done.done():  # its caller gave up waiting
            continue
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(value)
