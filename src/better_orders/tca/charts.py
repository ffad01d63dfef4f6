"""The charts of a replay evaluation, drawn by matplotlib.

* ``ratio_to_market`` - each policy's cost over a market order's, per symbol-day and
  pooled with its 95% interval: the one chart to read first;
* ``cost_decomposition`` - where each policy's cost went (stacked bars per policy);
* ``cost_distribution``, ``cost_by_minute``, ``completion_by_minute`` - per file;
* ``example_decision`` - one decision drawn on the quotes.

Each policy keeps one colour in every chart and legend (``policy_colours``). Figures
are built with ``matplotlib.figure.Figure`` rather than pyplot: no global state, no
display backend. matplotlib (the ``tca`` extra) is imported inside the functions that
draw, so replaying alone does not need it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from better_orders.tca.decomposition import COMPONENTS
from better_orders.tca.evaluate import TcaResult
from better_orders.tca.example import ExampleTrace, example_title, example_trace, pick_example
from better_orders.tca.metrics import MARKET_POLICY, MinuteRow
from better_orders.tca.pooled import CorpusSummary

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_NEW_YORK = ZoneInfo("America/New_York")
#: The built-in policies' colours; other policies take the rest of the palette in order.
_FIXED = {
    "ladder": "#1f77b4",
    "seed-ladder": "#d62728",
    "market": "#7f7f7f",
    "passive": "#2ca02c",
    "walk": "#9467bd",
}
_SPARE = ("#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79", "#637939")
#: The decomposition's parts, light to dark, none a policy colour.
PART_COLOURS = {
    "spread": "#525252",
    "timing": "#f4a582",
    "passive": "#92c5de",
    "opportunity": "#c2a5cf",
    "fees": "#d9d9d9",
}
PART_LABELS = {
    "spread": "half-spread paid",
    "timing": "drift to the fill",
    "passive": "resting fills",
    "opportunity": "unfilled, at the far touch",
    "fees": "fees",
}
#: Panels per row when there is one per file.
_COLUMNS = 4


def policy_colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per policy: fixed for the built-ins, the spare palette in order for others."""
    out: dict[str, str] = {}
    spare = iter(_SPARE * (1 + len(names) // len(_SPARE)))
    for name in names:
        out[name] = _FIXED.get(name) or next(spare)
    return out


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart: its name (the PNG file's stem, the HTML figure's id) and its figure."""

    name: str
    figure: Figure


def charts(result: TcaResult) -> list[Chart]:
    """The report's charts, in page order (the example only when there is a decision)."""
    names = [p.name for p in result.policies]
    colours = policy_colours(names)
    labels = [f.label for f in result.files]
    groups = _group_minutes(result.minutes())
    corpus = result.corpus()
    # Panels are titled by symbol-day, as the ratio chart's rows are (not by file name).
    titles = {r.file: f"{r.symbol} {r.day}" for r in corpus.days}
    out = []
    if MARKET_POLICY in names:
        out.append(Chart("ratio_to_market", _ratio_figure(corpus, names, colours)))
    out += [
        Chart("cost_decomposition", _decomposition_figure(corpus, names, colours)),
        Chart("cost_distribution", _distribution_figure(result, labels, titles, names, colours)),
        Chart(
            "cost_by_minute",
            _minute_figure(
                labels,
                titles,
                names,
                colours,
                groups,
                "mean_cost_bps",
                "Mean cost by minute after the open",
                "bps",
            ),
        ),
        Chart(
            "completion_by_minute",
            _minute_figure(
                labels,
                titles,
                names,
                colours,
                groups,
                "completion_rate",
                f"Completed within {result.within_seconds:g} s, by minute after the open",
                "decisions completed",
            ),
        ),
    ]
    example = pick_example(result)
    if example is not None:
        trace = example_trace(example, result.quotes_for(example.file))
        out.append(Chart("example_decision", _example_figure(trace)))
    return out


def _legend(fig: Figure, names: Sequence[str], colours: dict[str, str]) -> None:
    """One legend for the whole figure: a patch per policy in its colour."""
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=colours[n], label=n) for n in names]
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.45 / fig.get_figheight()),
        fontsize=8,
        ncols=min(len(names), 7),
        frameon=False,
    )


