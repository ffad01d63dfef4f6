"""Reports of a replay evaluation, or of your own fills: a self-contained HTML page, PNG charts.

The page holds the corpus tables (per symbol-day, pooled with intervals, where the
cost went), the per-file comparison, and the charts (``charts``) as inline SVG, so
it opens offline and can be mailed as one file (no script, nothing fetched);
``write_pngs`` writes the same charts as PNG files. ``write_own_fills_html`` and
``write_own_fills_pngs`` do the same for ``tca --journal`` (``own_fills``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from better_orders.tca.bootstrap import Interval
from better_orders.tca.charts import PART_LABELS, Chart, charts
from better_orders.tca.decomposition import COMPONENTS
from better_orders.tca.evaluate import TcaResult
from better_orders.tca.metrics import PolicySummary
from better_orders.tca.pooled import ALL_DAYS, ESTIMATOR, CorpusSummary

if TYPE_CHECKING:
    from better_orders.tca.own_fills import OwnFillsResult, Row

#: Where an SVG names an id: its definition, a link to it, a ``url(#...)`` to it.
_ID_OR_REFERENCE = re.compile(r'(\bid="|href="#|url\(#)')


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def with_error(value: float | None, error: float | None, *, percent: bool = False) -> str:
    """A figure with its calibration error (simulated - actual) beside it: ``4.5 (+0.1)``."""
    if value is None:
        return "-"
    text = f"{value:.0%}" if percent else f"{value:.1f}"
    if error is None:
        return text
    return text + (f" ({error:+.0%})" if percent else f" ({error:+.1f})")


def interval(value: Interval | None, digits: int = 2) -> str:
    return "-" if value is None else f"[{value.low:.{digits}f}, {value.high:.{digits}f}]"


def summary_rows(summaries: Sequence[PolicySummary]) -> list[dict[str, str]]:
    """The per-file comparison as text cells (shared by the HTML page and the terminal)."""
    rows = []
    for s in summaries:
        rows.append(
            {
                "file": s.file,
                "policy": s.policy,
                "decisions": str(s.decisions),
                "mean bps": fmt(s.mean_cost_bps),
                "median bps": fmt(s.median_cost_bps),
                "p90 bps": fmt(s.p90_cost_bps),
                "x market": fmt(s.ratio_to_market),
                "complete": f"{s.completion_rate:.1%}",
                f"<= {s.within_seconds:g} s": f"{s.complete_within_rate:.1%}",
                "mean ttf s": fmt(s.mean_time_to_fill_seconds, 1),
                "p90 ttf s": fmt(s.p90_time_to_fill_seconds, 1),
                "eff. spread bps": fmt(s.mean_effective_spread_bps),
                "improvement bps": fmt(s.mean_improvement_bps),
                "waited s": fmt(s.mean_waited_seconds, 1),
                "re-pegs": fmt(s.mean_repegs),
                "fallback": f"{s.fallback_rate:.1%}",
            }
        )
    return rows


def day_rows(corpus: CorpusSummary) -> list[dict[str, str]]:
    """Per symbol-day and policy: mean cost, ratio to market for each side, completion."""
    by_key = {(r.file, r.policy, r.side): r for r in corpus.days}
    sides = list(dict.fromkeys(r.side for r in corpus.days))
    main = "both" if "both" in sides else sides[0]
    rows = []
    for r in corpus.days:
        if r.side != main:
            continue
        row = {
            "symbol-day": f"{r.symbol} {r.day}",
            "regime": r.regime.value,
            "policy": r.policy,
            "decisions": str(r.figures.decisions),
            "mean bps": fmt(r.figures.mean_bps),
        }
        for s in sides:
            row[f"x market ({s})"] = fmt(by_key[(r.file, r.policy, s)].figures.ratio)
        row[f"<= {corpus.within_seconds:g} s"] = pct(r.figures.complete_rate)
        rows.append(row)
    return rows


def pooled_rows(corpus: CorpusSummary) -> list[dict[str, str]]:
    """Pooled per group of symbol-days, policy and side, with 95% intervals."""
    return [
        {
            "symbol-days": f"{r.group} ({r.symbol_days})",
            "policy": r.policy,
            "side": r.side,
            "decisions": str(r.figures.decisions),
            "mean bps": fmt(r.figures.mean_bps),
            "mean 95% CI": interval(r.mean_ci),
            "x market": fmt(r.figures.ratio),
            "x market 95% CI": interval(r.ratio_ci),
            f"<= {corpus.within_seconds:g} s": pct(r.figures.complete_rate),
        }
        for r in corpus.pooled
    ]


def part_rows(corpus: CorpusSummary) -> list[dict[str, str]]:
    """Where the cost went, per policy and side, over every symbol-day (bps and dollars)."""
    rows = []
    for r in corpus.pooled:
        if r.group != ALL_DAYS:
            continue
        parts = r.figures.parts_bps
        row = {"policy": r.policy, "side": r.side}
        row |= {PART_LABELS[c]: fmt(parts.get(c)) for c in COMPONENTS}
        row["total bps"] = fmt(sum(parts.values()) if parts else None)
        row["total $"] = f"{r.figures.parts.total:,.2f}"
        rows.append(row)
    return rows


def _table_html(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "<p>No decisions.</p>"
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _style(left_columns: int) -> str:
    """The pages' stylesheet; the first ``left_columns`` columns name the rows."""
    return f"""
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; }} td:nth-child(-n+{left_columns}) {{ text-align: left; }}
figure {{ margin: 2em 0; }} figure svg {{ max-width: 100%; height: auto; }}
"""


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
    drawn = {c.name: f'<figure id="{c.name}">{_svg(c)}</figure>' for c in charts(result)}
    first = drawn.pop("ratio_to_market", "")
    parts = drawn.pop("cost_decomposition", "")
    sides = ", ".join(s.value for s in result.sides)
    files = ", ".join(html.escape(f.label) for f in result.files)
    corpus = result.corpus()
    sampler = corpus.resampler
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Better Orders - execution cost report</title>
<style>{_style(left_columns=3)}</style></head><body>
<h1>Execution cost by policy</h1>
<p>Files: {files}. Sides: {sides}. {len(result.records)} decisions in
{result.wall_seconds:.1f} s. Cost is the implementation shortfall against the arrival mid, in
bps of the arrival notional (positive = paid). {html.escape(ESTIMATOR)}
({sampler.resamples:,} resamples, seed {sampler.seed}).</p>
{first}
<h2>Per symbol-day</h2>
{_table_html(day_rows(corpus))}
<h2>Pooled</h2>
{_table_html(pooled_rows(corpus))}
<h2>Where the cost went</h2>
<p>Half-spread paid by fills that took liquidity, drift between the arrival and each fill,
what resting fills earned against the mid (negative = earned), anything unfilled valued at the
far touch when the window closed, and fees on sales (SEC fee and FINRA TAF).</p>
{parts}
{_table_html(part_rows(corpus))}
<h2>Per file</h2>
<p>Each decision's shortfall as above (anything unfilled at the far touch when the window
closed, fees left out); "x market" here is a policy's mean over the market order's on the same
file; "complete": the share of decisions filled in full.</p>
{_table_html(summary_rows(result.summaries()))}
{"".join(drawn.values())}
</body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


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


