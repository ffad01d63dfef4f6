"""``tca tune``: every candidate on every symbol-day once, then cross-validation on the sums.

The work is a matrix of *cells*, one per (candidate, symbol-day) plus one market
order per symbol-day. ``evaluate_cell`` is a plain function of a picklable
``CellTask`` returning a small ``CellResult`` (per-decision costs as arrays), so the
cells can run anywhere: in this process, on a Dask cluster (``tca.distributed``,
the default when the ``dask`` extra is installed, one worker per core), in a
process pool (without it), or on any other executor that maps a function over
picklable inputs. A task names its symbol-day's file (``DaySource``), not its
quotes. Tasks are ordered file by file so that a worker keeps the file it has
loaded (``_load``, a small per-process cache) for the next task.

Once the cells are back, each is reduced to its sums (``matrix``) and the choosing
is arithmetic: ``crossval.leave_one_day_out``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from functools import lru_cache
from multiprocessing import get_context

import numpy as np
import numpy.typing as npt

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.model import Side
from better_orders.data import caches
from better_orders.tca.bootstrap import Resampler
from better_orders.tca.crossval import (
    DEFAULT_MIN_COMPLETION,
    CrossValidation,
    Matrix,
    Objective,
    leave_one_day_out,
)
from better_orders.tca.decisions import DaySource, QuoteFile, decision_times
from better_orders.tca.decomposition import COMPONENTS
from better_orders.tca.distributed import Cluster, file_weight, map_in_order
from better_orders.tca.evaluate import Window, evaluate_file
from better_orders.tca.policies import BUILTIN_POLICIES, Policy
from better_orders.tca.regime import RegimeInfo, classify
from better_orders.tca.tune_space import Candidate

FloatArray = npt.NDArray[np.float64]
#: The candidate index of a symbol-day's market-order cell.
MARKET = -1


@dataclass(frozen=True, slots=True)
class CellTask:
    """One policy on one symbol-day: everything needed to evaluate it, picklable."""

    candidate: int
    day: int
    source: DaySource
    policy: Policy
    config: BetterOrdersConfig
    window: Window


@dataclass(frozen=True, slots=True)
class CellResult:
    """Per-decision results of one cell, in decision order (time, then side)."""

    candidate: int
    day: int
    label: str
    buys: npt.NDArray[np.bool_]
    shortfall_bps: FloatArray
    complete: npt.NDArray[np.bool_]
    parts_bps: FloatArray
    wall_seconds: float
    #: CPU time of the cell (its wall time on an idle core), loading the file included.
    cpu_seconds: float
    #: The market-order cell's regime and name (``SYMBOL YYYY-MM-DD``) of its symbol-day.
    regime: RegimeInfo | None = None
    day_name: str | None = None


@lru_cache(maxsize=2)
def _load(source: DaySource) -> QuoteFile:
    return source.load()


def evaluate_cell(task: CellTask) -> CellResult:
    """Replay ``task.policy`` at every decision of ``task``'s symbol-day (``evaluate_file``)."""
    began, cpu = time.perf_counter(), time.process_time()
    file = _load(task.source)
    w = task.window
    times = decision_times(file, w.start, w.end, w.every)
    session = file.session()
    records = evaluate_file(
        file,
        [task.policy],
        task.config,
        times,
        w.sides,
        sizing=w.sizing,
        latency=w.latency,
        within_seconds=w.within_seconds,
        fees=w.fees,
    )
    nan = float("nan")
    parts = np.full((len(records), len(COMPONENTS)), nan)
    for k, r in enumerate(records):
        if r.decomposition is not None:
            parts[k] = [r.decomposition.bps(c) for c in COMPONENTS]
    return CellResult(
        candidate=task.candidate,
        day=task.day,
        label=file.label,
        buys=np.array([r.side is Side.BUY for r in records], dtype=np.bool_),
        shortfall_bps=np.array(
            [nan if r.shortfall_bps is None else r.shortfall_bps for r in records]
        ),
        complete=np.array([r.complete_within(w.within_seconds) for r in records], dtype=np.bool_),
        parts_bps=parts,
        wall_seconds=time.perf_counter() - began,
        cpu_seconds=time.process_time() - cpu,
        regime=classify(file.quotes, session) if task.candidate == MARKET else None,
        day_name=f"{file.quotes.symbol} {session.date.isoformat()}",
    )


def evaluate_cells(
    tasks: Sequence[CellTask],
    *,
    jobs: int = 1,
    done: Callable[[CellResult], None] | None = None,
    cluster: Cluster | None = None,
) -> list[CellResult]:
    """Every task's result, in the tasks' order: on ``cluster`` (Dask) if given, else in
    ``jobs`` worker processes if ``jobs`` > 1, else here.

    Pool workers are started fresh (``spawn``): nothing of this process is shared but
    the tasks, and whether to keep quote files and the calendar in the user cache.
    """
    if cluster is not None:
        sent = [replace(t, source=t.source.resolved()) for t in tasks]
        weights = [file_weight(t.source.path) for t in sent]
        return map_in_order(evaluate_cell, sent, cluster, weights=weights, done=done)
    if jobs <= 1:
        results = []
        for task in tasks:
            results.append(evaluate_cell(task))
            if done is not None:
                done(results[-1])
        return results
    out: list[CellResult | None] = [None] * len(tasks)
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=get_context("spawn"),
        initializer=caches.use,
        initargs=(caches.in_use(),),
    ) as pool:
        futures = {pool.submit(evaluate_cell, task): k for k, task in enumerate(tasks)}
        for future in as_completed(futures):
            result = future.result()
            out[futures[future]] = result
            if done is not None:
                done(result)
    return [r for r in out if r is not None]


