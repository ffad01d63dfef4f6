"""The paper account behind the simulated broker: cash, long positions, persistence.

A cash account without margin: buying power is cash minus what open buy orders
have reserved, and sells are limited to the shares held (long only). The checks
take the reservations as arguments because the venue's open orders, not this
object, are the truth about what is still working.

Persistence lives in the same SQLite file as the journal, in its own tables
(``paper_account``, ``paper_positions``), Decimals stored as TEXT, so that
successive commands see the positions earlier ones built. The simulated venue
also keeps its orders and executions there (``sim_orders``, ``sim_fills``).
Saved cash and positions move only with the fills that move them: each new
execution is inserted and applied to the saved account in one transaction
(``record``), so a process killed after the venue filled an order but before
the journal heard of it leaves a fill the reconciler can still find, never cash
moved without one, and two processes on one file never lose each other's fills
(there is no whole-account snapshot written at the end to overwrite them).
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from better_orders.core.errors import BUYING_POWER, BrokerError, InvalidInputError, JournalError
from better_orders.core.model import (
    Account,
    BrokerOrder,
    Fill,
    OrderStatus,
    OrderType,
    Position,
    Side,
)

DEFAULT_CASH = Decimal(100_000)
#: A market buy reserves its quantity at the ask plus this cushion (it may walk the book).
MARKET_BUY_CUSHION = Decimal("1.01")
ZERO = Decimal(0)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS paper_account (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS paper_positions (
    symbol TEXT PRIMARY KEY,
    qty TEXT NOT NULL,
    avg_entry_price TEXT
);
CREATE TABLE IF NOT EXISTS sim_orders (
    client_order_id TEXT PRIMARY KEY,
    broker_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty TEXT NOT NULL,
    order_type TEXT NOT NULL,
    limit_price TEXT,
    status TEXT NOT NULL,
    filled_qty TEXT NOT NULL,
    filled_avg_price TEXT,
    submitted_at TEXT
);
CREATE TABLE IF NOT EXISTS sim_fills (
    exec_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty TEXT NOT NULL,
    price TEXT NOT NULL,
    ts TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class PaperPosition:
    symbol: str
    qty: Decimal  # negative = short (only reachable through apply_fill; orders are long-only)
    avg_entry_price: Decimal | None


def _money(value: Decimal) -> str:
    return f"${value:,.2f}"


class PaperAccount:
    """Cash and positions, changed only by ``apply_fill`` (and ``reset``)."""

    def __init__(
        self,
        cash: Decimal = DEFAULT_CASH,
        positions: Mapping[str, PaperPosition] | None = None,
        *,
        path: Path | None = None,
    ) -> None:
        if cash < 0:
            raise InvalidInputError(f"starting cash cannot be negative: {cash}")
        self._cash = cash
        self._positions: dict[str, PaperPosition] = dict(positions or {})
        self.path = path

    # -- state -------------------------------------------------------------------------------

    @property
    def cash(self) -> Decimal:
        return self._cash

    @property
    def positions(self) -> dict[str, PaperPosition]:
        return dict(self._positions)

    def qty(self, symbol: str) -> Decimal:
        found = self._positions.get(symbol)
        return found.qty if found is not None else ZERO

    def apply_fill(self, fill: Fill) -> None:
        """Move cash and the position by exactly ``qty x price``."""
        notional = fill.qty * fill.price
        self._cash += -notional if fill.side is Side.BUY else notional
        old = self._positions.get(fill.symbol)
        old_qty = old.qty if old is not None else ZERO
        delta = fill.qty * fill.side.sign
        new_qty = old_qty + delta
        if new_qty == 0:
            self._positions.pop(fill.symbol, None)
            return
        if old is None or old_qty == 0 or (old_qty > 0) != (new_qty > 0):
            avg: Decimal | None = fill.price  # opened, or flipped through zero
        elif (delta > 0) == (old_qty > 0):
            assert old.avg_entry_price is not None
            avg = (old_qty * old.avg_entry_price + delta * fill.price) / new_qty
        else:
            avg = old.avg_entry_price  # reducing keeps the entry price
        self._positions[fill.symbol] = PaperPosition(fill.symbol, new_qty, avg)

    def reset(self, cash: Decimal = DEFAULT_CASH) -> None:
        """Start over: ``cash`` and no positions (saved when the account has a file)."""
        if cash < 0:
            raise InvalidInputError(f"starting cash cannot be negative: {cash}")
        self._cash = cash
        self._positions.clear()
        if self.path is not None:
            self.save()

    # -- pre-trade checks ----------------------------------------------------------------------

    def buying_power(self, reserved: Decimal = ZERO) -> Decimal:
        return self._cash - reserved

    def check_buy(self, symbol: str, qty: Decimal, unit_price: Decimal, reserved: Decimal) -> None:
        """Refuse a buy of ``qty`` at up to ``unit_price`` that the free cash cannot pay."""
        cost = qty * unit_price
        available = self._cash - reserved
        if cost > available:
            held = f" ({_money(reserved)} held for open buy orders)" if reserved else ""
            raise BrokerError(
                f"insufficient buying power for {symbol}: buying {qty} at up to {unit_price} "
                f"needs {_money(cost)}, available {_money(available)} "
                f"of {_money(self._cash)} cash{held}",
                code=BUYING_POWER,
            )

    def check_sell(self, symbol: str, qty: Decimal, reserved_qty: Decimal) -> None:
        """Refuse a sell beyond the shares held and not already offered by open sells."""
        available = self.qty(symbol) - reserved_qty
        if qty > available:
            offered = f", {reserved_qty} already in open sell orders" if reserved_qty else ""
            raise BrokerError(
                f"insufficient quantity to sell {qty} {symbol}: holding {self.qty(symbol)}"
                f"{offered}; the paper account is long-only",
                code="insufficient_qty",
            )

    # -- valuation -------------------------------------------------------------------------------

    def market_value(self, prices: Mapping[str, Decimal]) -> Decimal:
        """Positions at ``prices`` (a position without a price counts at its entry price)."""
        total = ZERO
        for symbol, position in self._positions.items():
            price = prices.get(symbol, position.avg_entry_price)
            if price is not None:
                total += position.qty * price
        return total

    def equity(self, prices: Mapping[str, Decimal]) -> Decimal:
        return self._cash + self.market_value(prices)

    def to_account(self, prices: Mapping[str, Decimal], reserved: Decimal = ZERO) -> Account:
        return Account(
            cash=self._cash,
            buying_power=self.buying_power(reserved),
            equity=self.equity(prices),
            account_id="sim-paper",
        )

    def to_positions(self, prices: Mapping[str, Decimal]) -> list[Position]:
        return [
            Position(p.symbol, p.qty, p.avg_entry_price, prices.get(p.symbol))
            for p in sorted(self._positions.values(), key=lambda p: p.symbol)
        ]

    # -- persistence -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, *, default_cash: Decimal = DEFAULT_CASH) -> PaperAccount:
        """The account saved in ``path`` (``default_cash`` and no positions if it has none yet).

        Saved cash is taken as it is, below zero too: a margin account may owe cash; only a
        starting amount cannot be negative.
        """
        file = Path(path)
        with _connect(file) as db:
            cash, positions = _read_state(db, file)
        account = cls(default_cash, positions, path=file)
        if cash is not None:
            account._cash = cash
        return account

    def record(self, *, orders: Iterable[BrokerOrder] = (), fills: Iterable[Fill] = ()) -> None:
        """Record the venue's ``orders`` (upserted) and ``fills``, moving the saved cash and
        positions by each new fill, in one transaction; this object then holds the file's state.

        Cash and positions are read and written inside that transaction and moved only by
        fills recorded in it for the first time (by exec id), never overwritten with this
        process's view: a fill recorded twice moves nothing, and no other writer of the
        file loses one.
        """
        if self.path is None:
            raise InvalidInputError("this paper account has no file to record to")
        file = self.path
        with _connect(file) as db, _immediate(db):
            cash, positions = _read_state(db, file)
            # No account saved yet: this one (its starting cash) is the first.
            moved = cash is None
            state = copy.copy(self)  # the same kind of account (a margin one may owe cash)
            if cash is None:
                state._positions = dict(self._positions)
            else:
                state._cash, state._positions = cash, positions
            for f in fills:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO sim_fills (exec_id, client_order_id, symbol, side,"
                    " qty, price, ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        f.exec_id,
                        f.client_order_id,
                        f.symbol,
                        f.side.value,
                        str(f.qty),
                        str(f.price),
                        f.ts.isoformat(),
                    ),
                )
                if cursor.rowcount == 1:
                    state.apply_fill(f)
                    moved = True
            if moved:
                _write_state(db, state)
            db.executemany(
                "INSERT OR REPLACE INTO sim_orders (client_order_id, broker_order_id,"
                " symbol, side, qty, order_type, limit_price, status, filled_qty,"
                " filled_avg_price, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_order_row(o) for o in orders],
            )
        self._cash, self._positions = state._cash, dict(state._positions)

    def save(self, path: str | Path | None = None) -> None:
        """Overwrite the saved cash and positions with this account's (to ``path``, else the
        loaded file): a deposit, a withdrawal, a reset. Trading never does this; fills move
        the saved account through ``record``."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise InvalidInputError("this paper account has no file to save to: pass a path")
        with _connect(target) as db, _immediate(db):
            _write_state(db, self)
        self.path = target


