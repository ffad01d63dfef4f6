"""The journal's parent orders as the TCA of your own fills reads them.

For every leg of every run (``load_legs``): its arrival quote, its child orders as the
ladder sent them, its fills with the quotes marked around them (``engine.markouts``),
and the book the simulator replays them on (``tca.fill_replay``). That book is a step
function through the marked quotes (the arrival, each fill, the markouts after it) and
the quote each child order was priced from (the ladder's attempts): without the
latter, a leg whose market ran away between its fills, or that never filled, would be
replayed on its arrival quote, and its children, priced within the slippage budget
against a market that had left, would fill in the replay at prices long gone.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import NEW_YORK
from better_orders.core.model import Fill, OrderRequest, OrderType, Quote, Side, TimeInForce
from better_orders.store.encoding import parse_ts
from better_orders.store.journal import Journal
from better_orders.store.records import IntentRecord, MarkKind, QuoteMark

#: The journal tables a file must hold to be read as a journal.
_JOURNAL_TABLES = frozenset({"schema_version", "runs", "intents", "orders", "fills"})
#: Time-of-day buckets (New York), by their start.
_TIMES = (
    (time(0, 0), "pre-open"),
    (time(9, 30), "09:30-09:35"),
    (time(9, 35), "09:35-10:00"),
    (time(10, 0), "10:00-15:30"),
    (time(15, 30), "15:30-16:00"),
    (time(16, 0), "after close"),
)


@dataclass(frozen=True, slots=True)
class ChildOrder:
    """One child order as it was sent: its request and when the ladder sent and ended it."""

    request: OrderRequest
    attempt: int
    #: When the ladder decided it (its attempt's start).
    started: datetime
    #: When the venue ended it (the time of its last event), as the ladder recorded.
    ended: datetime | None
    filled: bool
    #: Refused before it was sent or rejected: it never rested at a venue.
    rejected: bool
    #: When it left for the venue: its first journalled event, the broker's answer to the
    #: submit stamped when it was sent (after ``started`` when the ladder decided on an
    #: event the runner heard one update latency later); ``started`` without one.
    sent: datetime


@dataclass(slots=True)
class MarkedFill:
    """A fill with the quotes around it (None where none was marked)."""

    fill: Fill
    at: Quote | None
    after: dict[int, Quote] = field(default_factory=dict)
    #: When the fill reached the runner, on its clock (journalled fills only).
    received: datetime | None = None
    #: The share of a prediction this fill stands for: 1 for a journalled fill, 1/N for
    #: a fill of one of the N draws of a replay with random partial fills.
    weight: float = 1.0


@dataclass(slots=True)
class LegRecord:
    """One parent order of a journalled run, with its child orders, fills and quotes."""

    run_id: str
    leg: int
    broker: str
    symbol: str
    side: Side
    requested: Decimal
    arrival: Quote
    arrival_time: datetime
    policy: str
    klass: str
    orders: list[ChildOrder]
    fills: list[MarkedFill]
    #: The replay's book for this symbol in this run, in time order (module docstring).
    book: list[Quote]

    @property
    def time_of_day(self) -> str:
        return time_bucket(self.arrival_time)


def time_bucket(when: datetime) -> str:
    local = when.astimezone(NEW_YORK).time()
    label = _TIMES[0][1]
    for start, name in _TIMES:
        if local >= start:
            label = name
    return label


# ------------------------------------------------------------------------------ reading


def open_journal(path: Path) -> Journal:
    """Open an existing journal for its TCA; one clear error for anything else."""
    if not path.exists():
        raise InvalidInputError(f"journal {path} does not exist")
    if path.is_dir():
        raise InvalidInputError(f"journal {path} is a folder, not a journal file")
    try:
        raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            raw.close()
    except sqlite3.Error:
        raise InvalidInputError(f"{path} is not a Better Orders journal (not SQLite)") from None
    missing = sorted(_JOURNAL_TABLES - names)
    if missing:
        raise InvalidInputError(
            f"{path} is not a Better Orders journal (no {', '.join(missing)} table)"
        )
    return Journal.open(path)


def parse_since(text: str | None, today: date) -> date | None:
    """``--since`` as a New York date: YYYY-MM-DD, not after ``today``."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"--since {text!r}: give a date as YYYY-MM-DD") from None
    if day > today:
        raise InvalidInputError(f"--since {day} is in the future (today is {today})")
    return day


