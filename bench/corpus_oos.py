"""The corpus benchmark: the default ladder out of sample, per symbol-day and pooled.

    python bench/corpus_oos.py [--data ../shared/data] [--every 1s] [--jobs N]
                               [--scenario open-30ms,open-100ms,open-250ms,late]
                               [--param NAME=VALUES ...] [--late-param NAME=VALUES ...]
                               [--objective pooled] [--late-objective worst-day]
                               [--json OUT]

For each scenario it runs what ``better-orders tca tune`` runs (``tca.tune.run_tune``)
on every quote file of the shared data folder: a small grid of candidates around
the shipped defaults (the defaults themselves among them), every candidate and the
market order on every symbol-day once, then leave-one-symbol-day-out
cross-validation: for each held-out symbol-day, the candidate with the lowest
ratio to market on the other days (at the open: pooled; after the open: on the worst of
them, since there the target is that no day costs more than crossing at once) is
picked and measured on the held-out day. To be picked a candidate must complete
``--min-completion`` of its decisions within the window (99.5%, the target, as in ``tca
tune --by-regime``) over the other days of each regime: pooled with the tick-bound days,
which always complete, a wide-open day that strands orders would not count. Every figure
printed is that held-out measurement: nothing is scored on a day that helped choose it.

Scenarios: ``open-30ms``, ``open-100ms``, ``open-250ms`` (09:30-09:35, a decision
every ``--every``, buys and sells, 150 s to complete, orders reaching the venue
after that latency) and ``late`` (15:45-15:50 every 5 s, 60 s to complete, 30 ms).

Prints, per scenario: each symbol-day's out-of-sample ratio to market (both sides,
buys, sells), its completion and the candidate picked for it; the pooled ratio per
regime (wide-open, tick-bound, other, all) and side with a 95% interval from
resampling whole symbol-days; how many decisions no order could have completed within
the slippage budget at once (the far touch already beyond the budget's bound when the
first order could reach the venue) and the completion among the others; and the
targets of the corpus benchmark, met or not.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from datetime import time as dt_time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from better_orders.cli.tca_options import parse_duration
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.model import Side
from better_orders.core.pricing import budget_bound
from better_orders.tca.bootstrap import Resampler
from better_orders.tca.corpus import resolve_quote_files
from better_orders.tca.crossval import (
    DEFAULT_MIN_COMPLETION,
    SIDE_NAMES,
    Objective,
    held_out_ratio,
)
from better_orders.tca.decisions import DaySource, QuoteFile, Sizing, decision_times
from better_orders.tca.decomposition import FeeSchedule
from better_orders.tca.distributed import cores
from better_orders.tca.evaluate import Window
from better_orders.tca.policies import BUILTIN_POLICIES
from better_orders.tca.regime import Regime
from better_orders.tca.tune import TuneResult, run_tune
from better_orders.tca.tune_space import parse_param, search_space
from better_orders.venues.sim.exchange import Latency
from tca_speed import data_folder

#: The grid around the defaults at the open: the share of the way from the far touch at
#: arrival to the slippage budget's bound at which no wait goes on (0: the rule off). The
#: patient rest's length is the default's, which every fold picked among 4, 8 and 15 s.
OPEN_PARAMS = ("patience.budget_urgency=0,0.5,0.7,0.9",)
#: The grid after the open: the patient rest's length. Picked by the worst symbol-day
#: (``--late-objective``): after the open no day may cost more than crossing at once.
LATE_PARAMS = ("patience.regular_seconds=5,10,20,40",)
#: Completion a candidate needs on the other days of each regime to be picked: the target.
MIN_COMPLETION = DEFAULT_MIN_COMPLETION


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    start: dt_time
    end: dt_time
    every: timedelta | None  # None: --every
    within_seconds: float
    latency_ms: int
    late: bool = False


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("open-30ms", dt_time(9, 30), dt_time(9, 35), None, 150.0, 30),
        Scenario("open-100ms", dt_time(9, 30), dt_time(9, 35), None, 150.0, 100),
        Scenario("open-250ms", dt_time(9, 30), dt_time(9, 35), None, 150.0, 250),
        Scenario(
            "late", dt_time(15, 45), dt_time(15, 50), timedelta(seconds=5), 60.0, 30, late=True
        ),
    )
}


def _interval(result: TuneResult, days: list[int], side: int | None) -> list[float] | None:
    """The held-out ratio's 95% interval from resampling the symbol-days in ``days``."""
    m = result.matrix
    sl = slice(None) if side is None else slice(side, side + 1)
    picks = [(f.pick, f.held_out) for f in result.cv.folds if f.pick is not None]
    picks = [(c, d) for c, d in picks if d in days]
    if len(picks) < 2:
        return None
    found = Resampler().ratio(
        [float(m.policy[c, d, sl].sum()) for c, d in picks],
        [float(m.market[c, d, sl].sum()) for c, d in picks],
    )
    return None if found is None else [round(found.low, 3), round(found.high, 3)]


