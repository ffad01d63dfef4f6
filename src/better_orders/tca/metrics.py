"""Execution-cost metrics per decision, and their summaries per file and policy.

Conventions (all in bps of the arrival mid unless said otherwise; positive = paid):

* **cost** - implementation shortfall of what was filled: ``side x (avg - arrival
  mid) / arrival mid``. The arrival mid is the mid of the quote in force at the
  decision (the ladder's own benchmark), so every policy at one decision is
  measured against the same price.
* **effective spread** - ``2 x side x (fill - mid at the fill) / mid at the
  fill``, quantity-weighted over the fills: what the fills paid against the book
  as it stood when they happened.
* **improvement** - ``side x (arrival far touch - avg) / arrival mid``: how much
  better than taking the touch at the decision (negative = worse).
* **completion** - filled / requested; **time to fill** - decision to last fill.

Summaries pool buys and sells, so the price drift over the evaluation window
cancels out of the comparison; ``ratio_to_market`` divides a policy's mean cost
by the ``market`` policy's on the same file.

Money stays ``Decimal`` in the records; statistics are floats.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np

from better_orders.core.model import ExecutionReport, Side
from better_orders.tca.decomposition import CostDecomposition
from better_orders.venues.sim.replay import ReplayQuotes

_BPS = Decimal(10_000)
#: Completion is judged within this many seconds of the decision by default.
DEFAULT_COMPLETION_SECONDS = 150.0
MARKET_POLICY = "market"


@dataclass(slots=True)
class DecisionRecord:
    """One policy at one decision time on one file, for one side."""

    file: str
    symbol: str
    policy: str
    side: Side
    decision: datetime
    requested_qty: Decimal
    filled_qty: Decimal
    avg_price: Decimal | None
    arrival_bid: Decimal | None
    arrival_ask: Decimal | None
    arrival_mid: Decimal | None
    cost_bps: float | None
    effective_spread_bps: float | None
    improvement_bps: float | None
    completion: float
    time_to_fill_seconds: float | None
    waited_seconds: float
    repegs: int
    fallback_used: bool
    fallback_blocked: bool
    attempts: int
    typical_spread_bps: float | None
    error: str | None
    unfilled_reason: str | None
    report: ExecutionReport = field(repr=False)
    decomposition: CostDecomposition | None = None

    @property
    def shortfall_bps(self) -> float | None:
        """The whole order's shortfall without fees, unfilled shares valued (``decomposition``)."""
        return None if self.decomposition is None else self.decomposition.bps("execution")

    def complete_within(self, seconds: float = DEFAULT_COMPLETION_SECONDS) -> bool:
        return (
            self.filled_qty == self.requested_qty
            and self.time_to_fill_seconds is not None
            and self.time_to_fill_seconds <= seconds
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (Decimals as exact strings); the full report is left out."""

        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "file": self.file,
            "symbol": self.symbol,
            "policy": self.policy,
            "side": self.side.value,
            "decision": self.decision.isoformat(),
            "requested_qty": text(self.requested_qty),
            "filled_qty": text(self.filled_qty),
            "avg_price": text(self.avg_price),
            "arrival_bid": text(self.arrival_bid),
            "arrival_ask": text(self.arrival_ask),
            "arrival_mid": text(self.arrival_mid),
            "cost_bps": _round(self.cost_bps),
            "effective_spread_bps": _round(self.effective_spread_bps),
            "improvement_bps": _round(self.improvement_bps),
            "completion": self.completion,
            "time_to_fill_seconds": _round(self.time_to_fill_seconds, 3),
            "waited_seconds": round(self.waited_seconds, 3),
            "repegs": self.repegs,
            "fallback_used": self.fallback_used,
            "fallback_blocked": self.fallback_blocked,
            "attempts": self.attempts,
            "typical_spread_bps": _round(self.typical_spread_bps),
            "error": self.error,
            "unfilled_reason": self.unfilled_reason,
            "shortfall_bps": _round(self.shortfall_bps),
            "decomposition": None if self.decomposition is None else self.decomposition.as_dict(),
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def decision_record(
    *,
    file: str,
    policy: str,
    decision: datetime,
    report: ExecutionReport,
    quotes: ReplayQuotes,
    typical_spread_bps: float | None = None,
    decomposition: CostDecomposition | None = None,
) -> DecisionRecord:
    """Measure one finished ladder (``report``) against the book in ``quotes``."""
    side = report.side
    mid = report.arrival_mid
    avg = report.avg_fill_price
    cost = improvement = None
    if avg is not None and mid:
        cost = float((avg - mid) * side.sign / mid * _BPS)
        far = report.arrival_ask if side is Side.BUY else report.arrival_bid
        if far is not None:
            improvement = float((far - avg) * side.sign / mid * _BPS)
    effective = _effective_spread(report, quotes)
    last_fill = max((f.ts for f in report.fills), default=None)
    ttf = (last_fill - decision).total_seconds() if last_fill is not None else None
    requested = report.requested_qty
    return DecisionRecord(
        file=file,
        symbol=report.symbol,
        policy=policy,
        side=side,
        decision=decision,
        requested_qty=requested,
        filled_qty=report.filled_qty,
        avg_price=avg,
        arrival_bid=report.arrival_bid,
        arrival_ask=report.arrival_ask,
        arrival_mid=mid,
        cost_bps=cost,
        effective_spread_bps=effective,
        improvement_bps=improvement,
        completion=float(report.filled_qty / requested) if requested else 0.0,
        time_to_fill_seconds=ttf,
        waited_seconds=report.waited_seconds,
        repegs=report.repegs_used,
        fallback_used=report.fallback_used,
        fallback_blocked=report.fallback_blocked,
        attempts=len(report.attempts),
        typical_spread_bps=typical_spread_bps,
        error=report.error,
        unfilled_reason=report.unfilled_reason,
        report=report,
        decomposition=decomposition,
    )


def _effective_spread(report: ExecutionReport, quotes: ReplayQuotes) -> float | None:
    total_qty = Decimal(0)
    weighted = Decimal(0)
    sign = report.side.sign
    for fill in report.fills:
        row = quotes.index_at(fill.ts)
        if row < 0:
            continue
        bid, ask = int(quotes.bid_e4[row]), int(quotes.ask_e4[row])
        if bid <= 0 or ask <= 0:
            continue
        mid = Decimal(bid + ask) / Decimal(20_000)
        weighted += fill.qty * 2 * sign * (fill.price - mid) / mid
        total_qty += fill.qty
    if total_qty == 0:
        return None
    return float(weighted / total_qty * _BPS)


# -- summaries --------------------------------------------------------------------------------


@dataclass(slots=True)
class PolicySummary:
    """One policy on one file, buys and sells together."""

    file: str
    symbol: str
    policy: str
    decisions: int
    mean_cost_bps: float | None
    median_cost_bps: float | None
    p90_cost_bps: float | None
    completion_rate: float
    complete_within_rate: float
    within_seconds: float
    mean_time_to_fill_seconds: float | None
    p90_time_to_fill_seconds: float | None
    mean_waited_seconds: float
    mean_repegs: float
    fallback_rate: float
    mean_effective_spread_bps: float | None
    mean_improvement_bps: float | None
    ratio_to_market: float | None = None
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = round(value, 4) if isinstance(value, float) else value
        return out


def _stats(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    if not values:
        return None, None, None
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(np.median(arr)), float(np.percentile(arr, 90))


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def summarize(
    records: Iterable[DecisionRecord], within_seconds: float = DEFAULT_COMPLETION_SECONDS
) -> list[PolicySummary]:
    """One summary per (file, policy), in first-seen order, with ratios to ``market``."""
    groups: dict[tuple[str, str], list[DecisionRecord]] = defaultdict(list)
    for record in records:
        groups[(record.file, record.policy)].append(record)
    summaries: list[PolicySummary] = []
    for (file, policy), group in groups.items():
        # The whole order's shortfall, as the per-symbol-day tables count it: the filled
        # shares' cost alone would drop the worst decisions, those that filled little.
        costs = [r.shortfall_bps for r in group if r.shortfall_bps is not None]
        ttf = [r.time_to_fill_seconds for r in group if r.time_to_fill_seconds is not None]
        mean, median, p90 = _stats(costs)
        _, _, p90_ttf = _stats(ttf)
        n = len(group)
        summaries.append(
            PolicySummary(
                file=file,
                symbol=group[0].symbol,
                policy=policy,
                decisions=n,
                mean_cost_bps=mean,
                median_cost_bps=median,
                p90_cost_bps=p90,
                completion_rate=sum(r.filled_qty == r.requested_qty for r in group) / n,
                complete_within_rate=sum(r.complete_within(within_seconds) for r in group) / n,
                within_seconds=within_seconds,
                mean_time_to_fill_seconds=_mean(ttf),
                p90_time_to_fill_seconds=p90_ttf,
                mean_waited_seconds=float(np.mean([r.waited_seconds for r in group])),
                mean_repegs=float(np.mean([r.repegs for r in group])),
                fallback_rate=sum(r.fallback_used for r in group) / n,
                mean_effective_spread_bps=_mean(
                    [r.effective_spread_bps for r in group if r.effective_spread_bps is not None]
                ),
                mean_improvement_bps=_mean(
                    [r.improvement_bps for r in group if r.improvement_bps is not None]
                ),
                errors=sum(r.error is not None for r in group),
            )
        )
    market = {s.file: s.mean_cost_bps for s in summaries if s.policy == MARKET_POLICY}
    for s in summaries:
        base = market.get(s.file)
        if base is not None and s.mean_cost_bps is not None and base > 0:
            s.ratio_to_market = s.mean_cost_bps / base
    return summaries


@dataclass(frozen=True, slots=True)
class MinuteRow:
    """One policy's decisions in one minute after the open (minute 0 = 09:30-09:31)."""

    file: str
    policy: str
    minute: int
    decisions: int
    mean_cost_bps: float | None
    completion_rate: float


def by_minute(
    records: Iterable[DecisionRecord],
    session_open: dict[str, datetime],
    within_seconds: float = DEFAULT_COMPLETION_SECONDS,
) -> list[MinuteRow]:
    """Mean cost and completion (within ``within_seconds``) by minute after each file's open."""
    groups: dict[tuple[str, str, int], list[DecisionRecord]] = defaultdict(list)
    for r in records:
        opened = session_open.get(r.file)
        if opened is None:
            continue
        minute = math.floor((r.decision - opened).total_seconds() / 60)
        groups[(r.file, r.policy, minute)].append(r)
    rows = []
    for (file, policy, minute), group in sorted(groups.items()):
        costs = [r.shortfall_bps for r in group if r.shortfall_bps is not None]
        rows.append(
            MinuteRow(
                file=file,
                policy=policy,
                minute=minute,
                decisions=len(group),
                mean_cost_bps=_mean(costs),
                completion_rate=sum(r.complete_within(within_seconds) for r in group) / len(group),
            )
        )
    return rows
