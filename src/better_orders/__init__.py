"""Better Orders: fast, cheap fills around the open, and portfolio rebalancing.

The public Python API::

    from better_orders import place_better_order, rebalance_portfolio

    report = place_better_order("TQQQ", 100, "buy")          # simulated by default
    result = rebalance_portfolio({"TQQQ": 0.6, "SPY": 0.4})
"""

from better_orders.api import (
    place_better_order,
    place_better_order_async,
    rebalance_portfolio,
    rebalance_portfolio_async,
)
from better_orders.config import BetterOrdersConfig, load_config

__all__ = [
    "BetterOrdersConfig",
    "load_config",
    "place_better_order",
    "place_better_order_async",
    "rebalance_portfolio",
    "rebalance_portfolio_async",
]
__version__ = "0.1.0"
