"""The journal locks a run holds while it works: one writer per run and per set of parameters.

A run takes its locks one by one, renews them every ``HEARTBEAT`` while it works
(the journal lets another process take over a lock whose heartbeat is older than
two minutes), and releases them when it ends, however it ends. If a lock is taken
over anyway, another process now owns the run: the work is cancelled and the
reason kept in ``lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from better_orders.core.errors import JournalError
from better_orders.store.journal import Journal
from better_orders.store.locks import LockOwner

#: How often a running run renews its locks (the journal takes over locks after 120 s).
HEARTBEAT = timedelta(seconds=15)


class RunLocks:
    """The locks one process holds in one journal, in the order they were taken."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._owner = LockOwner.current()
        self.held: list[str] = []
        #: Why the run lost a lock (another process took it over), once it did.
        self.lost: list[str] = []

    def take(self, name: str) -> None:
        """Acquire ``name`` (``JournalError`` if a live process holds it)."""
        self._journal.acquire_lock(name, self._owner)
        self.held.append(name)

    def release_all(self) -> None:
        """Release every lock taken; safe in a ``finally``."""
        for name in self.held:
            self._journal.release_lock(name, self._owner)

    @contextlib.asynccontextmanager
    async def kept_alive(self, clock: Any) -> AsyncIterator[None]:
        """Renew the held locks while the body runs; losing one cancels the body's task."""
        beat = asyncio.create_task(self._heartbeat(clock, asyncio.current_task()))
        try:
            yield
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _heartbeat(self, clock: Any, main: asyncio.Task[Any] | None) -> None:
        while True:
            await clock.sleep_until(clock.now() + HEARTBEAT)
            try:
                for name in self.held:
                    self._journal.heartbeat(name, self._owner)
            except JournalError as exc:
                self.lost.append(str(exc))
                if main is not None:
                    main.cancel()
                return