def own_fills_heads(horizons: Sequence[int]) -> list[str]:
    """The column heads of every ``tca --journal`` table (the first names the row)."""
    heads = ["", "fills", "shares", "filled", "shortfall", "eff.spread", "improved"]
    return heads + [f"realized {h / 1000:g}s" for h in horizons]


def own_fills_cells(row: Row, horizons: Sequence[int]) -> list[str]:
    """One ``tca --journal`` row as text cells, each figure with its calibration error."""
    a = row.actual
    cells = [
        row.key,
        str(a.fills),
        f"{a.shares:g}",
        with_error(a.filled, row.error("filled"), percent=True),
        with_error(a.shortfall_bps, row.error("shortfall_bps")),
        with_error(a.effective_bps, row.error("effective_bps")),
        with_error(a.improved, row.error("improved"), percent=True),
    ]
    return cells + [with_error(a.realized_bps.get(h), row.error(f"realized_{h}")) for h in horizons]


def write_own_fills_html(result: OwnFillsResult, path: str | Path) -> Path:
    """The HTML report of ``tca --journal``: every table, and the chart by symbol."""
    from better_orders.tca.own_fills_chart import own_fills_chart

    out = Path(path)
    chart = own_fills_chart(result)
    heads = own_fills_heads(result.horizons)
    sections = "".join(
        f"<h2>{html.escape(title)}</h2>"
        + _table_html(
            [dict(zip(heads, own_fills_cells(r, result.horizons), strict=True)) for r in rows]
        )
        for title, rows in result.tables()
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Better Orders - your own fills</title>
<style>{_style(left_columns=1)}</style></head><body>
<h1>Execution cost of your own fills</h1>
<p>Journal {html.escape(str(result.journal))}: {len(result.legs)} parent orders. Shortfall
against the arrival mid, effective and realized spreads in bps (positive = paid); improved =
share of filled shares better than the touch at the fill. In brackets: the calibration error,
what the simulator (profile: {html.escape(result.profile)}) predicts for the same child orders
replayed on the journalled quotes minus what happened.</p>
<figure id="{chart.name}">{_svg(chart)}</figure>
{sections}
</body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def write_own_fills_pngs(result: OwnFillsResult, directory: str | Path) -> list[Path]:
    """The chart of ``tca --journal`` as a PNG file in ``directory``."""
    from better_orders.tca.own_fills_chart import own_fills_chart

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    chart = own_fills_chart(result)
    path = folder / f"{chart.name}.png"
    chart.figure.savefig(path, dpi=110)
    return [path]
