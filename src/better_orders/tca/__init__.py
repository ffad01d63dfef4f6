"""Replay evaluation of execution policies on real quotes (transaction cost analysis).

A *policy* is the product's configuration with some values changed
(``policies``). For each decision time and side, ``replay.evaluate_file`` runs
every policy through the very ``Ladder`` and ``SimExchange`` that trade in the
simulator, with a synchronous driver that skips the quotes that cannot change
what the ladder does (``replay``); ``metrics`` measures each decision against
the arrival mid and summarises per file and policy; ``report`` draws it.

The typical spread a ladder compares against is learnt from the file's quotes
up to the decision and no later (``replay.learned_typical_spreads``).
"""

from better_orders.tca.metrics import (
    DEFAULT_COMPLETION_SECONDS,
    DecisionRecord,
    MinuteRow,
    PolicySummary,
    by_minute,
    decision_record,
    summarize,
)
from better_orders.tca.policies import (
    BUILTIN_POLICIES,
    DEFAULT_POLICIES,
    Policy,
    available_policies,
    load_policy_file,
    select_policies,
)
from better_orders.tca.replay import (
    DecisionOutcome,
    MarketableReplayStats,
    QuoteFile,
    ReplayCounters,
    ReplayDriver,
    Sizing,
    TcaResult,
    decision_times,
    evaluate_file,
    learned_typical_spreads,
    replay_marketable_orders,
    run_tca,
)

__all__ = [
    "BUILTIN_POLICIES",
    "DEFAULT_COMPLETION_SECONDS",
    "DEFAULT_POLICIES",
    "DecisionOutcome",
    "DecisionRecord",
    "MarketableReplayStats",
    "MinuteRow",
    "Policy",
    "PolicySummary",
    "QuoteFile",
    "ReplayCounters",
    "ReplayDriver",
    "Sizing",
    "TcaResult",
    "available_policies",
    "by_minute",
    "decision_record",
    "decision_times",
    "evaluate_file",
    "learned_typical_spreads",
    "load_policy_file",
    "replay_marketable_orders",
    "run_tca",
    "select_policies",
    "summarize",
]
