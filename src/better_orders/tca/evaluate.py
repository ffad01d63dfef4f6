"""The evaluation: every policy at every decision time and side on each quote file.

A symbol-day is evaluated on its own (``evaluate_day``) into a small ``DayResult``
that holds no quotes, so it can be computed in this process or in a worker
(``tca.distributed``) and sent back; ``merge_days`` puts the days together, in the
order given, into the one ``TcaResult`` the tables, JSON and reports are made from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import LadderParams, ParentOrder
from better_orders.core.market_calendar import NEW_YORK, MarketCalendar
from better_orders.core.model import Side
from better_orders.tca.bootstrap import Resampler
from better_orders.tca.decisions import (
    QuoteFile,
    Sizing,
    decision_times,
    learned_typical_spreads,
    learned_volatilities,
    uses_typical_spread,
)
from better_orders.tca.decomposition import FeeSchedule, decompose
from better_orders.tca.driver import DecisionOutcome, ReplayDriver
from better_orders.tca.metrics import (
    DEFAULT_COMPLETION_SECONDS,
    DecisionRecord,
    MinuteRow,
    PolicySummary,
    by_minute,
    decision_record,
    summarize,
)
from better_orders.tca.policies import Policy
from better_orders.tca.pooled import CorpusSummary, summarize_corpus
from better_orders.tca.regime import RegimeInfo, classify
from better_orders.venues.sim.exchange import Latency
from better_orders.venues.sim.replay import ReplayQuotes


@dataclass(slots=True)
class ReplayCounters:
    """How much replay work an evaluation did (for speed reports)."""

    decisions: int = 0
    rows_processed: int = 0
    rows_skipped: int = 0
    steps: int = 0

    def merge(self, other: ReplayCounters) -> None:
        self.decisions += other.decisions
        self.rows_processed += other.rows_processed
        self.rows_skipped += other.rows_skipped
        self.steps += other.steps

    def add(self, outcome: DecisionOutcome) -> None:
        self.decisions += 1
        self.rows_processed += outcome.rows_processed
        self.rows_skipped += outcome.rows_skipped
        self.steps += outcome.steps

    @property
    def rows_covered(self) -> int:
        """Rows between each decision and its end, summed: what a row-by-row replay would read."""
        return self.rows_processed + self.rows_skipped


@dataclass(frozen=True, slots=True)
class Window:
    """When decisions are taken, on which sides, how large, and how they are judged."""

    start: dt_time
    end: dt_time
    every: timedelta
    sides: tuple[Side, ...]
    sizing: Sizing
    latency: Latency
    within_seconds: float
    fees: FeeSchedule


def evaluate_file(
    file: QuoteFile,
    policies: Sequence[Policy],
    base_config: BetterOrdersConfig,
    times: Sequence[datetime],
    sides: Sequence[Side] = (Side.BUY, Side.SELL),
    *,
    sizing: Sizing = Sizing(),
    latency: Latency = Latency(),
    skip: bool = True,
    calendar: MarketCalendar | None = None,
    progress: Callable[[int], None] | None = None,
    counters: ReplayCounters | None = None,
    within_seconds: float = DEFAULT_COMPLETION_SECONDS,
    fees: FeeSchedule = FeeSchedule(),
) -> list[DecisionRecord]:
    """Every policy at every decision time and side on one file; one record each.

    Decisions are independent: each starts a fresh exchange at its time, so one
    decision's orders never move the book another one sees. Each record carries
    its cost decomposition, with anything unfilled valued ``within_seconds`` after
    the decision.
    """
    completion_window = timedelta(seconds=within_seconds)
    quotes = file.quotes
    driver = ReplayDriver(quotes, calendar=calendar, latency=latency, skip=skip)
    configs = [(p, p.config(base_config)) for p in policies]
    symbol = quotes.symbol
    # The whole-file scan for typical spreads only for the policies whose rule reads them.
    learned: dict[float, list[float | None]] = {}
    moves: dict[float, list[float | None]] = {}
    for _, cfg in configs:
        window = cfg.spread.typical_window_seconds
        if uses_typical_spread(cfg) and window not in learned:
            learned[window] = learned_typical_spreads(quotes, times, window)
        recent = cfg.patience.volatility_window_seconds
        if cfg.patience.drift_k > 0 and recent not in moves:
            moves[recent] = learned_volatilities(quotes, times, recent)
    # A policy's parameters differ between decisions only in the typical spread and the
    # recent volatility (when its patient rest is bounded by it).
    params_for: dict[tuple[int, float | None, float | None], LadderParams] = {}
    records: list[DecisionRecord] = []
    for k, decision in enumerate(times):
        qty = sizing.quantity(quotes, decision)
        for index, (policy, cfg) in enumerate(configs):
            spreads = learned.get(cfg.spread.typical_window_seconds)
            typical = None if spreads is None else spreads[k]
            sigmas = moves.get(cfg.patience.volatility_window_seconds)
            sigma = None if sigmas is None or cfg.patience.drift_k <= 0 else sigmas[k]
            params = params_for.get((index, typical, sigma))
            if params is None:
                params = ladder_params(
                    cfg, symbol, typical_spread_bps=typical, volatility_bps=sigma
                )
                params_for[index, typical, sigma] = params
            for side in sides:
                outcome = driver.run(ParentOrder(symbol, side, qty), params, decision)
                if counters is not None:
                    counters.add(outcome)
                parts = decompose(
                    outcome.report,
                    quotes,
                    window_end=decision + completion_window,
                    submit_latency=latency.submit,
                    fees=fees,
                    sent=outcome.sent,
                )
                records.append(
                    decision_record(
                        file=file.label,
                        policy=policy.name,
                        decision=decision,
                        report=outcome.report,
                        quotes=quotes,
                        typical_spread_bps=params.typical_spread_bps,
                        decomposition=parts,
                    )
                )
            if progress is not None:
                progress(len(sides))
    return records


#: Stand-ins for what ``evaluate_file`` learns from the file, in ``replay_inputs``.
_LEARNT_SPREAD_BPS = 10.0
_LEARNT_VOLATILITY_BPS = 1.0


def replay_inputs(config: BetterOrdersConfig, symbol: str) -> tuple[object, ...]:
    """What ``evaluate_file`` reads from a policy's configuration to replay ``symbol``.

    Two configurations with equal inputs replay every decision alike: a parameter that
    never changes them cannot change a result (``tca.tune_space.inert_params``). What is
    learnt from the file (typical spreads, recent volatility) is taken as fixed: only
    whether and over which window it is learnt comes from the configuration.
    """
    typical = uses_typical_spread(config)
    drift = config.patience.drift_k > 0
    params = ladder_params(
        config,
        symbol,
        typical_spread_bps=_LEARNT_SPREAD_BPS if typical else None,
        volatility_bps=_LEARNT_VOLATILITY_BPS if drift else None,
    )
    return (
        params,
        config.spread.typical_window_seconds if typical else None,
        config.patience.volatility_window_seconds if drift else None,
    )


@dataclass(frozen=True, slots=True)
class DayInfo:
    """A symbol-day as the results name it, without its quotes (a worker may have held them)."""

    label: str
    symbol: str
    #: The trades file whose prints filled resting orders, if any.
    trades: Path | None
    session_open: datetime
    #: The quote file, to load again for a chart; None for quotes built in memory.
    path: Path | None


@dataclass(slots=True)
class DayResult:
    """One symbol-day's part of an evaluation: small, so a worker can send it back."""

    info: DayInfo
    times: list[datetime]
    regime: RegimeInfo
    records: list[DecisionRecord]
    counters: ReplayCounters


