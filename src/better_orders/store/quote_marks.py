"""The quotes marked around fills: a parent's arrival, the quote at each fill and after it.

The runner marks a handful of quotes per fill (``engine.markouts``), not every quote it
sees: enough for the TCA of real runs (``tca.own_fills``) and for fitting the simulator
to them (``tca.calibrate``). A mark is written once: a second one for the same fill,
kind and delay (a resumed run, a duplicated fill event) is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from better_orders.store.database import Database
from better_orders.store.encoding import ts_text
from better_orders.store.records import QuoteMark, quote_mark_from_row


class QuoteMarkTable(Database):
    """The ``quote_marks`` table of a journal file."""

    def record_quote_marks(self, marks: Iterable[QuoteMark]) -> int:
        """Record marks not yet in the journal; returns how many were new."""
        added = 0
        now = self._now()
        with self.transaction():
            for m in marks:
                q = m.quote
                cursor = self._conn.execute(
                    "INSERT OR IGNORE INTO quote_marks (run_id, leg, exec_id, kind, after_ms,"
                    " symbol, bid, ask, bid_size, ask_size, quote_ts, taken_at, recorded_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        m.run_id,
                        m.leg,
                        m.exec_id,
                        m.kind.value,
                        m.after_ms,
                        q.symbol,
                        str(q.bid),
                        str(q.ask),
                        str(q.bid_size),
                        str(q.ask_size),
                        ts_text(q.ts),
                        ts_text(m.taken_at),
                        now,
                    ),
                )
                added += cursor.rowcount
        return added

    def quote_marks(
        self, run_id: str | None = None, *, since: datetime | None = None
    ) -> list[QuoteMark]:
        """Marks of one run (or of every run, or of runs started at or after ``since``)."""
        sql, args = "SELECT * FROM quote_marks", []
        if run_id is not None:
            sql += " WHERE run_id = ?"
            args.append(run_id)
        elif since is not None:
            sql += " WHERE run_id IN (SELECT run_id FROM runs WHERE started_at >= ?)"
            args.append(ts_text(since))
        rows = self._query(sql + " ORDER BY run_id, leg, quote_ts, rowid", tuple(args))
        return [quote_mark_from_row(row) for row in rows]
