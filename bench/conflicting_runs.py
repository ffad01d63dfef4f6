"""Pairs of conflicting ``better-orders`` commands on one journal, as real processes.

    python bench/conflicting_runs.py [--pairs 100] [--seed 1] [--pace 0.05] [--db PATH]

Each pair starts two commands that trade the same simulated paper account at the same
moment, alternately two orders (``order buy SOXL 30`` and ``order buy TQQQ 10``) and two
rebalances to different targets (which sell what the other bought). In every other pair
the second command is given ``--wait``. Each command is refused (exit 7, naming the
running one), waits for the other, or runs alone; two runs never trade at once. A command
that ran may end short of its order (exit 1: the slippage budget stopped it at the open's
fall, or the other command had spent the cash) or have an order refused by the broker
(exit 5, the cash again): those are counted, not failures.

Afterwards everything is checked from the simulated venue's own records (its orders
and executions, ``sim_orders`` / ``sim_fills``), not from the product's arithmetic:

- lost fills: venue executions missing from the journal, and shares or cash of the
  venue's executions that the paper account does not hold;
- doubled fills: journal fills the venue never made, and shares or cash the account
  holds beyond the venue's executions;
- overlapping runs: two runs of the journal whose lifetimes overlap;
- negative positions (the account is long-only), orders left open, and a final
  ``better-orders reconcile`` that must exit 0.

``BETTER_ORDERS_SIM_PACE`` (``--pace``, wall seconds per simulated second) slows each
run down so the two commands of a pair really meet.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

ENTRY = "from better_orders.cli.app import main; main()"
AT = "2026-11-24T09:30:00"
START_CASH = Decimal(100_000)
PAIRS = (
    (("order", "buy", "SOXL", "30"), ("order", "buy", "TQQQ", "10")),
    (("rebalance", "SOXL=0.45", "TQQQ=0.45"), ("rebalance", "SPY=0.6", "QQQ=0.3")),
)


def command(db: Path, args: tuple[str, ...], pace: float, wait: bool) -> subprocess.Popen[str]:
    env = dict(os.environ, BETTER_ORDERS_SIM_PACE=str(pace))
    extra = ["--wait"] if wait else []
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args, "--db", str(db), "--at", AT, "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


#: Exits that are what two commands trading one account can come to, not failures of the
#: journal or its locks: an order left short (the slippage budget stopped it, or the other
#: command had spent the cash), or an order the broker refused (the cash again). Each is
#: counted under its name, by exit code and the words its one line says.
_TRADING_OUTCOMES = {
    1: ("incomplete:", "left short"),
    5: ("refused by the broker", "refused by the broker"),
}


def run_pairs(db: Path, pairs: int, pace: float, rng: random.Random) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    for i in range(pairs):
        first, second = PAIRS[i % len(PAIRS)]
        if rng.random() < 0.5:
            first, second = second, first
        wait = i % 4 >= 2  # pairs of each kind alternate refusing and waiting
        procs = [command(db, first, pace, False), command(db, second, pace, wait)]
        codes = []
        for proc in procs:
            _, err = proc.communicate(timeout=600)
            codes.append(proc.returncode)
            outcome = _TRADING_OUTCOMES.get(proc.returncode)
            if outcome is not None and outcome[0] in err:
                outcomes[outcome[1]] += 1
            elif proc.returncode not in (0, 7):
                outcomes["other failure"] += 1
                print(f"pair {i}: exit {proc.returncode}: {err.strip()[-300:]}", file=sys.stderr)
            elif proc.returncode == 7 and "is in use by" not in err:
                outcomes["other failure"] += 1
                print(f"pair {i}: {err.strip()[-300:]}", file=sys.stderr)
        refused = codes.count(7)
        outcomes[
            "one refused" if refused == 1 else "both ran" if refused == 0 else "both refused"
        ] += 1
        print(f"\rpairs {i + 1}/{pairs}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return outcomes


def dec(text: str) -> Decimal:
    return Decimal(text)


def check(db: Path) -> dict[str, object]:
    """The invariants, from the venue's records, the journal and the account (read only)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    venue = {
        r[0]: r for r in conn.execute("SELECT exec_id, symbol, side, qty, price FROM sim_fills")
    }
    journal = Counter(r[0] for r in conn.execute("SELECT exec_id FROM fills"))
    held = {s: dec(q) for s, q in conn.execute("SELECT symbol, qty FROM paper_positions")}
    (cash_text,) = conn.execute("SELECT cash FROM paper_account").fetchone()
    runs = conn.execute(
        "SELECT started_at, finished_at, status FROM runs ORDER BY started_at"
    ).fetchall()
    open_orders = conn.execute(
        "SELECT COUNT(*) FROM sim_orders WHERE status NOT IN"
        " ('filled', 'canceled', 'rejected', 'expired', 'done_for_day', 'replaced')"
    ).fetchone()[0]
    conn.close()

    shares: dict[str, Decimal] = {}
    cash = START_CASH
    for _, symbol, side, qty, price in venue.values():
        sign = 1 if side == "buy" else -1
        shares[symbol] = shares.get(symbol, Decimal(0)) + sign * dec(qty)
        cash -= sign * dec(qty) * dec(price)
    short = sum(
        (max(q - held.get(s, Decimal(0)), Decimal(0)) for s, q in shares.items()), Decimal(0)
    )
    extra = sum(
        (max(q - shares.get(s, Decimal(0)), Decimal(0)) for s, q in held.items()), Decimal(0)
    )
    cash_gap = dec(cash_text) - cash
    overlaps = sum(
        1 for (_, end, _), (begin, _, _) in itertools.pairwise(runs) if end is None or begin < end
    )
    return {
        "venue executions": len(venue),
        "journal fills": sum(journal.values()),
        "lost from the journal": len(set(venue) - set(journal)),
        "doubled in the journal": sum(n - 1 for n in journal.values())
        + len(set(journal) - set(venue)),
        "account short (shares)": short,
        "account over (shares)": extra,
        "account cash minus venue cash": cash_gap,
        "runs": Counter(status for _, _, status in runs),
        "overlapping runs": overlaps,
        "negative positions": sum(1 for q in held.values() if q < 0),
        "orders open at the venue": open_orders,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pace", type=float, default=0.05, help="wall s per simulated s")
    parser.add_argument("--db", type=Path, help="journal file (default: a new temporary one)")
    args = parser.parse_args()
    db = args.db or Path(tempfile.mkdtemp(prefix="conflicting-runs-")) / "journal.sqlite3"
    started = time.monotonic()
    outcomes = run_pairs(db, args.pairs, args.pace, random.Random(args.seed))
    reconciled = subprocess.run(
        [sys.executable, "-c", ENTRY, "reconcile", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = check(db)
    print(f"journal {db}")
    print(f"pairs {args.pairs}: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    for name, value in found.items():
        if isinstance(value, Counter):
            value = ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
        print(f"{name}: {value}")
    print(f"reconcile afterwards: exit {reconciled.returncode}")
    lost = found["lost from the journal"] or found["account short (shares)"]
    doubled = found["doubled in the journal"] or found["account over (shares)"]
    print(
        f"lost fills: {found['lost from the journal']} (journal), "
        f"{found['account short (shares)']} shares (account); "
        f"doubled fills: {found['doubled in the journal']} (journal), "
        f"{found['account over (shares)']} shares (account)"
    )
    print(f"wall time {time.monotonic() - started:.0f} s")
    bad = (
        lost
        or doubled
        or found["account cash minus venue cash"]
        or found["overlapping runs"]
        or found["negative positions"]
        or found["orders open at the venue"]
        or reconciled.returncode
        or outcomes["other failure"]
    )
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
