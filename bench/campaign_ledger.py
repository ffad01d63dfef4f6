"""The independent campaign's invariants, worked out from the venue's own records.

The truth is what the simulated venue executed, as it saved it in the journal file
(``sim_orders``, ``sim_fills``) and the account the scenario started with; the
product's journal and reports are only ever compared against it. Every sum is
done here, with ``Decimal``, from raw rows: none of the product's arithmetic
(progress, positions from fills, reconciliation) is used to decide what is right.

After a scenario (all its attempts, kills included) these must hold:

- **cash moved exactly by fills**: the account's cash is the starting cash less
  every bought execution's quantity x price plus every sold one's;
- **positions**: each position is what was held before plus the venue's executions;
  none is negative (the account is long-only);
- **nothing left open at the venue**, and no venue order filled beyond its size or
  disagreeing with its own executions;
- **no leg beyond its planned size**, and nothing traded that no leg asked for: an
  ``order`` leg's size is the user's; a rebalance leg's is the size its plan
  journalled before any order was sent (nothing, for a buy journalled as skipped
  because the buying power could not fund a single share of it);
- **finished** (scenarios whose faults all allow it): every leg filled exactly its
  planned size, in one run of the command (a run killed before it journalled its legs
  traded nothing and is not resumed), completed;
- **exactly once in the journal**: every venue order was journalled, with the venue's
  filled quantity (and not as refused when the venue took it), every venue execution
  is a journal fill exactly once, and the journal has no other fill;
- right after each kill, **journalled first**: every order the venue holds is already
  in the journal (``check_after_kill``);
- **the report is the venue's**: a command that ran in one attempt reports, per leg,
  what the venue filled.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

from campaign_scenario import Scenario

ZERO = Decimal(0)
TERMINAL = {"filled", "canceled", "rejected", "expired", "done_for_day", "replaced"}


def _reading(db: Path) -> closing[sqlite3.Connection]:
    """One read-only connection for all of a check's queries."""
    return closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True))


def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]]:
    return conn.execute(sql).fetchall()


def check(sc: Scenario, db: Path, *, finished: bool, report: Any = None) -> list[str]:
    """What does not hold for scenario ``sc`` in ``db`` (see the module docstring).

    ``finished``: every leg must have filled its planned size. ``report``: the command's
    result when it ran in one attempt, to compare with the venue.
    """
    with _reading(db) as conn:
        return _check(sc, conn, finished=finished, report=report)


def _check(sc: Scenario, conn: sqlite3.Connection, *, finished: bool, report: Any) -> list[str]:
    out: list[str] = []
    fills = [
        (e, c, s, side, Decimal(q), Decimal(p))
        for e, c, s, side, q, p in _rows(
            conn, "SELECT exec_id, client_order_id, symbol, side, qty, price FROM sim_fills"
        )
    ]
    orders = {
        c: (s, side, Decimal(q), status, Decimal(f))
        for c, s, side, q, status, f in _rows(
            conn, "SELECT client_order_id, symbol, side, qty, status, filled_qty FROM sim_orders"
        )
    }
    # cash and positions, from the executions alone
    cash = sc.cash
    traded: dict[tuple[str, str], Decimal] = {}
    per_order: dict[str, Decimal] = {}
    for _, coid, symbol, side, qty, price in fills:
        cash += qty * price if side == "sell" else -qty * price
        traded[symbol, side] = traded.get((symbol, side), ZERO) + qty
        per_order[coid] = per_order.get(coid, ZERO) + qty
    expected = dict(sc.held)
    for (symbol, side), qty in traded.items():
        expected[symbol] = expected.get(symbol, ZERO) + (qty if side == "buy" else -qty)
    expected = {s: q for s, q in expected.items() if q != 0}
    ((saved_cash,),) = _rows(conn, "SELECT cash FROM paper_account")
    if Decimal(saved_cash) != cash:
        out.append(f"cash {saved_cash} != starting cash moved by the venue's fills {cash}")
    held = {s: Decimal(q) for s, q in _rows(conn, "SELECT symbol, qty FROM paper_positions")}
    held = {s: q for s, q in held.items() if q != 0}
    if held != expected:
        out.append(f"positions {held} != held before plus the venue's fills {expected}")
    negative = sorted(s for s, q in expected.items() if q < 0)
    if negative:
        out.append(f"negative positions in a long-only account: {negative}")
    # the venue's orders
    for coid, (symbol, _, qty, status, filled) in orders.items():
        if status not in TERMINAL:
            out.append(f"{coid} ({symbol}) still {status} at the venue")
        done = per_order.get(coid, ZERO)
        if done > qty:
            out.append(f"{coid} filled {done} of its {qty} at the venue")
        if done != filled:
            out.append(f"{coid}: the venue's executions add up to {done}, its order says {filled}")
    # the plan: each leg's size, and what the venue filled of it
    planned = _planned(sc, conn)
    for (symbol, side), qty in traded.items():
        size = planned.get((symbol, side))
        if size is None:
            out.append(f"{side} {qty} {symbol} traded, but no leg asked for it")
        elif qty > size:
            out.append(f"leg {side} {symbol} filled {qty}, beyond its planned {size}")
    if finished:
        short = {
            k: (traded.get(k, ZERO), q) for k, q in planned.items() if traded.get(k, ZERO) != q
        }
        for (symbol, side), (done, size) in sorted(short.items()):
            out.append(f"leg {side} {symbol} ended at {done} of its planned {size}")
    out.extend(_journal_vs_venue(conn, orders, fills, finished))
    if report is not None and sc.kind == "order":
        for r in report:
            done = traded.get((r.symbol, r.side.value), ZERO)
            if r.filled_qty != done:
                out.append(f"report: {r.symbol} filled {r.filled_qty}, the venue {done}")
    return out


