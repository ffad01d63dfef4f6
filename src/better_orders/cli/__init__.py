"""The ``better-orders`` command line (typer + rich). One module per command: ``cmd_*.py``."""
