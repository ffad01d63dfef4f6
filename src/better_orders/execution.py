"""One journalled batch of parent orders through the runner.

The journal rule holds here: each parent (intent) is recorded before its ladder
starts, and its report is written back when it finishes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from better_orders.brokers.base import Broker, Clock, QuoteFeed
from better_orders.config import BetterOrdersConfig
from better_orders.core.ladder import LadderParams, ParentOrder
from better_orders.core.model import (
    ExecutionReport,
    Side,
    normalize_symbol,
    parse_quantity,
    to_decimal,
)
from better_orders.core.timing import MarketCalendar, default_calendar
from better_orders.errors import InvalidInputError
from better_orders.journal import Journal
from better_orders.jsonable import to_jsonable
from better_orders.runner import LadderEvent, Leg, Runner


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """A validated parent order as a user asked for it."""

    symbol: str
    side: Side
    qty: Decimal
    max_slippage_bps: Decimal | None = None

    @classmethod
    def parse(
        cls, symbol: str, qty: object, side: str | Side, max_slippage_bps: object = None
    ) -> OrderSpec:
        budget = None
        if max_slippage_bps is not None:
            budget = to_decimal(max_slippage_bps, "max_slippage_bps")
            if budget < 0:
                raise InvalidInputError(f"max_slippage_bps must be >= 0, got {budget}")
        return cls(normalize_symbol(symbol), Side.parse(side), parse_quantity(qty), budget)


async def execute(
    specs: list[OrderSpec],
    *,
    broker: Broker,
    feed: QuoteFeed,
    clock: Clock,
    journal: Journal,
    config: BetterOrdersConfig,
    run_id: str,
    kind: str = "order",
    calendar: MarketCalendar | None = None,
    observer: Callable[[LadderEvent], None] | None = None,
    typical_spread_bps: dict[str, float] | None = None,
    leg_offset: int = 0,
) -> list[ExecutionReport]:
    """Run the parents through ladders on an already-open broker; journals the legs."""
    cal = calendar or default_calendar()
    legs: list[Leg] = []
    for i, spec in enumerate(specs, start=1 + leg_offset):
        params = LadderParams.from_config(
            config,
            spec.symbol,
            max_slippage_bps=spec.max_slippage_bps,
            typical_spread_bps=(typical_spread_bps or {}).get(spec.symbol),
        )
        journal.record_intent(run_id, i, spec.symbol, spec.side, spec.qty)
        legs.append(Leg(i, ParentOrder(spec.symbol, spec.side, spec.qty), params))
    runner = Runner(
        broker,
        feed,
        clock,
        cal,
        run_id=run_id,
        journal=journal,
        observer=observer,
        requests_per_minute=config.requests_per_minute,
    )
    reports = await runner.run(legs)
    for leg, report in zip(legs, reports, strict=True):
        status = "filled" if report.complete else ("failed" if report.error else "partial")
        journal.update_intent(run_id, leg.leg, status, _report_dict(report))
    return reports


def _report_dict(report: ExecutionReport) -> dict[str, Any]:
    data: dict[str, Any] = to_jsonable(report)
    return data
