"""The simulated exchange: quote sources, fill model, latency, faults, virtual time, paper account.

``SimExchange`` is synchronous and deterministic (time is an argument), so a replay
evaluation can drive it directly; ``better_orders.brokers.sim`` wraps it in the
``Broker``/``QuoteFeed`` protocols on a ``VirtualTimeLoop``.
"""

from better_orders.sim.account import DEFAULT_CASH, PaperAccount, PaperPosition
from better_orders.sim.clock import SimClock, VirtualTimeLoop, WallClock, run_virtual
from better_orders.sim.exchange import Latency, QuoteEvent, SimEvent, SimExchange
from better_orders.sim.faults import FaultPlan
from better_orders.sim.quotes import (
    Execution,
    QuoteBook,
    QuoteFileError,
    QuoteSource,
    ReplayQuotes,
    SymbolProfile,
    SyntheticQuotes,
)

__all__ = [
    "DEFAULT_CASH",
    "Execution",
    "FaultPlan",
    "Latency",
    "PaperAccount",
    "PaperPosition",
    "QuoteBook",
    "QuoteEvent",
    "QuoteFileError",
    "QuoteSource",
    "ReplayQuotes",
    "SimClock",
    "SimEvent",
    "SimExchange",
    "SymbolProfile",
    "SyntheticQuotes",
    "VirtualTimeLoop",
    "WallClock",
    "run_virtual",
]
