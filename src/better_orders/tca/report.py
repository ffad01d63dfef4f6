"""Reports of a replay evaluation: one self-contained HTML page, and PNG charts.

Four charts, drawn by matplotlib: the cost distribution of each policy, cost and
completion by minute after the open, and one decision drawn as bid/ask over time
with the ladder's orders and fills on it. The HTML page holds them as inline SVG
beside the comparison table, so it opens offline and can be mailed as one file
(no script, nothing fetched); ``write_pngs`` writes the same charts as PNG files.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot: no
global state, no display backend. matplotlib (the ``tca`` extra) is imported
inside the functions that draw, so replaying alone does not need it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from better_orders.core.model import OrderType
from better_orders.tca.evaluate import TcaResult
from better_orders.tca.metrics import MARKET_POLICY, DecisionRecord, MinuteRow, PolicySummary
from better_orders.venues.sim.files import from_ns
from better_orders.venues.sim.replay import ReplayQuotes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The example decision is drawn from this policy when it was evaluated.
EXAMPLE_POLICY = "ladder"
_NEW_YORK = ZoneInfo("America/New_York")
#: One colour per policy, the same in every chart.
_PALETTE = ("#1f77b4", "#d62728", "#7f7f7f", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
_PAD_BEFORE = timedelta(seconds=3)
_PAD_AFTER = timedelta(seconds=5)
#: Where an SVG names an id: its definition, a link to it, a ``url(#...)`` to it.
_ID_OR_REFERENCE = re.compile(r'(\bid="|href="#|url\(#)')


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_rows(summaries: Sequence[PolicySummary]) -> list[dict[str, str]]:
    """The comparison table as text cells (shared by the HTML page and the terminal)."""
    rows = []
    for s in summaries:
        rows.append(
            {
                "file": s.file,
                "policy": s.policy,
                "decisions": str(s.decisions),
                "mean bps": _fmt(s.mean_cost_bps),
                "median bps": _fmt(s.median_cost_bps),
                "p90 bps": _fmt(s.p90_cost_bps),
                "x market": _fmt(s.ratio_to_market),
                "complete": f"{s.completion_rate:.1%}",
                f"<= {s.within_seconds:g} s": f"{s.complete_within_rate:.1%}",
                "mean ttf s": _fmt(s.mean_time_to_fill_seconds, 1),
                "p90 ttf s": _fmt(s.p90_time_to_fill_seconds, 1),
                "eff. spread bps": _fmt(s.mean_effective_spread_bps),
                "improvement bps": _fmt(s.mean_improvement_bps),
                "waited s": _fmt(s.mean_waited_seconds, 1),
                "re-pegs": _fmt(s.mean_repegs),
                "fallback": f"{s.fallback_rate:.1%}",
            }
        )
    return rows


# -- the example decision -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExampleTrace:
    """One decision and the book around it, ready to draw."""

    record: DecisionRecord
    times: list[datetime]
    bids: list[float]
    asks: list[float]
    #: (label, start, end, limit) per limit order; market orders have limit None.
    orders: list[tuple[str, datetime, datetime, float | None]]
    #: (time, price, qty) per fill.
    fills: list[tuple[datetime, float, float]]


def pick_example(result: TcaResult) -> DecisionRecord | None:
    """A representative decision: the example policy's median-cost one that waited or re-pegged.

    Falls back to any non-market policy, then to any decision at all.
    """
    names = [p.name for p in result.policies]
    preferred = [EXAMPLE_POLICY] if EXAMPLE_POLICY in names else []
    preferred += [n for n in names if n not in preferred and n != MARKET_POLICY]
    preferred += [n for n in names if n not in preferred]
    first_file = result.files[0].label if result.files else None
    for name in preferred:
        pool = [
            r
            for r in result.records
            if r.policy == name and r.file == first_file and r.cost_bps is not None
        ]
        if not pool:
            continue
        interesting = [r for r in pool if r.waited_seconds > 0 or r.attempts > 1] or pool
        costs = np.array([r.cost_bps for r in interesting], dtype=np.float64)
        median = float(np.median(costs))
        return min(interesting, key=lambda r: (abs((r.cost_bps or 0.0) - median), r.decision))
    return None


def example_trace(record: DecisionRecord, quotes: ReplayQuotes) -> ExampleTrace:
    report = record.report
    ends = [record.decision, report.finished]
    ends += [f.ts for f in report.fills]
    ends += [a.ended for a in report.attempts if a.ended is not None]
    start = record.decision - _PAD_BEFORE
    stop = max(ends) + _PAD_AFTER
    first = max(quotes.index_at(start), 0)
    last = max(quotes.index_at(stop), first)
    times: list[datetime] = [start]
    bids: list[float] = [float(quotes.bid_e4[first]) / 1e4]
    asks: list[float] = [float(quotes.ask_e4[first]) / 1e4]
    for i in range(first + 1, last + 1):
        times.append(from_ns(int(quotes.ts_ns[i])))
        bids.append(float(quotes.bid_e4[i]) / 1e4)
        asks.append(float(quotes.ask_e4[i]) / 1e4)
    times.append(stop)
    bids.append(bids[-1])
    asks.append(asks[-1])
    orders = []
    for n, a in enumerate(report.attempts, start=1):
        limit = float(a.limit_price) if a.order_type is OrderType.LIMIT and a.limit_price else None
        orders.append((f"{n}: {a.kind.value}", a.started, a.ended or report.finished, limit))
    fills = [(f.ts, float(f.price), float(f.qty)) for f in report.fills]
    return ExampleTrace(record, times, bids, asks, orders, fills)


def _example_title(trace: ExampleTrace) -> str:
    r = trace.record
    et = r.decision.astimezone(_NEW_YORK).strftime("%H:%M:%S")
    return (
        f"{r.file}: {r.policy} {r.side.value} {r.requested_qty} {r.symbol} decided {et} ET - "
        f"cost {_fmt(r.cost_bps)} bps, waited {r.waited_seconds:.1f} s, "
        f"{r.attempts} order(s), {r.repegs} re-peg(s)"
    )


def _et(values: Sequence[datetime]) -> list[Any]:
    """Naive New York wall-clock times: what chart axes should show."""
    return [v.astimezone(_NEW_YORK).replace(tzinfo=None) for v in values]


# -- the charts (matplotlib) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart: its name (the PNG file's stem, the HTML figure's id) and its figure."""

    name: str
    figure: Figure


