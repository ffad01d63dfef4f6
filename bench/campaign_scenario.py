"""One scenario of the independent fault campaign, and one attempt of its command.

A scenario is what a user does, seeded: an account (cash and the shares held before,
written to a fresh journal file), then one command run until it is done, the same
command each time: ``order`` with one to three legs on distinct symbols, or
``rebalance`` to target weights. Its venue is the simulator with scripted quotes of
thin displayed size, a latency and a ``FaultPlan``.

``attempt`` runs the command once, as ``better-orders order`` / ``rebalance`` run it
(one writer per account, reconciliation first, then a new or a resumed run; see
``engine.commands``), except that the venue carries the scenario's faults. The first
attempts carry the scenario's faults; a later ``clean`` attempt stands for the broker
having recovered, so that a plan that can be finished is finished.

Faults come in two strengths: ``strict`` scenarios get only faults after which every
leg can still fill completely (partial fills, a 429 or 5xx answer within the retry
budget, lost submit responses, dropped, duplicated and delayed updates, fills racing
cancels), so the campaign can demand that each leg ends exactly at its planned size;
the others add refusals (rejects, insufficient buying power, 429/5xx answers at random,
which may outlive the retry budget) that may leave a leg short, for which only "never
beyond the plan" holds.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.market_calendar import NEW_YORK
from better_orders.core.model import Fill, Side
from better_orders.engine.execution import OrderSpec
from better_orders.engine.in_sim import SIM_ACCOUNT
from better_orders.engine.jobs import order_job, rebalance_job
from better_orders.engine.journalled_run import Job, account_lock, journalled_run
from better_orders.store.ids import new_run_id
from better_orders.store.journal import Journal
from better_orders.venues.sim.account import PaperAccount, PaperPosition
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.exchange import Latency
from better_orders.venues.sim.faults import FaultPlan
from better_orders.venues.sim.files import to_ns
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.venue import SimVenue

ET = ZoneInfo("America/New_York")
#: Mid-morning (the ladder crosses at once) and the open (wide spreads: it waits first).
STARTS = (datetime(2026, 11, 24, 10, 0, tzinfo=ET), datetime(2026, 11, 24, 9, 30, tzinfo=ET))
UNIVERSE = (
    ("TQQQ", Decimal("50.00")),
    ("SOXL", Decimal("30.00")),
    ("SPY", Decimal("600.00")),
    ("IWM", Decimal("220.00")),
)
CASH = Decimal(40_000)

#: Faults after which a leg can still fill completely (``FaultPlan.random`` rates). A 429
#: or 5xx comes once per order (``fail_submit``, within the retry budget): repeated ones
#: outlive the budget and refuse the order, which may leave its leg short.
SAFE_RATES = {
    "timeout": 0.04,
    "drop": 0.06,
    "duplicate": 0.06,
    "delay": 0.10,
    "fill_during_cancel": 0.12,
    "partial_fill": 0.25,
}
#: And refusals, which may leave a leg short.
REFUSAL_RATES = {
    "reject": 0.04,
    "insufficient_buying_power": 0.02,
    "rate_limited": 0.05,
    "server_error": 0.05,
}

#: Settings a scenario may run with; each lets an unfaulted run finish: a market fallback,
#: which a budget of 10,000 bps or more allows (a fallback bound by a tighter budget is a
#: limit at the bound, which the simulator fills only up to the displayed touch, so a thin
#: book may leave a leg short by design, and this campaign is about faults, not budgets).
CONFIGS: tuple[dict[str, Any], ...] = (
    {},
    {"mode": "always"},
    {"ladder": {"entry": "passive"}},
    {"ladder": {"entry": "market"}},
    {"ladder": {"max_repegs": 1}},
    {"timing": {"rest_fraction": 0}},
    {"timing": {"rest_fraction": 1}},
)
WIDE_BUDGET: dict[str, Any] = {
    f"{kind}_bps": 10_000
    for kind in ("max_slippage", "leveraged_etf", "high_volume_etf", "other_stock")
}
#: The marks after each fill in a run without kills (see ``draw``).
SHORT_MARKOUTS: dict[str, Any] = {"tca": {"markout_seconds": [5.0]}}


@dataclass(slots=True)
class Scenario:
    """Everything one scenario needs, drawn from its seed alone (so a forked child and the
    parent that checks it draw the same)."""

    index: int
    seed: int
    kind: str  # "order" or "rebalance"
    start: datetime
    strict: bool
    held: dict[str, Decimal]
    prices: dict[str, Decimal]
    legs: list[OrderSpec] = field(default_factory=list)
    targets: dict[str, Decimal] = field(default_factory=dict)
    config: BetterOrdersConfig = field(default_factory=BetterOrdersConfig)
    #: The scripted quotes (the venue replays them through cursors of its own).
    quotes: dict[str, ReplayQuotes] = field(default_factory=dict)
    latency: Latency = field(default_factory=Latency)
    fault_seed: int = 0
    fault_intensity: float = 1.0
    #: Explicit fault rules on top of the random ones: (kind, pattern) pairs.
    rules: list[tuple[str, str]] = field(default_factory=list)

    @property
    def cash(self) -> Decimal:
        return CASH

    def faults(self) -> FaultPlan:
        """A fresh plan for one attempt (a plan counts what it injected)."""
        rates = dict(SAFE_RATES) if self.strict else SAFE_RATES | REFUSAL_RATES
        scaled = {k: min(1.0, v * self.fault_intensity) for k, v in rates.items()}
        plan = FaultPlan.random(self.fault_seed, scaled)
        for kind, pattern in self.rules:
            if kind == "lose_submit_response":
                plan.lose_submit_response(pattern)
            elif kind == "fill_during_cancel":
                plan.fill_during_cancel(pattern, count=2)
            elif kind in ("rate_limited", "server_error"):
                plan.fail_submit(kind, pattern, count=1)
            elif kind == "reject_submit":
                plan.reject_submit(pattern, reason="scripted reject", count=None)
        return plan


def draw(index: int, seed: int, *, killed: bool = False) -> Scenario:
    """Scenario ``index`` of the campaign seeded ``seed``; ``killed``: for a run with kills.

    A run with kills gets strict faults, and the product's own marks after each fill (the
    run waits 60 s for the last, and a kill may land in the wait). A run without kills
    waits 5 s after its last fill: every late update (2 s late at most) still lands in the
    run, and nothing can kill it in the wait, where a longer one only replays more quotes.
    """
    rng = random.Random(f"independent:{seed}:{index}")
    start = STARTS[1] if rng.random() < 0.1 else STARTS[0]
    chosen = rng.sample(UNIVERSE, rng.randint(1, 3))
    prices = dict(chosen)
    held = {s: Decimal(rng.randint(1, 80)) for s in prices if rng.random() < 0.5}
    sc = Scenario(
        index=index,
        seed=seed,
        kind="order" if rng.random() < 0.7 else "rebalance",
        start=start,
        strict=True if killed else rng.random() < 0.8,
        held=held,
        prices=prices,
        config=BetterOrdersConfig.model_validate(
            rng.choice(CONFIGS) | WIDE_BUDGET | ({} if killed else SHORT_MARKOUTS)
        ),
        quotes={s: scripted_quotes(rng, s, p, start) for s, p in chosen},
        latency=Latency(
            submit=timedelta(milliseconds=rng.choice((1, 30, 250))),
            cancel=timedelta(milliseconds=rng.choice((1, 30, 400))),
            update=timedelta(milliseconds=rng.choice((0, 5, 120))),
        ),
        fault_seed=rng.randrange(2**32),
        fault_intensity=rng.choice((0.0, 0.5, 1.0, 1.0, 2.0)),
    )
    if sc.kind == "order":
        for symbol in prices:
            if symbol in held and rng.random() < 0.6:
                sc.legs.append(
                    OrderSpec(symbol, Side.SELL, Decimal(rng.randint(1, int(held[symbol]))))
                )
            else:
                # Affordable with room to spare: a leg short of cash is not the point here.
                most = max(1, int(CASH / 4 / prices[symbol]))
                sc.legs.append(OrderSpec(symbol, Side.BUY, Decimal(rng.randint(1, min(most, 120)))))
    else:
        weights = [rng.choice(("0", "0.1", "0.2", "0.3")) for _ in prices]
        sc.targets = {s: Decimal(w) for s, w in zip(prices, weights, strict=True)}
    n = len(prices)
    if rng.random() < 0.3:
        sc.rules.append(("lose_submit_response", f"*-{rng.randint(1, n)}-1"))
    if rng.random() < 0.2:
        sc.rules.append(("fill_during_cancel", "*"))
    if rng.random() < 0.3:
        error = rng.choice(("rate_limited", "server_error"))
        sc.rules.append((error, f"*-{rng.randint(1, n)}-{rng.choice(('1', '*'))}"))
    if not sc.strict and rng.random() < 0.3:
        sc.rules.append(("reject_submit", f"*-{rng.randint(1, n)}-*"))
    return sc


def scripted_quotes(
    rng: random.Random, symbol: str, price: Decimal, start: datetime
) -> ReplayQuotes:
    """A random walk of quotes every 0.1-1.5 s for up to a minute, then the last one every
    second for two minutes; sizes are thin, so partial fills are the norm. At the open the
    spread starts several times wider and narrows over the rows. Built straight into the
    venue's arrays (prices in $0.0001, times in nanoseconds)."""
    times: list[int] = []
    bids: list[int] = []
    asks: list[int] = []
    sizes: list[int] = []
    t = 0.0
    mid_ticks = int(price * 100)
    count = rng.randint(5, 40)
    widening = rng.choice((4, 8, 15)) if start.astimezone(NEW_YORK).minute == 30 else 0
    for k in range(count):
        mid_ticks += rng.choice((-3, -2, -1, 0, 0, 1, 2, 3))
        spread = rng.choice((1, 1, 1, 2, 2, 3, 5)) + widening * (count - k) // count
        sizes.append(rng.choice((1, 3, 10, 25, 60, 150, 400)))
        times.append(to_ns(start + timedelta(seconds=t)))
        bids.append(mid_ticks * 100)
        asks.append((mid_ticks + spread) * 100)
        t += rng.uniform(0.1, 1.5) * (4 if widening else 1)
    last = times[-1]
    times.extend(last + k * 1_000_000_000 for k in range(1, 121))
    for column in (bids, asks, sizes):
        column.extend([column[-1]] * 120)
    size = np.array(sizes, dtype=np.int64)
    return ReplayQuotes(
        symbol=symbol,
        ts_ns=np.array(times, dtype=np.int64),
        bid_e4=np.array(bids, dtype=np.int64),
        ask_e4=np.array(asks, dtype=np.int64),
        bid_sz=size,
        ask_sz=size,
    )


