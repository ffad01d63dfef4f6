"""How ladders and their reports look to a person: step-by-step lines and a summary table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from better_orders.cli.common import add_number_column, words
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import (
    CancelFailed,
    CancelOrder,
    Finished,
    QueryOrder,
    SetTimer,
    Start,
    SubmitFailed,
    SubmitOrder,
)
from better_orders.core.market_calendar import format_et
from better_orders.core.model import ExecutionReport, OrderStatus, OrderType, OrderUpdate
from better_orders.engine.commands import VenueChoice
from better_orders.engine.legs import LadderEvent


def _t(ts: datetime) -> str:
    return format_et(ts).replace(" ET", "")[-8:] + ts.strftime(".%f")[:4]


def real_time_marks(config: BetterOrdersConfig, venue: VenueChoice) -> Sequence[float]:
    """The delays of the quotes marked after fills that a run waits for in wall time: the
    configured ones at Alpaca; none on the simulator, whose clock is virtual."""
    return config.tca.markout_seconds if venue.broker == "alpaca" else ()


def marks_wait(after_seconds: Sequence[float]) -> str | None:
    """Why a run that has done trading has not returned yet: it journals the quotes some
    seconds after each fill (``tca.markout_seconds``), on a real clock (None: it marks none)."""
    after = sorted({float(s) for s in after_seconds if s > 0})
    if not after:
        return None
    when = " and ".join(f"{s:g} s" for s in after)
    return (
        f"journalling the quotes {when} after each fill (tca.markout_seconds; [] skips "
        f"them): done about {after[-1] + 1:g} s after the last fill"
    )


class StepPrinter:
    """Prints the ladder's steps as they happen (quotes are summarised, not listed).

    ``marks_after``: the delays of the quotes marked after fills, on a real clock (the
    simulator's is virtual and waits no wall time); the wait for them is said once, after
    the first parent with a fill is done.
    """

    def __init__(self, console: Console, marks_after: Sequence[float] = ()) -> None:
        self.console = console
        self._last_state: dict[int, str] = {}
        self._wait_note = marks_wait(marks_after)

    def __call__(self, ev: LadderEvent) -> None:
        item = ev.item
        head = f"[dim]{_t(ev.now)}[/] [bold]{ev.symbol}[/]"
        lad = ev.ladder
        if isinstance(item, Start):
            self.console.print(
                f"{head} start: {lad.parent.side.value} {lad.parent.qty}, "
                f"budget {lad.params.budget_bps} bps, "
                f"{'better orders' if lad.params.routed_better else 'standard execution'}"
            )
        elif isinstance(item, SubmitOrder):
            req = item.request
            price = f"limit {req.limit_price}" if req.limit_price is not None else "market"
            self.console.print(
                f"{head} [cyan]{item.kind.value}[/] {req.side.value} {req.qty} {price} "
                f"[dim]({req.client_order_id})[/]"
            )
        elif isinstance(item, CancelOrder):
            attempt = lad.attempt(item.client_order_id)
            why = attempt.end_reason if attempt is not None else None
            self.console.print(
                f"{head} cancel {item.client_order_id}" + (f" ({why})" if why else "")
            )
        elif isinstance(item, QueryOrder):
            self.console.print(f"{head} asking the broker for {item.client_order_id}")
        elif isinstance(item, SetTimer):
            state = lad.state.value
            before = self._last_state.get(ev.leg, "")
            if state.startswith("spread_") and not before.startswith("spread_"):
                self.console.print(
                    f"{head} [yellow]wide spread[/]: waiting until {format_et(item.at)} "
                    "for it to normalise"
                )
            elif state == "waiting_open" and before != state:
                self.console.print(f"{head} before the open: waiting until {format_et(item.at)}")
            self._last_state[ev.leg] = state
        elif isinstance(item, OrderUpdate):
            if item.fill is not None:
                self.console.print(
                    f"{head} [green]fill[/] {item.fill.qty} @ {item.fill.price} "
                    f"(order {item.filled_qty} filled, {item.status.value})"
                )
            elif item.status in (OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED):
                why = f": {item.reason}" if item.reason else ""
                self.console.print(f"{head} {item.client_order_id} {item.status.value}{why}")
        elif isinstance(item, SubmitFailed):
            self.console.print(
                f"{head} [red]{item.client_order_id} refused by {item.by}[/] "
                f"({item.code}): {item.reason}"
            )
        elif isinstance(item, CancelFailed):
            self.console.print(
                f"{head} [red]cancel of {item.client_order_id} refused[/] "
                f"({item.code}): {item.reason}"
            )
        elif isinstance(item, Finished):
            r = item.report
            self.console.print(
                f"{head} done: filled {r.filled_qty}/{r.requested_qty}"
                + (f", unfilled: {r.unfilled_reason}" if r.unfilled_qty else "")
            )
            if self._wait_note is not None and r.filled_qty > 0:
                self.console.print(f"[dim]{self._wait_note}[/]")
                self._wait_note = None


def _fmt(value: Decimal | float | None, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def report_table(report: ExecutionReport) -> Table:
    table = Table(
        title=f"{report.side.value.upper()} {report.requested_qty} {report.symbol}",
        show_header=False,
        title_justify="left",
    )
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("filled", f"{report.filled_qty} / {report.requested_qty}"),
        (
            "average price",
            _fmt(report.avg_fill_price and report.avg_fill_price.quantize(Decimal("0.0001"))),
        ),
        (
            "arrival",
            f"bid {_fmt(report.arrival_bid)} / ask {_fmt(report.arrival_ask)} "
            f"mid {_fmt(report.arrival_mid)}"
            + (f" at {format_et(report.arrival_time)}" if report.arrival_time else ""),
        ),
        (
            "cost vs arrival mid",
            f"{_fmt(report.cost_bps, '.2f')} bps "
            f"(${_fmt(report.cost_dollars and report.cost_dollars.quantize(Decimal('0.01')))})",
        ),
        ("phase / strategy", f"{report.phase} / {report.strategy} ({report.routed})"),
        ("spread class", f"{report.spread_class} (relative: {report.relative_spread_class})"),
        ("waited", f"{report.waited_seconds:.1f} s"),
        ("time to fill", f"{_fmt(report.time_to_fill_seconds, '.2f')} s"),
        (
            "re-pegs / fallback",
            f"{report.repegs_used} / "
            f"{'used' if report.fallback_used else 'not used'}"
            f"{' (market blocked by budget)' if report.fallback_blocked else ''}",
        ),
        ("quotes seen", str(report.quotes_seen)),
    ]
    if report.budget_bps is not None:
        ran = report.budget_ran_bps
        rows.append(
            (
                "slippage budget",
                f"{report.budget_bps} bps"
                + (f" (the market ran {ran:.1f} bps from arrival mid)" if ran is not None else ""),
            )
        )
    if report.quotes_held:
        rows.append(("quotes held", f"{report.quotes_held} (jumps not yet confirmed)"))
    if report.unfilled_qty:
        rows.append(("unfilled", f"{report.unfilled_qty}: {report.unfilled_reason}"))
    if report.error:
        rows.append(("error", report.error))
    for note in report.notes:
        rows.append(("note", note))
    for k, v in rows:
        table.add_row(k, v)
    return table


#: Terminal width from which the attempts table has room for the client order ids.
IDS_FROM_WIDTH = 110


def attempts_table(report: ExecutionReport, width: int = IDS_FROM_WIDTH) -> Table:
    """Every child order: its kind, limit, fills and why it ended.

    The client order ids (27 characters) are left out below ``IDS_FROM_WIDTH``
    columns: the step lines above the table and ``--json`` show them, and the
    attempt number is the id's last part.
    """
    ids = width >= IDS_FROM_WIDTH
    table = Table(title="attempts", title_justify="left")
    add_number_column(table, "#")
    if ids:
        table.add_column("client order id", no_wrap=True)
    table.add_column("kind")
    add_number_column(table, "limit")
    add_number_column(table, "filled")
    add_number_column(table, "avg price")
    table.add_column("ended")
    for i, a in enumerate(report.attempts, start=1):
        limit = "market" if a.order_type is OrderType.MARKET else _fmt(a.limit_price)
        avg = a.filled_avg_price and a.filled_avg_price.quantize(Decimal("0.0001"))
        table.add_row(
            str(i),
            *([a.client_order_id] if ids else []),
            words(a.kind.value),
            limit,
            f"{a.filled_qty}/{a.qty}",
            _fmt(avg),
            a.end_reason or "-",
        )
    return table
