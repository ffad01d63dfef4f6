"""Where orders go: the ``Broker``/``QuoteFeed`` protocols and their adapters.

``base`` is the contract the engine codes against, ``rate_limit`` a broker's request
budget (one per account connection, spent by whoever makes the request); ``sim`` is
the built-in simulated exchange (the default venue), ``alpaca`` the adapter for
Alpaca's paper and live APIs.
"""
