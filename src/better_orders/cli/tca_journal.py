"""``tca --journal``: the TCA of your own fills, as tables, JSON or the HTML/PNG report.

Every figure is shown with the calibration error beside it: what the simulator
predicts for the same child orders on the journalled quotes, minus what happened
(``tca.own_fills``, ``tca.fill_replay``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from rich.table import Table

from better_orders.cli.common import console, load_sim_profile, print_json
from better_orders.config.paths import resolve_db_path
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import NEW_YORK
from better_orders.tca.journal_legs import parse_since
from better_orders.tca.own_fills import Row, own_fills
from better_orders.tca.report import own_fills_cells, own_fills_heads


def journal_tca(
    db: str | None,
    config: BetterOrdersConfig,
    *,
    since: str | None,
    sim_profile: Path | None,
    json_out: bool,
    report: Path | None,
    png: Path | None,
    conflicting: list[str],
) -> None:
    """Run ``tca --journal [DB]`` (see the module docstring)."""
    if conflicting:
        raise InvalidInputError(
            f"--journal analyses your own fills: it does not take {', '.join(conflicting)}"
        )
    path = resolve_db_path(db)
    today = dt.datetime.now(NEW_YORK).date()
    day = parse_since(since, today)
    profile = load_sim_profile(sim_profile)
    name = str(sim_profile) if sim_profile is not None else "built-in"
    result = own_fills(path, config, since=day, profile=profile, profile_name=name)
    html_path = None
    pngs: list[Path] = []
    if report is not None or png is not None:
        from better_orders.tca.report import write_own_fills_html, write_own_fills_pngs

        html_path = write_own_fills_html(result, report) if report is not None else None
        pngs = write_own_fills_pngs(result, png) if png is not None else []
    if json_out:
        out: dict[str, Any] = result.as_dict()
        out["report"] = str(html_path) if html_path else None
        out["png"] = [str(p) for p in pngs]
        print_json(out)
        return
    for title, rows in result.tables():
        if rows is not result.orders:  # per child order: --json and the HTML report
            console.print(rows_table(title, rows, result.horizons))
    console.print(
        f"[dim]journal {result.journal}; simulator profile: {result.profile}. Shortfall vs "
        "the arrival mid, spreads in bps (positive = paid); in brackets: simulated - actual, "
        "the simulator replaying the same child orders on the journalled quotes (per child "
        "order: --json, --report)[/]"
    )
    if html_path is not None:
        console.print(f"report: {html_path}")
    for p in pngs:
        console.print(f"chart: {p}")


def rows_table(title: str, rows: list[Row], horizons: list[int]) -> Table:
    table = Table(title=title, title_justify="left")
    heads = own_fills_heads(horizons)
    table.add_column(heads[0], overflow="fold")
    for name in heads[1:]:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(*own_fills_cells(row, horizons))
    return table
