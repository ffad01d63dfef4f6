"""The Python API: ``place_better_order`` and ``rebalance_portfolio`` (and their async forms).

Each call is one journalled run on the built-in simulator unless told otherwise;
options are those of ``commands.run_orders_simulated`` / ``run_rebalance_simulated``
(``at``, ``seed``, ``db``, ``quotes``, ``config``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from better_orders.core.model import ExecutionReport, Side
from better_orders.engine.commands import run_orders_simulated, run_rebalance_simulated
from better_orders.engine.execution import OrderSpec
from better_orders.engine.rebalance import RebalanceReport


def place_better_order(
    symbol: str,
    qty: object,
    side: str | Side,
    max_slippage_bps: object = None,
    **options: Any,
) -> ExecutionReport:
    """Execute one order through the ladder; returns its report (client order ids included)."""
    spec = OrderSpec.parse(symbol, qty, side, max_slippage_bps)
    _, reports = run_orders_simulated([spec], **options)
    return reports[0]


async def place_better_order_async(
    symbol: str,
    qty: object,
    side: str | Side,
    max_slippage_bps: object = None,
    **options: Any,
) -> ExecutionReport:
    """Async form of :func:`place_better_order`.

    The simulator runs on its own virtual-time loop in a worker thread, so awaiting
    this never blocks the caller's loop for the simulated waits.
    """
    return await asyncio.to_thread(
        place_better_order, symbol, qty, side, max_slippage_bps, **options
    )


def rebalance_portfolio(
    target_portfolio: Mapping[str, object], *, dry_run: bool = False, **options: Any
) -> RebalanceReport:
    """Trade the portfolio to ``target_portfolio`` weights (e.g. ``{"TQQQ": 0.6, "SPY": 0.4}``)."""
    return run_rebalance_simulated(target_portfolio, dry_run=dry_run, **options)


async def rebalance_portfolio_async(
    target_portfolio: Mapping[str, object], *, dry_run: bool = False, **options: Any
) -> RebalanceReport:
    """Async form of :func:`rebalance_portfolio` (see :func:`place_better_order_async`)."""
    return await asyncio.to_thread(
        rebalance_portfolio, target_portfolio, dry_run=dry_run, **options
    )
