"""The journal locks a run holds while it works: one writer per account, per run, per parameters.

A run first takes its account's lock (``take_account``): any two runs that could trade
the same account are serialised through it, the later one refused with a line naming
the running one, or (``wait``) queued behind it. Then it takes the lock of its
parameters and of the run itself, renews them all while it works, and releases them
when it ends, however it ends.

Renewal runs on the wall clock, in a thread with its own connection to the journal
(``LockKeeper``), so a busy event loop or a slowed-down simulator never lets a live run's
lock look stale (the journal lets another process take over a lock whose heartbeat is
older than two minutes); the running task also renews them on its own clock
(``kept_alive``). If a lock is taken over anyway, another process now owns the run:
the work is cancelled and the reason kept in ``lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from better_orders.core.errors import JournalError
from better_orders.store.journal import Journal
from better_orders.store.locks import (
    LockHeldError,
    LockLostError,
    LockOwner,
    LockTable,
    account_lock_name,
)
from better_orders.venues.tasks import StopHandle, cancel_and_wait

log = logging.getLogger(__name__)

#: How often a running run renews its locks (the journal takes over locks after 120 s).
HEARTBEAT = timedelta(seconds=15)
#: How often a run waiting for its account asks again.
WAIT_POLL_SECONDS = 0.2


class RunLocks:
    """The locks one process holds in one journal, in the order they were taken."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._owner = LockOwner.current()
        self.held: list[str] = []
        #: Why the run lost a lock (another process took it over), once it did.
        self.lost: list[str] = []
        self._keeper: LockKeeper | None = None
        self._on_lost: Callable[[], None] | None = None

    def take(self, name: str, purpose: str | None = None) -> None:
        """Acquire ``name`` (``LockHeldError`` if a live process holds it)."""
        self._journal.acquire_lock(name, self._owner, purpose=purpose)
        self.held.append(name)
        if self._keeper is None and str(self._journal.path) != ":memory:":
            self._keeper = LockKeeper(
                self._journal.path, self._owner, lambda: tuple(self.held), self.lose
            )
            self._keeper.start()

    def take_account(
        self, account: str, purpose: str, *, wait: bool = False, stop: StopHandle | None = None
    ) -> None:
        """Become the one writer of ``account``: refused while a live run holds it, unless
        ``wait``, which queues behind it (until it ends, or its process dies, or ``stop``)."""
        name = account_lock_name(account)
        while True:
            if stop is not None and stop.stopped:
                raise asyncio.CancelledError(f"stopped while waiting for {name}")
            try:
                self.take(name, purpose)
                return
            except LockHeldError as exc:
                if not wait:
                    raise LockHeldError(busy_message(name, exc), exc.holder) from None
            time.sleep(WAIT_POLL_SECONDS)

    def describe(self, purpose: str) -> None:
        """Say what this process is doing in every lock it holds (e.g. its run, once chosen)."""
        for name in self.held:
            self._journal.describe_lock(name, self._owner, purpose)

    def check(self) -> None:
        """``JournalError`` if a lock was taken over: this process must stop acting."""
        if self.lost:
            raise JournalError(self.lost[0])

    def release_all(self) -> None:
        """Release every lock taken; safe in a ``finally`` and safe to call twice.

        Never raises: in a ``finally`` an error here would replace the one (or the stop
        request) on its way out. A lock the journal cannot release now (busy past its
        timeout) is logged and expires unrenewed.
        """
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.stop()
        held, self.held = self.held, []
        for name in held:
            try:
                self._journal.release_lock(name, self._owner)
            except JournalError as exc:
                log.warning("lock %s not released (it expires unrenewed): %s", name, exc)

    @contextlib.asynccontextmanager
    async def kept_alive(self, clock: Any) -> AsyncIterator[None]:
        """Renew the held locks while the body runs; losing one cancels the body's task."""
        main = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if main is not None:

            def on_lost() -> None:
                with contextlib.suppress(RuntimeError):  # the loop already ended
                    loop.call_soon_threadsafe(main.cancel)

            self._on_lost = on_lost
        beat = asyncio.create_task(self._heartbeat(clock, main))
        try:
            yield
        finally:
            self._on_lost = None
            await cancel_and_wait(beat, report=True)

    def lose(self, reason: str) -> None:
        """A lock was taken over: remember why, and stop the work if it is running."""
        self.lost.append(reason)
        on_lost = self._on_lost
        if on_lost is not None:
            on_lost()

    async def _heartbeat(self, clock: Any, main: asyncio.Task[Any] | None) -> None:
        while True:
            await clock.sleep_until(clock.now() + HEARTBEAT)
            try:
                for name in self.held:
                    self._journal.heartbeat(name, self._owner)
            except LockLostError as exc:
                self.lost.append(str(exc))
                if main is not None:
                    main.cancel()
                return
            except JournalError:
                continue  # busy for now: the wall-clock keeper renews them meanwhile


def busy_message(name: str, refused: LockHeldError) -> str:
    """One line naming who holds the account: run and command, process, host, since when."""
    holder = refused.holder
    doing = holder.purpose or "another run"
    since = holder.acquired_at.isoformat(timespec="seconds")
    return (
        f"{name} is in use by {doing} in {holder.owner} since {since}; not started "
        "(one run at a time per account: add --wait to queue behind it)"
    )


class LockKeeper(threading.Thread):
    """Renews the locks ``held()`` names every ``HEARTBEAT`` of wall time, on its own
    connection; tells ``lost`` why when one was taken over, and stops."""

    def __init__(
        self,
        path: Path,
        owner: LockOwner,
        held: Callable[[], tuple[str, ...]],
        lost: Callable[[str], None],
    ) -> None:
        super().__init__(name="better-orders-lock-keeper", daemon=True)
        self._path = path
        self._owner = owner
        self._held = held
        self._lost = lost
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()
        if self is not threading.current_thread():
            self.join(timeout=HEARTBEAT.total_seconds())

    def run(self) -> None:
        try:
            table = LockTable.open(self._path)
        except JournalError:
            return  # the run's own heartbeat still renews the locks
        try:
            while not self._stopped.wait(HEARTBEAT.total_seconds()):
                for name in self._held():
                    try:
                        table.heartbeat(name, self._owner)
                    except LockLostError as exc:
                        if not self._stopped.is_set():
                            self._lost(str(exc))
                        return
                    except JournalError:
                        pass  # busy for now: the next beat tries again, well within the limit
        finally:
            table.close()
