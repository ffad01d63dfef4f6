"""The asyncio shell that trades: runs ladders against a broker and a quote feed.

``commands`` holds the entry points (orders, a rebalance, a reconciliation on the
chosen venue). Below them: ``journalled_run`` (locks via ``run_locks``, resume,
the run's record) runs a job from ``jobs`` on a venue set up by ``in_sim`` or
``in_alpaca``; ``execution`` runs a set of parent orders with the journal and
``risk`` checks, ``rebalance`` turns targets into such a run, and ``runner``
drives many ladders at once: each ladder's events wait in an ``inbox``, requests go
through one ``retry`` layer within the broker's request budget, quiet books are
refreshed (``freshness``), and a failure anywhere is contained (``containment``).
"""
