"""The simulated exchange: quote sources, fill model, latency, faults, virtual time, paper account.

``exchange.SimExchange`` is synchronous and deterministic (time is an argument), so a
replay evaluation can drive it directly; ``broker.SimVenue`` wraps it in the
``Broker``/``QuoteFeed`` protocols on a ``clock.VirtualTimeLoop``.
"""
