"""Typed settings from defaults, a TOML file and ``BETTER_ORDERS_*`` environment variables."""