def _grid(count: int, width: float, height: float, **kwargs: Any) -> tuple[Figure, list[Axes]]:
    """A figure of ``count`` panels, at most ``_COLUMNS`` a row; unused panels hidden."""
    from matplotlib.figure import Figure

    cols = min(count, _COLUMNS)
    rows = math.ceil(count / cols)
    fig = Figure(figsize=(width * cols, height * rows + 0.8))
    axes = list(fig.subplots(rows, cols, squeeze=False, **kwargs).flat)
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def _ratio_figure(corpus: CorpusSummary, names: list[str], colours: dict[str, str]) -> Figure:
    """Ratio to market per symbol-day, then pooled with its interval, one colour per policy."""
    from matplotlib.figure import Figure

    shown = [n for n in names if n != MARKET_POLICY]
    side = "both" if any(r.side == "both" for r in corpus.pooled) else corpus.pooled[0].side
    days = list(
        dict.fromkeys((r.file, f"{r.symbol} {r.day} ({r.regime.value})") for r in corpus.days)
    )
    groups = list(dict.fromkeys((r.group, r.symbol_days) for r in corpus.pooled))
    rows = [label for _, label in days] + [
        f"pooled: {g} ({n} day{'s' if n != 1 else ''})" for g, n in groups
    ]
    fig = Figure(figsize=(8.5, 1.2 + 0.32 * len(rows) * max(1, len(shown)) ** 0.5))
    ax = fig.subplots()
    step = 0.6 / max(len(shown), 1)
    for k, name in enumerate(shown):
        offset = (k - (len(shown) - 1) / 2) * step
        xs, ys = [], []
        for y, (file, _) in enumerate(days):
            row = next(
                (r for r in corpus.days if (r.file, r.policy, r.side) == (file, name, side)), None
            )
            if row is not None and row.figures.ratio is not None:
                xs.append(row.figures.ratio)
                ys.append(y + offset)
        ax.plot(xs, ys, "o", color=colours[name], label=name, markersize=5)
        for g, (group, _) in enumerate(groups):
            pooled = corpus.pooled_row(group, name, side)
            if pooled is None or pooled.figures.ratio is None:
                continue
            at = len(days) + g + offset
            ci = pooled.ratio_ci
            err = (
                None
                if ci is None
                else [[pooled.figures.ratio - ci.low], [ci.high - pooled.figures.ratio]]
            )
            ax.errorbar(
                [pooled.figures.ratio], [at], xerr=err, fmt="D", color=colours[name], capsize=3
            )
    ax.axvline(1.0, color=colours.get(MARKET_POLICY, "grey"), linestyle="--", linewidth=1)
    ax.axhline(len(days) - 0.5, color="#cccccc", linewidth=0.8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("cost / a market order's on the same decisions (1 = market, dashed)")
    ax.set_xlim(left=min(0.0, ax.get_xlim()[0]))
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(
        "Cost relative to a market order: per symbol-day (dots), pooled with 95% interval "
        "(diamonds)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _decomposition_figure(
    corpus: CorpusSummary, names: list[str], colours: dict[str, str]
) -> Figure:
    """Stacked bars per policy: each part's mean bps, costs right of 0 and gains left of it."""
    sides = list(dict.fromkeys(r.side for r in corpus.pooled))
    fig, axes = _grid(len(sides), 4.4, 0.5 + 0.45 * len(names), sharex=True)
    for ax, side in zip(axes, sides, strict=True):
        for y, name in enumerate(names):
            row = next(
                (r for r in corpus.pooled if (r.group, r.policy, r.side) == ("all", name, side)),
                None,
            )
            parts = {} if row is None else row.figures.parts_bps
            right = left = 0.0
            for part in COMPONENTS:
                value = parts.get(part, 0.0)
                start = right if value >= 0 else left
                ax.barh(y, value, left=start, color=PART_COLOURS[part], edgecolor="white")
                if value >= 0:
                    right += value
                else:
                    left += value
            if parts:
                ax.plot([sum(parts.values())], [y], "D", color="black", markersize=5)
        ax.set_yticks(range(len(names)), names, fontsize=9)
        for tick, name in zip(ax.get_yticklabels(), names, strict=True):
            tick.set_color(colours[name])
            tick.set_fontweight("bold")
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(f"{side}: all symbol-days", fontsize=9)
        ax.set_xlabel("bps of arrival notional, mean per decision")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Patch(facecolor=PART_COLOURS[p], label=PART_LABELS[p]) for p in COMPONENTS
    ]
    handles.append(Line2D([], [], marker="D", color="black", linestyle="", label="total"))
    fig.legend(handles=handles, loc="lower center", ncols=len(handles), fontsize=8)
    fig.suptitle("Where the cost went (implementation shortfall vs the arrival mid)", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _distribution_figure(
    result: TcaResult,
    labels: list[str],
    titles: dict[str, str],
    names: list[str],
    colours: dict[str, str],
) -> Figure:
    """One panel per file, one box per policy in its colour."""
    fig, axes = _grid(len(labels), max(3.2, 0.8 * len(names)), 3.2)
    for ax, label in zip(axes, labels, strict=True):
        data = []
        for name in names:
            costs = [
                r.cost_bps
                for r in result.records
                if r.file == label and r.policy == name and r.cost_bps is not None
            ]
            data.append(costs or [np.nan])
        boxes = ax.boxplot(
            data,
            showmeans=True,
            showfliers=False,
            patch_artist=True,
            medianprops={"color": "black"},
            meanprops={"marker": "^", "markerfacecolor": "white", "markeredgecolor": "black"},
        )
        for patch, name in zip(boxes["boxes"], names, strict=True):
            patch.set_facecolor(colours[name])
            patch.set_alpha(0.6)
        ax.set_xticks(range(1, len(names) + 1), names, fontsize=7, rotation=30)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_title(titles.get(label, label), fontsize=8)
    axes[0].set_ylabel("cost, bps vs arrival mid")
    _legend(fig, names, colours)
    fig.suptitle(
        "Cost per decision (box = quartiles, line = median, triangle = mean, whiskers 1.5 IQR)"
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.75 / fig.get_figheight()))
    return fig


