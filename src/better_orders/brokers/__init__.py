"""Broker and quote-feed adapters: the shell around the core (simulator, Alpaca)."""