def _read_state(
    db: sqlite3.Connection, file: Path
) -> tuple[Decimal | None, dict[str, PaperPosition]]:
    """Saved cash (None: no account saved yet) and positions."""
    row = db.execute("SELECT cash FROM paper_account WHERE id = 1").fetchone()
    rows = db.execute(
        "SELECT symbol, qty, avg_entry_price FROM paper_positions ORDER BY symbol"
    ).fetchall()
    positions: dict[str, PaperPosition] = {}
    for symbol, qty, avg in rows:
        positions[symbol] = PaperPosition(
            symbol,
            _decimal(qty, f"{symbol} quantity in {file}"),
            _decimal(avg, f"{symbol} entry price in {file}") if avg is not None else None,
        )
    cash = None if row is None else _decimal(row[0], f"cash in {file}")
    return cash, positions


def _write_state(db: sqlite3.Connection, account: PaperAccount) -> None:
    db.execute(
        "INSERT INTO paper_account (id, cash) VALUES (1, ?) "
        "ON CONFLICT(id) DO UPDATE SET cash = excluded.cash",
        (str(account.cash),),
    )
    db.execute("DELETE FROM paper_positions")
    db.executemany(
        "INSERT INTO paper_positions (symbol, qty, avg_entry_price) VALUES (?, ?, ?)",
        [
            (
                p.symbol,
                str(p.qty),
                str(p.avg_entry_price) if p.avg_entry_price is not None else None,
            )
            for p in account.positions.values()
        ],
    )


@contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once so what it reads cannot change before it commits."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def load_venue_records(path: str | Path) -> tuple[list[BrokerOrder], list[Fill]]:
    """The simulated venue's orders and fills saved in ``path`` (empty lists for a new file)."""
    file = Path(path)
    with _connect(file) as db:
        order_rows = db.execute("SELECT * FROM sim_orders ORDER BY rowid").fetchall()
        fill_rows = db.execute("SELECT * FROM sim_fills ORDER BY rowid").fetchall()
    orders = [
        BrokerOrder(
            client_order_id=r[0],
            broker_order_id=r[1],
            symbol=r[2],
            side=Side(r[3]),
            qty=_decimal(r[4], f"quantity of order {r[0]} in {file}"),
            order_type=OrderType(r[5]),
            limit_price=None if r[6] is None else _decimal(r[6], f"limit of {r[0]} in {file}"),
            status=OrderStatus(r[7]),
            filled_qty=_decimal(r[8], f"filled quantity of {r[0]} in {file}"),
            filled_avg_price=None if r[9] is None else _decimal(r[9], f"price of {r[0]}"),
            submitted_at=None if r[10] is None else datetime.fromisoformat(r[10]),
        )
        for r in order_rows
    ]
    fills = [
        Fill(
            exec_id=r[0],
            client_order_id=r[1],
            symbol=r[2],
            side=Side(r[3]),
            qty=_decimal(r[4], f"quantity of execution {r[0]} in {file}"),
            price=_decimal(r[5], f"price of execution {r[0]} in {file}"),
            ts=datetime.fromisoformat(r[6]),
        )
        for r in fill_rows
    ]
    return orders, fills


def _order_row(order: BrokerOrder) -> tuple[str | None, ...]:
    return (
        order.client_order_id,
        order.broker_order_id,
        order.symbol,
        order.side.value,
        str(order.qty),
        order.order_type.value,
        None if order.limit_price is None else str(order.limit_price),
        order.status.value,
        str(order.filled_qty),
        None if order.filled_avg_price is None else str(order.filled_avg_price),
        None if order.submitted_at is None else order.submitted_at.isoformat(),
    )


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived connection (WAL, autocommit), so the journal can share the file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise JournalError(f"cannot open the paper account database {path}: {exc}") from None
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        yield db
    except sqlite3.Error as exc:
        raise JournalError(f"paper account database {path}: {exc}") from None
    finally:
        db.close()


def _decimal(text: object, what: str) -> Decimal:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise JournalError(f"corrupt paper account: {what} is {text!r}") from None
    if not value.is_finite():
        raise JournalError(f"corrupt paper account: {what} is {text!r}")
    return value
