"""``better-orders tca tune``: search policy parameters, scored out of sample.

Every candidate (the base policy with one value per ``--param``) runs on every
symbol-day once; leave-one-symbol-day-out cross-validation then picks, for each
held-out day, the candidate with the lowest pooled cost ratio to market on the
other days (among those completing >= ``--min-completion`` within the window, with
``--by-regime`` over the other days of each regime) and scores it on the held-out day
(``tca.crossval``). Example::

    better-orders tca tune --quotes data/quotes --param timing.rest_fraction=0,0.25,0.5 \\
        --param spread.wait_ratio=0.4:0.8 --random 50 --seed 1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from better_orders.cli.common import (
    ConfigOption,
    add_number_column,
    console,
    print_json,
)
from better_orders.cli.tca_options import (
    EveryOption,
    FromOption,
    JsonOption,
    LatencyOption,
    MoreQuotesArgument,
    NotionalOption,
    NoTradesOption,
    PolicyFileOption,
    QtyOption,
    QuotesOption,
    ReplayOptions,
    SchedulerOption,
    SideOption,
    SymbolOption,
    ToOption,
    TradesOption,
    WithinOption,
    check_cluster_options,
    dask_cluster,
    progress_bar,
)
from better_orders.config.loader import load_config
from better_orders.core.errors import InvalidInputError
from better_orders.tca.bootstrap import DEFAULT_RESAMPLES, Resampler
from better_orders.tca.crossval import DEFAULT_MIN_COMPLETION, Objective, held_out_ratio
from better_orders.tca.decomposition import FeeSchedule
from better_orders.tca.distributed import cores, dask_installed
from better_orders.tca.metrics import DEFAULT_COMPLETION_SECONDS
from better_orders.tca.policies import available_policies, select_policies
from better_orders.tca.regime import Regime
from better_orders.tca.report import fmt, interval, pct

if TYPE_CHECKING:
    from better_orders.tca.tune import TuneResult

OBJECTIVE = (
    "{what}ratio to market: sum of the candidate's shortfall / sum of the market order's "
    "over the same decisions (bps of arrival notional, fees excluded, buys and sells "
    "together), among candidates completing >= {min:.1%} of decisions within {within:g} s"
    "{where}"
)
#: How ``OBJECTIVE`` begins for each objective.
WHAT = {
    Objective.POOLED: "pooled ",
    Objective.WORST_DAY: "the worst symbol-day's (then the pooled) ",
}
#: ``OBJECTIVE``'s ending with ``--by-regime``.
BY_REGIME = " over the days of each regime"


def tune(
    quotes: QuotesOption = None,
    more_quotes: MoreQuotesArgument = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="NAME=VALUES",
            help="a configuration parameter and its values: timing.rest_fraction=0,0.25,0.5, "
            "or a range spread.wait_ratio=0.4:0.8 (grid: 0.4:0.8:0.1); repeat for more",
        ),
    ] = None,
    random_count: Annotated[
        int | None,
        typer.Option("--random", metavar="N", help="draw N random candidates instead of a grid"),
    ] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="seed of --random and the bootstrap")] = 0,
    policy: Annotated[
        str, typer.Option(metavar="NAME", help="the policy whose parameters are searched")
    ] = "ladder",
    policy_file: PolicyFileOption = None,
    config: ConfigOption = None,
    start: FromOption = "09:30",
    end: ToOption = "09:35",
    every: EveryOption = "1s",
    side: SideOption = None,
    qty: QtyOption = None,
    notional: NotionalOption = None,
    symbol: SymbolOption = None,
    trades: TradesOption = None,
    no_trades: NoTradesOption = False,
    within: WithinOption = DEFAULT_COMPLETION_SECONDS,
    latency: LatencyOption = "30ms",
    min_completion: Annotated[
        float,
        typer.Option(metavar="SHARE", help="completion within the window a candidate needs"),
    ] = DEFAULT_MIN_COMPLETION,
    objective: Annotated[
        Objective,
        typer.Option(
            "--objective",
            help="what each fold's pick minimises on its other days: the pooled cost, or the "
            "worst symbol-day's (for never paying more than crossing on any day)",
            case_sensitive=False,
        ),
    ] = Objective.POOLED,
    by_regime: Annotated[
        bool,
        typer.Option(
            "--by-regime",
            help="a candidate needs --min-completion over the days of each regime (wide-open, "
            "tick-bound, other), not only pooled",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "--jobs",
            metavar="N",
            help="worker processes (default one per core): of a local Dask cluster with the "
            "dask extra, else of a process pool; 1 runs everything in this process",
        ),
    ] = None,
    scheduler: SchedulerOption = None,
    resamples: Annotated[
        int, typer.Option(metavar="N", help="bootstrap resamples of the symbol-days")
    ] = DEFAULT_RESAMPLES,
    json_out: JsonOption = False,
) -> None:
    """Search policy parameters; score each by leave-one-symbol-day-out cross-validation."""
    # Imported here: registering the command for ``tca`` need not load the search.
    from better_orders.tca.tune import run_tune
    from better_orders.tca.tune_space import inert_params, parse_param, search_space

    params = [parse_param(p) for p in param or []]
    if not 0 < min_completion <= 1:
        raise InvalidInputError(f"--min-completion must be in (0, 1], got {min_completion}")
    if workers is not None and workers < 1:
        raise InvalidInputError(f"--workers/--jobs must be at least 1, got {workers}")
    if resamples < 1:
        raise InvalidInputError(f"--resamples must be at least 1, got {resamples}")
    # Without the dask extra, a process pool does what a local cluster would.
    on_dask = dask_installed() or scheduler is not None
    if on_dask:
        check_cluster_options(workers, scheduler)
    options = ReplayOptions.parse(
        quotes=quotes,
        more_quotes=more_quotes,
        trades=trades,
        no_trades=no_trades,
        symbol=symbol,
        start=start,
        end=end,
        every=every,
        side=side,
        qty=qty,
        notional=notional,
        within=within,
        latency=latency,
    )
    cfg = load_config(config).config
    (base,) = select_policies([policy], available_policies(cfg, policy_file))
    candidates = search_space(params, base, cfg, random_count=random_count, seed=seed)
    symbols = _traded_symbols(options)
    inert = inert_params(candidates, cfg, symbols) if symbols else []
    if inert:
        raise InvalidInputError(
            f"--param {', '.join(inert)} changes nothing a replay of policy '{base.name}' "
            f"reads on {', '.join(symbols)}: every value would replay alike; tune a parameter "
            "the policy uses"
        )
    if len(options.files) < 2:
        raise InvalidInputError("cross-validation needs at least two symbol-days (quote files)")
    cells = (len(candidates) + 1) * len(options.files)
    parents = cells * options.decisions_per_file * len(options.sides)
    cluster = dask_cluster(workers, scheduler, cells, parents) if on_dask else None
    jobs = min(cores() if workers is None else workers, cells)

    def run(done: Any = None) -> TuneResult:
        return run_tune(
            candidates,
            options.days,
            cfg,
            options.window(FeeSchedule.from_settings(cfg.tca)),
            jobs=jobs,
            min_completion=min_completion,
            resampler=Resampler(resamples=resamples, seed=seed),
            done=done,
            cluster=cluster,
            by_regime=by_regime,
            objective=objective,
        )

    if json_out:
        print_json(tune_json(run(), min_completion, by_regime))
        return
    doing = "evaluating" if cluster is None else f"evaluating on {cluster}"
    with progress_bar(doing, "(candidate, symbol-day) cells") as bar:
        task = bar.add_task("tune", total=cells)
        result = run(lambda _: bar.advance(task))
    print_tune(result, min_completion, by_regime)


def _traded_symbols(options: ReplayOptions) -> list[str]:
    """The symbols the corpus is traded under (a parameter may matter for some only), or
    none when a file does not say which it holds."""
    from better_orders.tca.corpus import symbol_day_of

    if options.symbol:
        return [options.symbol]
    found = [symbol_day_of(f) for f in options.files]
    if any(day is None for day in found):
        return []
    return sorted({day[0] for day in found if day is not None})


def _objective(result: TuneResult, min_completion: float, by_regime: bool) -> str:
    within = result.window.within_seconds
    where = BY_REGIME if by_regime else ""
    what = WHAT[result.cv.objective]
    return OBJECTIVE.format(what=what, min=min_completion, within=within, where=where)


def _header(result: TuneResult, min_completion: float, by_regime: bool) -> str:
    w = result.window
    sides = "+".join(s.value for s in w.sides)
    cells = (len(result.candidates) + 1) * len(result.labels)
    where = f"{result.jobs} worker(s)" if result.cluster is None else str(result.cluster)
    return (
        f"{len(result.candidates)} candidates x {len(result.labels)} symbol-days "
        f"({w.start:%H:%M}-{w.end:%H:%M} every {w.every.total_seconds():g} s, {sides}, "
        f"{w.latency.submit.total_seconds() * 1000:g} ms): {cells} cells, "
        f"{result.decisions:,} decisions in {result.wall_seconds:.0f} s on {where} "
        f"({result.cpu_seconds:.0f} CPU s)\nobjective: "
        + _objective(result, min_completion, by_regime)
    )


def print_tune(result: TuneResult, min_completion: float, by_regime: bool = False) -> None:
    """The candidates, the folds and the out-of-sample figure, as tables."""
    cv, names = result.cv, [c.name for c in result.candidates]
    console.print(_header(result, min_completion, by_regime), highlight=False)
    within = result.window.within_seconds
    table = Table(
        title=f"Candidates, best in sample first (x market; complete = within {within:g} s)",
        title_justify="left",
    )
    table.add_column("candidate", no_wrap=True)
    params = [name for name, _ in result.candidates[0].values]
    for name in params:
        # The last part of the name, in words that can wrap: "opening wait max seconds".
        add_number_column(table, name.rpartition(".")[2].replace("_", " "))
    for header in ("in\nsample", "out of\nsample", "worst\nday", "complete", "picked"):
        add_number_column(table, header)
    order = sorted(cv.scores, key=lambda s: (not s.feasible, s.in_sample_ratio or 9e9, s.index))
    for s in order:
        table.add_row(
            names[s.index] + ("" if s.feasible else " (fails completion)"),
            *(str(result.candidates[s.index].value(name)) for name in params),
            fmt(s.in_sample_ratio),
            fmt(s.out_of_sample_ratio),
            fmt(s.worst_day_ratio),
            pct(s.completion),
            f"{s.picked}/{len(cv.folds)}",
        )
    console.print(table)
    console.print(f"[dim]parameters: {', '.join(params)}[/]", highlight=False)
    folds = Table(title="Leave one symbol-day out", title_justify="left")
    folds.add_column("held out", no_wrap=True)
    folds.add_column("regime", no_wrap=True)
    folds.add_column("pick", no_wrap=True)
    for header in ("in-sample", "held-out", "complete"):
        add_number_column(folds, header)
    for f in cv.folds:
        label = result.labels[f.held_out]
        folds.add_row(
            result.day_names[label],
            result.regimes[label].regime.value,
            "-" if f.pick is None else names[f.pick],
            fmt(f.train_ratio),
            fmt(f.test_ratio),
            pct(f.test_completion),
        )
    console.print(folds)
    regimes = _regime_ratios(result)
    per_regime = ", ".join(f"{k} {fmt(v)}" for k, v in regimes.items())
    best = cv.best_in_sample
    console.print(
        f"out of sample (the honest number): {fmt(cv.ratio)} x market "
        f"{interval(cv.interval)}, buys {fmt(cv.side_ratios['buy'])}, sells "
        f"{fmt(cv.side_ratios['sell'])}; {per_regime}; completion {pct(cv.completion)}",
        highlight=False,
    )
    if best is not None:
        console.print(
            f"[dim]best in sample: {names[best]} at "
            f"{fmt(cv.scores[best].out_of_sample_ratio)} x market (what a tune without "
            "cross-validation would report)[/]"
        )


def _regime_ratios(result: TuneResult) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for regime in Regime:
        days = [
            k for k, label in enumerate(result.labels) if result.regimes[label].regime is regime
        ]
        if days:
            out[regime.value] = held_out_ratio(result.matrix, result.cv.folds, days=days)
    return out


def tune_json(result: TuneResult, min_completion: float, by_regime: bool = False) -> dict[str, Any]:
    """Everything ``print_tune`` shows, and the decomposition of each candidate, as JSON."""
    cv, names = result.cv, [c.name for c in result.candidates]
    w = result.window
    return {
        "objective": _objective(result, min_completion, by_regime),
        "pick_by": result.cv.objective.value,
        "min_completion": min_completion,
        "completion_by_regime": by_regime,
        "window": {
            "from": w.start.isoformat(),
            "to": w.end.isoformat(),
            "every_seconds": w.every.total_seconds(),
            "sides": [s.value for s in w.sides],
            "latency_ms": w.latency.submit.total_seconds() * 1000,
            "within_seconds": w.within_seconds,
        },
        "symbol_days": [
            {"file": label, "symbol_day": result.day_names[label]} | result.regimes[label].as_dict()
            for label in result.labels
        ],
        "candidates": [
            {
                "name": c.name,
                "parameters": {k: v for k, v in c.values},
                "in_sample_ratio": _r(s.in_sample_ratio),
                "out_of_sample_ratio": _r(s.out_of_sample_ratio),
                "worst_day_ratio": _r(s.worst_day_ratio),
                "complete_within_rate": _r(s.completion),
                "feasible": s.feasible,
                "picked": s.picked,
                "decomposition_bps": {k: round(v, 4) for k, v in result.parts_bps(s.index).items()},
            }
            for c, s in zip(result.candidates, cv.scores, strict=True)
        ],
        "folds": [
            {
                "held_out": result.labels[f.held_out],
                "pick": None if f.pick is None else names[f.pick],
                "in_sample_ratio": _r(f.train_ratio),
                "held_out_ratio": _r(f.test_ratio),
                "held_out_completion": _r(f.test_completion),
            }
            for f in cv.folds
        ],
        "out_of_sample": {
            "ratio_to_market": _r(cv.ratio),
            "ratio_to_market_ci95": None if cv.interval is None else cv.interval.as_list(),
            "by_side": {k: _r(v) for k, v in cv.side_ratios.items()},
            "by_regime": {k: _r(v) for k, v in _regime_ratios(result).items()},
            "complete_within_rate": _r(cv.completion),
        },
        "best_in_sample": None if cv.best_in_sample is None else names[cv.best_in_sample],
        "cells": (len(result.candidates) + 1) * len(result.labels),
        "decisions": result.decisions,
        "jobs": result.jobs,
        "wall_seconds": round(result.wall_seconds, 3),
        "cpu_seconds": round(result.cpu_seconds, 3),
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
