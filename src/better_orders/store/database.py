"""One journal file: SQLite in write-ahead-log mode, its transactions, and its errors.

* **Every write is its own committed transaction** (or part of an explicit
  ``with journal.transaction():`` block), taken with ``BEGIN IMMEDIATE`` so that a
  read-check-write step is atomic even with two processes on one file.
* **Failures name the file.** Any SQLite error becomes a ``JournalError`` saying which
  journal failed and how (busy, unwritable, not on a local disk...).
* **One thread at a time.** The connection may be used from the event loop's thread
  and from the journal's writer thread (``writer``); a transaction or a read holds the
  file's lock for its whole length, so the two never interleave.

The wall clock is read only for bookkeeping columns (``recorded_at``, ``started_at``,
lock heartbeats), through the ``clock`` given at open.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from better_orders.core.errors import JournalError
from better_orders.store.encoding import ts_text
from better_orders.store.schema import create_or_migrate

#: How long a write waits for another process holding the file's write lock.
BUSY_TIMEOUT_SECONDS = 10.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Database:
    """An open journal file. Synchronous: every call is a short local transaction.

    Open it with ``open(path)``; use it as a context manager or ``close()`` it.
    ``clock`` (wall clock, UTC) stamps the bookkeeping columns and lock heartbeats;
    replace it only to test lock expiry.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Callable[[], datetime]) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock
        self._depth = 0
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        durable: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> Self:
        """Open (creating if needed) the journal at ``path``.

        ``durable=True`` syncs every commit to disk (``synchronous=FULL``): slower, but a
        power cut cannot lose the last transactions. The default (``NORMAL`` under WAL)
        survives a crash of the process, which is the failure that matters most.
        """
        target = Path(path)
        in_memory = str(path) == ":memory:"
        try:
            if not in_memory:
                target.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(target),
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open journal {target}: {exc}") from None
        conn.row_factory = sqlite3.Row
        db = cls(conn, target, clock or _utc_now)
        try:
            db._setup(durable=durable, in_memory=in_memory)
        except BaseException:
            conn.close()
            raise
        return db

    def _setup(self, *, durable: bool, in_memory: bool) -> None:
        with self._errors("open"):
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal" and not (in_memory and mode == "memory"):
                raise JournalError(
                    f"journal {self.path} cannot use write-ahead logging (mode is {mode}); "
                    "put it on a local disk"
                )
            self._conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        with self.transaction():
            create_or_migrate(self._conn, self.path, self._now)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one atomic commit; nested blocks become savepoints.

        The outermost block takes the file's write lock at once (``BEGIN IMMEDIATE``), so
        what it reads cannot be changed by another process before it commits. Do not
        ``await`` inside the block: other tasks sharing this journal would write into it.
        """
        with self._lock:
            outer = self._depth == 0
            savepoint = f"sp{self._depth}"
            with self._errors("write to"):
                self._conn.execute("BEGIN IMMEDIATE" if outer else f"SAVEPOINT {savepoint}")
            self._depth += 1
            try:
                with self._errors("write to"):
                    yield
                    self._conn.execute("COMMIT" if outer else f"RELEASE {savepoint}")
            except BaseException as exc:
                try:
                    if outer:
                        if self._conn.in_transaction:
                            self._conn.execute("ROLLBACK")
                    else:
                        self._conn.execute(f"ROLLBACK TO {savepoint}")
                        self._conn.execute(f"RELEASE {savepoint}")
                except sqlite3.Error as rollback_error:
                    exc.add_note(f"rolling back journal {self.path} also failed: {rollback_error}")
                raise
            finally:
                self._depth -= 1

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """SQLite failures become ``JournalError`` naming the file."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise JournalError(
                    f"journal {self.path} is busy: another process held it for more than "
                    f"{BUSY_TIMEOUT_SECONDS:g} s ({exc})"
                ) from None
            raise JournalError(f"cannot {action} journal {self.path}: {exc}") from None
        except sqlite3.Error as exc:
            raise JournalError(f"cannot {action} journal {self.path}: {exc}") from None

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock, self._errors("read"):
            return self._conn.execute(sql, args).fetchall()

    def _now(self) -> str:
        return ts_text(self._clock())