def charts(result: TcaResult) -> list[Chart]:
    """The report's charts, in page order (the example only when there is a decision)."""
    labels = [f.label for f in result.files]
    groups = _group_minutes(result.minutes())
    completion = f"Completed within {result.within_seconds:g} s, by minute"
    out = [
        Chart("cost_distribution", _distribution_figure(result, labels)),
        Chart(
            "cost_by_minute",
            _minute_figure(
                result, labels, groups, "mean_cost_bps", "Mean cost by minute after the open", "bps"
            ),
        ),
        Chart(
            "completion_by_minute",
            _minute_figure(result, labels, groups, "completion_rate", completion, "share"),
        ),
    ]
    example = pick_example(result)
    if example is not None:
        trace = example_trace(example, result.quotes_for(example.file))
        out.append(Chart("example_decision", _example_figure(trace)))
    return out


def _distribution_figure(result: TcaResult, labels: list[str]) -> Figure:
    """One panel per file, one box per policy."""
    from matplotlib.figure import Figure

    names = [p.name for p in result.policies]
    fig = Figure(figsize=(max(4.2, 1.1 * len(names)) * len(labels), 4.5))
    axes = fig.subplots(1, len(labels), squeeze=False)
    for ax, label in zip(axes[0], labels, strict=True):
        data = []
        for name in names:
            costs = [
                r.cost_bps
                for r in result.records
                if r.file == label and r.policy == name and r.cost_bps is not None
            ]
            data.append(costs or [np.nan])
        ax.boxplot(data, showmeans=True, showfliers=False)
        ax.set_xticks(range(1, len(names) + 1), names, fontsize=8)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_title(label, fontsize=8)
    axes[0][0].set_ylabel("cost, bps vs arrival mid")
    fig.suptitle("Cost per decision (box = quartiles, triangle = mean, whiskers 1.5 IQR)")
    fig.tight_layout()
    return fig


def _minute_figure(
    result: TcaResult,
    labels: list[str],
    groups: dict[tuple[str, str], list[MinuteRow]],
    field: str,
    title: str,
    ylabel: str,
) -> Figure:
    """One panel per file, one line per policy: ``field`` of each minute after the open."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(4.2 * len(labels), 4))
    axes = fig.subplots(1, len(labels), sharey=True, squeeze=False)
    for ax, label in zip(axes[0], labels, strict=True):
        for k, policy in enumerate(p.name for p in result.policies):
            group = groups.get((label, policy), [])
            ys = [getattr(r, field) for r in group]
            ax.plot(
                [r.minute for r in group],
                [np.nan if y is None else y for y in ys],
                marker="o",
                color=_PALETTE[k % len(_PALETTE)],
                label=policy,
            )
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("minute after the open")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _group_minutes(rows: list[MinuteRow]) -> dict[tuple[str, str], list[MinuteRow]]:
    groups: dict[tuple[str, str], list[MinuteRow]] = {}
    for r in rows:
        groups.setdefault((r.file, r.policy), []).append(r)
    return groups


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
    ax.set_title(_example_title(trace), fontsize=8)
    ax.set_ylabel("price")
    ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


# -- HTML --------------------------------------------------------------------------------------


def _table_html(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "<p>No decisions.</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg(chart: Chart) -> str:
    """The chart as an inline ``<svg>`` element (text drawn as paths: no font needed).

    matplotlib numbers the ids inside each SVG from 1; prefixing every id and every
    reference to one with the chart's name keeps them unique on a page of several.
    """
    import io

    buffer = io.StringIO()
    chart.figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return _ID_OR_REFERENCE.sub(rf"\g<1>{chart.name}-", text[text.index("<svg") :])


def write_html(result: TcaResult, path: str | Path) -> Path:
    """Write the self-contained HTML report; returns its path."""
    out = Path(path)
    figures = "\n".join(f'<figure id="{c.name}">{_svg(c)}</figure>' for c in charts(result))
    sides = ", ".join(s.value for s in result.sides)
    files = ", ".join(html.escape(f.label) for f in result.files)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Better Orders - execution cost report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; }} td:nth-child(1), td:nth-child(2) {{ text-align: left; }}
figure {{ margin: 2em 0; }} figure svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>Execution cost by policy</h1>
<p>Files: {files}. Sides: {sides}. {len(result.records)} decisions in
{result.wall_seconds:.1f} s. Cost is the implementation shortfall in bps of the arrival mid
(positive = paid), buys and sells pooled; "x market" is a policy's mean cost over the market
order's on the same file.</p>
{_table_html(summary_rows(result.summaries()))}
{figures}
</body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


# -- PNG ---------------------------------------------------------------------------------------


def write_pngs(result: TcaResult, directory: str | Path) -> list[Path]:
    """Write the charts as PNG files into ``directory``; returns their paths."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for chart in charts(result):
        path = folder / f"{chart.name}.png"
        chart.figure.savefig(path, dpi=110)
        written.append(path)
    return written
