"""Locks: which process is working on a run (or on a set of run parameters) right now.

A lock is a row in the journal's ``locks`` table naming its owner (a process on a host,
with a token that tells it apart from its own restarts), what it is doing (its purpose,
e.g. the run and its command) and a heartbeat. Another process
may take a lock over only when its owner is gone: its pid no longer exists on this host,
or its heartbeat is older than the stale limit. A holder whose lock was taken over learns
it at its next heartbeat and must stop acting.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import sqlite3
import sys
from datetime import datetime
from pathlib import Path

from better_orders.core.errors import InvalidInputError, JournalError
from better_orders.store.database import Database
from better_orders.store.encoding import parse_ts, ts_text

#: A lock whose heartbeat is older than this may be taken over.
DEFAULT_STALE_AFTER_SECONDS = 120.0


def run_lock_name(run_id: str) -> str:
    """The lock a process holds while it works on a run."""
    return f"run {run_id}"


def account_lock_name(account: str) -> str:
    """The lock a process holds while it may trade ``account`` (one writer per account)."""
    return f"account {account}"


@dataclasses.dataclass(frozen=True, slots=True)
class LockOwner:
    """Who holds a lock: a process on a host, told apart from its own restarts by a token."""

    pid: int
    host: str
    token: str

    def __post_init__(self) -> None:
        if isinstance(self.pid, bool) or not isinstance(self.pid, int) or self.pid <= 0:
            raise InvalidInputError(f"lock owner pid must be a positive integer, got {self.pid!r}")

    @classmethod
    def current(cls, token: str | None = None) -> LockOwner:
        """This process on this host, with a fresh random token unless one is given."""
        return cls(os.getpid(), socket.gethostname(), token or secrets.token_hex(4))

    def __str__(self) -> str:
        return f"process {self.pid} on host {self.host}"


@dataclasses.dataclass(frozen=True, slots=True)
class LockRecord:
    name: str
    owner: LockOwner
    acquired_at: datetime
    heartbeat_at: datetime
    #: What the holder is doing, in words ("order run 20261124T093000-3f9a: buy 300 SOXL").
    purpose: str | None = None


class LockHeldError(JournalError):
    """A live owner holds the lock; ``holder`` says who, since when, and doing what."""

    def __init__(self, message: str, holder: LockRecord) -> None:
        super().__init__(message)
        self.holder = holder


class LockLostError(JournalError):
    """The lock was taken over (its holder looked dead or stale): the holder must stop."""


class LockTable(Database):
    """The journal file's ``locks`` table (the ``Journal`` is one of these)."""

    def acquire_lock(
        self,
        name: str,
        owner: LockOwner,
        *,
        purpose: str | None = None,
        stale_after_seconds: float = DEFAULT_STALE_AFTER_SECONDS,
    ) -> None:
        """Take the lock ``name`` (e.g. ``"run 20261127T093000-3f9a"``) for ``owner``.

        A lock held by another owner is taken over only when that owner is gone: its pid no
        longer exists on this host, or its heartbeat is older than ``stale_after_seconds``.
        Otherwise ``LockHeldError`` says who holds it. Re-acquiring one's own lock renews it.
        The check and the take are one transaction, so two processes taking over a dead
        owner's lock at once cannot both get it.
        """
        now = self._clock()
        with self.transaction():
            row = self._conn.execute("SELECT * FROM locks WHERE name = ?", (name,)).fetchone()
            if row is not None:
                holder = _lock_from_row(row)
                if holder.owner == owner:
                    self._conn.execute(
                        "UPDATE locks SET heartbeat_at = ?, purpose = COALESCE(?, purpose)"
                        " WHERE name = ?",
                        (ts_text(now), purpose, name),
                    )
                    return
                age = (now - holder.heartbeat_at).total_seconds()
                if age <= stale_after_seconds and _owner_alive(holder.owner):
                    doing = f" ({holder.purpose})" if holder.purpose else ""
                    raise LockHeldError(
                        f"{name} is already running in {holder.owner}{doing} since "
                        f"{holder.acquired_at.isoformat(timespec='seconds')} (last heartbeat "
                        f"{age:.0f} s ago); refusing to start it twice",
                        holder,
                    )
            self._conn.execute(
                "INSERT OR REPLACE INTO locks (name, pid, host, token, acquired_at,"
                " heartbeat_at, purpose) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, owner.pid, owner.host, owner.token, ts_text(now), ts_text(now), purpose),
            )

    def describe_lock(self, name: str, owner: LockOwner, purpose: str) -> None:
        """Say what the holder is doing now (e.g. once its run has an id); a no-op for a
        lock ``owner`` does not hold (the next heartbeat reports that)."""
        with self.transaction():
            self._conn.execute(
                "UPDATE locks SET purpose = ? WHERE name = ? AND pid = ? AND host = ?"
                " AND token = ?",
                (purpose, name, owner.pid, owner.host, owner.token),
            )

    def heartbeat(self, name: str, owner: LockOwner) -> None:
        """Renew the lock; ``LockLostError`` if ``owner`` no longer holds it (it was taken
        over as stale), in which case the holder must stop acting."""
        with self.transaction():
            cursor = self._conn.execute(
                "UPDATE locks SET heartbeat_at = ? WHERE name = ? AND pid = ? AND host = ?"
                " AND token = ?",
                (self._now(), name, owner.pid, owner.host, owner.token),
            )
            if cursor.rowcount == 0:
                holder = self.get_lock(name)
                who = "nobody" if holder is None else str(holder.owner)
                raise LockLostError(
                    f"{name} is no longer held by {owner} (now held by {who}); stop acting on it"
                )

    def release_lock(self, name: str, owner: LockOwner) -> bool:
        """Release the lock if ``owner`` holds it; returns whether it did (never raises for a
        lock already gone, so it is safe in a ``finally``)."""
        with self.transaction():
            cursor = self._conn.execute(
                "DELETE FROM locks WHERE name = ? AND pid = ? AND host = ? AND token = ?",
                (name, owner.pid, owner.host, owner.token),
            )
            return cursor.rowcount == 1

    def live_lock(
        self, name: str, *, stale_after_seconds: float = DEFAULT_STALE_AFTER_SECONDS
    ) -> LockRecord | None:
        """The lock if its owner still holds it (process alive, heartbeat fresh), else None."""
        lock = self.get_lock(name)
        if lock is None:
            return None
        age = (self._clock() - lock.heartbeat_at).total_seconds()
        return lock if age <= stale_after_seconds and _owner_alive(lock.owner) else None

    def get_lock(self, name: str) -> LockRecord | None:
        rows = self._query("SELECT * FROM locks WHERE name = ?", (name,))
        return _lock_from_row(rows[0]) if rows else None


def _owner_alive(owner: LockOwner) -> bool:
    """Whether the owner's process still exists, as far as this host can tell."""
    if owner.host != socket.gethostname() or sys.platform == "win32":
        # Another host's processes cannot be seen (and on Windows os.kill would terminate
        # the process): rely on the heartbeat alone.
        return True
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return not _zombie(owner.pid)


def _zombie(pid: int) -> bool:
    """A process killed but not yet reaped by its parent still has a pid; it is dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (not Linux), or it just went away: trust os.kill
    # "pid (command name) state ...": the name may hold spaces and parentheses.
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "Z"


def _lock_from_row(row: sqlite3.Row) -> LockRecord:
    return LockRecord(
        name=row["name"],
        owner=LockOwner(pid=row["pid"], host=row["host"], token=row["token"]),
        acquired_at=parse_ts(row["acquired_at"]),
        heartbeat_at=parse_ts(row["heartbeat_at"]),
        purpose=row["purpose"],
    )
