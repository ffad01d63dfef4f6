"""``tca tune``: the search space, the cross-validation arithmetic, the cells and the command."""

from __future__ import annotations

import json
import pickle
import shutil
from datetime import time as dt_time
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core import xnys
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Side
from better_orders.data import calendar_cache, quote_cache
from better_orders.tca.crossval import Matrix, Objective, held_out_ratio, leave_one_day_out
from better_orders.tca.decisions import DaySource, QuoteFile, Sizing
from better_orders.tca.decomposition import FeeSchedule
from better_orders.tca.evaluate import Window
from better_orders.tca.policies import BUILTIN_POLICIES
from better_orders.tca.tune import (
    MARKET,
    cell_tasks,
    evaluate_cell,
    evaluate_cells,
    matrix,
    run_tune,
)
from better_orders.tca.tune_space import BASE, inert_params, parse_param, search_space
from better_orders.venues.sim.exchange import Latency
from cli_runner import run_cli
from test_tca_metrics import write_quotes

LADDER = BUILTIN_POLICIES["ladder"]

# -- the search space -----------------------------------------------------------------------


def test_parameters_lists_ranges_and_steps() -> None:
    listed = parse_param("timing.rest_fraction=0, 0.25,0.5")
    assert listed.values == (D("0"), D("0.25"), D("0.5")) and not listed.is_range
    ranged = parse_param("spread.wait_ratio=0.4:0.8")
    assert (ranged.low, ranged.high, ranged.step) == (D("0.4"), D("0.8"), None)
    stepped = parse_param("ladder.max_repegs=1:4:1")
    assert stepped.grid() == [1, 2, 3, 4]
    assert parse_param("ladder.entry=passive,aggressive").values == ("passive", "aggressive")
    assert parse_param("timing.wait_again=true,false").values == (True, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timing.rest_fractio=0,1", "unknown parameter 'timing.rest_fractio' \\(did you mean"),
        ("timing=1", "unknown parameter 'timing'"),
        ("symbols=1", "unknown parameter"),
        ("timing.rest_fraction=", "has no values"),
        ("timing.rest_fraction=0,,1", "an empty value"),
        ("timing.rest_fraction", "must be NAME=VALUES"),
        ("timing.rest_fraction=a,b", "'a' is not a number"),
        ("spread.wait_ratio=0.8:0.4", "ends before it starts"),
        ("spread.wait_ratio=0.4:0.8:0", "step must be positive"),
        ("ladder.entry=0:1", "a range needs a number"),
        ("ladder.entry=limit", "not one of aggressive, passive, market"),
    ],
)
def test_bad_parameters_are_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_param(text)


def test_the_grid_with_the_base_first_and_nothing_twice() -> None:
    params = [
        parse_param("timing.rest_fraction=0,0.25,0.50"),
        parse_param("timing.hold_seconds=0,1"),
    ]
    found = search_space(params, LADDER, BetterOrdersConfig())
    assert found[0].name == BASE
    assert found[0].values == (("timing.rest_fraction", D("0.25")), ("timing.hold_seconds", 0.02))
    assert len(found) == 1 + 3 * 2  # the base's values (0.25, 0.02) are not on the grid
    assert [c.name for c in found] == ["base", "c1", "c2", "c3", "c4", "c5", "c6"]
    c1 = found[1].policy.config(BetterOrdersConfig())
    assert c1.timing.rest_fraction == 0 and c1.timing.hold_seconds == 0
    # A grid point equal to the base's values is the base: run once.
    same = search_space(
        [parse_param("timing.rest_fraction=0.25,0.250,0.5")], LADDER, BetterOrdersConfig()
    )
    assert [c.describe() for c in same] == ["timing.rest_fraction=0.25", "timing.rest_fraction=0.5"]


