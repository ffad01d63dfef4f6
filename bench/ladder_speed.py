"""Ladder decisions per second (pure state machine) and simulated parent orders per second.

    python bench/ladder_speed.py [--decisions 20000] [--orders 150]

The first figure drives the ladder alone with scripted events (quote, fill,
timeout, cancel...): no broker, no asyncio. The second runs whole parent
orders through the asyncio runner against the simulated exchange on virtual time.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from better_orders.config.params import ladder_params
from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.ladder import (
    Ladder,
    ParentOrder,
    QuoteArrived,
    Start,
    SubmitOrder,
    TimerFired,
)
from better_orders.core.market_calendar import default_calendar
from better_orders.core.model import OrderStatus, OrderUpdate, Quote, Side

ET = ZoneInfo("America/New_York")


def ladder_events_per_second(n_parents: int) -> tuple[int, float]:
    """Each parent: start, quotes, a partial fill, a timeout, a cancel, a re-peg, a fill."""
    cfg = BetterOrdersConfig()
    params = ladder_params(cfg, "TQQQ")
    cal = default_calendar()
    t0 = datetime(2026, 11, 24, 10, 0, tzinfo=ET)
    events = 0
    began = time.perf_counter()
    for i in range(n_parents):
        lad = Ladder(
            ParentOrder("TQQQ", Side.BUY, Decimal(100)), params, cal, lambda n, i=i: f"p{i}-{n}"
        )
        q = Quote("TQQQ", Decimal("50.00"), Decimal("50.01"), Decimal(500), Decimal(500), t0)
        lad.handle(QuoteArrived(q, t0))
        actions = lad.handle(Start(t0))
        coid = next(a for a in actions if isinstance(a, SubmitOrder)).request.client_order_id
        lad.handle(
            OrderUpdate(coid, OrderStatus.PARTIALLY_FILLED, Decimal(40), t0, Decimal("50.01"))
        )
        t1 = t0 + timedelta(seconds=1)
        lad.handle(
            QuoteArrived(
                Quote("TQQQ", Decimal("50.01"), Decimal("50.02"), Decimal(500), Decimal(500), t1),
                t1,
            )
        )
        t2 = t0 + timedelta(seconds=3)
        lad.handle(TimerFired(t2))
        actions = lad.handle(
            OrderUpdate(coid, OrderStatus.CANCELED, Decimal(40), t2, Decimal("50.01"))
        )
        coid2 = next(a for a in actions if isinstance(a, SubmitOrder)).request.client_order_id
        lad.handle(OrderUpdate(coid2, OrderStatus.FILLED, Decimal(60), t2, Decimal("50.02")))
        assert lad.done and lad.filled_qty == 100
        events += 8
    return events, time.perf_counter() - began


def runner_parents_per_second(n_orders: int, per_minute: int) -> tuple[int, float, float, int]:
    import tempfile
    from pathlib import Path

    from better_orders.config.settings import BetterOrdersConfig
    from better_orders.engine.commands import run_orders_simulated
    from better_orders.engine.execution import OrderSpec
    from better_orders.venues.assets import builtin_assets
    from better_orders.venues.sim.account import PaperAccount

    # Listed symbols: the simulated exchange trades those of its asset master only.
    listed = sorted(a.symbol for a in builtin_assets() if a.tradable)
    if n_orders > len(listed):
        raise SystemExit(f"--orders is at most {len(listed)}, one parent per listed symbol")
    specs = [OrderSpec(symbol, Side.BUY, Decimal(10)) for symbol in listed[:n_orders]]
    # The runner paces below the risk limit on orders per minute too: lift it with the pace.
    cfg = BetterOrdersConfig.model_validate(
        {
            "mode": "always",
            "requests_per_minute": per_minute,
            "risk": {"max_orders_per_minute": max(per_minute, 120)},
            # The quotes after each fill are not marked: the run would go on for a minute of
            # simulated quotes of every symbol after its last fill, which is not the runner's
            # throughput (``engine.markouts``).
            "tca": {"markout_seconds": []},
        }
    )
    at = datetime(2026, 11, 24, 10, 0, tzinfo=ET)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "b.sqlite3"
        PaperAccount.load(db).reset(Decimal(10**9))
        began = time.perf_counter()
        _, reports = run_orders_simulated(specs, at=at, db=db, config=cfg)
        wall = time.perf_counter() - began
    # A parent the pacing starts late may meet a market beyond its slippage budget: the
    # budget stops it (on_budget = "stop"). Anything else left short is a failure.
    stopped = sum(1 for r in reports if not r.complete and "budget" in (r.unfilled_reason or ""))
    assert sum(r.complete for r in reports) + stopped == len(reports)
    simulated = max(r.finished for r in reports) - at
    return len(reports), wall, simulated.total_seconds(), stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20_000, help="ladders driven (x8 events)")
    parser.add_argument("--orders", type=int, default=150, help="parent orders through the runner")
    args = parser.parse_args()
    ladder_events_per_second(200)  # warm up caches (calendar)
    events, secs = ladder_events_per_second(args.decisions // 8)
    print(f"ladder (pure): {events:,} events in {secs:.2f} s = {events / secs:,.0f} decisions/s")
    for per_minute, label in ((100_000, "unthrottled"), (180, "paced at 180 requests/min")):
        n, wall, simulated, stopped = runner_parents_per_second(args.orders, per_minute)
        print(
            f"runner + simulated exchange, {label}: {n} parent orders in {wall:.2f} s wall "
            f"({simulated:.1f} s simulated) = {n / wall:,.0f} parent orders/s"
            f"; {stopped} stopped by the slippage budget"
        )


if __name__ == "__main__":
    main()
