"""The corpus view of an evaluation: per symbol-day and pooled, per side and regime, with intervals.

The cost of a decision here is its implementation shortfall without fees
(``DecisionRecord.shortfall_bps``: the filled part against the arrival mid plus
anything unfilled valued at the far touch when the window closes), in bps of the
arrival notional, so every decision weighs the same whatever the share price.

**Ratio to market** (the estimator): over the decisions where both the policy and
the ``market`` policy have a cost (same file, decision time and side),
``sum of the policy's costs / sum of the market order's costs``. A ratio of sums,
not a mean of per-decision ratios (a market cost near zero would blow those up),
and not a ratio of mean costs over different decisions.

Pooled figures are over every decision of the symbol-days in a group (all of them,
or one regime); their 95% intervals resample whole symbol-days
(``bootstrap.Resampler``). A single symbol-day has no interval: one price path
cannot say how another day would go.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from better_orders.core.model import Side
from better_orders.tca.bootstrap import Interval, Resampler, ratio_of_sums
from better_orders.tca.decomposition import COMPONENTS, ZERO, CostDecomposition
from better_orders.tca.metrics import DEFAULT_COMPLETION_SECONDS, MARKET_POLICY, DecisionRecord
from better_orders.tca.regime import Regime, RegimeInfo

#: How the sides are shown: each alone, then together.
SIDES = ("buy", "sell", "both")
ALL_DAYS = "all"
ESTIMATOR = (
    "ratio to market = sum of the policy's shortfall (bps of arrival notional, fees excluded, "
    "unfilled shares at the far touch when the window closes) / sum of the market order's, "
    "over the same decisions; 95% interval: percentile bootstrap resampling whole symbol-days"
)


@dataclass(slots=True)
class _Tally:
    """Sums over one policy's decisions on one symbol-day and side."""

    decisions: int = 0
    complete: int = 0
    costed: int = 0
    cost_sum: float = 0.0
    matched_policy: float = 0.0
    matched_market: float = 0.0
    parts_bps: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COMPONENTS, 0.0))
    parts: CostDecomposition = ZERO

    def add(self, other: _Tally) -> None:
        self.decisions += other.decisions
        self.complete += other.complete
        self.costed += other.costed
        self.cost_sum += other.cost_sum
        self.matched_policy += other.matched_policy
        self.matched_market += other.matched_market
        for name in COMPONENTS:
            self.parts_bps[name] += other.parts_bps[name]
        self.parts = self.parts + other.parts


@dataclass(frozen=True, slots=True)
class CostFigures:
    """What a row shows: mean cost, ratio to market, completion and the decomposition."""

    decisions: int
    mean_bps: float | None
    ratio: float | None
    complete_rate: float | None
    parts_bps: dict[str, float]
    parts: CostDecomposition

    @classmethod
    def of(cls, tally: _Tally) -> CostFigures:
        n = tally.costed
        return cls(
            decisions=tally.decisions,
            mean_bps=tally.cost_sum / n if n else None,
            ratio=ratio_of_sums([tally.matched_policy], [tally.matched_market]),
            complete_rate=tally.complete / tally.decisions if tally.decisions else None,
            parts_bps={k: v / n for k, v in tally.parts_bps.items()} if n else {},
            parts=tally.parts,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "decisions": self.decisions,
            "mean_shortfall_bps": _round(self.mean_bps),
            "ratio_to_market": _round(self.ratio),
            "complete_within_rate": _round(self.complete_rate),
            "decomposition_bps": {k: round(v, 4) for k, v in self.parts_bps.items()},
            "decomposition_usd": {
                **{k: str(self.parts.dollars(k)) for k in COMPONENTS},
                "total": str(self.parts.total),
            },
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True, slots=True)
class DayRow:
    """One policy on one symbol-day, one side (or both)."""

    file: str
    symbol: str
    day: str
    regime: Regime
    policy: str
    side: str
    figures: CostFigures

    def as_dict(self) -> dict[str, object]:
        head = {"file": self.file, "symbol": self.symbol, "day": self.day}
        rest = {"regime": self.regime.value, "policy": self.policy, "side": self.side}
        return head | rest | self.figures.as_dict()


@dataclass(frozen=True, slots=True)
class PooledRow:
    """One policy over a group of symbol-days (all, or one regime), one side (or both)."""

    group: str
    policy: str
    side: str
    symbol_days: int
    figures: CostFigures
    mean_ci: Interval | None
    ratio_ci: Interval | None
    complete_ci: Interval | None

    def as_dict(self) -> dict[str, object]:
        def ci(value: Interval | None) -> list[float] | None:
            return None if value is None else value.as_list()

        return {
            "group": self.group,
            "policy": self.policy,
            "side": self.side,
            "symbol_days": self.symbol_days,
            **self.figures.as_dict(),
            "mean_shortfall_bps_ci95": ci(self.mean_ci),
            "ratio_to_market_ci95": ci(self.ratio_ci),
            "complete_within_rate_ci95": ci(self.complete_ci),
        }


