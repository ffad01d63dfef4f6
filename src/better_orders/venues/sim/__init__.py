"""The simulated exchange: quote sources, fill model, latency, faults, virtual time, paper account.

``exchange.SimExchange`` is synchronous and deterministic (time is an argument), so a
replay evaluation can drive it directly; ``venue.SimVenue`` wraps it in the
``Broker``/``QuoteFeed`` protocols on a ``clock.VirtualTimeLoop``.

Quotes: ``source`` (what a quote source yields), ``synthetic`` (calibrated per symbol
class), ``files`` (reading the shared data folder), ``replay`` (real quotes with a
cursor), ``book`` (all sources merged by time). The venue: ``orders``, ``fills`` (the
fill model), ``faults``, ``exchange``. Around it: ``account`` (the paper account),
``clock``, ``hub`` (what the broker and feed share), ``broker``, ``feed``, ``venue``.
"""
