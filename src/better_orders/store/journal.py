"""The journal: a SQLite (WAL) record of every run, intent, order, broker event and fill.

Rules of this file:

* **Write before acting.** A child order is recorded as ``pending_submit`` before the
  submit call leaves the process, so after a crash every order that *might* be at the
  broker is known by its client order id, and the reconciler can ask the broker about
  it instead of guessing.
* **Nothing twice.** Client order ids are deterministic (run, leg, attempt) and unique in
  the ``orders`` table: recording one a second time raises ``JournalError``, which is the
  guarantee that a retry, a restart or a second process cannot send the same order
  again. Fills are unique by ``exec_id``, so a replayed or duplicated fill counts once.
* **Facts only move forward.** Broker events are always appended to ``events``; the
  summary row in ``orders`` only ever grows its ``filled_qty`` and never leaves a terminal
  status for a non-terminal one, so events arriving late or out of order cannot undo
  what is already known.
* **Every write is its own committed transaction** (or part of an explicit
  ``with journal.transaction():`` block), taken with ``BEGIN IMMEDIATE`` so that the
  read-check-write steps above are atomic even with two processes on one file.
* **Exact money.** Decimals are stored as TEXT and come back equal, digit for digit.
* **No secrets.** The journal stores what it is given and has no field for credentials;
  as a second line of defence, values under credential-like keys (``secret``,
  ``api_key``, ``password``...) in params and reports are replaced by ``"[redacted]"``.

The journal reads the wall clock only for its own bookkeeping columns (``recorded_at``,
``started_at``, lock heartbeats); the helpers the core may call take the time as an
argument.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from pathlib import Path, PurePath
from types import TracebackType
from typing import Any, Self

from better_orders.core.errors import InvalidInputError, JournalError
from better_orders.core.jsonable import fields_of, to_jsonable
from better_orders.core.model import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)

SCHEMA_VERSION = 2

#: Status of an order recorded but not yet acknowledged: its fate at the broker is unknown.
PENDING_SUBMIT = "pending_submit"

#: Longest client order id this product generates (Alpaca accepts 128).
MAX_CLIENT_ORDER_ID = 48

#: Execution ids of fills recovered from a broker's cumulative quantity start with this.
RECOVERED_PREFIX = "recovered-"

#: A lock whose heartbeat is older than this may be taken over.
DEFAULT_STALE_AFTER_SECONDS = 120.0

#: How long a write waits for another process holding the file's write lock.
BUSY_TIMEOUT_SECONDS = 10.0

_COID_PREFIX = "bo-"
_RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_COID_RE = re.compile(r"bo-(?P<run>[A-Za-z0-9][A-Za-z0-9._-]*)-(?P<leg>\d+)-(?P<attempt>\d+)")
_TOKEN_RE = re.compile(r"[0-9a-z]{1,8}")
_CREDENTIAL_KEY_RE = re.compile(
    r"secret|passw|api[_-]?key|apca|credential|private[_-]?key|auth[_-]?token", re.IGNORECASE
)
_REDACTED = "[redacted]"

_TERMINAL_VALUES = frozenset(s.value for s in OrderStatus if s.is_terminal)

# Non-terminal statuses in the order an order passes through them: an event carrying an
# earlier stage than the one recorded arrived late and does not move the status back.
_STAGE = {
    PENDING_SUBMIT: 0,
    OrderStatus.PENDING_NEW.value: 1,
    OrderStatus.ACCEPTED.value: 1,
    OrderStatus.NEW.value: 1,
    OrderStatus.PARTIALLY_FILLED.value: 2,
    OrderStatus.PENDING_CANCEL.value: 2,
    OrderStatus.PENDING_REPLACE.value: 2,
}


# --------------------------------------------------------------------------- ids


def client_order_id(run_id: str, leg: int, attempt: int) -> str:
    """The deterministic client order id of one attempt: ``bo-{run_id}-{leg}-{attempt}``."""
    if not _RUN_ID_RE.fullmatch(run_id):
        raise InvalidInputError(
            f"run id {run_id!r} must be letters, digits, '.', '_' or '-' (starting with one of "
            "the first two)"
        )
    for what, value in (("leg", leg), ("attempt", attempt)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(f"{what} must be a non-negative integer, got {value!r}")
    coid = f"{_COID_PREFIX}{run_id}-{leg}-{attempt}"
    if len(coid) > MAX_CLIENT_ORDER_ID:
        raise InvalidInputError(
            f"client order id {coid!r} is longer than {MAX_CLIENT_ORDER_ID} characters: "
            f"use a shorter run id than {run_id!r}"
        )
    return coid


def run_lock_name(run_id: str) -> str:
    """The lock a process holds while it works on a run."""
    return f"run {run_id}"


def parse_client_order_id(coid: str) -> tuple[str, int, int] | None:
    """``(run_id, leg, attempt)`` of an id made by ``client_order_id``; None for any other id."""
    match = _COID_RE.fullmatch(coid)
    if match is None:
        return None
    run_id, leg, attempt = match["run"], int(match["leg"]), int(match["attempt"])
    try:
        canonical = client_order_id(run_id, leg, attempt)
    except InvalidInputError:
        return None
    # "bo-x-01-1" is not an id this module makes: leading zeros would break the round trip.
    return (run_id, leg, attempt) if canonical == coid else None


def new_run_id(now: datetime, rng_token: str | None = None) -> str:
    """A short id that sorts by start time, e.g. ``20261127T093000-3f9a``.

    The time is written in ``now``'s own zone (pass New York time and ids read as market
    time); ``rng_token`` (1-8 lower-case letters or digits) defaults to 4 random hex digits.
    """
    token = secrets.token_hex(2) if rng_token is None else rng_token
    if not _TOKEN_RE.fullmatch(token):
        raise InvalidInputError(
            f"run id token {token!r} must be 1 to 8 lower-case letters or digits"
        )
    return f"{now:%Y%m%dT%H%M%S}-{token}"


# --------------------------------------------------------------------------- JSON


def to_json(obj: Any) -> str:
    """Compact JSON text of ``obj`` (see ``to_jsonable``); ``JournalError`` if it has none."""
    try:
        return json.dumps(to_jsonable(obj), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise JournalError(f"cannot record {type(obj).__name__} as JSON: {exc}") from None


def params_hash(params: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a run's params: equal requests hash equal.

    Keys are sorted and Decimals normalised (``10``, ``10.0`` and ``1E+1`` are one
    quantity), so "the same targets run again" is found whatever way they were typed.
    """
    canonical = json.dumps(
        _canonical(_redact(params)), sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        normal = obj.normalize()
        return "0" if normal.is_zero() else format(normal, "f")
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    fields = fields_of(obj)
    if fields is not None:
        return _canonical(fields)
    if isinstance(obj, Enum | datetime | date | PurePath | set | frozenset):
        return to_jsonable(obj)
    return obj


def _redact(obj: Any) -> Any:
    """Replace values under credential-like keys, at any depth."""
    fields = fields_of(obj)
    if fields is not None:
        obj = fields
    if isinstance(obj, Mapping):
        return {
            k: _REDACTED if _CREDENTIAL_KEY_RE.search(str(k)) else _redact(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [_redact(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- records


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclasses.dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    kind: str
    params: dict[str, Any]
    params_hash: str
    broker: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    report: dict[str, Any] | None


@dataclasses.dataclass(frozen=True, slots=True)
class IntentRecord:
    """One parent order (a rebalance leg) as the run meant it."""

    run_id: str
    leg: int
    symbol: str
    side: Side
    qty: Decimal
    status: str
    report: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    #: The quantity its ladder started with (buys are sized when they start); None before.
    sized_qty: Decimal | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class OrderRecord:
    """One child order; ``status`` is ``pending_submit`` or an ``OrderStatus`` value."""

    client_order_id: str
    run_id: str
    leg: int
    attempt: int
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    time_in_force: TimeInForce
    status: str
    broker_order_id: str | None
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    reason: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def pending_submit(self) -> bool:
        """Recorded but never acknowledged: it may or may not be at the broker."""
        return self.status == PENDING_SUBMIT

    @property
    def is_terminal(self) -> bool:
        return self.status in _TERMINAL_VALUES

    @property
    def remaining_qty(self) -> Decimal:
        return self.qty - self.filled_qty


@dataclasses.dataclass(frozen=True, slots=True)
class EventRecord:
    """A broker event as received, with the journal's sequence number and arrival time."""

    id: int
    update: OrderUpdate
    recorded_at: datetime


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


# --------------------------------------------------------------------------- schema

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY,
        applied_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        params_json TEXT NOT NULL,
        params_hash TEXT NOT NULL,
        broker TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        report_json TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS runs_by_hash ON runs (params_hash)",
    "CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at)",
    """CREATE TABLE IF NOT EXISTS intents (
        run_id TEXT NOT NULL,
        leg INTEGER NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        qty TEXT NOT NULL,
        status TEXT NOT NULL,
        report_json TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        sized_qty TEXT,
        PRIMARY KEY (run_id, leg)
    )""",
    """CREATE TABLE IF NOT EXISTS orders (
        client_order_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        leg INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        qty TEXT NOT NULL,
        order_type TEXT NOT NULL,
        limit_price TEXT,
        time_in_force TEXT NOT NULL,
        status TEXT NOT NULL,
        broker_order_id TEXT,
        filled_qty TEXT NOT NULL,
        filled_avg_price TEXT,
        reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS orders_by_run ON orders (run_id, leg, attempt)",
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        client_order_id TEXT NOT NULL,
        ts TEXT NOT NULL,
        status TEXT NOT NULL,
        filled_qty TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_by_order ON events (client_order_id)",
    """CREATE TABLE IF NOT EXISTS fills (
        exec_id TEXT PRIMARY KEY,
        client_order_id TEXT NOT NULL,
        run_id TEXT,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        qty TEXT NOT NULL,
        price TEXT NOT NULL,
        ts TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS fills_by_run ON fills (run_id)",
    "CREATE INDEX IF NOT EXISTS fills_by_order ON fills (client_order_id)",
    """CREATE TABLE IF NOT EXISTS locks (
        name TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        token TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL
    )""",
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- journal


class Journal:
    """One open journal file. Synchronous: every call is a short local transaction.

    Open it with ``Journal.open(path)``; use it as a context manager or ``close()`` it.
    ``clock`` (wall clock, UTC) stamps the bookkeeping columns and lock heartbeats;
    replace it only to test lock expiry.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Callable[[], datetime]) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock
        self._depth = 0

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        durable: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> Journal:
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
            conn = sqlite3.connect(str(target), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open journal {target}: {exc}") from None
        conn.row_factory = sqlite3.Row
        journal = cls(conn, target, clock or _utc_now)
        try:
            journal._setup(durable=durable, in_memory=in_memory)
        except BaseException:
            conn.close()
            raise
        return journal

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
            for statement in _SCHEMA:
                self._conn.execute(statement)
            row = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = row[0]
            if version is None:
                self._conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (SCHEMA_VERSION, self._now()),
                )
            elif version > SCHEMA_VERSION:
                raise JournalError(
                    f"journal {self.path} was written by a newer Better Orders (schema "
                    f"{version}, this version reads {SCHEMA_VERSION}); upgrade to use it"
                )
            elif version < SCHEMA_VERSION:
                self._migrate(version)

    def _migrate(self, version: int) -> None:
        """Bring an older journal up to :data:`SCHEMA_VERSION`, inside the open's transaction."""
        if version < 2:
            # 2: the quantity a leg was sized to when its ladder started (see ``size_intent``).
            self._conn.execute("ALTER TABLE intents ADD COLUMN sized_qty TEXT")
        self._conn.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
            (SCHEMA_VERSION, self._now()),
        )

    def close(self) -> None:
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

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one atomic commit; nested blocks become savepoints.

        The outermost block takes the file's write lock at once (``BEGIN IMMEDIATE``), so
        what it reads cannot be changed by another process before it commits. Do not
        ``await`` inside the block: other tasks sharing this journal would write into it.
        """
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
        with self._errors("read"):
            return self._conn.execute(sql, args).fetchall()

    def _now(self) -> str:
        return _ts(self._clock())

    # ------------------------------------------------------------------ runs

    def start_run(self, run_id: str, kind: str, params: Mapping[str, Any], broker: str) -> None:
        """Record a new run as ``running``. A run id already in the journal is refused."""
        if not kind or not broker:
            raise InvalidInputError("a run needs a kind and a broker name")
        clean = _redact(params)
        with self.transaction():
            existing = self._conn.execute(
                "SELECT status, started_at FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if existing is not None:
                raise JournalError(
                    f"run {run_id} is already in the journal ({existing['status']}, started "
                    f"{existing['started_at']}); a run id is used once"
                )
            self._conn.execute(
                "INSERT INTO runs (run_id, kind, params_json, params_hash, broker, status,"
                " started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    kind,
                    to_json(clean),
                    params_hash(clean),
                    broker,
                    RunStatus.RUNNING.value,
                    self._now(),
                ),
            )

    def finish_run(
        self, run_id: str, status: RunStatus | str, report: Mapping[str, Any] | None = None
    ) -> None:
        """Close a run with its outcome; ``report=None`` keeps any report already stored."""
        final = _run_status(status)
        if final is RunStatus.RUNNING:
            raise InvalidInputError(f"run {run_id} cannot be finished as 'running'")
        report_json = None if report is None else to_json(_redact(report))
        with self.transaction():
            cursor = self._conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?,"
                " report_json = COALESCE(?, report_json) WHERE run_id = ?",
                (final.value, self._now(), report_json, run_id),
            )
            if cursor.rowcount == 0:
                raise JournalError(f"run {run_id} is not in the journal")

    def reopen_run(self, run_id: str) -> RunRecord:
        """Mark an unfinished run ``running`` again, to resume it; returns it as it was.

        A completed run is refused: resuming it could only trade its plan a second time.
        """
        with self.transaction():
            rows = self._conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchall()
            if not rows:
                raise JournalError(f"run {run_id} is not in the journal: nothing to resume")
            before = _run_record(rows[0])
            if before.status is RunStatus.COMPLETED:
                raise JournalError(
                    f"run {run_id} completed at {before.finished_at}; there is nothing to resume"
                )
            self._conn.execute(
                "UPDATE runs SET status = ?, finished_at = NULL WHERE run_id = ?",
                (RunStatus.RUNNING.value, run_id),
            )
        return before

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._query("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return _run_record(rows[0]) if rows else None

    def find_runs(
        self,
        params_hash: str | None = None,
        status: RunStatus | str | None = None,
        *,
        kind: str | None = None,
    ) -> list[RunRecord]:
        """Runs matching every filter given, oldest first."""
        where, args = _where(
            params_hash=params_hash,
            status=None if status is None else _run_status(status).value,
            kind=kind,
        )
        rows = self._query(f"SELECT * FROM runs{where} ORDER BY started_at, run_id", args)
        return [_run_record(row) for row in rows]

    def latest_run(self, kind: str | None = None) -> RunRecord | None:
        where, args = _where(kind=kind)
        rows = self._query(
            f"SELECT * FROM runs{where} ORDER BY started_at DESC, run_id DESC LIMIT 1", args
        )
        return _run_record(rows[0]) if rows else None

    # ------------------------------------------------------------------ intents

    def record_intent(
        self, run_id: str, leg: int, symbol: str, side: Side | str, qty: Decimal
    ) -> None:
        """Record one parent order of a run as ``pending``; a leg is recorded once."""
        parsed_side = Side.parse(side)
        if not isinstance(qty, Decimal) or not qty.is_finite() or qty <= 0:
            raise InvalidInputError(f"{symbol} quantity must be a positive Decimal, got {qty!r}")
        now = self._now()
        with self.transaction():
            self._require_run(run_id)
            if self._conn.execute(
                "SELECT 1 FROM intents WHERE run_id = ? AND leg = ?", (run_id, leg)
            ).fetchone():
                raise JournalError(f"leg {leg} of run {run_id} is already in the journal")
            self._conn.execute(
                "INSERT INTO intents (run_id, leg, symbol, side, qty, status, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                (run_id, leg, symbol, parsed_side.value, str(qty), now, now),
            )

    def size_intent(self, run_id: str, leg: int, qty: Decimal) -> None:
        """Record the quantity a leg's ladder starts with, once (a resumed leg keeps it).

        A rebalance journals its buys at their desired size and sizes them to the
        buying power only when they start; this is the leg's target from then on.
        """
        if not isinstance(qty, Decimal) or not qty.is_finite() or qty <= 0:
            raise InvalidInputError(f"leg {leg} quantity must be a positive Decimal, got {qty!r}")
        with self.transaction():
            cursor = self._conn.execute(
                "UPDATE intents SET sized_qty = COALESCE(sized_qty, ?), updated_at = ?"
                " WHERE run_id = ? AND leg = ?",
                (str(qty), self._now(), run_id, leg),
            )
            if cursor.rowcount == 0:
                raise JournalError(f"leg {leg} of run {run_id} is not in the journal")

    def update_intent(
        self, run_id: str, leg: int, status: str, report: Mapping[str, Any] | None = None
    ) -> None:
        """Set a leg's status; ``report=None`` keeps any report already stored."""
        report_json = None if report is None else to_json(_redact(report))
        with self.transaction():
            cursor = self._conn.execute(
                "UPDATE intents SET status = ?, report_json = COALESCE(?, report_json),"
                " updated_at = ? WHERE run_id = ? AND leg = ?",
                (status, report_json, self._now(), run_id, leg),
            )
            if cursor.rowcount == 0:
                raise JournalError(f"leg {leg} of run {run_id} is not in the journal")

    def intents(self, run_id: str) -> list[IntentRecord]:
        rows = self._query("SELECT * FROM intents WHERE run_id = ? ORDER BY leg", (run_id,))
        return [_intent_record(row) for row in rows]

    # ------------------------------------------------------------------ orders

    def record_order_pending(
        self, request: OrderRequest, run_id: str, leg: int, attempt: int
    ) -> None:
        """Record a child order as ``pending_submit``. Call it *before* submitting.

        Raises ``JournalError`` if the client order id is already recorded: that order
        may be at the broker, and sending it again could double the position.
        """
        coid = request.client_order_id
        ours = parse_client_order_id(coid)
        if ours is not None and ours != (run_id, leg, attempt):
            raise JournalError(
                f"order {coid} belongs to run {ours[0]} leg {ours[1]} attempt {ours[2]}, "
                f"not to run {run_id} leg {leg} attempt {attempt}"
            )
        now = self._now()
        with self.transaction():
            self._require_run(run_id)
            existing = self._conn.execute(
                "SELECT status, created_at FROM orders WHERE client_order_id = ?", (coid,)
            ).fetchone()
            if existing is not None:
                raise JournalError(
                    f"{request.symbol} order {coid} is already in the journal (status "
                    f"{existing['status']}, recorded {existing['created_at']}); refusing to "
                    "send it twice"
                )
            self._conn.execute(
                "INSERT INTO orders (client_order_id, run_id, leg, attempt, symbol, side, qty,"
                " order_type, limit_price, time_in_force, status, filled_qty, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '0', ?, ?)",
                (
                    coid,
                    run_id,
                    leg,
                    attempt,
                    request.symbol,
                    request.side.value,
                    str(request.qty),
                    request.order_type.value,
                    _dec_text(request.limit_price),
                    request.time_in_force.value,
                    PENDING_SUBMIT,
                    now,
                    now,
                ),
            )

    def record_order_ack(self, update: OrderUpdate) -> None:
        """Record the broker's answer to a submit (an acceptance or a rejection).

        The event is always kept; an answer for an order the journal never recorded
        then raises ``JournalError``, because it means an order was sent unrecorded.
        """
        if not self._apply_update(update):
            raise JournalError(
                f"the broker answered for order {update.client_order_id}, which is not in the "
                "journal: orders must be recorded before they are sent"
            )

    def record_event(self, update: OrderUpdate) -> None:
        """Append a broker event and fold it into its order's row, if the order is ours.

        The fill an event carries is not recorded here: pass it to ``record_fill``, which
        tells whether it is new.
        """
        self._apply_update(update)

    def _apply_update(self, update: OrderUpdate) -> bool:
        """Append the event and merge it into the order row; False if the order is unknown."""
        coid = update.client_order_id
        now = self._now()
        with self.transaction():
            self._conn.execute(
                "INSERT INTO events (client_order_id, ts, status, filled_qty, payload_json,"
                " recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    coid,
                    _ts(update.ts),
                    update.status.value,
                    str(update.filled_qty),
                    to_json(update),
                    now,
                ),
            )
            row = self._conn.execute(
                "SELECT status, filled_qty, filled_avg_price FROM orders WHERE client_order_id = ?",
                (coid,),
            ).fetchone()
            if row is None:
                return False
            current_qty = Decimal(row["filled_qty"])
            filled_qty, avg_price = current_qty, _dec(row["filled_avg_price"])
            if update.filled_qty > current_qty or (
                update.filled_qty == current_qty and avg_price is None
            ):
                filled_qty = update.filled_qty
                if update.filled_avg_price is not None:
                    avg_price = update.filled_avg_price
            self._conn.execute(
                "UPDATE orders SET status = ?, filled_qty = ?, filled_avg_price = ?,"
                " broker_order_id = COALESCE(broker_order_id, ?), reason = COALESCE(?, reason),"
                " updated_at = ? WHERE client_order_id = ?",
                (
                    _merge_status(row["status"], update.status),
                    str(filled_qty),
                    _dec_text(avg_price),
                    update.broker_order_id,
                    update.reason,
                    now,
                    coid,
                ),
            )
            return True

    def orders(self, run_id: str | None = None, open_only: bool = False) -> list[OrderRecord]:
        """Child orders in the order they were recorded.

        ``open_only`` keeps those that may still trade: acknowledged and not terminal, or
        ``pending_submit`` (never acknowledged, so possibly live at the broker).
        """
        where, args = _where(run_id=run_id)
        if open_only:
            marks = ", ".join("?" * len(_TERMINAL_VALUES))
            where += (" AND " if where else " WHERE ") + f"status NOT IN ({marks})"
            args += tuple(sorted(_TERMINAL_VALUES))
        rows = self._query(f"SELECT * FROM orders{where} ORDER BY created_at, rowid", args)
        return [_order_record(row) for row in rows]

    def get_order(self, client_order_id: str) -> OrderRecord | None:
        rows = self._query("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))
        return _order_record(rows[0]) if rows else None

    def next_attempt(self, run_id: str, leg: int) -> int:
        """One more than the highest attempt recorded for the leg (1 if none): the first
        attempt number a resumed run can use without reusing a client order id."""
        rows = self._query(
            "SELECT MAX(attempt) FROM orders WHERE run_id = ? AND leg = ?", (run_id, leg)
        )
        highest = rows[0][0]
        return 1 if highest is None else int(highest) + 1

    def events(self, client_order_id: str | None = None) -> list[EventRecord]:
        """Broker events in arrival order, as they were received."""
        where, args = _where(client_order_id=client_order_id)
        rows = self._query(f"SELECT * FROM events{where} ORDER BY id", args)
        return [
            EventRecord(
                id=row["id"],
                update=_update_from_json(json.loads(row["payload_json"])),
                recorded_at=_parse_ts(row["recorded_at"]),
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ fills

    def record_fill(self, fill: Fill, run_id: str | None = None) -> bool:
        """Record an execution once: True if new, False if its ``exec_id`` was already seen.

        Without ``run_id`` the fill is attributed to the run of its order, when known.
        """
        with self.transaction():
            if run_id is None:
                row = self._conn.execute(
                    "SELECT run_id FROM orders WHERE client_order_id = ?",
                    (fill.client_order_id,),
                ).fetchone()
                run_id = None if row is None else row["run_id"]
            if not fill.exec_id.startswith(RECOVERED_PREFIX) and self._covered(fill):
                return False
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO fills (exec_id, client_order_id, run_id, symbol, side,"
                " qty, price, ts, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fill.exec_id,
                    fill.client_order_id,
                    run_id,
                    fill.symbol,
                    fill.side.value,
                    str(fill.qty),
                    str(fill.price),
                    _ts(fill.ts),
                    self._now(),
                ),
            )
            return cursor.rowcount == 1

    def _covered(self, fill: Fill) -> bool:
        """Whether a fill recovered from the order's cumulative quantity already counts it.

        A reconciliation with a broker that cannot list executions records the gap as
        one ``recovered-`` fill; the real execution, if its event turns up later, would
        count those shares twice. It is recognised by taking the order past the
        cumulative quantity the broker reported (folded into the order row first).
        """
        rows = self._conn.execute(
            "SELECT exec_id, qty FROM fills WHERE client_order_id = ?", (fill.client_order_id,)
        ).fetchall()
        if not any(r["exec_id"].startswith(RECOVERED_PREFIX) for r in rows):
            return False
        if any(r["exec_id"] == fill.exec_id for r in rows):
            return False  # a plain duplicate: INSERT OR IGNORE says so
        order = self._conn.execute(
            "SELECT filled_qty FROM orders WHERE client_order_id = ?", (fill.client_order_id,)
        ).fetchone()
        if order is None:
            return False
        recorded = sum((Decimal(r["qty"]) for r in rows), Decimal(0))
        return recorded + fill.qty > Decimal(order["filled_qty"])

    def fills(self, run_id: str | None = None, client_order_id: str | None = None) -> list[Fill]:
        """Fills matching every filter given, by execution time."""
        where, args = _where(run_id=run_id, client_order_id=client_order_id)
        rows = self._query(f"SELECT * FROM fills{where} ORDER BY ts, rowid", args)
        return [
            Fill(
                exec_id=row["exec_id"],
                client_order_id=row["client_order_id"],
                symbol=row["symbol"],
                side=Side(row["side"]),
                qty=Decimal(row["qty"]),
                price=Decimal(row["price"]),
                ts=_parse_ts(row["ts"]),
            )
            for row in rows
        ]

    def positions_from_fills(self, run_id: str | None = None) -> dict[str, Decimal]:
        """Net quantity per symbol from recorded fills (buys +, sells -); flat symbols omitted."""
        totals: dict[str, Decimal] = {}
        for fill in self.fills(run_id=run_id):
            totals[fill.symbol] = totals.get(fill.symbol, Decimal(0)) + fill.side.sign * fill.qty
        return {symbol: qty for symbol, qty in totals.items() if qty != 0}

    # ------------------------------------------------------------------ locks

    def acquire_lock(
        self,
        name: str,
        owner: LockOwner,
        *,
        stale_after_seconds: float = DEFAULT_STALE_AFTER_SECONDS,
    ) -> None:
        """Take the lock ``name`` (e.g. ``"run 20261127T093000-3f9a"``) for ``owner``.

        A lock held by another owner is taken over only when that owner is gone: its pid no
        longer exists on this host, or its heartbeat is older than ``stale_after_seconds``.
        Otherwise ``JournalError`` says who holds it. Re-acquiring one's own lock renews it.
        """
        now = self._clock()
        with self.transaction():
            row = self._conn.execute("SELECT * FROM locks WHERE name = ?", (name,)).fetchone()
            if row is not None:
                holder = _lock_record(row)
                if holder.owner == owner:
                    self._conn.execute(
                        "UPDATE locks SET heartbeat_at = ? WHERE name = ?", (_ts(now), name)
                    )
                    return
                age = (now - holder.heartbeat_at).total_seconds()
                if age <= stale_after_seconds and _owner_alive(holder.owner):
                    raise JournalError(
                        f"{name} is already running in {holder.owner} since "
                        f"{holder.acquired_at.isoformat(timespec='seconds')} (last heartbeat "
                        f"{age:.0f} s ago); refusing to start it twice"
                    )
            self._conn.execute(
                "INSERT OR REPLACE INTO locks (name, pid, host, token, acquired_at,"
                " heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name, owner.pid, owner.host, owner.token, _ts(now), _ts(now)),
            )

    def heartbeat(self, name: str, owner: LockOwner) -> None:
        """Renew the lock; ``JournalError`` if ``owner`` no longer holds it (it was taken
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
                raise JournalError(
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
        return _lock_record(rows[0]) if rows else None

    def _require_run(self, run_id: str) -> None:
        if self._conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
            raise JournalError(f"run {run_id} is not in the journal: start it first")


# --------------------------------------------------------------------------- helpers


def _merge_status(current: str, new: OrderStatus) -> str:
    """The order status after an event, however late the event arrived."""
    if current in _TERMINAL_VALUES:
        # A late non-terminal event cannot reopen an order. Between terminal statuses the
        # latest wins (a venue may fill an order it reported canceled), except that a
        # filled order stays filled.
        if new.is_terminal and current != OrderStatus.FILLED.value:
            return new.value
        return current
    if new.is_terminal or _STAGE.get(new.value, 1) >= _STAGE.get(current, 0):
        return new.value
    return current


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


def _run_status(value: RunStatus | str) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        choices = ", ".join(s.value for s in RunStatus)
        raise InvalidInputError(f"unknown run status {value!r}: use one of {choices}") from None


def _where(**filters: Any) -> tuple[str, tuple[Any, ...]]:
    """`` WHERE a = ? AND b = ?`` for the filters that are not None (names are ours, not
    user input)."""
    used = {k: v for k, v in filters.items() if v is not None}
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{k} = ?" for k in used), tuple(used.values())


def _ts(value: datetime) -> str:
    """ISO-8601 with fixed-width microseconds; aware times in UTC so the text sorts by time."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def _parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _opt_ts(text: str | None) -> datetime | None:
    return None if text is None else _parse_ts(text)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _dec_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _run_record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        kind=row["kind"],
        params=json.loads(row["params_json"]),
        params_hash=row["params_hash"],
        broker=row["broker"],
        status=RunStatus(row["status"]),
        started_at=_parse_ts(row["started_at"]),
        finished_at=_opt_ts(row["finished_at"]),
        report=_json_or_none(row["report_json"]),
    )


def _intent_record(row: sqlite3.Row) -> IntentRecord:
    return IntentRecord(
        run_id=row["run_id"],
        leg=row["leg"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=Decimal(row["qty"]),
        status=row["status"],
        report=_json_or_none(row["report_json"]),
        created_at=_parse_ts(row["created_at"]),
        updated_at=_parse_ts(row["updated_at"]),
        sized_qty=None if row["sized_qty"] is None else Decimal(row["sized_qty"]),
    )


def _order_record(row: sqlite3.Row) -> OrderRecord:
    return OrderRecord(
        client_order_id=row["client_order_id"],
        run_id=row["run_id"],
        leg=row["leg"],
        attempt=row["attempt"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=Decimal(row["qty"]),
        order_type=OrderType(row["order_type"]),
        limit_price=_dec(row["limit_price"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        status=row["status"],
        broker_order_id=row["broker_order_id"],
        filled_qty=Decimal(row["filled_qty"]),
        filled_avg_price=_dec(row["filled_avg_price"]),
        reason=row["reason"],
        created_at=_parse_ts(row["created_at"]),
        updated_at=_parse_ts(row["updated_at"]),
    )


def _lock_record(row: sqlite3.Row) -> LockRecord:
    return LockRecord(
        name=row["name"],
        owner=LockOwner(pid=row["pid"], host=row["host"], token=row["token"]),
        acquired_at=_parse_ts(row["acquired_at"]),
        heartbeat_at=_parse_ts(row["heartbeat_at"]),
    )


def _fill_from_json(data: Mapping[str, Any]) -> Fill:
    return Fill(
        exec_id=data["exec_id"],
        client_order_id=data["client_order_id"],
        symbol=data["symbol"],
        side=Side(data["side"]),
        qty=Decimal(data["qty"]),
        price=Decimal(data["price"]),
        ts=_parse_ts(data["ts"]),
    )


def _update_from_json(data: Mapping[str, Any]) -> OrderUpdate:
    return OrderUpdate(
        client_order_id=data["client_order_id"],
        status=OrderStatus(data["status"]),
        filled_qty=Decimal(data["filled_qty"]),
        ts=_parse_ts(data["ts"]),
        filled_avg_price=_dec(data.get("filled_avg_price")),
        broker_order_id=data.get("broker_order_id"),
        fill=None if data.get("fill") is None else _fill_from_json(data["fill"]),
        reason=data.get("reason"),
    )
