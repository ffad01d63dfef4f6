"""TCA of your own fills: what real runs in a journal cost, and how far the simulator was.

For every parent order (leg) of the journal's runs (Alpaca or simulator), from the fills
and the quotes the runner marked around them (``engine.markouts``; read by
``journal_legs``):

* **implementation shortfall** vs the arrival mid, in bps of the arrival notional of
  the filled shares (positive = paid), per child order, leg and run;
* **effective spread**: ``2 x side x (price - mid at the fill) / mid`` in bps;
* **price improved**: the share of fills (by shares) better than the touch at the fill
  (a buy below the ask, a sell above the bid);
* **realized spread** at +5 s and +60 s: ``2 x side x (price - mid then) / mid at the
  fill`` in bps, what the fill kept once the market had moved on;
* **filled**: filled shares over the shares the child orders asked for.

Figures are share-weighted over fills, grouped by symbol, asset class (``config``),
time of day (New York, of the leg's arrival) and policy (the ladder's strategy).
Beside each one is what the simulator predicts for the same child orders replayed
on the journalled quotes (``fill_replay``): the calibration error, predicted - actual.
A prediction with random partial fills is the mean over several draws (each predicted
fill weighs its share of them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Side
from better_orders.tca.journal_legs import LegRecord, MarkedFill, load_legs, open_journal

GROUPS = ("symbol", "class", "time", "policy")
TITLES = {
    "symbol": "By symbol",
    "class": "By asset class",
    "time": "By time of day (New York, at the arrival)",
    "policy": "By policy",
}


# ------------------------------------------------------------------------------ figures


@dataclass(frozen=True, slots=True)
class Figures:
    """The cost figures of a set of fills (None where nothing could be measured)."""

    fills: int
    shares: float
    asked: float
    shortfall_bps: float | None
    effective_bps: float | None
    improved: float | None
    realized_bps: dict[int, float | None]

    @property
    def filled(self) -> float | None:
        return self.shares / self.asked if self.asked else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "fills": self.fills,
            "shares": self.shares,
            "filled": self.filled,
            "shortfall_bps": self.shortfall_bps,
            "effective_spread_bps": self.effective_bps,
            "price_improved": self.improved,
            **{f"realized_spread_{ms // 1000}s_bps": v for ms, v in self.realized_bps.items()},
        }


#: (fills, their arrival mid, their side) as one leg contributes them to a group.
Contribution = tuple[Sequence[MarkedFill], Decimal, Side, Decimal]


def figures(parts: Iterable[Contribution], horizons: Sequence[int]) -> Figures:
    """Share-weighted figures over every fill of ``parts`` (fills, arrival mid, side, asked);
    a predicted fill counts for its ``weight`` (``fills``: their sum, rounded)."""
    n = 0.0
    shares = asked = 0.0
    cost = notional = 0.0
    eff = eff_w = imp = imp_w = 0.0
    rs = dict.fromkeys(horizons, 0.0)
    rs_w = dict.fromkeys(horizons, 0.0)
    for fills, mid0, side, ask_qty in parts:
        asked += float(ask_qty)
        s = float(side.sign)
        a = float(mid0)
        for mf in fills:
            q, p = float(mf.fill.qty) * mf.weight, float(mf.fill.price)
            n += mf.weight
            shares += q
            if a > 0:
                cost += s * (p - a) * q
                notional += a * q
            at = mf.at
            if at is None or at.bid <= 0 or at.ask <= 0:
                continue
            m = float(at.mid)
            eff += 2 * s * (p - m) / m * 1e4 * q
            eff_w += q
            better = mf.fill.price < at.ask if side is Side.BUY else mf.fill.price > at.bid
            imp += q if better else 0.0
            imp_w += q
            for h in horizons:
                later = mf.after.get(h)
                if later is None or later.bid <= 0 or later.ask <= 0:
                    continue
                rs[h] += 2 * s * (p - float(later.mid)) / m * 1e4 * q
                rs_w[h] += q
    return Figures(
        fills=round(n),
        shares=shares,
        asked=asked,
        shortfall_bps=cost / notional * 1e4 if notional else None,
        effective_bps=eff / eff_w if eff_w else None,
        improved=imp / imp_w if imp_w else None,
        realized_bps={h: rs[h] / rs_w[h] if rs_w[h] else None for h in horizons},
    )


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a table: what it covers, the actual figures and the simulator's."""

    group: str
    key: str
    actual: Figures
    predicted: Figures | None

    def error(self, name: str) -> float | None:
        """Predicted - actual for one figure (``Figures`` attribute or ``realized_<ms>``)."""
        if self.predicted is None:
            return None
        a, p = figure_value(self.actual, name), figure_value(self.predicted, name)
        return None if a is None or p is None else p - a

    def as_dict(self, horizons: Sequence[int]) -> dict[str, Any]:
        names = ["shortfall_bps", "effective_bps", "improved", "filled"]
        names += [f"realized_{h}" for h in horizons]
        return {
            "group": self.group,
            "key": self.key,
            **self.actual.as_dict(),
            "simulated": None if self.predicted is None else self.predicted.as_dict(),
            "calibration_error": {n: self.error(n) for n in names},
        }