def _completion(result: TuneResult, days: list[int]) -> float | None:
    m = result.matrix
    picks = [(f.pick, f.held_out) for f in result.cv.folds if f.pick is not None]
    done = sum(float(m.complete[c, d].sum()) for c, d in picks if d in days)
    total = sum(float(m.decisions[c, d].sum()) for c, d in picks if d in days)
    return done / total if total else None


def out_of_reach(
    result: TuneResult, days: list[DaySource], config: BetterOrdersConfig
) -> dict[int, tuple[Any, Any]]:
    """Per symbol-day, two flags per decision (in the cells' order: time, then side): no
    order could have completed it within the slippage budget *at once* (the far touch in
    force when the first order could reach the venue, the decision plus the latency,
    already beyond the budget's bound off the mid in force at the decision), and *at all*
    (the far touch beyond the bound on every quote from then to the end of the window)."""
    w = result.window
    policy = BUILTIN_POLICIES["ladder"].config(config)
    window = timedelta(seconds=w.within_seconds)
    out: dict[int, tuple[Any, Any]] = {}
    for d, source in enumerate(days):
        file = QuoteFile.load(source.path)
        quotes = file.quotes
        budget = policy.slippage_budget_bps(quotes.symbol)
        at_once, at_all = [], []
        for t in decision_times(file, w.start, w.end, w.every):
            first, reach = quotes.index_at(t), quotes.index_at(t + w.latency.submit)
            last = quotes.index_at(t + window)
            for side in w.sides:
                arrival = quotes.quote_at(first) if first >= 0 else None
                if reach < 0 or arrival is None or not 0 < arrival.bid < arrival.ask:
                    at_once.append(False)
                    at_all.append(False)
                    continue
                bound = int(budget_bound(side, arrival.mid, budget).scaleb(4))
                if side is Side.BUY:
                    far = quotes.ask_e4[reach : last + 1]
                    beyond = (far > bound) | (far <= 0)
                else:
                    far = quotes.bid_e4[reach : last + 1]
                    beyond = far < bound
                at_once.append(bool(beyond[0]))
                at_all.append(bool(beyond.all()))
        out[d] = (np.array(at_once, dtype=np.bool_), np.array(at_all, dtype=np.bool_))
    return out


def _reach(result: TuneResult, beyond: dict[int, tuple[Any, Any]]) -> dict[str, Any]:
    """Decisions out of the budget's reach (``out_of_reach``), and the held-out completion
    among the decisions an order could have completed at once."""
    cells = {(r.candidate, r.day): r for r in result.results}
    counts = {"at_once": 0, "at_once_completed": 0, "at_all": 0, "within": 0, "done": 0}
    for fold in result.cv.folds:
        if fold.pick is None:
            continue
        at_once, at_all = beyond[fold.held_out]
        complete = cells[fold.pick, fold.held_out].complete
        counts["at_once"] += int(at_once.sum())
        counts["at_once_completed"] += int((complete & at_once).sum())
        counts["at_all"] += int(at_all.sum())
        counts["within"] += int((~at_once).sum())
        counts["done"] += int((complete & ~at_once).sum())
    within = counts.pop("within")
    done = counts.pop("done")
    return {**counts, "completion_within_reach": done / within if within else None}


