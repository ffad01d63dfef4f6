"""A local, Alpaca-compatible paper exchange backed by the simulator (``better-orders serve``)."""

from better_orders.server.app import (
    DEFAULT_KEY_ID,
    DEFAULT_SECRET_KEY,
    ServerConfig,
    create_app,
    serve,
)
from better_orders.server.faults import ServerFaults, parse_fault_args
from better_orders.server.venue import VenueSettings

__all__ = [
    "DEFAULT_KEY_ID",
    "DEFAULT_SECRET_KEY",
    "ServerConfig",
    "ServerFaults",
    "VenueSettings",
    "create_app",
    "parse_fault_args",
    "serve",
]
