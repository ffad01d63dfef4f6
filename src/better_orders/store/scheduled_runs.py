"""Scheduled runs: one per session, account and schedule point, claimed in the journal.

A scheduler (or a cron job, a systemd timer, a retried container) *claims* the run of
a session before it does anything: one row of the ``scheduled_runs`` table keyed by
(session date, account, point), holding the run id the run will have, its status and
who claimed it. The claim is a read-check-write inside one ``BEGIN IMMEDIATE``
transaction, so of any number of processes racing for the same key exactly one gets
it; every other is refused with ``AlreadyScheduledError``, which names the run.

Rules of a claim:

* no row: the claim is made (``running``);
* ``running`` and its claimer alive: refused, a second scheduler is at work. The
  claimer holds a lock (``claim_lock_name``) from the claim until the run is finished,
  and renews it while it works, so "alive" means its process exists on this host (as
  far as this host can tell) *and* its lock's heartbeat is fresh: a restarted container
  whose new process got the same pid (often 1), or a claimer on a host that is gone,
  is not mistaken for a live one once its heartbeat is two minutes old;
* ``running`` with its claimer gone (a crash, ``kill -9``), or ``interrupted`` (a clean
  stop): taken over, with the same run id, so the run is resumed, never doubled;
* ``refused`` (the kill switch, a guard or bad targets stopped it before any order):
  claimed again as a new run (a new run id), so a run refused for something fixed since
  (the kill switch off, the targets mended) trades when it is started again that session;
* finished (``completed``, ``incomplete``, ``failed``): refused, it ran.

The table lives in the journal file; it is created here when first needed, beside
the journal's own tables.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from better_orders.core.errors import JournalError
from better_orders.core.market_calendar import format_et
from better_orders.store.encoding import parse_ts, ts_text
from better_orders.store.locks import LockOwner, LockTable, _owner_alive

_TABLE = """CREATE TABLE IF NOT EXISTS scheduled_runs (
    session TEXT NOT NULL,
    account TEXT NOT NULL,
    point TEXT NOT NULL,
    run_id TEXT NOT NULL,
    status TEXT NOT NULL,
    scheduled_for TEXT NOT NULL,
    fired_at TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    finished_at TEXT,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    token TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    detail TEXT,
    PRIMARY KEY (session, account, point)
)"""


class ScheduledStatus(StrEnum):
    RUNNING = "running"
    #: Every leg done.
    COMPLETED = "completed"
    #: The run ended with a leg left unfilled (or part of the plan unfunded).
    INCOMPLETE = "incomplete"
    FAILED = "failed"
    #: A guard, the kill switch or bad targets stopped it before any order (a later attempt
    #: in the session runs it afresh).
    REFUSED = "refused"
    #: Stopped by SIGTERM / SIGINT; its orders were cancelled. Taken over by the next claim.
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class ScheduleKey:
    """Which run: a session's date, an account, a schedule point (``close-15m``)."""

    session: dt.date
    account: str
    point: str

    def __str__(self) -> str:
        return f"the {self.point} run of {self.session.isoformat()} for {self.account}"