def load_legs(
    journal: Journal, config: BetterOrdersConfig, since: date | None = None
) -> list[LegRecord]:
    """Every leg of the journal that arrived on or after ``since`` and has an arrival quote."""
    legs: list[LegRecord] = []
    sent = _first_events(journal)
    for run in journal.find_runs():
        marks = journal.quote_marks(run.run_id)
        orders = journal.orders(run_id=run.run_id)
        fills = journal.fills(run_id=run.run_id)
        intents = journal.intents(run.run_id)
        priced = _priced(intents)
        for intent in intents:
            report = intent.report or {}
            arrival = _arrival(marks, intent.leg, intent.symbol, report)
            if arrival is None:
                continue
            quote, at = arrival
            if since is not None and at.astimezone(NEW_YORK).date() < since:
                continue
            attempts = {a["client_order_id"]: a for a in report.get("attempts", [])}
            leg_orders = [o for o in orders if o.leg == intent.leg]
            coids = {o.client_order_id for o in leg_orders}
            legs.append(
                LegRecord(
                    run_id=run.run_id,
                    leg=intent.leg,
                    broker=run.broker,
                    symbol=intent.symbol,
                    side=intent.side,
                    requested=intent.sized_qty or intent.qty,
                    arrival=quote,
                    arrival_time=at,
                    policy=_policy(report),
                    klass=config.symbol_class(intent.symbol).value,
                    orders=[
                        _child(o, attempts.get(o.client_order_id), sent.get(o.client_order_id))
                        for o in leg_orders
                    ],
                    fills=_marked(
                        [f for f in fills if f.client_order_id in coids], marks, intent.leg
                    ),
                    book=_book(marks, intent.symbol, priced.get(intent.symbol, [])),
                )
            )
    return legs


def _arrival(
    marks: Sequence[QuoteMark], leg: int, symbol: str, report: dict[str, Any]
) -> tuple[Quote, datetime] | None:
    for m in marks:
        if m.leg == leg and m.kind is MarkKind.ARRIVAL:
            return m.quote, m.taken_at
    # A run journalled before quotes were marked: the report's arrival, without sizes.
    bid, ask, at = report.get("arrival_bid"), report.get("arrival_ask"), report.get("arrival_time")
    if bid is None or ask is None or at is None:
        return None
    when = parse_ts(at)
    return Quote(symbol, Decimal(bid), Decimal(ask), Decimal(0), Decimal(0), when), when


def _policy(report: dict[str, Any]) -> str:
    if report.get("routed") == "standard":
        return "standard"
    return str(report.get("strategy") or "unknown")


def _first_events(journal: Journal) -> dict[str, datetime]:
    """Each order's first journalled event time (the broker's answer to its submit)."""
    first: dict[str, datetime] = {}
    for event in journal.events():
        first.setdefault(event.update.client_order_id, event.update.ts)
    return first


def _child(order: Any, attempt: dict[str, Any] | None, first: datetime | None) -> ChildOrder:
    request = OrderRequest(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        qty=order.qty,
        order_type=OrderType(order.order_type),
        limit_price=order.limit_price,
        time_in_force=TimeInForce(order.time_in_force),
    )
    started = parse_ts(attempt["started"]) if attempt else order.created_at
    ended = parse_ts(attempt["ended"]) if attempt and attempt.get("ended") else None
    status = order.status
    # A first event before the ladder's decision or after the order ended is not the
    # answer to its submit (another clock, a later lookup): the decision time stands.
    late = ended is not None and first is not None and first > ended
    sent = first if first is not None and first >= started and not late else started
    return ChildOrder(
        request,
        order.attempt,
        started,
        ended,
        status == "filled",
        status == "rejected",
        sent,
    )


def _marked(fills: Iterable[Fill], marks: Sequence[QuoteMark], leg: int) -> list[MarkedFill]:
    by_exec: dict[str, MarkedFill] = {}
    out: list[MarkedFill] = []
    for f in fills:
        marked = MarkedFill(f, None)
        by_exec[f.exec_id] = marked
        out.append(marked)
    for m in marks:
        target = by_exec.get(m.exec_id) if m.leg == leg else None
        if target is None:
            continue
        if m.kind is MarkKind.FILL:
            target.at, target.received = m.quote, m.taken_at
        elif m.kind is MarkKind.AFTER:
            target.after[m.after_ms] = m.quote
    return out


#: A quote a child order was priced from: (when, bid, ask).
Priced = tuple[datetime, Decimal, Decimal]


def _priced(intents: Iterable[IntentRecord]) -> dict[str, list[Priced]]:
    """Per symbol, the two-sided quotes the legs' child orders were priced from."""
    out: dict[str, list[Priced]] = {}
    for intent in intents:
        for attempt in (intent.report or {}).get("attempts", []):
            try:
                at = parse_ts(attempt["started"])
                bid, ask = Decimal(attempt["quote_bid"]), Decimal(attempt["quote_ask"])
            except (KeyError, TypeError, ValueError, InvalidOperation):
                continue
            if 0 < bid <= ask:
                out.setdefault(intent.symbol, []).append((at, bid, ask))
    return out


def _book(marks: Sequence[QuoteMark], symbol: str, priced: Sequence[Priced]) -> list[Quote]:
    """The marked quotes of ``symbol``, and each quote a child order was priced from where
    the marked one in force then shows other prices. Its sizes are not journalled: those
    of the marked quote in force stand (the step function's assumption between marks)."""
    quotes = {m.quote.ts: m.quote for m in marks if m.quote.symbol == symbol}
    book = [quotes[ts] for ts in sorted(quotes)]
    for at, bid, ask in sorted(priced):
        i = bisect_right(book, at, key=lambda q: q.ts) - 1
        if i < 0 or book[i].ts == at or (book[i].bid, book[i].ask) == (bid, ask):
            continue
        book.insert(i + 1, replace(book[i], bid=bid, ask=ask, ts=at))
    return book
