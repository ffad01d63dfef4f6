"""``better-orders assess``: judge one quote the way the ladder would, without trading.

Shows the spread in cents and bps, both spread classes, the wait recommended
before trading, the slippage budget, and the marketable limits a buy and a sell
would start from. A quote the ladder would refuse is refused here too, with the
same message and a non-zero exit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.table import Table

from better_orders.cli.common import ConfigOption, console, parse_instant, print_json
from better_orders.cli.help_format import Command
from better_orders.config.params import premarket_assessment
from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote, Side, to_decimal
from better_orders.core.pricing import (
    aggressive_limit,
    budget_bound,
    slippage_bps,
    within_budget,
)
from better_orders.core.sanity import quote_from_raw, require_valid_quote
from better_orders.core.spread import PremarketAssessment


def _cents(dollars: Decimal) -> str:
    return f"{(dollars * 100).normalize():f}"


def _limit_row(
    side: Side, quote: Quote, assessment: PremarketAssessment, ticks: int
) -> dict[str, Any]:
    """The aggressive limit for ``side`` and what it would cost, or why there is none."""
    mid = quote.mid
    budget = assessment.slippage_budget_bps
    row: dict[str, Any] = {"side": side.value, "ticks": ticks}
    try:
        limit = aggressive_limit(side, quote, ticks)
    except InvalidInputError as exc:
        row.update(limit=None, error=str(exc))
        return row
    bound = budget_bound(side, mid, budget)
    cost = slippage_bps(side, limit, mid)
    row.update(
        limit=limit,
        cost_bps_vs_mid=round(cost, 2),
        budget_bound=bound,
        within_budget=within_budget(side, limit, mid, budget),
    )
    return row


def assess(
    symbol: Annotated[str, typer.Argument(metavar="SYMBOL", help="ticker, e.g. TQQQ")],
    bid: Annotated[str, typer.Option("--bid", metavar="PRICE", help="best bid, dollars")],
    ask: Annotated[str, typer.Option("--ask", metavar="PRICE", help="best ask, dollars")],
    bid_size: Annotated[
        str, typer.Option("--bid-size", metavar="N", help="shares at the bid")
    ] = "0",
    ask_size: Annotated[
        str, typer.Option("--ask-size", metavar="N", help="shares at the ask")
    ] = "0",
    typical_bps: Annotated[
        str | None,
        typer.Option(
            "--typical-bps", metavar="BPS", help="the symbol's typical spread in bps of mid"
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="ISO",
            help="decision time, ISO-8601 (New York time without an offset)",
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Assess a quote: spread class, recommended wait, slippage budget, marketable limits."""
    from better_orders.config.loader import load_config

    # The configuration every trading command uses (file, environment), so the budget and
    # the spread classes assessed are the ones an order would be held to.
    settings = load_config(config).config
    now = parse_instant(at) if at is not None else datetime.now(UTC)
    quote = quote_from_raw(symbol, bid, ask, bid_size, ask_size, ts=now)
    require_valid_quote(
        quote,
        now,
        max_age_seconds=settings.spread.max_quote_age_seconds,
        absurd_pct_of_mid=settings.spread.absurd_pct_of_mid,
    )
    typical: Decimal | None = None
    if typical_bps is not None:
        typical = to_decimal(typical_bps, "--typical-bps")
        if typical <= 0:
            raise InvalidInputError(f"--typical-bps must be positive, got {typical}")
    result = premarket_assessment(quote, settings, quote.symbol, typical, typical_source="given")
    ticks = settings.aggressive_ticks(quote.symbol)
    rows = [_limit_row(side, quote, result, ticks) for side in (Side.BUY, Side.SELL)]

    if as_json:
        print_json({"symbol": quote.symbol, "at": now, "assessment": result, "limits": rows})
        return

    sp = result.spread
    table = Table(title=f"{quote.symbol} at {now.isoformat(timespec='seconds')}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    sizes = f" ({quote.bid_size} x {quote.ask_size})" if quote.bid_size or quote.ask_size else ""
    table.add_row("Quote", f"bid {quote.bid} / ask {quote.ask}{sizes}")
    table.add_row("Mid", f"{sp.mid}")
    table.add_row("Spread", f"{_cents(sp.spread)}c = {sp.spread_bps:.2f} bps of mid")
    cfg = settings.spread
    table.add_row(
        "Cents class",
        f"{sp.cents_class.value} (tight <= {_cents(cfg.tight_cents)}c, "
        f"wide > {_cents(cfg.wide_cents)}c)",
    )
    table.add_row("Relative class", f"{sp.relative_class.value} ({sp.relative_basis})")
    table.add_row("Effective class", f"{sp.effective_class.value} ({sp.rule} rule)")
    wait = result.recommended_wait_seconds
    table.add_row("Recommended wait", f"{wait:g} s after the open" if wait else "none")
    table.add_row("Slippage budget", f"{result.slippage_budget_bps} bps")
    for row in rows:
        label = f"{row['side'].capitalize()} limit"
        if row["limit"] is None:
            table.add_row(label, f"none: {row['error']}")
            continue
        touch = "ask +" if row["side"] == Side.BUY else "bid -"
        verdict = "within budget" if row["within_budget"] else "OVER budget"
        table.add_row(
            label,
            f"{row['limit']} ({touch} {row['ticks']} tick(s); {row['cost_bps_vs_mid']:.2f} bps "
            f"vs mid, {verdict}, bound {row['budget_bound']})",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("assess", cls=Command)(assess)