# -- the account before, and one attempt of the command -------------------------------------


def prepare(sc: Scenario, db: Path) -> None:
    """A fresh journal file holding the scenario's account: its cash and the shares held,
    in the paper account and as the journal's opening fills (so both start in agreement)."""
    positions = {s: PaperPosition(s, q, sc.prices[s]) for s, q in sc.held.items()}
    PaperAccount(sc.cash, positions, path=db).save()
    with Journal.open(db) as journal:
        for n, (symbol, qty) in enumerate(sorted(sc.held.items())):
            fill = Fill(
                f"opening-{n}", "opening", symbol, Side.BUY, qty, sc.prices[symbol], sc.start
            )
            journal.record_fill(fill)


def command(sc: Scenario, db: Path) -> Job[Any]:
    """The scenario's command, as the CLI builds it (same parameters each attempt)."""
    if sc.kind == "order":
        return order_job(list(sc.legs), sc.config, None, at=sc.start.isoformat(), seed=0)
    return rebalance_job(
        sc.targets, sc.config, db, resume=None, dry_run=False, observer=None, on_plan=None
    )


def attempt(sc: Scenario, db: Path, *, clean: bool, faults: Counter[str] | None = None) -> Any:
    """Run the command once on the scenario's venue (faulted unless ``clean``); its result.

    Raises what the command raises (a run that failed, an account in use...). The faults
    injected are added to ``faults``.
    """
    job = command(sc, db)
    plan = None if clean else sc.faults()
    try:
        with Journal.open(db) as journal, account_lock(journal, SIM_ACCOUNT, job) as locks:

            async def main() -> Any:
                venue = SimVenue.create(
                    start=sc.start, db_path=db, replay=sc.quotes, latency=sc.latency, faults=plan
                )
                try:
                    _, result = await journalled_run(
                        job,
                        venue,
                        journal,
                        broker_name="sim",
                        fresh_id=lambda: new_run_id(sc.start.astimezone(NEW_YORK)),
                        locks=locks,
                    )
                    return result
                finally:
                    await venue.close()

            return run_virtual(main(), start=sc.start)
    finally:
        if plan is not None and faults is not None:
            faults.update(plan.injected)
