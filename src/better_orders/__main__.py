"""``python -m better_orders``: the ``better-orders`` command, where its script is not on PATH."""

from better_orders.cli.app import main

main()
