"""Leave-one-symbol-day-out cross-validation over a matrix of per-(candidate, symbol-day) sums.

Once every candidate has been evaluated on every symbol-day (``tune``), choosing
is arithmetic on these sums, per candidate ``c``, symbol-day ``f`` and side:

* ``policy[c, f]``, ``market[c, f]`` - the candidate's shortfall and the market
  order's, summed over the decisions where both have one (bps of arrival notional);
* ``complete[c, f]``, ``decisions[c, f]`` - decisions complete within the window,
  and all decisions.

**Objective** (``Objective``): the pooled ratio to market, ``sum policy / sum market``
over the days in question (buys and sells together), or with ``WORST_DAY`` the highest
of those days' own ratios (then the pooled ratio), among the candidates whose completion
within the window over those days is at least ``min_completion`` (with ``groups``, over
the days of each group: days that always complete then cannot hide the ones that do
not); lower is better, ties go to the earlier candidate. The pooled ratio is what a
trader pays over many days; the worst day is for one who would rather give some of
that up than have any day cost more than crossing at once.

**The procedure**: for each held-out day, pick the best candidate on the other days
and score that pick on the held-out day. Its out-of-sample figure, pooled over the
held-out days the same way, is the honest number: it pays for the choosing. For one
fixed candidate the held-out days are all of them, so its out-of-sample ratio is its
ratio on the whole corpus and differs from its in-sample one (the mean over folds of
the ratio on the other days) only by how the days are weighed: a single candidate
is not fitted to anything. The gap between the best in-sample figure and the
procedure's shows how much the choosing flatters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from better_orders.tca.bootstrap import Interval, Resampler

FloatArray = npt.NDArray[np.float64]
#: Completion within the window a candidate needs, over the days it is judged on.
DEFAULT_MIN_COMPLETION = 0.995
#: The sides axis of the matrices.
SIDE_NAMES = ("buy", "sell")


class Objective(StrEnum):
    """What a pick minimises over the days it is chosen on (module docstring)."""

    POOLED = "pooled"
    WORST_DAY = "worst-day"


@dataclass(frozen=True, slots=True)
class Matrix:
    """Sums per (candidate, symbol-day, side), each array shaped (candidates, days, 2)."""

    policy: FloatArray
    market: FloatArray
    complete: FloatArray
    decisions: FloatArray

    def __post_init__(self) -> None:
        shapes = {a.shape for a in (self.policy, self.market, self.complete, self.decisions)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 3:
            raise ValueError(f"the sums must share one (candidates, days, sides) shape: {shapes}")

    @property
    def candidates(self) -> int:
        return int(self.policy.shape[0])

    @property
    def days(self) -> int:
        return int(self.policy.shape[1])

    def ratio(self, c: int, days: npt.NDArray[np.bool_], side: int | None = None) -> float | None:
        """Candidate ``c``'s pooled ratio to market over ``days`` (both sides, or one)."""
        sl = slice(None) if side is None else slice(side, side + 1)
        den = float(self.market[c, days, sl].sum())
        return float(self.policy[c, days, sl].sum()) / den if den > 0 else None

    def completion(self, c: int, days: npt.NDArray[np.bool_]) -> float | None:
        n = float(self.decisions[c, days].sum())
        return float(self.complete[c, days].sum()) / n if n > 0 else None

    def worst_day(self, c: int, days: npt.NDArray[np.bool_]) -> float | None:
        """The highest of candidate ``c``'s own ratios over ``days`` (None: no day has one)."""
        ratios = [self.ratio(c, _only(self.days, int(f))) for f in np.flatnonzero(days)]
        known = [r for r in ratios if r is not None]
        return max(known) if known else None


@dataclass(frozen=True, slots=True)
class Fold:
    """One held-out symbol-day: the candidate chosen on the others, and how it did."""

    held_out: int
    pick: int | None
    train_ratio: float | None
    test_ratio: float | None
    test_completion: float | None


@dataclass(frozen=True, slots=True)
class CandidateScore:
    """One candidate in and out of sample (module docstring)."""

    index: int
    in_sample_ratio: float | None
    out_of_sample_ratio: float | None
    completion: float | None
    feasible: bool
    worst_day_ratio: float | None
    picked: int


@dataclass(frozen=True, slots=True)
class CrossValidation:
    folds: list[Fold]
    scores: list[CandidateScore]
    min_completion: float
    objective: Objective
    #: The procedure out of sample: pooled over the held-out days of every fold with a pick.
    ratio: float | None
    side_ratios: dict[str, float | None]
    completion: float | None
    interval: Interval | None
    #: The best candidate on all the days (what a tune without cross-validation would report).
    best_in_sample: int | None


