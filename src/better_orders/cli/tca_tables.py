"""The tables ``tca`` prints: per symbol-day, pooled with intervals, where the cost went.

The per-file comparison of the earlier output (mean, median, p90, time to fill)
is kept behind ``--per-file``.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from better_orders.cli.common import add_number_column
from better_orders.tca.decomposition import COMPONENTS
from better_orders.tca.evaluate import TcaResult
from better_orders.tca.pooled import CorpusSummary, PooledRow
from better_orders.tca.report import fmt, interval, pct, summary_rows

#: How the decomposition's parts are headed in tables.
PART_HEADERS = {
    "spread": "spread",
    "timing": "timing",
    "passive": "passive",
    "opportunity": "unfilled",
    "fees": "fees",
}


def day_table(corpus: CorpusSummary, within: float) -> Table:
    """One row per symbol-day and policy: mean cost, ratio to market per side, completion.

    Mean cost and completion are over every side evaluated; with buys and sells the
    ratio is shown for both together and for each.
    """
    present = list(dict.fromkeys(r.side for r in corpus.days))
    main = "both" if "both" in present else present[0]
    extra = [s for s in present if s != main]
    table = Table(
        title="Per symbol-day: shortfall vs arrival mid (bps); x market = ratio of sums over "
        "the same decisions",
        title_justify="left",
    )
    table.add_column("symbol-day", no_wrap=True)
    table.add_column("policy", no_wrap=True)
    for header in ("mean bps", "x mkt", *(f"{s} x" for s in extra), f"<= {within:g} s"):
        add_number_column(table, header)
    rows = {(r.file, r.policy, r.side): r for r in corpus.days}
    shown = [r for r in corpus.days if r.side == main]
    policies = len({r.policy for r in shown})
    for k, r in enumerate(shown):
        # The symbol-day on its first row, its regime on the next (or below it, if alone).
        lines = [f"{r.symbol} {r.day}", r.regime.value]
        at = k % policies
        if at == 0 and k:
            table.add_section()
        name = "\n".join(lines) if policies == 1 else (lines[at] if at < len(lines) else "")
        table.add_row(
            name,
            r.policy,
            fmt(r.figures.mean_bps),
            fmt(r.figures.ratio),
            *(fmt(rows[(r.file, r.policy, s)].figures.ratio) for s in extra),
            pct(r.figures.complete_rate),
        )
    return table


def pooled_table(corpus: CorpusSummary, within: float) -> Table:
    """Pooled over each group of symbol-days, per policy and side, with 95% intervals."""
    sampler = corpus.resampler
    table = Table(
        title=f"Pooled: {sampler.confidence:.0%} intervals from resampling whole symbol-days "
        f"({sampler.resamples:,} resamples, seed {sampler.seed})",
        title_justify="left",
    )
    table.add_column("days", no_wrap=True)
    table.add_column("policy", no_wrap=True)
    table.add_column("side", no_wrap=True)
    for header in ("mean bps", "x market", "95% CI", f"<= {within:g} s"):
        add_number_column(table, header)
    previous: tuple[str, str] | None = None
    for r in corpus.pooled:
        head = (r.group, r.policy)
        group = f"{r.group} ({r.symbol_days})" if previous is None or r.group != previous[0] else ""
        new_policy = previous is None or head != previous
        if previous is not None and r.group != previous[0]:
            table.add_section()
        previous = head
        table.add_row(
            group,
            r.policy if new_policy else "",
            r.side,
            fmt(r.figures.mean_bps),
            fmt(r.figures.ratio),
            interval(r.ratio_ci),
            pct(r.figures.complete_rate),
        )
    return table


def decomposition_table(rows: Sequence[PooledRow]) -> Table:
    """Where the cost went, per policy: mean bps of arrival notional per part, and dollars."""
    table = Table(
        title="Where the cost went (mean bps of arrival notional per decision; all symbol-days, "
        "every side)",
        title_justify="left",
    )
    table.add_column("policy", no_wrap=True)
    for name in COMPONENTS:
        add_number_column(table, PART_HEADERS[name])
    add_number_column(table, "total")
    add_number_column(table, "total $")
    for r in rows:
        parts = r.figures.parts_bps
        table.add_row(
            r.policy,
            *(fmt(parts.get(name)) for name in COMPONENTS),
            fmt(sum(parts.values()) if parts else None),
            f"{r.figures.parts.total:,.2f}",
        )
    return table


def per_file_tables(result: TcaResult) -> list[Table]:
    """The detailed comparison per file (``--per-file``)."""
    within = f"<= {result.within_seconds:g} s"
    columns = {
        "policy": "policy",
        "mean": "mean bps",
        "median": "median bps",
        "p90": "p90 bps",
        "x mkt": "x market",
        "filled": "complete",
        within: within,
        "ttf": "mean ttf s",
        "ttf p90": "p90 ttf s",
    }
    rows = summary_rows(result.summaries())
    tables = []
    for f in result.files:
        n = len(result.times[f.label]) * len(result.sides)
        title = (
            f"{f.label} ({f.symbol}, {n} decisions per policy): shortfall vs arrival mid, bps "
            "(unfilled at the far touch); complete: decisions filled in full"
        )
        if f.trades is not None:
            title += f"; resting orders fill on the prints of {f.trades.name}"
        table = Table(title=title)
        for header in columns:
            if header == "policy":
                table.add_column(header, no_wrap=True)
            else:
                table.add_column(header, justify="right")
        for row in rows:
            if row["file"] == f.label:
                table.add_row(*(row[key] for key in columns.values()))
        tables.append(table)
    return tables
