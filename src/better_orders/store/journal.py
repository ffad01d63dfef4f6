"""The journal: a SQLite (WAL) record of every run, intent, order, broker event and fill.

Rules of this file:

* **Write before acting.** A child order is recorded as ``pending_submit`` before the
  submit call leaves the process, so after a crash every order that *might* be at the
  broker is known by its client order id, and the reconciler can ask the broker about
  it instead of guessing.
* **Nothing twice.** Client order ids are deterministic (run, leg, attempt; see
  ``ids``) and unique in the ``orders`` table: recording one a second time raises
  ``JournalError``, which is the guarantee that a retry, a restart or a second process
  cannot send the same order again. Fills are unique by ``exec_id``, so a replayed or
  duplicated fill counts once.
* **Facts only move forward.** Broker events are always appended to ``events``; the
  summary row in ``orders`` only ever grows its ``filled_qty`` and never leaves a terminal
  status for a non-terminal one (``records.merge_status``), so events arriving late or
  out of order cannot undo what is already known.

Transactions and errors are the file's (``database``), values are stored exactly and
without secrets (``encoding``), and locks (``locks``) and the quotes marked around fills
(``quote_marks``) live in the same file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from better_orders.core.errors import InvalidInputError, JournalError
from better_orders.core.model import Fill, OrderRequest, OrderUpdate, Side, cumulative_of
from better_orders.store.encoding import (
    dec_or_none,
    dec_text,
    params_hash,
    redact,
    to_json,
    ts_text,
)
from better_orders.store.ids import RECOVERED_PREFIX, parse_client_order_id
from better_orders.store.locks import LockTable
from better_orders.store.quote_marks import QuoteMarkTable
from better_orders.store.records import (
    PENDING_SUBMIT,
    TERMINAL_VALUES,
    EventRecord,
    IntentRecord,
    OrderRecord,
    RunRecord,
    RunStatus,
    event_from_row,
    fill_from_row,
    intent_from_row,
    merge_status,
    order_from_row,
    parse_run_status,
    run_from_row,
)


class Journal(QuoteMarkTable, LockTable):
    """One open journal file. Synchronous: every call is a short local transaction.

    Open it with ``Journal.open(path)``; use it as a context manager or ``close()`` it.
    ``clock`` (wall clock, UTC) stamps the bookkeeping columns and lock heartbeats;
    replace it only to test lock expiry. The file, its transactions and its locks are
    handled by the base classes (``LockTable``, ``Database``), the quotes marked around
    fills by ``QuoteMarkTable``.
    """

    # ------------------------------------------------------------------ runs

    def start_run(self, run_id: str, kind: str, params: Mapping[str, Any], broker: str) -> None:
        """Record a new run as ``running``. A run id already in the journal is refused."""
        if not kind or not broker:
            raise InvalidInputError("a run needs a kind and a broker name")
        clean = redact(params)
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
        final = parse_run_status(status)
        if final is RunStatus.RUNNING:
            raise InvalidInputError(f"run {run_id} cannot be finished as 'running'")
        report_json = None if report is None else to_json(redact(report))
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
            before = run_from_row(rows[0])
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
        return run_from_row(rows[0]) if rows else None

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
            status=None if status is None else parse_run_status(status).value,
            kind=kind,
        )
        rows = self._query(f"SELECT * FROM runs{where} ORDER BY started_at, run_id", args)
        return [run_from_row(row) for row in rows]

    def latest_run(self, kind: str | None = None) -> RunRecord | None:
        where, args = _where(kind=kind)
        rows = self._query(
            f"SELECT * FROM runs{where} ORDER BY started_at DESC, run_id DESC LIMIT 1", args
        )
        return run_from_row(rows[0]) if rows else None

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
        report_json = None if report is None else to_json(redact(report))
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
        return [intent_from_row(row) for row in rows]

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
                    dec_text(request.limit_price),
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
                    ts_text(update.ts),
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
            filled_qty, avg_price = current_qty, dec_or_none(row["filled_avg_price"])
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
                    merge_status(row["status"], update.status),
                    str(filled_qty),
                    dec_text(avg_price),
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
            marks = ", ".join("?" * len(TERMINAL_VALUES))
            where += (" AND " if where else " WHERE ") + f"status NOT IN ({marks})"
            args += tuple(sorted(TERMINAL_VALUES))
        rows = self._query(f"SELECT * FROM orders{where} ORDER BY created_at, rowid", args)
        return [order_from_row(row) for row in rows]

    def get_order(self, client_order_id: str) -> OrderRecord | None:
        rows = self._query("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))
        return order_from_row(rows[0]) if rows else None

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
        return [event_from_row(row) for row in rows]

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
            fill = self._beyond_recorded(fill)
            if fill.qty <= 0:
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
                    ts_text(fill.ts),
                    self._now(),
                ),
            )
            return cursor.rowcount == 1

    def _beyond_recorded(self, fill: Fill) -> Fill:
        """A fill known from its order's cumulative quantity (``cumulative_exec_id``: it
        brings the order's fills to N) counts only the shares beyond those already
        recorded for the order: another process may have recorded them under their real
        execution ids. Any other fill as it is."""
        total = cumulative_of(fill.exec_id)
        if total is None:
            return fill
        rows = self._conn.execute(
            "SELECT qty FROM fills WHERE client_order_id = ? AND exec_id != ?",
            (fill.client_order_id, fill.exec_id),
        ).fetchall()
        recorded = sum((Decimal(r["qty"]) for r in rows), Decimal(0))
        return dataclasses.replace(fill, qty=min(fill.qty, total - recorded))

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
        return [fill_from_row(row) for row in rows]

    def positions_from_fills(
        self, run_id: str | None = None, *, broker: str | None = None
    ) -> dict[str, Decimal]:
        """Net quantity per symbol from recorded fills (buys +, sells -); flat symbols omitted.

        ``broker`` leaves out the fills of runs traded on another venue
        (``RunRecord.traded_on``); fills of no run (an order placed by hand, seen while a
        run listened) are kept.
        """
        fills = self.fills(run_id=run_id)
        if broker is not None:
            elsewhere = {r.run_id for r in self.find_runs() if not r.traded_on(broker)}
            if elsewhere:
                rows = self._query("SELECT exec_id, run_id FROM fills", ())
                away = {row["exec_id"] for row in rows if row["run_id"] in elsewhere}
                fills = [f for f in fills if f.exec_id not in away]
        totals: dict[str, Decimal] = {}
        for fill in fills:
            totals[fill.symbol] = totals.get(fill.symbol, Decimal(0)) + fill.side.sign * fill.qty
        return {symbol: qty for symbol, qty in totals.items() if qty != 0}

    def _require_run(self, run_id: str) -> None:
        if self._conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
            raise JournalError(f"run {run_id} is not in the journal: start it first")


def _where(**filters: Any) -> tuple[str, tuple[Any, ...]]:
    """`` WHERE a = ? AND b = ?`` for the filters that are not None (names are ours, not
    user input)."""
    used = {k: v for k, v in filters.items() if v is not None}
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{k} = ?" for k in used), tuple(used.values())