def _minute_figure(
    labels: list[str],
    titles: dict[str, str],
    names: list[str],
    colours: dict[str, str],
    groups: dict[tuple[str, str], list[MinuteRow]],
    field: str,
    title: str,
    ylabel: str,
) -> Figure:
    """One panel per file, one line per policy: ``field`` of each minute after the open.

    Policies often coincide (every one completes 100% in most minutes): each is drawn
    thinner than the one before it, on top, so that every colour stays in sight.
    """
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    share = field == "completion_rate"
    fig, axes = _grid(len(labels), 3.6, 3.0, sharey=True)
    last = len(names) - 1
    for ax, label in zip(axes, labels, strict=True):
        for k, policy in enumerate(names):
            group = groups.get((label, policy), [])
            ys = [getattr(r, field) for r in group]
            ax.plot(
                [r.minute for r in group],
                [np.nan if y is None else y for y in ys],
                marker="o",
                markersize=4 + 3 * (last - k),
                linewidth=1.2 + 1.5 * (last - k),
                color=colours[policy],
                label=policy,
            )
        ax.set_title(titles.get(label, label), fontsize=8)
        ax.set_xlabel("minute after the open")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if share:
            ax.set_ylim(0, 1.05)
            ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
            ax.grid(axis="y", color="#eeeeee")
    axes[0].set_ylabel(ylabel)
    _legend(fig, names, colours)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.75 / fig.get_figheight()))
    return fig


def _group_minutes(rows: list[MinuteRow]) -> dict[tuple[str, str], list[MinuteRow]]:
    groups: dict[tuple[str, str], list[MinuteRow]] = {}
    for r in rows:
        groups.setdefault((r.file, r.policy), []).append(r)
    return groups


def _et(values: Sequence[datetime]) -> list[Any]:
    """Naive New York wall-clock times: what chart axes should show."""
    return [v.astimezone(_NEW_YORK).replace(tzinfo=None) for v in values]


def _example_figure(trace: ExampleTrace) -> Figure:
    """Bid and ask over time, the arrival mid, each order's limit while it lived, the fills."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5))
    ax = fig.subplots()
    x = _et(trace.times)
    ax.step(x, trace.bids, where="post", label="bid")
    ax.step(x, trace.asks, where="post", label="ask")
    mid = trace.record.arrival_mid
    if mid is not None:
        ax.axhline(float(mid), color="grey", linestyle=":", label="arrival mid")
    for label, start, end, limit in trace.orders:
        s, e = _et([start, end])
        if limit is None:
            ax.plot([s], [trace.asks[0]], marker="^", linestyle="", label=f"order {label}")
        else:
            ax.plot([s, e], [limit, limit], linewidth=4, alpha=0.6, label=f"order {label}")
    if trace.fills:
        ax.scatter(
            _et([f[0] for f in trace.fills]),
            [f[1] for f in trace.fills],
            marker="x",
            color="black",
            s=80,
            zorder=5,
            label="fills",
        )
    ax.set_title(example_title(trace), fontsize=8)
    ax.set_ylabel("price")
    ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
