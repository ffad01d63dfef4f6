"""The chart of ``tca --journal``: each symbol's costs as they were and as simulated.

One panel per figure (shortfall, effective spread, the realized spreads), a pair of
bars per symbol: actual and what the simulator predicts for the same child orders
(``own_fills``). matplotlib (the ``tca`` extra) is imported when it draws.
"""

from __future__ import annotations

from better_orders.tca.charts import Chart
from better_orders.tca.own_fills import OwnFillsResult, figure_value

_ACTUAL, _SIMULATED = "#1f77b4", "#ff7f0e"


def own_fills_chart(result: OwnFillsResult) -> Chart:
    from matplotlib.figure import Figure

    rows = result.groups["symbol"]
    panels = [("shortfall_bps", "Shortfall vs arrival mid"), ("effective_bps", "Effective spread")]
    panels += [(f"realized_{h}", f"Realized spread at {h / 1000:g} s") for h in result.horizons]
    fig = Figure(figsize=(3.2 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    xs = list(range(len(rows)))
    for ax, (name, title) in zip(axes, panels, strict=True):
        actual = [figure_value(r.actual, name) or 0.0 for r in rows]
        simulated = [figure_value(r.predicted, name) or 0.0 if r.predicted else 0.0 for r in rows]
        ax.bar([x - 0.2 for x in xs], actual, width=0.4, color=_ACTUAL, label="actual")
        ax.bar([x + 0.2 for x in xs], simulated, width=0.4, color=_SIMULATED, label="simulated")
        ax.set_xticks(xs, [r.key for r in rows], rotation=45 if len(rows) > 4 else 0)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("bps")
        ax.axhline(0, color="#999", linewidth=0.6)
    axes[0].legend(fontsize=8)
    fig.suptitle("Your own fills by symbol: actual and simulated (same orders, same quotes)")
    return Chart("own_fills", fig)
