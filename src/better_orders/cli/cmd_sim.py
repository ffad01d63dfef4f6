"""``better-orders sim calibrate``: fit the simulator to the fills of real runs in a journal.

The profile it writes (``sim.profile``) is read by ``order``/``rebalance`` on the
simulator and by ``tca --journal`` (``--sim-profile``). What is fitted, and how, is
``tca.calibrate``. Example::

    better-orders sim calibrate --journal journal.sqlite3 --out alpaca.toml
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from better_orders.cli.common import ConfigOption, console, print_json
from better_orders.cli.help_format import Command, Group
from better_orders.config.loader import load_config
from better_orders.config.paths import resolve_db_path
from better_orders.core.market_calendar import NEW_YORK
from better_orders.tca.calibrate import calibrate
from better_orders.tca.journal_legs import load_legs, open_journal, parse_since

sim_app = typer.Typer(
    name="sim", cls=Group, help="The simulated exchange: fit it to your own fills."
)


@sim_app.command("calibrate", cls=Command)
def calibrate_command(
    journal: Annotated[
        str | None,
        typer.Option(
            metavar="DB", help="the journal of real runs (default: the one --db would use)"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(metavar="PROFILE.toml", help="write the profile here (default: print it)"),
    ] = None,
    since: Annotated[
        str | None, typer.Option(metavar="DATE", help="orders from this day (YYYY-MM-DD)")
    ] = None,
    config: ConfigOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the fit as JSON only")] = False,
) -> None:
    """Fit the simulator's latency, resting-fill and partial-fill models to a journal.

    Use the profile with --sim-profile (order, rebalance, tca --journal).
    """
    path = resolve_db_path(journal)
    day = parse_since(since, dt.datetime.now(NEW_YORK).date())
    cfg = load_config(config).config
    with open_journal(path) as opened:
        legs = load_legs(opened, cfg, day)
        fit = calibrate(opened, legs, str(path))
    profile = fit.profile
    written = profile.write(out) if out is not None else None
    if json_out:
        lat = profile.latency
        print_json(
            {
                "journal": str(path),
                "latency_ms": {
                    n: getattr(lat, n) / dt.timedelta(milliseconds=1)
                    for n in ("submit", "cancel", "update", "market_data")
                },
                "queue_share": float(profile.queue_share),
                "partial_fill_probability": profile.partial_fill,
                "evidence": profile.fit,
                "profile": str(written) if written else None,
            }
        )
        return
    table = Table(title=f"Simulator fitted to {path}", title_justify="left")
    table.add_column("model")
    table.add_column("value", justify="right")
    table.add_column("from")
    ms = dt.timedelta(milliseconds=1)
    lat = profile.latency
    table.add_row("latency.submit", f"{lat.submit / ms:g} ms", f"{fit.submits} orders")
    table.add_row("latency.cancel", f"{lat.cancel / ms:g} ms", "taken equal to submit")
    table.add_row("latency.update", f"{lat.update / ms:g} ms", f"{fit.fills_heard} fills")
    table.add_row(
        "resting.queue_share",
        f"{profile.queue_share}",
        f"{fit.resting_filled} of {fit.resting_orders} resting orders filled; "
        + (
            f"{fit.queue_evidence} depend on the queue"
            if fit.queue_evidence
            else "none depends on the queue: kept at 1"
        ),
    )
    table.add_row(
        "partial.probability",
        f"{profile.partial_fill:.3f}",
        f"{fit.short_fills} of {fit.eligible_fills} fills cut short",
    )
    console.print(table)
    if written is not None:
        console.print(f"profile: {written} (use it with --sim-profile)")
    else:
        console.print(profile.to_toml(), markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(sim_app, name="sim")
