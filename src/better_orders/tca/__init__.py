"""Replay evaluation of execution policies on real quotes (transaction cost analysis).

A *policy* is the product's configuration with some values changed
(``policies``). For each decision time and side, ``evaluate.evaluate_file`` runs
every policy through the very ``Ladder`` and ``SimExchange`` that trade in the
simulator, with a synchronous driver that skips the quotes that cannot change
what the ladder does (``driver``); ``metrics`` measures each decision against
the arrival mid and summarises per file and policy; ``report`` draws it.

The file, decision times, sizes and the typical spread a ladder compares
against, learnt from the file's quotes up to the decision and no later, are
set up in ``decisions``. ``marketable`` replays a fixed stream of marketable
orders, for comparing engines.
"""