def check_after_kill(db: Path) -> list[str]:
    """Right after a kill: every order the venue holds was journalled before it was sent.

    (Its answer and fills may still be missing: the next start reconciles those.)"""
    with _reading(db) as conn:
        at_venue = {c for (c,) in _rows(conn, "SELECT client_order_id FROM sim_orders")}
        journalled = {c for (c,) in _rows(conn, "SELECT client_order_id FROM orders")}
    lost = sorted(at_venue - journalled)
    return [f"orders at the venue the journal never recorded: {lost}"] if lost else []


def _planned(sc: Scenario, conn: sqlite3.Connection) -> dict[tuple[str, str], Decimal]:
    """Each leg's size: the user's for an order; as journalled before any order for a
    rebalance (the size of a buy sized at its turn, none for a buy the buying power left
    unstarted, else its planned quantity)."""
    if sc.kind == "order":
        return {(s.symbol, s.side.value): s.qty for s in sc.legs}
    rows = _rows(conn, "SELECT symbol, side, qty, sized_qty, status FROM intents")
    return {
        (s, side): Decimal(sized if sized is not None else 0 if status == "skipped" else q)
        for s, side, q, sized, status in rows
    }


def _journal_vs_venue(
    conn: sqlite3.Connection,
    orders: dict[str, tuple[Any, ...]],
    fills: list[tuple[Any, ...]],
    finished: bool,
) -> list[str]:
    out: list[str] = []
    journalled = {
        c: (status, Decimal(f))
        for c, status, f in _rows(conn, "SELECT client_order_id, status, filled_qty FROM orders")
    }
    lost = sorted(set(orders) - set(journalled))
    if lost:
        out.append(f"orders at the venue the journal never recorded: {lost}")
    for coid, (_, _, _, status, filled) in sorted(orders.items()):
        if coid not in journalled:
            continue
        j_status, j_filled = journalled[coid]
        if j_filled != filled:
            out.append(f"{coid} filled {filled} at the venue, {j_filled} in the journal")
        if j_status == "rejected" and status != "rejected":
            # e.g. its id sent again after a crash, refused as a duplicate: the journal
            # never knew the venue had taken it
            out.append(f"{coid} taken by the venue ({status}), recorded as refused in the journal")
    counted = Counter(
        e for (e,) in _rows(conn, "SELECT exec_id FROM fills WHERE client_order_id != 'opening'")
    )
    venue = {f[0] for f in fills}
    twice = sorted(e for e, n in counted.items() if n > 1)
    if twice:
        out.append(f"venue executions journalled twice: {twice}")
    missing = sorted(venue - set(counted))
    if missing:
        out.append(f"venue executions missing from the journal: {missing}")
    extra = sorted(e for e in set(counted) - venue if not e.startswith("recovered-"))
    if extra:
        out.append(f"journal fills the venue never made: {extra}")
    # A run killed before its legs were journalled traded nothing and is not resumed; the
    # first run that journalled legs is the one every later attempt must resume.
    runs = _rows(
        conn,
        "SELECT run_id, status FROM runs WHERE run_id IN (SELECT run_id FROM intents)"
        " OR run_id IN (SELECT run_id FROM orders)",
    )
    if len(runs) > 1:
        out.append(f"{len(runs)} runs traded for one command: {runs} (later ones must resume)")
    elif finished and runs and runs[0][1] != "completed":
        out.append(f"the command's run did not complete: {runs}")
    return out
