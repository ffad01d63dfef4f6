"""The asyncio shell that trades: runs ladders against a broker and a quote feed.

``runner`` drives many ladders at once, ``execution`` runs a set of parent orders
with the journal and risk checks, ``rebalance`` turns targets into such a run, and
``session`` wires a venue, a journal and a clock into one command's job.
"""