def evaluate_day(
    file: QuoteFile,
    policies: Sequence[Policy],
    base_config: BetterOrdersConfig,
    window: Window,
    *,
    calendar: MarketCalendar | None = None,
    progress: Callable[[int], None] | None = None,
) -> DayResult:
    """Every policy at every decision of ``window`` on one symbol-day (``evaluate_file``)."""
    times = decision_times(file, window.start, window.end, window.every, calendar)
    session = file.session(calendar)
    counters = ReplayCounters()
    records = evaluate_file(
        file,
        policies,
        base_config,
        times,
        window.sides,
        sizing=window.sizing,
        latency=window.latency,
        calendar=calendar,
        progress=progress,
        counters=counters,
        within_seconds=window.within_seconds,
        fees=window.fees,
    )
    quotes = file.quotes
    info = DayInfo(file.label, quotes.symbol, file.trades, session.open, quotes.path)
    return DayResult(info, times, classify(quotes, session), records, counters)


@dataclass(slots=True)
class TcaResult:
    """Everything one evaluation produced, for printing, JSON and the reports."""

    files: list[DayInfo]
    policies: list[Policy]
    sides: list[Side]
    times: dict[str, list[datetime]]
    records: list[DecisionRecord]
    within_seconds: float
    wall_seconds: float
    counters: ReplayCounters
    latency: Latency = field(default_factory=Latency)
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    regimes: dict[str, RegimeInfo] = field(default_factory=dict)
    resampler: Resampler = field(default_factory=Resampler)
    #: Quotes already in memory, by label (the in-process run keeps them for the charts).
    loaded: dict[str, ReplayQuotes] = field(default_factory=dict, repr=False)
    _corpus: CorpusSummary | None = field(default=None, repr=False)

    @property
    def session_opens(self) -> dict[str, datetime]:
        return {f.label: f.session_open for f in self.files}

    @property
    def symbol_days(self) -> dict[str, tuple[str, str]]:
        """(symbol, New York date) of each file, as the tables name it."""
        return {
            f.label: (f.symbol, f.session_open.astimezone(NEW_YORK).date().isoformat())
            for f in self.files
        }

    def summaries(self) -> list[PolicySummary]:
        return summarize(self.records, self.within_seconds)

    def corpus(self) -> CorpusSummary:
        """Per symbol-day and pooled figures with intervals (``pooled``), computed once."""
        if self._corpus is None:
            self._corpus = summarize_corpus(
                self.records,
                self.regimes,
                self.symbol_days,
                within_seconds=self.within_seconds,
                resampler=self.resampler,
            )
        return self._corpus

    def minutes(self) -> list[MinuteRow]:
        return by_minute(self.records, self.session_opens, self.within_seconds)

    def quotes_for(self, label: str) -> ReplayQuotes:
        """A symbol-day's quotes: in memory, else loaded again from its file."""
        if label not in self.loaded:
            info = next((f for f in self.files if f.label == label), None)
            if info is None or info.path is None:
                raise KeyError(label)
            self.loaded[label] = QuoteFile.load(
                info.path, symbol=info.symbol, trades=info.trades
            ).quotes
        return self.loaded[label]


