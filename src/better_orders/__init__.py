"""Better Orders: fast, cheap fills around the open, and portfolio rebalancing.

The public Python API::

    from better_orders import place_better_order, rebalance_portfolio

    report = place_better_order("TQQQ", 100, "buy")          # simulated by default
    result = rebalance_portfolio({"TQQQ": 0.6, "SPY": 0.4})

Layers, each a folder: ``core`` (pure decisions), ``engine`` (the asyncio driver),
``store`` (journal, reconciliation), ``venues`` (simulator, Alpaca), ``server`` (a
local Alpaca-compatible exchange), ``tca`` (replay evaluation), ``cli``, ``config``.
Names are loaded on first use, so importing one layer does not load the others.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "place_better_order": "better_orders.api",
    "place_better_order_async": "better_orders.api",
    "rebalance_portfolio": "better_orders.api",
    "rebalance_portfolio_async": "better_orders.api",
    "BetterOrdersConfig": "better_orders.config.settings",
    "load_config": "better_orders.config.loader",
}

__all__ = [
    "BetterOrdersConfig",
    "__version__",
    "load_config",
    "place_better_order",
    "place_better_order_async",
    "rebalance_portfolio",
    "rebalance_portfolio_async",
]

if TYPE_CHECKING:
    from better_orders.api import (
        place_better_order,
        place_better_order_async,
        rebalance_portfolio,
        rebalance_portfolio_async,
    )
    from better_orders.config.loader import load_config
    from better_orders.config.settings import BetterOrdersConfig


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'better_orders' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