def test_random_search_is_seeded_and_stays_in_range() -> None:
    params = [parse_param("spread.wait_ratio=0.4:0.8"), parse_param("ladder.max_repegs=1:3")]
    a = search_space(params, LADDER, BetterOrdersConfig(), random_count=20, seed=3)
    b = search_space(params, LADDER, BetterOrdersConfig(), random_count=20, seed=3)
    c = search_space(params, LADDER, BetterOrdersConfig(), random_count=20, seed=4)
    assert [x.values for x in a] == [x.values for x in b] != [x.values for x in c]
    assert len(a) == 21
    for cand in a[1:]:
        ratio, repegs = cand.value("spread.wait_ratio"), cand.value("ladder.max_repegs")
        assert D("0.4") <= ratio <= D("0.8") and ratio == ratio.quantize(D("0.001"))
        assert repegs in (1, 2, 3)


@pytest.mark.parametrize(
    ("params", "kwargs", "message"),
    [
        ([], {}, "no parameter to tune"),
        (["timing.rest_fraction=0,1"], {"random_count": 0}, "--random must be at least 1"),
        (
            ["timing.rest_fraction=0,2"],
            {},
            "rest_fraction: Input should be less than or equal to 1",
        ),
        (["spread.wait_ratio=0.4:0.8"], {}, "give a step"),
        (["ladder.max_repegs=0:20:1", "spread.wait_ratio=0.1:100:0.1"], {}, "use --random N"),
        (["timing.rest_fraction=0", "timing.rest_fraction=1"], {}, "given more than once"),
    ],
)
def test_bad_searches_are_refused(params: list[str], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        search_space([parse_param(p) for p in params], LADDER, BetterOrdersConfig(), **kwargs)


@pytest.mark.parametrize(
    ("params", "symbols", "inert"),
    [
        # Risk limits guard live orders; a replay never reads them.
        (["risk.max_order_qty=1,2"], ["IBM"], ["risk.max_order_qty"]),
        (
            ["patience.regular_seconds=5,10", "risk.max_order_qty=1,2"],
            ["IBM"],
            ["risk.max_order_qty"],
        ),
        # A leveraged ETF's budget changes TQQQ's replay, not IBM's.
        (["leveraged_etf_bps=10,20"], ["IBM", "AAPL"], ["leveraged_etf_bps"]),
        (["leveraged_etf_bps=10,20"], ["IBM", "TQQQ"], []),
        (["patience.at=0,0.5", "ladder.max_repegs=1,2"], ["IBM"], []),
    ],
)
def test_parameters_a_replay_never_reads_are_found(
    params: list[str], symbols: list[str], inert: list[str]
) -> None:
    config = BetterOrdersConfig()
    candidates = search_space([parse_param(p) for p in params], LADDER, config)
    assert inert_params(candidates, config, symbols) == inert


def test_a_random_search_concludes_nothing_about_inert_parameters() -> None:
    # No two draws differ in one parameter alone: nothing to compare.
    params = [parse_param("risk.max_order_qty=1:1000"), parse_param("spread.wait_ratio=0.4:0.8")]
    config = BetterOrdersConfig()
    candidates = search_space(params, LADDER, config, random_count=5, seed=1)
    assert inert_params(candidates, config, ["IBM"]) == []


# -- cross-validation -----------------------------------------------------------------------


def hand_matrix() -> Matrix:
    """c0 costs half the market everywhere; c1 is great on days 0 and 1 and awful on day 2;
    c2 is cheapest of all but leaves a tenth of its orders unfinished."""
    per_day = np.array([[1.0, 1.0, 1.0], [0.2, 0.2, 3.0], [0.0, 0.0, 0.0]])
    policy = np.repeat(per_day[:, :, None] / 2, 2, axis=2)
    market = np.full((3, 3, 2), 1.0)
    decisions = np.full((3, 3, 2), 10.0)
    complete = decisions.copy()
    complete[2] = 9.0
    return Matrix(policy, market, complete, decisions)


def test_leave_one_day_out_by_hand() -> None:
    m = hand_matrix()
    cv = leave_one_day_out(m)
    # Holding out day 2, c1 looks best on days 0-1 (0.1 x market) and costs 1.5 x on day 2.
    assert [f.pick for f in cv.folds] == [0, 0, 1]
    assert [f.test_ratio for f in cv.folds] == pytest.approx([0.5, 0.5, 1.5])
    assert cv.folds[2].train_ratio == pytest.approx(0.1)
    assert cv.ratio == pytest.approx(5 / 6)  # (1 + 1 + 3) / (2 + 2 + 2)
    assert cv.side_ratios == pytest.approx({"buy": 5 / 6, "sell": 5 / 6})
    assert cv.completion == 1.0
    assert held_out_ratio(m, cv.folds, days=[0, 1]) == pytest.approx(0.5)
    # In sample the choosing looks better than it is: c0 at 0.5 on all days.
    assert cv.best_in_sample == 0
    scores = cv.scores
    assert scores[0].in_sample_ratio == pytest.approx(0.5)
    assert scores[0].out_of_sample_ratio == pytest.approx(0.5)
    assert scores[1].in_sample_ratio == pytest.approx((0.8 + 0.8 + 0.1) / 3)
    assert scores[1].worst_day_ratio == pytest.approx(1.5)
    assert (scores[0].picked, scores[1].picked, scores[2].picked) == (2, 1, 0)
    # 90% complete: excluded, however cheap.
    assert not scores[2].feasible and scores[2].completion == pytest.approx(0.9)
    assert cv.interval is not None and cv.interval.low <= 5 / 6 <= cv.interval.high


def test_no_feasible_candidate_no_pick() -> None:
    cv = leave_one_day_out(hand_matrix(), min_completion=1.0 + 1e-9)
    assert all(f.pick is None for f in cv.folds) and cv.ratio is None


def test_completion_within_each_group_keeps_one_bad_day_from_hiding_among_good_ones() -> None:
    # Four days: c0 at 0.5 x market and always complete; c1 at 0.2 x market, complete on
    # days 0-2 but 70% on day 3 (a hard day, in group "b" with day 2).
    policy = np.zeros((2, 4, 2))
    policy[0], policy[1] = 0.5, 0.2
    market = np.ones((2, 4, 2))
    decisions = np.full((2, 4, 2), 50.0)
    complete = decisions.copy()
    complete[1, 3] = 35.0
    m = Matrix(policy, market, complete, decisions)
    # Pooled over any three days c1 completes at least 90%: it is picked in every fold ...
    pooled = leave_one_day_out(m, min_completion=0.9)
    assert [f.pick for f in pooled.folds] == [1, 1, 1, 1]
    assert pooled.folds[3].test_completion == pytest.approx(0.7)
    # ... but within group "b" day 3 brings it to 85% or less: picked only where day 3 is
    # held out.
    grouped = leave_one_day_out(m, min_completion=0.9, groups=["a", "a", "b", "b"])
    assert [f.pick for f in grouped.folds] == [0, 0, 0, 1]
    assert pooled.scores[1].feasible and not grouped.scores[1].feasible
    assert grouped.best_in_sample == 0


def test_worst_day_objective_gives_up_pooled_cost_to_keep_every_day_below_market() -> None:
    # Four days, one side's worth each: c0 at 0.6 x market every day; c1 at 0.2 x but 1.2 x
    # on day 3; c2 at 0.6 x too except 0.5 x on day 0 (as bad at its worst as c0, better
    # pooled: the tie goes to the pooled ratio).
    per_day = np.array([[0.6, 0.6, 0.6, 0.6], [0.2, 0.2, 0.2, 1.2], [0.5, 0.6, 0.6, 0.6]])
    policy = np.repeat(per_day[:, :, None], 2, axis=2)
    market = np.ones((3, 4, 2))
    decisions = np.full((3, 4, 2), 10.0)
    m = Matrix(policy, market, decisions.copy(), decisions)
    pooled = leave_one_day_out(m)
    assert pooled.objective is Objective.POOLED
    assert [f.pick for f in pooled.folds] == [1, 1, 1, 1]
    assert pooled.ratio == pytest.approx((0.2 * 3 + 1.2) / 4)
    worst = leave_one_day_out(m, objective=Objective.WORST_DAY)
    # Day 3 among the other days: c1's worst is 1.2, c2's 0.6 with the lower pooled ratio
    # where day 0 is among them too. Day 3 held out: c1 never looked worse than 0.2.
    assert [f.pick for f in worst.folds] == [0, 2, 2, 1]
    assert [f.test_ratio for f in worst.folds] == pytest.approx([0.6, 0.6, 0.6, 1.2])
    assert worst.ratio == pytest.approx(3.0 / 4)
    assert worst.best_in_sample == 2
    assert [s.worst_day_ratio for s in worst.scores] == pytest.approx([0.6, 1.2, 0.6])


# -- the cells --------------------------------------------------------------------------------


def corpus(tmp_path: Path) -> list[DaySource]:
    """Two small symbol-days: wide spreads that come in now and then, at different rhythms."""
    days = []
    for k, (symbol, period, wide) in enumerate([("ABC", 20, "0.30"), ("XYZ", 13, "0.20")]):
        rows = [
            (
                float(s),
                "40.00",
                str(D("40.00") + (D(wide) if s % period < period - 5 else D("0.02"))),
                300,
                300,
            )
            for s in range(0, 220)
        ]
        days.append(DaySource(write_quotes(tmp_path / f"d{k}_20240109_l1.csv.gz", rows, symbol)))
    return days


WINDOW = Window(
    start=dt_time(9, 30),
    end=dt_time(9, 30, 40),
    every=timedelta(seconds=10),
    sides=(Side.BUY, Side.SELL),
    sizing=Sizing(),
    latency=Latency(),
    within_seconds=150.0,
    fees=FeeSchedule(),
)


@pytest.mark.parametrize("kept", [True, False])
def test_pool_workers_keep_quote_files_and_the_calendar_as_the_command_does(
    kept: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fresh (spawned) workers would otherwise parse every cell's file again.
    cache = tmp_path / "cache"
    monkeypatch.setenv("BETTER_ORDERS_CACHE", str(cache))
    monkeypatch.setattr(quote_cache, "_enabled", kept)
    monkeypatch.setattr(xnys, "_keeper", calendar_cache.keep if kept else None)
    tasks = cell_tasks([], corpus(tmp_path), BetterOrdersConfig(), WINDOW)
    assert len(evaluate_cells(tasks, jobs=2)) == 2
    kept_quotes = sorted(p.name for p in cache.glob("quotes/*"))
    assert len(kept_quotes) == (2 if kept else 0), kept_quotes
    assert (cache / "xnys-sessions.json").is_file() == kept


def test_cells_are_picklable_and_the_same_in_a_pool(tmp_path: Path) -> None:
    days = corpus(tmp_path)
    candidates = search_space(
        [parse_param("timing.rest_fraction=0,1")], LADDER, BetterOrdersConfig()
    )
    tasks = cell_tasks(candidates, days, BetterOrdersConfig(), WINDOW)
    assert [(t.day, t.candidate) for t in tasks] == [
        (d, c) for d in (0, 1) for c in (MARKET, 0, 1, 2)
    ]
    assert pickle.loads(pickle.dumps(tasks[1])) == tasks[1]
    here = evaluate_cells(tasks, jobs=1)
    pooled = evaluate_cells(tasks, jobs=2)
    for a, b in zip(here, pooled, strict=True):
        assert (a.candidate, a.day, a.label) == (b.candidate, b.day, b.label)
        assert np.array_equal(a.shortfall_bps, b.shortfall_bps, equal_nan=True)
        assert np.array_equal(a.complete, b.complete)
    one = evaluate_cell(tasks[0])
    assert len(one.shortfall_bps) == 4 * 2 and one.regime is not None
    assert one.buys.tolist() == [True, False] * 4


def test_run_tune_matrix_matches_the_cells(tmp_path: Path) -> None:
    days = corpus(tmp_path)
    candidates = search_space(
        [parse_param("timing.rest_fraction=0,1")], LADDER, BetterOrdersConfig()
    )
    result = run_tune(candidates, days, BetterOrdersConfig(), WINDOW)
    market = {r.day: r for r in result.results if r.candidate == MARKET}
    for r in result.results:
        if r.candidate == MARKET:
            continue
        both = r.shortfall_bps[r.buys].sum() + r.shortfall_bps[~r.buys].sum()
        assert result.matrix.policy[r.candidate, r.day].sum() == pytest.approx(both)
        assert result.matrix.market[r.candidate, r.day].sum() == pytest.approx(
            market[r.day].shortfall_bps.sum()
        )
    again = matrix(result.results, len(candidates), 2)
    assert np.array_equal(again.policy, result.matrix.policy)
    assert result.labels == ["d0_20240109_l1.csv.gz", "d1_20240109_l1.csv.gz"]
    assert list(result.day_names.values()) == ["ABC 2024-01-09", "XYZ 2024-01-09"]
    assert result.cpu_seconds > 0
    assert len(result.cv.folds) == 2 and result.decisions == 2 * 4 * 8


# -- the command ------------------------------------------------------------------------------


def test_tune_command_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    days = corpus(tmp_path)
    code, out, err = run_cli(
        [
            "tca",
            "tune",
            "--quotes",
            str(tmp_path),
            "--to",
            "09:30:40",
            "--every",
            "10s",
            "--param",
            "timing.rest_fraction=0,1",
            "--param",
            "spread.wait_ratio=0.4:0.8",
            "--random",
            "3",
            "--seed",
            "5",
            "--jobs",
            "1",
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["objective"].startswith("pooled ratio to market")
    assert [d["file"] for d in data["symbol_days"]] == [d.path.name for d in days]
    names = [c["name"] for c in data["candidates"]]
    assert names[0] == "base" and len(names) == 4
    for c in data["candidates"]:
        assert set(c["parameters"]) == {"timing.rest_fraction", "spread.wait_ratio"}
        assert "in_sample_ratio" in c and "out_of_sample_ratio" in c
    assert [f["held_out"] for f in data["folds"]] == [d.path.name for d in days]
    assert set(data["out_of_sample"]) >= {"ratio_to_market", "by_side", "by_regime"}
    assert data["cells"] == 5 * 2 and data["jobs"] == 1
    assert data["completion_by_regime"] is False


def test_tune_by_regime_asks_for_completion_within_each_regime(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus(tmp_path)
    args = ["tca", "tune", "--quotes", str(tmp_path), "--to", "09:30:40", "--every", "10s"]
    args += ["--param", "timing.rest_fraction=0,1", "--jobs", "1", "--by-regime", "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["completion_by_regime"] is True
    assert data["objective"].endswith("over the days of each regime")


def test_tune_by_worst_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus(tmp_path)
    args = ["tca", "tune", "--quotes", str(tmp_path), "--to", "09:30:40", "--every", "10s"]
    args += ["--param", "timing.opening_wait_max_seconds=0,90", "--jobs", "1", "--json"]
    args += ["--min-completion", "0.01"]  # the small corpus completes little in 40 s
    code, out, err = run_cli([*args, "--objective", "worst-day"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["pick_by"] == "worst-day"
    assert data["objective"].startswith("the worst symbol-day's (then the pooled) ratio")
    # With two symbol-days each fold is chosen on one day, whose own ratio is both its worst
    # and the pooled one: the picks are the pooled objective's (the hand-made matrix above
    # tells the two apart).
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    pooled = json.loads(out)
    assert [f["pick"] for f in data["folds"]] == [f["pick"] for f in pooled["folds"]]
    # Not waiting out the open's spreads (0 s) costs more on both days: never the pick.
    assert [f["pick"] for f in data["folds"]] == ["base", "base"]
    code, out, err = run_cli([*args, "--objective", "best"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "'best' is not one of 'pooled', 'worst-day'" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--param", "timing.nope=1,2"], "unknown parameter 'timing.nope'"),
        (["--param", "timing.rest_fraction="], "has no values"),
        ([], "no parameter to tune"),
        (["--param", "timing.rest_fraction=0,1", "--random", "0"], "--random must be at least 1"),
        (["--param", "timing.rest_fraction=0,1", "--random", "-3"], "--random must be at least 1"),
        (["--param", "timing.rest_fraction=0,1", "--jobs", "0"], "--jobs must be at least 1"),
        (
            ["--param", "timing.rest_fraction=0,1", "--quotes", "nowhere/*.csv.gz"],
            "no file matches",
        ),
    ],
)
def test_tune_bad_input_runs_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    message: str,
) -> None:
    corpus(tmp_path)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing may run on bad input")

    monkeypatch.setattr("better_orders.tca.tune.run_tune", refuse)  # imported on use
    code, out, err = run_cli(["tca", "tune", "--quotes", str(tmp_path), *extra], capsys)
    assert code == 2, out + err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_tune_needs_two_symbol_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    days = corpus(tmp_path)
    code, _, err = run_cli(
        ["tca", "tune", "--quotes", str(days[0].path), "--param", "timing.rest_fraction=0,1"],
        capsys,
    )
    assert code == 2 and "at least two symbol-days" in err


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ([], "ABC 2024-01-09 is given twice: {d0} and {copy}; pass each symbol-day once"),
        (["--from", "09:40", "--to", "09:35"], "--to 09:35:00 must be after --from 09:40:00"),
        (["--every", "1us"], "asks for 300,000,000 decisions per symbol-day"),
        (["--latency", "150s"], "--latency 150s must be shorter than --within 150 s"),
    ],
)
def test_tune_refuses_one_day_twice_and_a_bad_window_before_loading_a_quote(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    window: list[str],
    message: str,
) -> None:
    # One symbol-day under two names would pass as two: each fold would then be scored on
    # the day it was picked on, out of sample equal to in sample.
    d0, d1 = (day.path for day in corpus(tmp_path))
    copy = Path(shutil.copy(d0, tmp_path / "copy.csv.gz"))
    quotes = [str(d0), str(copy)] if not window else [str(d0), str(d1)]
    args = ["--quotes", *quotes, "--param", "timing.rest_fraction=0,1", *window]
    line = tune_refused(args, capsys, monkeypatch)
    assert message.format(d0=d0, copy=copy) in line, line


def tune_refused(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> str:
    """``tca tune ARGS`` refused in one line (exit 2) without loading a quote or running
    a candidate; the line."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing may be loaded or run on bad input")

    monkeypatch.setattr(QuoteFile, "load", refuse)
    monkeypatch.setattr("better_orders.tca.tune.run_tune", refuse)
    code, out, err = run_cli(["tca", "tune", *args, "--jobs", "1"], capsys)
    assert code == 2, out + err
    (line,) = err.splitlines()
    assert line.startswith("error: "), line
    return line


@pytest.mark.parametrize(
    ("params", "inert"),
    [
        (["risk.max_order_qty=1,2"], "risk.max_order_qty"),
        (["timing.rest_fraction=0,1", "leveraged_etf_bps=10,20"], "leveraged_etf_bps"),
    ],
)
def test_tune_refuses_a_parameter_the_replay_never_reads_before_running(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    params: list[str],
    inert: str,
) -> None:
    # Every candidate would replay alike: the search could only report a tie.
    args = ["--quotes", *(str(day.path) for day in corpus(tmp_path))]
    for p in params:
        args += ["--param", p]
    line = tune_refused(args, capsys, monkeypatch)
    assert f"--param {inert} changes nothing a replay of policy 'ladder' reads" in line, line
