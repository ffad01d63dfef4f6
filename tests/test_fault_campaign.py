"""A seeded fault campaign: 2,000 simulated ladders and rebalances under random faults.

The engine is ``bench/virtual_crash_campaign.py`` (run it with more runs for a longer campaign).
Each run injects random and scripted faults (rejects, partial fills, fills racing
cancels, delayed, dropped and duplicated updates, 429/5xx answers, lost submit
responses), and about a third of them are killed at a random instant and restarted
from the journal (reconcile, then resume), possibly several times. After every run the
engine checks: nothing open at the venue, nothing filled beyond its order or its leg,
every venue fill in the journal exactly once, positions equal to the journal's fills,
no client order id sent twice or unjournalled, and a clean second reconciliation.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from bench_modules import load_bench
from better_orders.engine.runner import Runner

RUNS = 2_000
SEED = 20261124


@pytest.fixture(scope="module")
def engine() -> ModuleType:
    return load_bench("virtual_crash_campaign")


def test_two_thousand_runs_under_faults_and_crashes_keep_every_invariant(
    engine: ModuleType,
) -> None:
    result = engine.run_campaign(RUNS, SEED)
    assert result.runs == RUNS
    assert result.violations == []
    # the campaign exercised what it claims to: every kind of fault, crashes, recoveries
    for kind in (
        "reject",
        "rate_limited",
        "server_error",
        "timeout",
        "drop",
        "duplicate",
        "delay",
        "fill_during_cancel",
        "partial_fill",
        "crash",
    ):
        assert result.faults[kind] >= 20, (kind, result.faults)
    assert result.ladder_runs > 1000 and result.rebalance_runs > 300
    assert result.crashed_runs > 300 and result.crashes > result.crashed_runs
    for recovery in (
        "order cancel",
        "order never_sent",
        "order record",
        "fills recovered by reconciliation",
        "fills recovered from a cumulative quantity",
    ):
        assert result.recovery[recovery] >= 20, (recovery, result.recovery)


def test_the_invariants_catch_a_journal_that_misses_fills(
    engine: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the runner's recovery of fills whose update was dropped, the journal falls
    # behind the venue: the campaign must say so, not pass by construction.
    async def forget(self: Runner, st: object) -> None:
        return None

    monkeypatch.setattr(Runner, "_recover_fills", forget)
    result = engine.run_campaign(100, SEED)
    assert any("missing from the journal" in v for v in result.violations)
    assert any("positions" in v for v in result.violations)