def cell_tasks(
    candidates: Sequence[Candidate],
    days: Sequence[DaySource],
    config: BetterOrdersConfig,
    window: Window,
) -> list[CellTask]:
    """The market order and every candidate on each day, day by day."""
    market = BUILTIN_POLICIES["market"]
    tasks = []
    for d, source in enumerate(days):
        policies = [(MARKET, market), *((c, cand.policy) for c, cand in enumerate(candidates))]
        for c, policy in policies:
            tasks.append(
                CellTask(
                    candidate=c,
                    day=d,
                    source=source,
                    policy=policy,
                    config=config,
                    window=window,
                )
            )
    return tasks


def matrix(results: Sequence[CellResult], candidates: int, days: int) -> Matrix:
    """The sums cross-validation needs, from the cells (``crossval.Matrix``)."""
    shape = (candidates, days, 2)
    policy, market = np.zeros(shape), np.zeros(shape)
    complete, decisions = np.zeros(shape), np.zeros(shape)
    base = {r.day: r for r in results if r.candidate == MARKET}
    for r in results:
        if r.candidate == MARKET:
            continue
        mk = base[r.day]
        both = np.isfinite(r.shortfall_bps) & np.isfinite(mk.shortfall_bps)
        for s, on_side in enumerate((r.buys, ~r.buys)):
            matched = both & on_side
            policy[r.candidate, r.day, s] = r.shortfall_bps[matched].sum()
            market[r.candidate, r.day, s] = mk.shortfall_bps[matched].sum()
            complete[r.candidate, r.day, s] = r.complete[on_side].sum()
            decisions[r.candidate, r.day, s] = on_side.sum()
    return Matrix(policy, market, complete, decisions)


@dataclass(slots=True)
class TuneResult:
    """The candidates, the symbol-days, every cell's sums and the cross-validation."""

    candidates: list[Candidate]
    labels: list[str]
    regimes: dict[str, RegimeInfo]
    #: ``SYMBOL YYYY-MM-DD`` per file label.
    day_names: dict[str, str]
    matrix: Matrix
    cv: CrossValidation
    results: list[CellResult] = field(repr=False)
    window: Window
    jobs: int
    wall_seconds: float
    #: The Dask cluster the cells ran on, if they did.
    cluster: Cluster | None = None

    @property
    def decisions(self) -> int:
        return sum(len(r.shortfall_bps) for r in self.results)

    @property
    def cpu_seconds(self) -> float:
        """CPU time of every cell together: the work, whatever else shared the machine."""
        return sum(r.cpu_seconds for r in self.results)

    def parts_bps(self, candidate: int) -> dict[str, float]:
        """A candidate's mean decomposition over every symbol-day (bps of arrival notional)."""
        rows = [r.parts_bps for r in self.results if r.candidate == candidate]
        stacked = np.vstack(rows) if rows else np.zeros((0, len(COMPONENTS)))
        usable = stacked[np.isfinite(stacked).all(axis=1)]
        if not len(usable):
            return {}
        return {c: float(v) for c, v in zip(COMPONENTS, usable.mean(axis=0), strict=True)}


def run_tune(
    candidates: Sequence[Candidate],
    days: Sequence[DaySource],
    config: BetterOrdersConfig,
    window: Window,
    *,
    jobs: int = 1,
    min_completion: float = DEFAULT_MIN_COMPLETION,
    resampler: Resampler = Resampler(),
    done: Callable[[CellResult], None] | None = None,
    cluster: Cluster | None = None,
    by_regime: bool = False,
    objective: Objective = Objective.POOLED,
) -> TuneResult:
    """Evaluate every cell once, then cross-validate (module docstring); ``by_regime``: a
    pick must complete ``min_completion`` over the other days of each regime, not only
    pooled (``crossval.leave_one_day_out``'s groups); ``objective``: what a pick minimises."""
    began = time.perf_counter()
    tasks = cell_tasks(candidates, days, config, window)
    results = evaluate_cells(tasks, jobs=jobs, done=done, cluster=cluster)
    markets = sorted((r for r in results if r.candidate == MARKET), key=lambda r: r.day)
    sums = matrix(results, len(candidates), len(days))
    regimes = {r.label: r.regime for r in markets if r.regime is not None}
    groups = [regimes[r.label].regime.value for r in markets] if by_regime else None
    return TuneResult(
        candidates=list(candidates),
        labels=[r.label for r in markets],
        regimes=regimes,
        day_names={r.label: r.day_name or r.label for r in markets},
        matrix=sums,
        cv=leave_one_day_out(
            sums,
            min_completion=min_completion,
            resampler=resampler,
            groups=groups,
            objective=objective,
        ),
        results=list(results),
        window=window,
        jobs=cluster.workers if cluster is not None else jobs,
        wall_seconds=time.perf_counter() - began,
        cluster=cluster,
    )
