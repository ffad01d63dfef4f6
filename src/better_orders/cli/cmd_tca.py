"""``better-orders tca``: execution cost of policies replayed on real quote files.

For each decision time and side, every policy runs through the same ladder and
simulated exchange that trade in the simulator (``better_orders.tca``). The costs
are shown per symbol-day and pooled over all of them (and per regime), per side,
against a market order on the same decisions, with intervals from resampling whole
symbol-days, and split into where they went. A quote file without executions of its
own (``*_bbo``) gets the prints of its companion ``*_trades`` file (found beside it,
or named with ``--trades``) as executions, so resting orders can fill on real
trades, conservatively (``sim.fills``). With the ``dask`` extra, two symbol-days
or more are spread over a local Dask cluster, one worker per core (``--workers``),
or over a running one (``--scheduler``), each symbol-day a unit of work; the
results are the same as in one process (``tca.distributed``). ``tca tune``
searches policy parameters (``cli.tca_tune``). Examples::

    better-orders tca --example
    better-orders tca --quotes data/quotes
    better-orders tca --quotes 'data/quotes/lean_*_l1.csv.gz' --policy ladder,market,walk
    better-orders tca --quotes ~/dataset/symbol=TQQQ      # every day of TQQQ in a dataset
    better-orders tca --quotes ~/dataset --scheduler tcp://10.0.0.5:8786
    better-orders tca --quotes f.csv.gz --from 09:30 --to 09:35 --every 1s \\
        --policy ladder,market --report tca.html --png charts/
    better-orders tca --journal journal.sqlite3 --since 2026-03-01   # your own fills

``--journal`` analyses the fills of real runs instead (``cli.tca_journal``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from better_orders.cli.common import ConfigOption, SimProfileOption, console, print_json
from better_orders.cli.extras import require_extra
from better_orders.cli.help_format import Command, Group
from better_orders.cli.tca_options import (
    EveryOption,
    FromOption,
    JsonOption,
    LatencyOption,
    MoreQuotesArgument,
    NotionalOption,
    NoTradesOption,
    PolicyFileOption,
    QtyOption,
    QuotesOption,
    ReplayOptions,
    SchedulerOption,
    SideOption,
    SymbolOption,
    ToOption,
    TradesOption,
    WithinOption,
    WorkersOption,
    check_cluster_options,
    dask_cluster,
    progress_bar,
    split_list,
)
from better_orders.cli.tca_tables import (
    day_table,
    decomposition_table,
    per_file_tables,
    pooled_table,
)
from better_orders.cli.tca_tune import tune
from better_orders.config.loader import load_config
from better_orders.core.errors import InvalidInputError
from better_orders.data.example_data import example_quote_files
from better_orders.tca.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, Resampler
from better_orders.tca.decomposition import FeeSchedule
from better_orders.tca.distributed import run_tca_on_cluster
from better_orders.tca.evaluate import TcaResult, run_tca
from better_orders.tca.metrics import DEFAULT_COMPLETION_SECONDS
from better_orders.tca.policies import DEFAULT_POLICIES, available_policies, select_policies
from better_orders.tca.pooled import ALL_DAYS

_EVALUATE = "run"
_T = TypeVar("_T")


def check_outputs(report: Path | None, png: Path | None) -> None:
    """Refuse unusable ``--report``/``--png`` paths now, not after a replay of minutes."""
    if report is not None and report.is_dir():
        raise InvalidInputError(
            f"--report {report} is a folder: give the HTML file's name, e.g. {report / 'tca.html'}"
        )
    if png is not None and png.exists() and not png.is_dir():
        raise InvalidInputError(f"--png {png} is a file: give a folder for the charts")
    for option, path in (("--report", report and report.parent), ("--png", png)):
        blocking = next((p for p in _with_parents(path) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise InvalidInputError(f"{option}: {blocking} is a file, not a folder")


def _with_parents(path: Path | None) -> list[Path]:
    return [] if path is None else [path, *path.parents]


def _written(write: Callable[[], _T], option: str, path: Path) -> _T:
    try:
        return write()
    except OSError as exc:
        raise InvalidInputError(
            f"{option}: cannot write {exc.filename or path}: {exc.strerror or exc}"
        ) from None


class _TcaGroup(Group):
    """``tca ...`` evaluates, ``tca tune ...`` tunes: the evaluation is the default command.

    Anything that does not start with a subcommand's name (options, files, ``--help``)
    goes to the hidden evaluation command, so ``tca --quotes a b`` works as it always has.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = [_EVALUATE, *args]
        result: list[str] = super().parse_args(ctx, args)
        return result


