"""The journal's SQLite schema, its version, and the migrations from older versions.

A journal written by an older Better Orders is brought up to :data:`SCHEMA_VERSION` when
it is opened; one written by a newer version is refused rather than misread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from better_orders.core.errors import JournalError

SCHEMA_VERSION = 4

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
    # The quotes around each fill (``quote_marks``): a parent's arrival, the quote in
    # force at a fill and the ones some seconds after it, for the TCA of real runs.
    """CREATE TABLE IF NOT EXISTS quote_marks (
        run_id TEXT NOT NULL,
        leg INTEGER NOT NULL,
        exec_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        after_ms INTEGER NOT NULL,
        symbol TEXT NOT NULL,
        bid TEXT NOT NULL,
        ask TEXT NOT NULL,
        bid_size TEXT NOT NULL,
        ask_size TEXT NOT NULL,
        quote_ts TEXT NOT NULL,
        taken_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (run_id, leg, exec_id, kind, after_ms)
    )""",
    """CREATE TABLE IF NOT EXISTS locks (
        name TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        token TEXT NOT NULL,
        acquired_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL,
        purpose TEXT
    )""",
)


def create_or_migrate(conn: sqlite3.Connection, path: Path, now: Callable[[], str]) -> None:
    """Create the tables of a new journal, or bring an older one up to date.

    Run it inside a transaction, so that a failed migration leaves the file as it was.
    ``now`` stamps the version row.
    """
    for statement in _SCHEMA:
        conn.execute(statement)
    version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    if version is None:
        _stamp(conn, now)
    elif version > SCHEMA_VERSION:
        raise JournalError(
            f"journal {path} was written by a newer Better Orders (schema "
            f"{version}, this version reads {SCHEMA_VERSION}); upgrade to use it"
        )
    elif version < SCHEMA_VERSION:
        _migrate(conn, version)
        _stamp(conn, now)


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    if version < 2:
        # 2: the quantity a leg was sized to when its ladder started (see ``size_intent``).
        _add_column(conn, "intents", "sized_qty TEXT")
    if version < 3:
        # 3: what a lock's holder is doing (a run and its command), for the refusal message.
        _add_column(conn, "locks", "purpose TEXT")
    # 4: the ``quote_marks`` table, created above like every table a journal lacks.


def _add_column(conn: sqlite3.Connection, table: str, column: str) -> None:
    """Add ``column`` unless the table has it (a table created above is already current)."""
    name = column.split()[0]
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    if name not in present:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def _stamp(conn: sqlite3.Connection, now: Callable[[], str]) -> None:
    conn.execute(
        "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
        (SCHEMA_VERSION, now()),
    )