def summarize(
    result: TuneResult, beyond: dict[int, tuple[Any, Any]] | None = None
) -> dict[str, Any]:
    """Per symbol-day and pooled out-of-sample figures (module docstring); ``beyond``: the
    decisions out of the budget's reach (``out_of_reach``), if known."""
    m = result.matrix
    names = [c.name for c in result.candidates]
    per_day = []
    for fold in result.cv.folds:
        d, c = fold.held_out, fold.pick
        label = result.labels[d]
        only = np.zeros(m.days, dtype=np.bool_)
        only[d] = True
        row: dict[str, Any] = {
            "symbol_day": result.day_names[label],
            "regime": result.regimes[label].regime.value,
            "market_bps": float(m.market[0, d].sum() / max(m.decisions[0, d].sum(), 1)),
            "pick": None if c is None else names[c],
        }
        if c is not None:
            row["ratio"] = m.ratio(c, only)
            for s, side in enumerate(SIDE_NAMES):
                row[side] = m.ratio(c, only, s)
            row["completion"] = m.completion(c, only)
        per_day.append(row)
    pooled = []
    groups = [("all", list(range(m.days)))]
    for regime in Regime:
        days = [k for k, lab in enumerate(result.labels) if result.regimes[lab].regime is regime]
        if days:
            groups.append((regime.value, days))
    for group, days in groups:
        sides: list[tuple[int | None, str]] = [(None, "both"), (0, "buy"), (1, "sell")]
        for which, side in sides:
            pooled.append(
                {
                    "group": group,
                    "symbol_days": len(days),
                    "side": side,
                    "ratio": held_out_ratio(m, result.cv.folds, days=days, side=which),
                    "ci95": _interval(result, days, which),
                    "completion": _completion(result, days),
                }
            )
    # The shipped defaults as they are (candidate 0, chosen by nothing here): a fixed policy's
    # ratio over the days is out of sample by itself.
    defaults = {group: m.ratio(0, np.isin(np.arange(m.days), days)) for group, days in groups}
    return {
        "candidates": [{"name": c.name, "values": c.describe()} for c in result.candidates],
        "defaults_ratio": defaults,
        "per_symbol_day": per_day,
        "pooled": pooled,
        "reach": None if beyond is None else _reach(result, beyond),
        "wall_seconds": result.wall_seconds,
        "cpu_seconds": result.cpu_seconds,
        "decisions": result.decisions,
    }


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_summary(name: str, summary: dict[str, Any]) -> None:
    print(f"\n== {name}: out of sample (leave one symbol-day out) ==")
    print("candidates: " + "; ".join(f"{c['name']} {c['values']}" for c in summary["candidates"]))
    print(f"{'symbol-day':<16} {'regime':<10} {'mkt bps':>7} {'ratio':>6} {'buy':>6} "
          f"{'sell':>6} {'done':>7}  pick")  # fmt: skip
    for r in summary["per_symbol_day"]:
        print(
            f"{r['symbol_day']:<16} {r['regime']:<10} {r['market_bps']:>7.2f} "
            f"{_fmt(r.get('ratio')):>6} {_fmt(r.get('buy')):>6} {_fmt(r.get('sell')):>6} "
            f"{_fmt(100 * r['completion'] if r.get('completion') is not None else None, 1):>6}%"
            f"  {r['pick']}"
        )
    print(f"{'pooled':<16} {'side':<5} {'ratio':>6} {'95% interval':>16} {'done':>7}")
    for p in summary["pooled"]:
        ci = p["ci95"]
        interval = "-" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"
        done = None if p["completion"] is None else 100 * p["completion"]
        group = f"{p['group']} ({p['symbol_days']})" if p["side"] == "both" else ""
        print(
            f"{group:<16} {p['side']:<5} {_fmt(p['ratio']):>6} {interval:>16} {_fmt(done, 1):>6}%"
        )
    fixed = ", ".join(f"{g} {_fmt(v)}" for g, v in summary["defaults_ratio"].items())
    print(f"the defaults as shipped (no choosing): {fixed}")
    reach = summary.get("reach")
    if reach is not None:
        print(
            f"beyond the budget when the first order could arrive: {reach['at_once']} "
            f"decisions ({reach['at_once_completed']} completed later), for the whole window: "
            f"{reach['at_all']}; completion among the others "
            f"{_pct(reach['completion_within_reach'])}"
        )
    print(
        f"{summary['decisions']:,} decisions x cells in {summary['wall_seconds']:.0f} s wall, "
        f"{summary['cpu_seconds']:.0f} s CPU"
    )


def _pooled(summary: dict[str, Any], group: str, side: str) -> float | None:
    for p in summary["pooled"]:
        if p["group"] == group and p["side"] == side:
            return p["ratio"]  # type: ignore[no-any-return]
    return None