def merge_days(
    days: Sequence[DayResult],
    policies: Sequence[Policy],
    window: Window,
    *,
    wall_seconds: float,
    resampler: Resampler = Resampler(),
    loaded: dict[str, ReplayQuotes] | None = None,
) -> TcaResult:
    """One result from the symbol-days' results, in the order of ``days``."""
    counters = ReplayCounters()
    for day in days:
        counters.merge(day.counters)
    return TcaResult(
        files=[d.info for d in days],
        policies=list(policies),
        sides=list(window.sides),
        times={d.info.label: d.times for d in days},
        records=[r for d in days for r in d.records],
        within_seconds=window.within_seconds,
        wall_seconds=wall_seconds,
        counters=counters,
        latency=window.latency,
        fees=window.fees,
        regimes={d.info.label: d.regime for d in days},
        resampler=resampler,
        loaded=dict(loaded or {}),
    )


def run_tca(
    files: Sequence[QuoteFile],
    policies: Sequence[Policy],
    base_config: BetterOrdersConfig,
    *,
    start: dt_time,
    end: dt_time,
    every: timedelta,
    sides: Sequence[Side] = (Side.BUY, Side.SELL),
    sizing: Sizing = Sizing(),
    within_seconds: float = DEFAULT_COMPLETION_SECONDS,
    latency: Latency = Latency(),
    calendar: MarketCalendar | None = None,
    progress: Callable[[int], None] | None = None,
    fees: FeeSchedule = FeeSchedule(),
    resampler: Resampler = Resampler(),
) -> TcaResult:
    """Evaluate every policy on every file, in this process (see ``evaluate_file``)."""
    started = time.perf_counter()
    window = Window(start, end, every, tuple(sides), sizing, latency, within_seconds, fees)
    for f in files:  # a bad window or a file without a session, before any replay
        decision_times(f, start, end, every, calendar)
    days = [
        evaluate_day(f, policies, base_config, window, calendar=calendar, progress=progress)
        for f in files
    ]
    return merge_days(
        days,
        policies,
        window,
        wall_seconds=time.perf_counter() - started,
        resampler=resampler,
        loaded={f.label: f.quotes for f in files},
    )
