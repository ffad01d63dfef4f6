"""Reports of a replay evaluation: one self-contained HTML page, and PNG charts.

The HTML page inlines plotly's JavaScript (``include_plotlyjs=True`` on the first
chart), so it opens offline and can be mailed as one file. It shows the
comparison table, the cost distribution of each policy, cost and completion by
minute after the open, and one decision drawn as bid/ask over time with the
ladder's orders and fills on it. ``write_pngs`` draws the same charts with
matplotlib (Agg backend, no display needed).

Heavy imports (plotly, matplotlib) happen inside the functions that need them.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from better_orders.core.model import OrderType
from better_orders.tca.evaluate import TcaResult
from better_orders.tca.metrics import MARKET_POLICY, DecisionRecord, MinuteRow, PolicySummary
from better_orders.venues.sim.files import from_ns
from better_orders.venues.sim.replay import ReplayQuotes

#: The example decision is drawn from this policy when it was evaluated.
EXAMPLE_POLICY = "ladder"
_NEW_YORK = ZoneInfo("America/New_York")
#: One colour per policy, the same in every chart.
_PALETTE = ("#1f77b4", "#d62728", "#7f7f7f", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
_PAD_BEFORE = timedelta(seconds=3)
_PAD_AFTER = timedelta(seconds=5)


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


# -- HTML (plotly) -----------------------------------------------------------------------------


def _table_html(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "<p>No decisions.</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _distribution_figure(result: TcaResult) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    for policy in result.policies:
        for f in result.files:
            costs = [
                r.cost_bps
                for r in result.records
                if r.policy == policy.name and r.file == f.label and r.cost_bps is not None
            ]
            fig.add_trace(
                go.Box(
                    y=costs,
                    x=[f.label] * len(costs),
                    name=policy.name,
                    legendgroup=policy.name,
                    showlegend=f is result.files[0],
                    boxmean=True,
                )
            )
    fig.update_layout(
        title="Cost per decision (bps vs arrival mid; box = quartiles, dashed = mean)",
        boxmode="group",
        yaxis_title="bps",
        height=480,
    )
    return fig


def _minute_figure(result: TcaResult, field: str, title: str, ytitle: str) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    labels = [f.label for f in result.files]
    fig = make_subplots(rows=1, cols=len(labels), subplot_titles=labels, shared_yaxes=True)
    groups = _group_minutes(result.minutes())
    palette = _PALETTE
    for col, label in enumerate(labels, start=1):
        for k, policy in enumerate(p.name for p in result.policies):
            group = groups.get((label, policy), [])
            fig.add_trace(
                go.Scatter(
                    x=[r.minute for r in group],
                    y=[getattr(r, field) for r in group],
                    mode="lines+markers",
                    name=policy,
                    legendgroup=policy,
                    showlegend=col == 1,
                    line={"color": palette[k % len(palette)]},
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="minute after the open", dtick=1, row=1, col=col)
    fig.update_yaxes(title_text=ytitle, row=1, col=1)
    fig.update_layout(title=title, height=440)
    return fig


def _group_minutes(rows: list[MinuteRow]) -> dict[tuple[str, str], list[MinuteRow]]:
    groups: dict[tuple[str, str], list[MinuteRow]] = {}
    for r in rows:
        groups.setdefault((r.file, r.policy), []).append(r)
    return groups


def _example_figure(trace: ExampleTrace) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    x = _et(trace.times)
    fig.add_trace(go.Scatter(x=x, y=trace.bids, name="bid", line_shape="hv"))
    fig.add_trace(go.Scatter(x=x, y=trace.asks, name="ask", line_shape="hv"))
    mid = trace.record.arrival_mid
    if mid is not None:
        fig.add_trace(
            go.Scatter(
                x=[x[0], x[-1]],
                y=[float(mid), float(mid)],
                name="arrival mid",
                line={"dash": "dot", "color": "grey"},
            )
        )
    for label, start, end, limit in trace.orders:
        s, e = _et([start, end])
        if limit is None:
            fig.add_trace(
                go.Scatter(x=[s], y=[trace.asks[0]], mode="markers", name=f"order {label} (market)")
            )
        else:
            fig.add_trace(
                go.Scatter(
                    x=[s, e],
                    y=[limit, limit],
                    mode="lines",
                    name=f"order {label}",
                    line={"width": 4},
                )
            )
    if trace.fills:
        fig.add_trace(
            go.Scatter(
                x=_et([f[0] for f in trace.fills]),
                y=[f[1] for f in trace.fills],
                mode="markers",
                name="fills",
                marker={"size": 12, "symbol": "x", "color": "black"},
                text=[f"{q:g} shares" for _, _, q in trace.fills],
            )
        )
    fig.update_layout(title=_example_title(trace), yaxis_title="price", height=480)
    return fig


def write_html(result: TcaResult, path: str | Path) -> Path:
    """Write the self-contained HTML report; returns its path."""
    import plotly.io as pio

    out = Path(path)
    figures = [
        _distribution_figure(result),
        _minute_figure(result, "mean_cost_bps", "Mean cost by minute", "bps"),
        _minute_figure(
            result,
            "completion_rate",
            f"Completed within {result.within_seconds:g} s, by minute",
            "share of decisions",
        ),
    ]
    example = pick_example(result)
    if example is not None:
        figures.append(_example_figure(example_trace(example, result.quotes_for(example.file))))
    parts = [
        pio.to_html(fig, include_plotlyjs=(i == 0), full_html=False)
        for i, fig in enumerate(figures)
    ]
    sides = ", ".join(s.value for s in result.sides)
    files = ", ".join(html.escape(f.label) for f in result.files)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Better Orders - execution cost report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; }} td:nth-child(1), td:nth-child(2) {{ text-align: left; }}
</style></head><body>
<h1>Execution cost by policy</h1>
<p>Files: {files}. Sides: {sides}. {len(result.records)} decisions in
{result.wall_seconds:.1f} s. Cost is the implementation shortfall in bps of the arrival mid
(positive = paid), buys and sells pooled; "x market" is a policy's mean cost over the market
order's on the same file.</p>
{_table_html(summary_rows(result.summaries()))}
{"".join(parts)}
</body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


# -- PNG (matplotlib) ---------------------------------------------------------------------------


def write_pngs(result: TcaResult, directory: str | Path) -> list[Path]:
    """Write the key charts as PNG files into ``directory``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    # Cost distribution: one panel per file, one box per policy.
    labels = [f.label for f in result.files]
    names = [p.name for p in result.policies]
    fig, axes = plt.subplots(
        1, len(labels), figsize=(max(4.2, 1.1 * len(names)) * len(labels), 4.5), squeeze=False
    )
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
    written.append(_save(fig, folder / "cost_distribution.png"))
    plt.close(fig)

    groups = _group_minutes(result.minutes())
    for field, name, title, ylabel in (
        ("mean_cost_bps", "cost_by_minute.png", "Mean cost by minute after the open", "bps"),
        (
            "completion_rate",
            "completion_by_minute.png",
            f"Completed within {result.within_seconds:g} s, by minute",
            "share",
        ),
    ):
        fig, axes = plt.subplots(
            1, len(labels), figsize=(4.2 * len(labels), 4), sharey=True, squeeze=False
        )
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
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        axes[0][0].set_ylabel(ylabel)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(title)
        fig.tight_layout()
        written.append(_save(fig, folder / name))
        plt.close(fig)

    example = pick_example(result)
    if example is not None:
        trace = example_trace(example, result.quotes_for(example.file))
        fig, ax = plt.subplots(figsize=(10, 5))
        x = _et(trace.times)
        ax.step(x, trace.bids, where="post", label="bid")
        ax.step(x, trace.asks, where="post", label="ask")
        if example.arrival_mid is not None:
            ax.axhline(float(example.arrival_mid), color="grey", linestyle=":", label="arrival mid")
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
        written.append(_save(fig, folder / "example_decision.png"))
        plt.close(fig)
    return written


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    return path