class _EvaluateCommand(Command):
    """Shows its usage as ``better-orders tca [OPTIONS] [FILE]...``, the way it is typed."""

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        pieces = self.collect_usage_pieces(ctx)
        path = ctx.parent.command_path if ctx.parent is not None else ctx.command_path
        formatter.write_usage(path, " ".join(pieces))


tca_app = typer.Typer(
    cls=_TcaGroup,
    help="Replay policies on real quotes and compare their execution cost with a market order.",
)


@tca_app.command(_EVALUATE, cls=_EvaluateCommand, hidden=True)
def tca(
    quotes: QuotesOption = None,
    more_quotes: MoreQuotesArgument = None,
    start: FromOption = "09:30",
    end: ToOption = "09:35",
    every: EveryOption = "1s",
    side: SideOption = None,
    qty: QtyOption = None,
    notional: NotionalOption = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAMES",
            help=f"policies to compare (default {','.join(DEFAULT_POLICIES)}; also walk)",
        ),
    ] = None,
    policy_file: PolicyFileOption = None,
    config: ConfigOption = None,
    symbol: SymbolOption = None,
    trades: TradesOption = None,
    no_trades: NoTradesOption = False,
    within: WithinOption = DEFAULT_COMPLETION_SECONDS,
    latency: LatencyOption = "30ms",
    resamples: Annotated[
        int, typer.Option(metavar="N", help="bootstrap resamples of the symbol-days")
    ] = DEFAULT_RESAMPLES,
    seed: Annotated[int, typer.Option(metavar="N", help="seed of the bootstrap")] = DEFAULT_SEED,
    example: Annotated[
        bool,
        typer.Option(
            "--example",
            help="replay the example data shipped with the package (IBM, AIG, BAC, "
            "2013-10-07 09:30-09:40; better-orders data examples)",
        ),
    ] = False,
    json_out: JsonOption = False,
    summary_only: Annotated[
        bool,
        typer.Option("--summary-only", help="with --json: leave out the per-decision records"),
    ] = False,
    per_file: Annotated[
        bool, typer.Option("--per-file", help="also print each file's detailed comparison")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="write a self-contained HTML report (the tca extra)"),
    ] = None,
    png: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="write PNG charts into this folder (the tca extra)"),
    ] = None,
    journal: Annotated[
        bool,
        typer.Option(
            "--journal",
            help="analyse your own fills in a journal instead (tca --journal [DB]; default "
            "the journal --db would use)",
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="with --journal: orders from this day (YYYY-MM-DD)"),
    ] = None,
    sim_profile: SimProfileOption = None,
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Replay policies on real quotes and compare their execution cost with a market order.

    Also: better-orders tca tune --help (search policy parameters, cross-validated);
    better-orders tca --journal [DB] (the cost of your own fills, beside the simulator's).
    """
    if report is not None or png is not None:
        # Checked before the replay, which can take minutes, rather than after it.
        require_extra("tca", "tca --report/--png", modules=["matplotlib"])
        check_outputs(report, png)
    if journal:
        given: dict[str, object] = {"--quotes": quotes, "--example": example}
        given |= {"--policy": policy, "--trades": trades, "--policy-file": policy_file}
        given |= {"--symbol": symbol, "--workers": workers, "--scheduler": scheduler}
        # The replay's own options mean nothing to your fills: given (unlike their
        # defaults), they are refused rather than ignored.
        given |= {"--from": start != "09:30", "--to": end != "09:35", "--every": every != "1s"}
        given |= {"--side": side, "--qty": qty, "--notional": notional, "--no-trades": no_trades}
        given |= {"--within": within != DEFAULT_COMPLETION_SECONDS, "--latency": latency != "30ms"}
        dbs = more_quotes or []
        if len(dbs) > 1:
            raise InvalidInputError(f"--journal takes one journal file, got {len(dbs)}")
        from better_orders.cli.tca_journal import journal_tca  # the journal's, on demand

        journal_tca(
            dbs[0] if dbs else None,
            load_config(config).config,
            since=since,
            sim_profile=sim_profile,
            json_out=json_out,
            report=report,
            png=png,
            conflicting=[name for name, value in given.items() if value],
        )
        return
    if since is not None or sim_profile is not None:
        raise InvalidInputError("--since and --sim-profile go with --journal")
    if resamples < 1:
        raise InvalidInputError(f"--resamples must be at least 1, got {resamples}")
    check_cluster_options(workers, scheduler)
    options = ReplayOptions.parse(
        quotes=[*(quotes or []), *(str(f) for f in example_quote_files())] if example else quotes,
        more_quotes=more_quotes,
        trades=trades,
        no_trades=no_trades,
        symbol=symbol,
        start=start,
        end=end,
        every=every,
        side=side,
        qty=qty,
        notional=notional,
        within=within,
        latency=latency,
    )
    cfg = load_config(config).config
    policies = select_policies(
        split_list(policy, "--policy") or list(DEFAULT_POLICIES),
        available_policies(cfg, policy_file),
    )
    parents = options.decisions_per_file * len(options.files) * len(policies) * len(options.sides)
    cluster = dask_cluster(workers, scheduler, len(options.files), parents)
    fees = FeeSchedule.from_settings(cfg.tca)
    resampler = Resampler(resamples=resamples, seed=seed)
    loaded = options.load() if cluster is None else []

    def run(progress: Callable[[int], None] | None = None) -> TcaResult:
        if cluster is not None:
            done = None if progress is None else lambda day: progress(len(day.records))
            return run_tca_on_cluster(
                options.days,
                policies,
                cfg,
                options.window(fees),
                cluster,
                resampler=resampler,
                done=done,
            )
        return run_tca(
            loaded,
            policies,
            cfg,
            start=options.start,
            end=options.end,
            every=options.every,
            sides=options.sides,
            sizing=options.sizing,
            within_seconds=options.within_seconds,
            latency=options.latency,
            progress=progress,
            fees=fees,
            resampler=resampler,
        )

    if json_out:
        result = run()
    else:
        doing = "replaying" if cluster is None else f"replaying on {cluster}"
        with progress_bar(doing, "decisions") as bar:
            task = bar.add_task("tca", total=parents)
            result = run(lambda n: bar.advance(task, n))

    html_path: Path | None = None
    pngs: list[Path] = []
    if report is not None or png is not None:
        from better_orders.tca.report import write_html, write_pngs  # charts, on demand

        if report is not None:
            html_path = _written(lambda: write_html(result, report), "--report", report)
        if png is not None:
            pngs = _written(lambda: write_pngs(result, png), "--png", png)
    if json_out:
        print_json(_as_json(result, summary_only, html_path, pngs))
        return
    _print_tables(result, per_file)
    if html_path is not None:
        console.print(f"report: {html_path}")
    for p in pngs:
        console.print(f"chart: {p}")


def _as_json(
    result: TcaResult, summary_only: bool, html_path: Path | None, pngs: list[Path]
) -> dict[str, Any]:
    days = result.symbol_days
    fees = result.fees
    out: dict[str, Any] = {
        "files": [
            {"file": f.label, "symbol": f.symbol, "decisions": len(result.times[f.label])}
            | ({"trades": str(f.trades)} if f.trades is not None else {})
            for f in result.files
        ],
        "symbol_days": [
            {"file": label, "symbol": days[label][0], "day": days[label][1]} | info.as_dict()
            for label, info in result.regimes.items()
        ],
        "policies": [
            {"name": p.name, "description": p.description, "overlay": p.overlay}
            for p in result.policies
        ],
        "sides": [s.value for s in result.sides],
        "within_seconds": result.within_seconds,
        "latency_ms": result.latency.submit.total_seconds() * 1000,
        "fees": {
            "sec_fee_per_million": fees.sec_per_million,
            "finra_taf_per_share": fees.taf_per_share,
            "finra_taf_max_per_trade": fees.taf_max_per_trade,
        },
        "wall_seconds": round(result.wall_seconds, 3),
        "summary": [s.as_dict() for s in result.summaries()],
        "corpus": result.corpus().as_dict(),
        "by_minute": result.minutes(),
        "report": str(html_path) if html_path else None,
        "png": [str(p) for p in pngs],
    }
    if not summary_only:
        out["decisions"] = [r.as_dict() for r in result.records]
    return out


def _print_tables(result: TcaResult, per_file: bool) -> None:
    corpus = result.corpus()
    within = result.within_seconds
    if per_file:
        for table in per_file_tables(result):
            console.print(table)
    console.print(day_table(corpus, within))
    console.print(pooled_table(corpus, within))
    sides = {r.side for r in corpus.pooled}
    main = "both" if "both" in sides else corpus.pooled[0].side
    overall = [r for r in corpus.pooled if r.group == ALL_DAYS and r.side == main]
    console.print(decomposition_table(overall))
    n = len(result.records)
    rate = n / result.wall_seconds if result.wall_seconds > 0 else 0.0
    delay = result.latency.submit.total_seconds() * 1000
    files = ", ".join(
        f.label + (f" (+ {f.trades.name})" if f.trades is not None else "") for f in result.files
    )
    console.print(
        f"[dim]files: {files}\n{n} decisions in {result.wall_seconds:.1f} s ({rate:.0f}/s); "
        f"orders reach the venue {delay:g} ms after they are sent; shortfall counts unfilled "
        "shares at the far touch when the window closes and leaves fees out (the "
        "decomposition shows them)[/]"
    )


def register(app: typer.Typer) -> None:
    tca_app.command("tune", cls=Command)(tune)
    app.add_typer(tca_app, name="tca")