def targets(results: dict[str, dict[str, Any]]) -> list[tuple[str, bool | None, str]]:
    """The benchmark's targets, each met (True), missed (False) or not measured (None)."""
    out: list[tuple[str, bool | None, str]] = []
    base = results.get("open-30ms")
    if base is not None:
        wide = _pooled(base, "wide-open", "both")
        out.append(("wide-open pooled <= 0.40x", _le(wide, 0.40), _fmt(wide)))
        for side in ("buy", "sell"):
            value = _pooled(base, "wide-open", side)
            out.append((f"wide-open {side}s <= 0.6x", _le(value, 0.6), _fmt(value)))
        worst = max((r.get("ratio") or 0.0) for r in base["per_symbol_day"])
        out.append(("no symbol-day above 1.0x", worst <= 1.0, _fmt(worst)))
        done = _completion_all(base)
        out.append(("complete within 150 s >= 99.5%", _ge(done, 0.995), _pct(done)))
        for slow in ("open-100ms", "open-250ms"):
            other = results.get(slow)
            if other is None:
                continue
            value = _pooled(other, "wide-open", "both")
            near = None if wide is None or value is None else abs(value - wide) <= 0.05
            out.append((f"{slow}: wide-open within 0.05 of 30 ms", near, _fmt(value)))
    late = results.get("late")
    if late is not None:
        pooled = _pooled(late, "all", "both")
        out.append(("15:45 pooled <= 0.8x", _le(pooled, 0.8), _fmt(pooled)))
        worst = max((r.get("ratio") or 0.0) for r in late["per_symbol_day"])
        out.append(("15:45 no symbol-day above 1.0x", worst <= 1.0, _fmt(worst)))
        done = _completion_all(late)
        out.append(("15:45 complete within 60 s >= 99.5%", _ge(done, 0.995), _pct(done)))
    return out


def _completion_all(summary: dict[str, Any]) -> float | None:
    for p in summary["pooled"]:
        if p["group"] == "all" and p["side"] == "both":
            return p["completion"]  # type: ignore[no-any-return]
    return None


def _le(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _ge(value: float | None, limit: float) -> bool | None:
    return None if value is None else value >= limit


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="shared data folder (default $BETTER_ORDERS_DATA)")
    parser.add_argument("--every", default="1s", help="time between decisions at the open")
    parser.add_argument("--jobs", type=int, default=cores(), help="worker processes")
    parser.add_argument(
        "--scenario", default=",".join(SCENARIOS), help=f"any of {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--param", action="append", help="open grid (default OPEN_PARAMS)")
    parser.add_argument("--late-param", action="append", help="late grid (default LATE_PARAMS)")
    parser.add_argument(
        "--objective",
        default=Objective.POOLED.value,
        choices=[o.value for o in Objective],
        help="what each fold's pick minimises at the open",
    )
    parser.add_argument(
        "--late-objective",
        default=Objective.WORST_DAY.value,
        choices=[o.value for o in Objective],
        help="what each fold's pick minimises after the open",
    )
    parser.add_argument(
        "--min-completion",
        type=float,
        default=MIN_COMPLETION,
        help="completion within the window a candidate needs on the other days of each regime",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    files = resolve_quote_files([data_folder(args.data)])
    days = [DaySource(path) for path in files]
    config = BetterOrdersConfig()
    every = parse_duration(args.every, "--every")
    results: dict[str, dict[str, Any]] = {}
    began = time.perf_counter()
    for name in args.scenario.split(","):
        scenario = SCENARIOS[name.strip()]
        texts = (args.late_param or LATE_PARAMS) if scenario.late else (args.param or OPEN_PARAMS)
        candidates = search_space(
            [parse_param(p) for p in texts], BUILTIN_POLICIES["ladder"], config
        )
        delay = timedelta(milliseconds=scenario.latency_ms)
        window = Window(
            start=scenario.start,
            end=scenario.end,
            every=scenario.every or every,
            sides=(Side.BUY, Side.SELL),
            sizing=Sizing(),
            latency=Latency(submit=delay, cancel=delay),
            within_seconds=scenario.within_seconds,
            fees=FeeSchedule(),
        )
        result = run_tune(
            candidates,
            days,
            config,
            window,
            jobs=args.jobs,
            min_completion=args.min_completion,
            by_regime=True,
            objective=Objective(args.late_objective if scenario.late else args.objective),
        )
        results[scenario.name] = summarize(result, out_of_reach(result, days, config))
        print_summary(scenario.name, results[scenario.name])
    print("\n== targets ==")
    for what, met, value in targets(results):
        mark = "not measured" if met is None else ("met" if met else "MISSED")
        print(f"{what:<44} {value:>8}  {mark}")
    print(f"total {time.perf_counter() - began:.0f} s wall")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
