"""A seeded slice of the independent fault campaign (``bench/fault_campaign.py``), and three
deliberately broken variants of the product that it must catch.

The slice runs a few hundred scenarios in this process under random faults and a few
dozen with real SIGKILLs of forked children; the campaign's invariants come from the
venue's own records in the journal file (see ``bench/campaign_ledger.py``). Each broken
variant is a monkeypatch, inherited by the forked children: a campaign that passed
one of them would be checking nothing.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest

from better_orders.core.model import OrderRequest, OrderUpdate
from better_orders.engine import order_resume, rebalance
from better_orders.engine.retry import BrokerRetry
from better_orders.engine.run_journal import RunJournal
from better_orders.store.progress import LegProgress, run_progress

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import fault_campaign  # the campaign lives with the benchmarks
from campaign_kills import AFTER_SEND

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork and SIGKILL are POSIX")

SEED = 20261124


def test_a_seeded_slice_keeps_every_invariant() -> None:
    result = fault_campaign.run_campaign(200, SEED, kill_share=0.1)
    assert result.violations == []
    assert result.runs == 200 and result.in_process_runs >= 160
    # it exercised what it claims to: real kills, between send and journal too, resumes
    assert result.kills >= 20, result.kill_points
    assert result.kill_points[AFTER_SEND] >= 5, result.kill_points
    assert result.kill_points["at a random instant"] >= 1, result.kill_points
    assert result.resumed_runs >= 12
    for kind in ("partial_fill", "fill_during_cancel", "drop", "duplicate", "delay", "timeout"):
        assert result.faults[kind] >= 10, (kind, result.faults)
    for kind in ("rate_limited", "server_error", "reject"):
        assert result.faults[kind] >= 3, (kind, result.faults)


def _killed_slice() -> fault_campaign.CampaignResult:
    """Scenarios that are all killed and resumed: where the broken variants show."""
    return fault_campaign.run_campaign(16, SEED, kill_share=1.0)


def _progress_with(**change: Any) -> Any:
    def progress(journal: Any, run_id: str) -> list[LegProgress]:
        legs = run_progress(journal, run_id)
        return [dataclasses.replace(p, **{k: f(p) for k, f in change.items()}) for p in legs]

    return progress


def test_a_resume_that_trades_nothing_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    every_leg_done = _progress_with(done_qty=lambda p: p.target_qty)
    monkeypatch.setattr(order_resume, "run_progress", every_leg_done)
    monkeypatch.setattr(rebalance, "run_progress", every_leg_done)
    found = _killed_slice().violations
    assert any("ended at" in v and "of its planned" in v for v in found), found


def test_a_resume_that_ignores_the_first_attempts_fills_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nothing_done = _progress_with(done_qty=lambda p: p.target_qty * 0)
    monkeypatch.setattr(order_resume, "run_progress", nothing_done)
    monkeypatch.setattr(rebalance, "run_progress", nothing_done)
    found = _killed_slice().violations
    assert any("beyond its planned" in v for v in found), found


def test_an_order_journalled_after_it_is_sent_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The pending record is held back until the order has been sent: a kill in between
    # leaves an order at the venue that the journal never heard of.
    held: dict[str, tuple[RunJournal, int, int]] = {}
    journal_pending, send = RunJournal.pending, BrokerRetry.submit

    async def pending(self: RunJournal, request: OrderRequest, leg: int, attempt: int) -> None:
        held[request.client_order_id] = (self, leg, attempt)

    async def submit(self: BrokerRetry, request: OrderRequest) -> OrderUpdate:
        try:
            return await send(self, request)
        finally:
            journal, leg, attempt = held.pop(request.client_order_id)
            await journal_pending(journal, request, leg, attempt)

    monkeypatch.setattr(RunJournal, "pending", pending)
    monkeypatch.setattr(BrokerRetry, "submit", submit)
    found = _killed_slice().violations
    lost = ("the journal never recorded", "recorded as refused in the journal")
    assert any(any(words in v for words in lost) for v in found), found