def figure_value(f: Figures, name: str) -> float | None:
    """One figure by name: a ``Figures`` attribute or ``realized_<ms>``."""
    if name.startswith("realized_"):
        return f.realized_bps.get(int(name.removeprefix("realized_")))
    value = getattr(f, name)
    return None if value is None else float(value)


@dataclass(slots=True)
class OwnFillsResult:
    """Every table of ``tca --journal``."""

    journal: Path
    horizons: list[int]
    legs: list[LegRecord]
    profile: str
    runs: list[Row]
    leg_rows: list[Row]
    orders: list[Row]
    groups: dict[str, list[Row]]
    overall: Row

    def tables(self) -> list[tuple[str, list[Row]]]:
        """Every table as (title, rows), in the order they are shown."""
        tables = [("Runs", self.runs), ("Legs (parent orders)", self.leg_rows)]
        tables.append(("Child orders", self.orders))
        tables += [(TITLES[g], rows) for g, rows in self.groups.items()]
        return [*tables, ("All", [self.overall])]

    def as_dict(self) -> dict[str, Any]:
        h = self.horizons
        return {
            "journal": str(self.journal),
            "sim_profile": self.profile,
            "markouts_seconds": [ms / 1000 for ms in h],
            "overall": self.overall.as_dict(h),
            "runs": [r.as_dict(h) for r in self.runs],
            "legs": [r.as_dict(h) for r in self.leg_rows],
            "orders": [r.as_dict(h) for r in self.orders],
            "groups": {g: [r.as_dict(h) for r in rows] for g, rows in self.groups.items()},
        }


Predict = Callable[[LegRecord], dict[str, list[MarkedFill]]]


def analyse(
    journal_path: Path,
    legs: list[LegRecord],
    predict: Predict | None,
    horizons: Sequence[int],
    profile: str,
) -> OwnFillsResult:
    """Every table: actual figures from the journal, predicted ones from ``predict``."""
    hs = list(horizons)
    predicted = {(leg.run_id, leg.leg): predict(leg) for leg in legs} if predict else {}

    def row(group: str, key: str, chosen: list[tuple[LegRecord, str | None]]) -> Row:
        actual = [_part(leg, coid, None) for leg, coid in chosen]
        sim = (
            [_part(leg, coid, predicted[leg.run_id, leg.leg]) for leg, coid in chosen]
            if predict
            else None
        )
        return Row(group, key, figures(actual, hs), figures(sim, hs) if sim is not None else None)

    everything: list[tuple[LegRecord, str | None]] = [(leg, None) for leg in legs]
    runs: dict[str, list[tuple[LegRecord, str | None]]] = defaultdict(list)
    grouped: dict[str, dict[str, list[tuple[LegRecord, str | None]]]] = {
        g: defaultdict(list) for g in GROUPS
    }
    for leg in legs:
        runs[leg.run_id].append((leg, None))
        keys = {"symbol": leg.symbol, "class": leg.klass, "time": leg.time_of_day}
        keys["policy"] = leg.policy
        for g, k in keys.items():
            grouped[g][k].append((leg, None))
    return OwnFillsResult(
        journal=journal_path,
        horizons=hs,
        legs=legs,
        profile=profile,
        runs=[row("run", r, chosen) for r, chosen in runs.items()],
        leg_rows=[
            row("leg", f"{leg.run_id}/{leg.leg} {leg.side.value} {leg.symbol}", [(leg, None)])
            for leg in legs
        ],
        orders=[
            row("order", o.request.client_order_id, [(leg, o.request.client_order_id)])
            for leg in legs
            for o in leg.orders
        ],
        groups={g: [row(g, k, v) for k, v in sorted(rows.items())] for g, rows in grouped.items()},
        overall=row("all", "all", everything),
    )


def _part(
    leg: LegRecord, coid: str | None, predicted: dict[str, list[MarkedFill]] | None
) -> Contribution:
    """The fills a leg (or one of its child orders) contributes, actual or predicted."""
    if predicted is None:
        fills = [f for f in leg.fills if coid is None or f.fill.client_order_id == coid]
    else:
        fills = [f for c, fs in predicted.items() if coid is None or c == coid for f in fs]
    # A leg asked for its parent's quantity; re-pegs ask again for what remained.
    asked = leg.requested
    if coid is not None:
        asked = next(o.request.qty for o in leg.orders if o.request.client_order_id == coid)
    return fills, leg.arrival.mid, leg.side, asked


def own_fills(
    path: Path,
    config: BetterOrdersConfig,
    *,
    since: date | None = None,
    profile: Any = None,
    profile_name: str = "built-in",
) -> OwnFillsResult:
    """``tca --journal``: the journal's legs since ``since``, actual and as the simulator
    (``profile``, a ``SimProfile``; the built-in one by default) replays them."""
    from better_orders.tca.fill_replay import FillReplay
    from better_orders.venues.sim.profile import SimProfile

    horizons = [round(s * 1000) for s in config.tca.markout_seconds]
    with open_journal(path) as journal:
        legs = load_legs(journal, config, since)
    if not legs:
        when = f" since {since}" if since is not None else ""
        raise InvalidInputError(f"journal {path} has no orders with an arrival quote{when}")
    replay = FillReplay(profile or SimProfile(), horizons)
    return analyse(path, legs, replay, horizons, profile_name)
