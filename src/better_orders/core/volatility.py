"""Short-horizon volatility, and how long a wait is worth its drift risk.

A resting order saves at most the spread it does not cross; while it waits, the
price drifts by about ``sigma x sqrt(t)`` (``sigma`` in bps per square root of a
second). A wait longer than ``(k x spread / sigma)^2`` risks more drift than ``k``
spreads' saving, so the ladder bounds its patient rest by that
(``drift_bound_seconds``). ``sigma`` comes from mids sampled at a fixed step up to
the decision and no later (``realized_volatility_bps``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from better_orders.core.errors import InvalidInputError


def realized_volatility_bps(mids: Sequence[float], step_seconds: float) -> float | None:
    """Realised volatility of ``mids`` sampled every ``step_seconds``, in bps per sqrt second.

    ``sqrt(sum of squared log returns / elapsed seconds) x 10,000``; None with fewer than
    two positive samples.
    """
    if not step_seconds > 0:
        raise InvalidInputError(f"volatility sampling step must be positive, got {step_seconds}")
    usable = [m for m in mids if m > 0 and math.isfinite(m)]
    if len(usable) < 2:
        return None
    total = 0.0
    for before, after in itertools.pairwise(usable):
        r = math.log(after / before)
        total += r * r
    return math.sqrt(total / ((len(usable) - 1) * step_seconds)) * 10_000


def drift_bound_seconds(spread_bps: float, sigma_bps: float | None, k: float) -> float | None:
    """The longest wait whose drift (``sigma x sqrt(t)``) stays within ``k`` spreads.

    None when nothing bounds it: no volatility estimate, a still market, or ``k <= 0``
    (the bound switched off).
    """
    if sigma_bps is None or sigma_bps <= 0 or k <= 0 or not math.isfinite(sigma_bps):
        return None
    return (k * max(spread_bps, 0.0) / sigma_bps) ** 2
