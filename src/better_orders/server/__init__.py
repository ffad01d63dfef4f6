"""A local, Alpaca-compatible paper exchange backed by the simulator (``better-orders serve``)."""

from better_orders.server.app import create_app, serve
from better_orders.server.faults import ServerFaults, parse_fault_args
from better_orders.server.http import ServerConfig, generate_keys
from better_orders.server.settings import VenueSettings

__all__ = [
    "ServerConfig",
    "ServerFaults",
    "VenueSettings",
    "create_app",
    "generate_keys",
    "parse_fault_args",
    "serve",
]