@dataclass(frozen=True, slots=True)
class CorpusSummary:
    """Per symbol-day and pooled rows, and how they were computed."""

    days: list[DayRow]
    pooled: list[PooledRow]
    regimes: dict[str, RegimeInfo]
    within_seconds: float
    resampler: Resampler

    def pooled_row(self, group: str, policy: str, side: str) -> PooledRow | None:
        for row in self.pooled:
            if (row.group, row.policy, row.side) == (group, policy, side):
                return row
        return None

    def as_dict(self) -> dict[str, object]:
        return {
            "estimator": ESTIMATOR,
            "confidence": self.resampler.confidence,
            "resamples": self.resampler.resamples,
            "seed": self.resampler.seed,
            "within_seconds": self.within_seconds,
            "per_symbol_day": [r.as_dict() for r in self.days],
            "pooled": [r.as_dict() for r in self.pooled],
        }


def _tallies(
    records: Sequence[DecisionRecord], within_seconds: float
) -> dict[tuple[str, str, str], _Tally]:
    """One tally per (file, policy, side), each decision matched with the market order's."""
    market: dict[tuple[str, datetime, Side], float] = {}
    for r in records:
        if r.policy == MARKET_POLICY and r.shortfall_bps is not None:
            market[(r.file, r.decision, r.side)] = r.shortfall_bps
    tallies: dict[tuple[str, str, str], _Tally] = defaultdict(_Tally)
    for r in records:
        t = tallies[(r.file, r.policy, r.side.value)]
        t.decisions += 1
        t.complete += r.complete_within(within_seconds)
        cost, parts = r.shortfall_bps, r.decomposition
        if cost is None or parts is None:
            continue
        t.costed += 1
        t.cost_sum += cost
        for name in COMPONENTS:
            t.parts_bps[name] += parts.bps(name)
        t.parts = t.parts + parts
        base = market.get((r.file, r.decision, r.side))
        if base is not None:
            t.matched_policy += cost
            t.matched_market += base
    return tallies


def _side_tally(
    tallies: Mapping[tuple[str, str, str], _Tally], file: str, policy: str, side: str
) -> _Tally:
    out = _Tally()
    for s in ("buy", "sell") if side == "both" else (side,):
        found = tallies.get((file, policy, s))
        if found is not None:
            out.add(found)
    return out


def summarize_corpus(
    records: Sequence[DecisionRecord],
    regimes: Mapping[str, RegimeInfo],
    days: Mapping[str, tuple[str, str]],
    *,
    within_seconds: float = DEFAULT_COMPLETION_SECONDS,
    resampler: Resampler = Resampler(),
) -> CorpusSummary:
    """Rows per symbol-day and pooled (all days, then each regime present), per policy and side.

    ``days`` maps each file label to its (symbol, date) for display; files, policies
    and sides keep the order they first appear in.
    """
    tallies = _tallies(records, within_seconds)
    files = list(dict.fromkeys(r.file for r in records))
    policies = list(dict.fromkeys(r.policy for r in records))
    present = {r.side.value for r in records}
    sides = [s for s in SIDES if s in present or (s == "both" and len(present) > 1)]
    day_rows: list[DayRow] = []
    for f in files:
        symbol, day = days[f]
        for p in policies:
            for s in sides:
                figures = CostFigures.of(_side_tally(tallies, f, p, s))
                day_rows.append(DayRow(f, symbol, day, regimes[f].regime, p, s, figures))
    groups: list[tuple[str, list[str]]] = [(ALL_DAYS, files)]
    for regime in Regime:
        members = [f for f in files if regimes[f].regime is regime]
        if members and len(members) < len(files):
            groups.append((regime.value, members))
    pooled: list[PooledRow] = []
    for group, members in groups:
        for p in policies:
            for s in sides:
                per_day = [_side_tally(tallies, f, p, s) for f in members]
                total = _Tally()
                for t in per_day:
                    total.add(t)
                pooled.append(
                    PooledRow(
                        group=group,
                        policy=p,
                        side=s,
                        symbol_days=len(members),
                        figures=CostFigures.of(total),
                        mean_ci=resampler.ratio(
                            [t.cost_sum for t in per_day], [t.costed for t in per_day]
                        ),
                        ratio_ci=resampler.ratio(
                            [t.matched_policy for t in per_day],
                            [t.matched_market for t in per_day],
                        ),
                        complete_ci=resampler.ratio(
                            [t.complete for t in per_day], [t.decisions for t in per_day]
                        ),
                    )
                )
    return CorpusSummary(day_rows, pooled, dict(regimes), within_seconds, resampler)
