"""The example decision a report draws: one representative ladder, and the book around it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from better_orders.core.model import OrderType
from better_orders.tca.evaluate import TcaResult
from better_orders.tca.metrics import MARKET_POLICY, DecisionRecord
from better_orders.venues.sim.files import from_ns
from better_orders.venues.sim.replay import ReplayQuotes

#: The example decision is drawn from this policy when it was evaluated.
EXAMPLE_POLICY = "ladder"
_NEW_YORK = ZoneInfo("America/New_York")
_PAD_BEFORE = timedelta(seconds=3)
_PAD_AFTER = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class ExampleTrace:
    """One decision and the book around it, ready to draw."""

    record: DecisionRecord
    times: list[datetime]
    bids: list[float]
    asks: list[float]
    #: (label, start, end, limit) per limit order; market orders have limit None.
    orders: list[tuple[str, datetime, datetime, float | None]]
    #: (time, price, qty) per fill.
    fills: list[tuple[datetime, float, float]]


def pick_example(result: TcaResult) -> DecisionRecord | None:
    """A representative decision: the example policy's median-cost one that waited or re-pegged.

    Falls back to any non-market policy, then to any decision at all.
    """
    names = [p.name for p in result.policies]
    preferred = [EXAMPLE_POLICY] if EXAMPLE_POLICY in names else []
    preferred += [n for n in names if n not in preferred and n != MARKET_POLICY]
    preferred += [n for n in names if n not in preferred]
    first_file = result.files[0].label if result.files else None
    for name in preferred:
        pool = [
            r
            for r in result.records
            if r.policy == name and r.file == first_file and r.cost_bps is not None
        ]
        if not pool:
            continue
        interesting = [r for r in pool if r.waited_seconds > 0 or r.attempts > 1] or pool
        costs = np.array([r.cost_bps for r in interesting], dtype=np.float64)
        median = float(np.median(costs))
        return min(interesting, key=lambda r: (abs((r.cost_bps or 0.0) - median), r.decision))
    return None


def example_trace(record: DecisionRecord, quotes: ReplayQuotes) -> ExampleTrace:
    report = record.report
    ends = [record.decision, report.finished]
    ends += [f.ts for f in report.fills]
    ends += [a.ended for a in report.attempts if a.ended is not None]
    start = record.decision - _PAD_BEFORE
    stop = max(ends) + _PAD_AFTER
    first = max(quotes.index_at(start), 0)
    last = max(quotes.index_at(stop), first)
    times: list[datetime] = [start]
    bids: list[float] = [float(quotes.bid_e4[first]) / 1e4]
    asks: list[float] = [float(quotes.ask_e4[first]) / 1e4]
    for i in range(first + 1, last + 1):
        times.append(from_ns(int(quotes.ts_ns[i])))
        bids.append(float(quotes.bid_e4[i]) / 1e4)
        asks.append(float(quotes.ask_e4[i]) / 1e4)
    times.append(stop)
    bids.append(bids[-1])
    asks.append(asks[-1])
    orders = []
    for n, a in enumerate(report.attempts, start=1):
        limit = float(a.limit_price) if a.order_type is OrderType.LIMIT and a.limit_price else None
        orders.append((f"{n}: {a.kind.value}", a.started, a.ended or report.finished, limit))
    fills = [(f.ts, float(f.price), float(f.qty)) for f in report.fills]
    return ExampleTrace(record, times, bids, asks, orders, fills)


def example_title(trace: ExampleTrace) -> str:
    r = trace.record
    et = r.decision.astimezone(_NEW_YORK).strftime("%H:%M:%S")
    return (
        f"{r.file}: {r.policy} {r.side.value} {r.requested_qty} {r.symbol} decided {et} ET - "
        f"cost {_bps(r.cost_bps)} bps, waited {r.waited_seconds:.1f} s, "
        f"{r.attempts} order(s), {r.repegs} re-peg(s)"
    )


def _bps(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
