"""Confidence intervals from resampling whole symbol-days (a cluster bootstrap).

Decisions a second apart on one day share one price path, so they are not
independent draws: resampling decisions would give intervals far too narrow.
Here the unit drawn (with replacement) is the symbol-day, and every statistic is
a ratio of per-day sums (``sum of numerators / sum of denominators``), which is
how a mean over decisions, a completion rate and a cost ratio to market all
pool. The interval is the percentile interval of the resampled ratios.

Seeded: the draws depend only on the seed and the number of symbol-days, so every
statistic over the same days uses the same resamples and a rerun prints the same
figures. With a dozen symbol-days the percentile interval is known to be somewhat
narrow (it undercovers); it is a guide to how much a figure would move on other
days, not a guarantee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
CONFIDENCE = 0.95

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float

    def as_list(self, digits: int = 4) -> list[float]:
        return [round(self.low, digits), round(self.high, digits)]


@dataclass(frozen=True, slots=True)
class Resampler:
    """Draws symbol-days with replacement, ``resamples`` times, from ``seed``."""

    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    confidence: float = CONFIDENCE

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise ValueError(f"resamples must be >= 1, got {self.resamples}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, got {self.confidence}")

    def counts(self, days: int) -> npt.NDArray[np.int64]:
        """How often each of ``days`` symbol-days is drawn in each resample: (resamples, days)."""
        rng = np.random.default_rng([self.seed, days])
        drawn = rng.integers(0, days, size=(self.resamples, days))
        counts = np.zeros((self.resamples, days), dtype=np.int64)
        np.add.at(counts, (np.arange(self.resamples)[:, None], drawn), 1)
        return counts

    def ratio(self, numerators: Sequence[float], denominators: Sequence[float]) -> Interval | None:
        """The interval of ``sum(num) / sum(den)`` over resampled days (None under two days).

        Resamples whose denominator is not positive are left out.
        """
        num = np.asarray(numerators, dtype=np.float64)
        den = np.asarray(denominators, dtype=np.float64)
        if len(num) != len(den):
            raise ValueError("numerators and denominators must be per the same days")
        if len(num) < 2:
            return None
        counts = self.counts(len(num)).astype(np.float64)
        top, bottom = counts @ num, counts @ den
        usable = bottom > 0
        if not usable.any():
            return None
        ratios = top[usable] / bottom[usable]
        tail = (1 - self.confidence) / 2 * 100
        low, high = np.percentile(ratios, [tail, 100 - tail])
        return Interval(float(low), float(high))


def ratio_of_sums(numerators: Sequence[float], denominators: Sequence[float]) -> float | None:
    """``sum(num) / sum(den)``, None when the denominator is not positive."""
    bottom = float(np.sum(denominators))
    return float(np.sum(numerators)) / bottom if bottom > 0 else None
