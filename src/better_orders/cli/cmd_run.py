"""``better-orders run``: rebalance at a point of every session, exactly once, unattended."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from better_orders.cli import exit_codes
from better_orders.cli.cmd_rebalance import plan_table, summary_table
from better_orders.cli.common import (
    BrokerOption,
    ConfigOption,
    DbOption,
    FeedOption,
    LiveOption,
    MaxDeployedOption,
    MaxTargetAgeOption,
    MaxTurnoverOption,
    SeedOption,
    YesOption,
    console,
    err_console,
    guards_from,
    parse_instant,
    print_error,
    print_json,
    venue_choice,
)
from better_orders.cli.extras import require_extra
from better_orders.cli.help_format import Command
from better_orders.config.loader import load_config
from better_orders.config.paths import resolve_db_path
from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import format_et
from better_orders.core.plan import Plan
from better_orders.core.schedule import SchedulePoint
from better_orders.engine.alerts import Alerts, check_urls
from better_orders.engine.scheduled_run import RunOutcome, ScheduledJob, TargetsSource
from better_orders.engine.scheduler import Preview, Scheduler, SchedulerClock, account_and_clock
from better_orders.engine.shutdown import Shutdown


def run(
    at: Annotated[
        str,
        typer.Option(
            metavar="POINT",
            help="when in each session: open, open+15m, close-15m (early closes and DST from "
            "the exchange calendar)",
        ),
    ],
    targets_file: Annotated[
        Path | None,
        typer.Option(
            "--targets", metavar="FILE", help="targets file (.toml, .json or .csv), read each run"
        ),
    ] = None,
    targets_cmd: Annotated[
        str | None,
        typer.Option(
            "--targets-cmd",
            metavar="COMMAND",
            help="a command that prints the targets (TOML, JSON or CSV), run each run",
        ),
    ] = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once", help="run this session's run if due, else say when the next is (cron)"
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="preview the next runs and the plan each would trade now"),
    ] = False,
    runs: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            min=1,
            help="stop after N sessions (with --dry-run: how many to preview, default 5)",
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            metavar="ISO", help="simulator only: start its virtual clock here (default: now)"
        ),
    ] = None,
    alert: Annotated[
        list[str] | None,
        typer.Option(
            metavar="URL",
            help="Apprise URL to alert (repeatable; added to config alerts.urls); the alerts extra",
        ),
    ] = None,
    max_deployed: MaxDeployedOption = None,
    max_turnover: MaxTurnoverOption = None,
    max_target_age: MaxTargetAgeOption = None,
    targets_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="longest a --targets-cmd may take")
    ] = 120.0,
    seed: SeedOption = 0,
    db: DbOption = None,
    config: ConfigOption = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="print the outcome as JSON only")
    ] = False,
    broker: BrokerOption = "sim",
    live: LiveOption = False,
    yes: YesOption = False,
    feed: FeedOption = "auto",
) -> None:
    """Rebalance to targets at a point of every session, exactly once per session.

    Long-lived (it sleeps until each run; SIGTERM stops it cleanly, cancelling
    live orders), or --once from cron, a systemd timer or a container. A second
    scheduler, or a retried job, for a session that has had its run is refused.
    """
    point = SchedulePoint.parse(at)
    if once and dry_run:
        raise InvalidInputError("--once and --dry-run do not go together")
    venue = venue_choice(broker, live=live, yes=yes, feed=feed)
    if now is not None and not venue.simulated:
        raise InvalidInputError("--now only applies to the simulator (--broker sim)")
    if venue.simulated and not (once or dry_run) and runs is None:
        raise InvalidInputError(
            "the simulator's clock does not wait: give --runs N (or --once, --dry-run)"
        )
    cfg = load_config(config).config
    source = TargetsSource(targets_file, targets_cmd, targets_timeout)
    urls = [*cfg.alerts.urls, *(alert or [])]
    if urls:
        # Refused before anything runs, by a dry run too: it is how a setup is checked
        # before it is left to run unattended.
        require_extra("alerts", "alerting (--alert, [alerts] urls)")
        check_urls(urls)
    account, clock = account_and_clock(venue, parse_instant(now) if now else None)
    echo = _echo(clock, json_out)
    job = ScheduledJob(
        point=point,
        targets=source,
        venue=venue,
        db=resolve_db_path(db),
        config=cfg,
        guards=guards_from(cfg, max_deployed, max_turnover, max_target_age),
        account=account,
        seed=seed,
    )
    shutdown = Shutdown()
    alerts = Alerts([] if dry_run else urls, timeout_seconds=cfg.alerts.timeout_seconds)
    scheduler = Scheduler(
        job,
        clock,
        alerts,
        echo=echo,
        on_plan=None if json_out else _show_plan,
        on_outcome=lambda outcome: _show_outcome(outcome, json_out),
        shutdown=shutdown,
    )
    outcomes: list[RunOutcome] = []
    try:
        with alerts, shutdown.handling():
            if dry_run:
                _show_previews(scheduler.preview(runs or 5), json_out, venue.simulated)
                return
            if once:
                found = scheduler.once()
                outcomes = [found] if found is not None else []
            else:
                outcomes = scheduler.forever(runs)
    except KeyboardInterrupt:
        if not scheduler.interrupted_run:
            # Asleep between runs: nothing was cut short, so this is an ordinary stop.
            err_console.print(f"stopped by {shutdown.name} while waiting for the next run")
            raise typer.Exit(0) from None
        if shutdown.exit_code != exit_codes.INTERRUPTED:  # Ctrl-C: the entry point says it
            err_console.print(f"stopped by {shutdown.name}: the run was interrupted")
        raise typer.Exit(shutdown.exit_code) from None
    if json_out:
        data: dict[str, Any] = {"runs": [_outcome_json(o) for o in outcomes]}
        if once and scheduler.next_run is not None:
            nxt = scheduler.next_run
            data["next"] = {"session": nxt.session.date, "at_et": nxt.at_et, "at_utc": nxt.at}
        print_json(data)
    failed = [o.exit_code for o in outcomes if o.exit_code]
    if failed:
        raise typer.Exit(failed[0])


def _echo(clock: SchedulerClock, json_out: bool) -> Callable[[str], None]:
    """Progress lines, stamped with the scheduler's clock (virtual on the simulator)."""

    def echo(line: str) -> None:
        if not json_out:
            console.print(
                f"[dim]{format_et(clock.now())}[/] {escape(line)}", highlight=False, soft_wrap=True
            )

    return echo


