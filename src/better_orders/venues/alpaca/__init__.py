"""Alpaca's trading and market-data APIs behind the ``Broker`` and ``QuoteFeed`` protocols."""