def complete_enough(
    matrix: Matrix,
    c: int,
    days: npt.NDArray[np.bool_],
    min_completion: float,
    groups: Sequence[str] | None = None,
) -> bool:
    """Whether candidate ``c`` completes ``min_completion`` over ``days`` (with ``groups``,
    one label per day: over the days of each group)."""
    done = matrix.completion(c, days)
    if done is None or done < min_completion:
        return False
    if groups is None:
        return True
    labels = np.asarray(groups)
    for group in set(labels[days]):
        share = matrix.completion(c, days & (labels == group))
        if share is None or share < min_completion:
            return False
    return True


def best(
    matrix: Matrix,
    days: npt.NDArray[np.bool_],
    min_completion: float,
    groups: Sequence[str] | None = None,
    objective: Objective = Objective.POOLED,
) -> int | None:
    """The feasible candidate that does best over ``days`` by ``objective`` (None if none
    is feasible)."""
    chosen: tuple[tuple[float, float], int] | None = None
    for c in range(matrix.candidates):
        ratio = matrix.ratio(c, days)
        if ratio is None or not complete_enough(matrix, c, days, min_completion, groups):
            continue
        key = (ratio, ratio)
        if objective is Objective.WORST_DAY:
            worst = matrix.worst_day(c, days)
            key = (ratio if worst is None else worst, ratio)
        if chosen is None or key < chosen[0]:
            chosen = (key, c)
    return None if chosen is None else chosen[1]


def leave_one_day_out(
    matrix: Matrix,
    *,
    min_completion: float = DEFAULT_MIN_COMPLETION,
    resampler: Resampler = Resampler(),
    groups: Sequence[str] | None = None,
    objective: Objective = Objective.POOLED,
) -> CrossValidation:
    """The cross-validation of ``matrix`` (module docstring); ``groups``: a label per
    symbol-day (a regime) within each of which a pick must complete ``min_completion``;
    ``objective``: what each pick minimises on its fold's other days."""
    n = matrix.days
    everything = np.ones(n, dtype=np.bool_)
    folds: list[Fold] = []
    for f in range(n):
        train = everything.copy()
        train[f] = False
        held = ~train
        pick = best(matrix, train, min_completion, groups, objective) if n > 1 else None
        folds.append(
            Fold(
                held_out=f,
                pick=pick,
                train_ratio=None if pick is None else matrix.ratio(pick, train),
                test_ratio=None if pick is None else matrix.ratio(pick, held),
                test_completion=None if pick is None else matrix.completion(pick, held),
            )
        )
    picks = _picks(folds)
    done = sum(float(matrix.complete[c, d].sum()) for c, d in picks)
    total = sum(float(matrix.decisions[c, d].sum()) for c, d in picks)
    interval = resampler.ratio(
        [float(matrix.policy[c, d].sum()) for c, d in picks],
        [float(matrix.market[c, d].sum()) for c, d in picks],
    )
    scores = []
    for c in range(matrix.candidates):
        trains = [matrix.ratio(c, _without(n, f)) for f in range(n)] if n > 1 else []
        known = [r for r in trains if r is not None]
        completion = matrix.completion(c, everything)
        scores.append(
            CandidateScore(
                index=c,
                in_sample_ratio=float(np.mean(known)) if known else None,
                out_of_sample_ratio=matrix.ratio(c, everything),
                completion=completion,
                feasible=complete_enough(matrix, c, everything, min_completion, groups),
                worst_day_ratio=matrix.worst_day(c, everything),
                picked=sum(fold.pick == c for fold in folds),
            )
        )
    return CrossValidation(
        folds=folds,
        scores=scores,
        min_completion=min_completion,
        objective=objective,
        ratio=held_out_ratio(matrix, folds),
        side_ratios={
            name: held_out_ratio(matrix, folds, side=k) for k, name in enumerate(SIDE_NAMES)
        },
        completion=done / total if total > 0 else None,
        interval=interval,
        best_in_sample=best(matrix, everything, min_completion, groups, objective),
    )


def _picks(folds: Sequence[Fold]) -> list[tuple[int, int]]:
    return [(fold.pick, fold.held_out) for fold in folds if fold.pick is not None]


def held_out_ratio(
    matrix: Matrix,
    folds: Sequence[Fold],
    *,
    days: Sequence[int] | None = None,
    side: int | None = None,
) -> float | None:
    """The procedure's out-of-sample ratio, pooled over the held-out ``days`` (default all)."""
    sl = slice(None) if side is None else slice(side, side + 1)
    picks = [(c, d) for c, d in _picks(folds) if days is None or d in days]
    den = sum(float(matrix.market[c, d, sl].sum()) for c, d in picks)
    num = sum(float(matrix.policy[c, d, sl].sum()) for c, d in picks)
    return num / den if den > 0 else None


def _without(n: int, f: int) -> npt.NDArray[np.bool_]:
    mask = np.ones(n, dtype=np.bool_)
    mask[f] = False
    return mask


def _only(n: int, f: int) -> npt.NDArray[np.bool_]:
    mask = np.zeros(n, dtype=np.bool_)
    mask[f] = True
    return mask