@dataclass(frozen=True, slots=True)
class ScheduledRun:
    """One row of the table."""

    key: ScheduleKey
    run_id: str
    status: ScheduledStatus
    scheduled_for: dt.datetime
    #: When it fired, on the scheduler's clock (virtual on the simulator).
    fired_at: dt.datetime
    claimed_at: dt.datetime
    finished_at: dt.datetime | None
    owner: LockOwner
    attempts: int
    detail: str | None

    def describe(self) -> str:
        """``run 20261127T124500-ab12 (completed), started Fri ... ET by process 42 on host h``."""
        return (
            f"run {self.run_id} ({self.status.value}), started {format_et(self.fired_at)} "
            f"by {self.owner}"
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim made: the row as it now is, and whether it took over an unfinished run."""

    run: ScheduledRun
    #: The run was claimed before and did not finish: resume it (same run id).
    takeover: bool
    #: What the row said before a takeover.
    previous: ScheduledRun | None = None


class AlreadyScheduledError(JournalError):
    """The session's run is someone else's: running now, or already run."""

    def __init__(self, existing: ScheduledRun) -> None:
        self.existing = existing
        doing = "is running" if existing.status is ScheduledStatus.RUNNING else "already ran"
        super().__init__(f"{existing.key} {doing}: {existing.describe()}; not started again")

    @property
    def running(self) -> bool:
        """A live process holds it (as opposed to a run that finished)."""
        return self.existing.status is ScheduledStatus.RUNNING


def claim_lock_name(key: ScheduleKey) -> str:
    """The lock a claimer holds until its run is finished (module docstring)."""
    return f"scheduled {key.point} {key.session.isoformat()} {key.account}"


class ScheduledRuns(LockTable):
    """The journal file's ``scheduled_runs`` table (see the module docstring)."""

    def _setup(self, *, durable: bool, in_memory: bool) -> None:
        super()._setup(durable=durable, in_memory=in_memory)
        with self.transaction():
            self._conn.execute(_TABLE)

    def claim(
        self,
        key: ScheduleKey,
        owner: LockOwner,
        *,
        run_id: str,
        scheduled_for: dt.datetime,
        fired_at: dt.datetime,
    ) -> Claim:
        """Claim ``key`` for ``owner`` (``run_id`` for a new run), or raise
        ``AlreadyScheduledError`` naming the run that has it."""
        now = self._now()
        with self.transaction():
            row = self._conn.execute(
                "SELECT * FROM scheduled_runs WHERE session = ? AND account = ? AND point = ?",
                _key_args(key),
            ).fetchone()
            if row is None:
                self._conn.execute(
                    "INSERT INTO scheduled_runs (session, account, point, run_id, status,"
                    " scheduled_for, fired_at, claimed_at, pid, host, token, attempts)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (
                        *_key_args(key),
                        run_id,
                        ScheduledStatus.RUNNING.value,
                        ts_text(scheduled_for),
                        ts_text(fired_at),
                        now,
                        owner.pid,
                        owner.host,
                        owner.token,
                    ),
                )
                self.acquire_lock(claim_lock_name(key), owner, purpose=str(key))
                return Claim(self._get(key), takeover=False)
            existing = _from_row(row)
            afresh = existing.status is ScheduledStatus.REFUSED  # nothing was sent
            resumable = existing.status is ScheduledStatus.INTERRUPTED or (
                existing.status is ScheduledStatus.RUNNING and not self._claimer_alive(existing)
            )
            if not (afresh or resumable):
                raise AlreadyScheduledError(existing)
            # A refused run starts again as a new run; a resumed one keeps its run id.
            self._conn.execute(
                "UPDATE scheduled_runs SET run_id = ?, scheduled_for = ?, status = ?,"
                " fired_at = ?, claimed_at = ?, finished_at = NULL, pid = ?, host = ?,"
                " token = ?, attempts = attempts + 1, detail = CASE WHEN ? THEN NULL ELSE"
                " detail END WHERE session = ? AND account = ? AND point = ?",
                (
                    run_id if afresh else existing.run_id,
                    ts_text(scheduled_for if afresh else existing.scheduled_for),
                    ScheduledStatus.RUNNING.value,
                    ts_text(fired_at),
                    now,
                    owner.pid,
                    owner.host,
                    owner.token,
                    afresh,
                    *_key_args(key),
                ),
            )
            self.acquire_lock(claim_lock_name(key), owner, purpose=str(key))
            return Claim(self._get(key), takeover=not afresh, previous=existing)

    def _claimer_alive(self, run: ScheduledRun) -> bool:
        lock = self.live_lock(claim_lock_name(run.key))
        return lock is not None and lock.owner == run.owner and _owner_alive(run.owner)

    def finish(
        self, key: ScheduleKey, owner: LockOwner, status: ScheduledStatus, detail: str
    ) -> None:
        """Record how the claimed run ended and release its claim lock; ``JournalError`` if
        ``owner`` no longer holds it."""
        if status is ScheduledStatus.RUNNING:
            raise JournalError(f"{key} cannot be finished as running")
        with self.transaction():
            cursor = self._conn.execute(
                "UPDATE scheduled_runs SET status = ?, finished_at = ?, detail = ?"
                " WHERE session = ? AND account = ? AND point = ? AND pid = ? AND host = ?"
                " AND token = ?",
                (
                    status.value,
                    self._now(),
                    detail,
                    *_key_args(key),
                    owner.pid,
                    owner.host,
                    owner.token,
                ),
            )
            self.release_lock(claim_lock_name(key), owner)
            if cursor.rowcount == 0:
                raise JournalError(f"{key} is no longer held by {owner}; its outcome not recorded")

    def get(self, key: ScheduleKey) -> ScheduledRun | None:
        rows = self._query(
            "SELECT * FROM scheduled_runs WHERE session = ? AND account = ? AND point = ?",
            _key_args(key),
        )
        return _from_row(rows[0]) if rows else None

    def runs(self, account: str | None = None) -> list[ScheduledRun]:
        """Every scheduled run (of ``account``, if given), oldest session first."""
        sql = "SELECT * FROM scheduled_runs"
        args: tuple[Any, ...] = ()
        if account is not None:
            sql, args = sql + " WHERE account = ?", (account,)
        rows = self._query(sql + " ORDER BY session, account, point", args)
        return [_from_row(row) for row in rows]

    def _get(self, key: ScheduleKey) -> ScheduledRun:
        found = self.get(key)
        if found is None:  # pragma: no cover - written in the same transaction
            raise JournalError(f"{key} vanished from the journal")
        return found


def _key_args(key: ScheduleKey) -> tuple[str, str, str]:
    return key.session.isoformat(), key.account, key.point


def _from_row(row: sqlite3.Row) -> ScheduledRun:
    finished = row["finished_at"]
    return ScheduledRun(
        key=ScheduleKey(dt.date.fromisoformat(row["session"]), row["account"], row["point"]),
        run_id=row["run_id"],
        status=ScheduledStatus(row["status"]),
        scheduled_for=parse_ts(row["scheduled_for"]),
        fired_at=parse_ts(row["fired_at"]),
        claimed_at=parse_ts(row["claimed_at"]),
        finished_at=parse_ts(finished) if finished else None,
        owner=LockOwner(pid=row["pid"], host=row["host"], token=row["token"]),
        attempts=row["attempts"],
        detail=row["detail"],
    )