def _show_plan(plan: Plan) -> None:
    console.print(plan_table(plan))
    for note in plan.notes:
        console.print(f"[dim]note: {note}[/]")


def _show_outcome(outcome: RunOutcome, json_out: bool) -> None:
    """A run that did not go through says why on stderr, in one line, as it ends."""
    if outcome.error is not None:
        print_error(outcome.message)
    report = outcome.report
    if report is None or json_out:
        return
    if report.results:
        console.print(summary_table(report))
    for item in report.undone:
        console.print(f"[yellow]undone:[/] {escape(item)}")


def _outcome_json(outcome: RunOutcome) -> dict[str, Any]:
    return {
        "session": outcome.firing.session.date,
        "scheduled_for": outcome.firing.at,
        "run_id": outcome.run_id,
        "status": outcome.status.value,
        "message": outcome.message,
        "alerts": outcome.alerted,
        "report": outcome.report,
    }


def _show_previews(previews: list[Preview], json_out: bool, simulated: bool) -> None:
    if json_out:
        print_json(
            {
                "runs": [
                    {
                        "session": p.firing.session.date,
                        "at_et": p.firing.at_et,
                        "at_utc": p.firing.at,
                        "early_close": p.firing.session.early_close,
                        "plan": p.plan,
                        "refused": p.refusal,
                    }
                    for p in previews
                ]
            }
        )
        return
    table = Table(title="next runs (dry run: nothing is sent)", title_justify="left")
    for header in ("session", "ET", "UTC", "trades", "would"):
        table.add_column(header)
    for p in previews:
        trades = "-" if p.plan is None else f"{len(p.plan.trades)}"
        table.add_row(
            p.firing.session.date.isoformat(),
            f"{p.firing.at_et:%a %H:%M}"
            + (
                f" (close {p.firing.session.close_et:%H:%M})"
                if p.firing.session.early_close
                else ""
            ),
            f"{p.firing.at:%H:%M}",
            trades,
            "refuse: " + p.refusal if p.refusal else "trade",
        )
    console.print(table)
    shown: set[int] = set()
    for p in previews:
        if p.plan is None or id(p.plan) in shown:
            continue
        shown.add(id(p.plan))
        prices = "the simulator's prices then" if simulated else "the broker's prices now"
        console.print(f"plan for {format_et(p.firing.at)}, on {prices}:")
        _show_plan(p.plan)


def register(app: typer.Typer) -> None:
    app.command("run", cls=Command)(run)
