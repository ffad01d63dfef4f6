"""A randomized fault campaign: many simulated ladders and rebalances, faults and crashes.

    python bench/virtual_crash_campaign.py --runs 20000 [--seed 1]

Each run is a small, seeded scenario on its own simulated venue (scripted quotes with
thin displayed size, a random ``FaultPlan`` plus a few explicit rules) and its own
journal. Some runs "crash": the task driving them is cancelled at a random instant, as
if the process died, and a fresh start then reconciles the journal with the venue and
resumes the run from the journal, possibly crashing again. Several runs share one
virtual-time loop, so a campaign of thousands costs seconds.

After every run (and its recoveries) these must hold:

- nothing is open at the venue;
- no order filled beyond its quantity, no leg beyond its target;
- every venue fill is in the journal exactly once, and the journal has no other fill;
- the paper account's positions equal those the journal's fills add up to;
- every order created at the venue was journalled first, none was sent twice, every
  journalled order is ended, with the venue's filled quantity;
- a further reconciliation finds nothing to do.

The campaign prints the runs, the faults injected by kind, the invariant violations
(there must be none) and the wall time. ``tests/test_fault_campaign.py`` runs a smaller
campaign of the same engine. ``fault_campaign.py`` is the independent campaign:
file journals, real process kills, invariants from the venue's own records.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import BrokerError
from better_orders.core.model import Fill, OrderRequest, OrderUpdate, Quote, Side
from better_orders.engine.execution import OrderSpec, execute
from better_orders.engine.rebalance import rebalance
from better_orders.store.journal import Journal
from better_orders.store.progress import run_progress
from better_orders.store.reconcile import reconcile
from better_orders.venues.sim.clock import run_virtual
from better_orders.venues.sim.exchange import Latency
from better_orders.venues.sim.faults import FaultPlan
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.venue import SimVenue

ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=ET)
#: The open of the same day: wide spreads at first, so the ladder waits for them.
OPEN = datetime(2026, 11, 24, 9, 30, 0, tzinfo=ET)
#: Symbol and a starting price; displayed sizes are thin, so partial fills are the norm.
UNIVERSE = (("TQQQ", Decimal("50.00")), ("SOXL", Decimal("30.00")), ("SPY", Decimal("600.00")))
CASH = Decimal(20_000)
RUN_ID = "camp"
MAX_CRASHES = 3

#: Probabilities of ``FaultPlan.random`` (scaled per run by a random intensity).
RATES = {
    "reject": 0.03,
    "rate_limited": 0.06,
    "server_error": 0.06,
    "insufficient_buying_power": 0.01,
    "timeout": 0.06,
    "drop": 0.06,
    "duplicate": 0.06,
    "delay": 0.10,
    "fill_during_cancel": 0.12,
    "partial_fill": 0.25,
}


@dataclass(slots=True)
class CampaignResult:
    runs: int = 0
    ladder_runs: int = 0
    rebalance_runs: int = 0
    crashes: int = 0
    crashed_runs: int = 0
    orders: int = 0
    fills: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    #: What the restarts found and did: reconciliation actions, fills recovered.
    recovery: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    def merge(self, other: CampaignResult) -> None:
        for name in (
            "runs",
            "ladder_runs",
            "rebalance_runs",
            "crashes",
            "crashed_runs",
            "orders",
            "fills",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.faults.update(other.faults)
        self.recovery.update(other.recovery)
        self.violations.extend(other.violations)


# -- scenarios ----------------------------------------------------------------------------


def scripted_quotes(
    rng: random.Random, symbol: str, price: Decimal, start: datetime
) -> ReplayQuotes:
    """A random walk of quotes every 0.1-1.5 s for ~30 s, then the last one every second.

    At the open the spread starts several times wider and narrows over the rows.
    """
    rows: list[Quote] = []
    t = 0.0
    mid_ticks = int(price * 100)
    count = rng.randint(5, 40)
    widening = rng.choice((4, 8, 15)) if start == OPEN else 0
    for k in range(count):
        mid_ticks += rng.choice((-3, -2, -1, 0, 0, 1, 2, 3))
        spread = rng.choice((1, 1, 1, 2, 2, 3, 5)) + widening * (count - k) // count
        bid = Decimal(mid_ticks) / 100
        ask = Decimal(mid_ticks + spread) / 100
        size = Decimal(rng.choice((1, 3, 10, 25, 60, 150, 400)))
        rows.append(Quote(symbol, bid, ask, size, size, start + timedelta(seconds=t)))
        t += rng.uniform(0.1, 1.5) * (4 if widening else 1)
    last = rows[-1]
    for k in range(1, 121):
        rows.append(
            Quote(symbol, last.bid, last.ask, last.bid_size, last.ask_size,
                  last.ts + timedelta(seconds=k))
        )  # fmt: skip
    return ReplayQuotes.from_quotes(rows)


def fault_plan(rng: random.Random, seed: int) -> FaultPlan:
    intensity = rng.choice((0.0, 0.5, 1.0, 1.0, 2.0))
    plan = FaultPlan.random(seed, {k: min(1.0, v * intensity) for k, v in RATES.items()})
    # A few explicit rules on top, aimed at the first attempts, where recoveries start.
    if rng.random() < 0.3:
        plan.lose_submit_response(f"*-{rng.randint(1, 3)}-1")
    if rng.random() < 0.2:
        plan.drop_updates(statuses=["filled", "partially_filled"], count=rng.randint(1, 3))
    if rng.random() < 0.2:
        plan.fill_during_cancel(count=2)
    if rng.random() < 0.15:
        plan.duplicate_updates(count=None)
    if rng.random() < 0.15:
        plan.fail_submit(rng.choice(("rate_limited", "server_error")), count=rng.randint(1, 3))
    if rng.random() < 0.1:
        plan.reject_submit(f"*-{rng.randint(1, 3)}-*", reason="scripted reject", count=None)
    if rng.random() < 0.1:
        plan.delay_updates(timedelta(seconds=rng.uniform(0.5, 4.0)), count=rng.randint(1, 5))
    return plan


@dataclass(slots=True)
class _Spy:
    """Every submit that reached the venue, and refusals for a reused client order id."""

    submitted: Counter[str] = field(default_factory=Counter)
    duplicates: list[str] = field(default_factory=list)

    def wrap(self, venue: SimVenue) -> None:
        inner = venue.broker.submit_order

        async def submit(request: OrderRequest) -> OrderUpdate:
            self.submitted[request.client_order_id] += 1
            try:
                return await inner(request)
            except BrokerError as exc:
                if exc.code == "duplicate_client_order_id":
                    self.duplicates.append(request.client_order_id)
                raise

        venue.broker.submit_order = submit  # type: ignore[method-assign]


# -- one run ------------------------------------------------------------------------------


#: Ladder settings a run may use instead of the defaults.
CONFIG_VARIANTS: tuple[dict[str, Any], ...] = (
    {},
    {},
    {"mode": "always"},
    {"ladder": {"entry": "passive"}},
    {"ladder": {"entry": "market"}},
    {"ladder": {"fallback": "none", "max_repegs": 1}},
    {"ladder": {"protection": "stop", "max_repegs": 0}},
    {"max_slippage_bps": 500, "leveraged_etf_bps": 500},
    {"timing": {"rest_fraction": 0}},
    {"timing": {"rest_fraction": 1}},
    {"timing": {"rest_fraction": 0.5, "wait_again": False}},
)


def run_config(rng: random.Random) -> BetterOrdersConfig:
    return BetterOrdersConfig.model_validate(rng.choice(CONFIG_VARIANTS))


async def one_run(index: int, seed: int) -> CampaignResult:
    rng = random.Random(f"{seed}:{index}")
    result = CampaignResult(runs=1)
    config = run_config(rng)
    start = OPEN if rng.random() < 0.25 else T0
    chosen = rng.sample(UNIVERSE, rng.randint(1, 3))
    replay = {s: scripted_quotes(rng, s, p, start) for s, p in chosen}
    faults = fault_plan(rng, rng.randrange(2**32))
    latency = Latency(
        submit=timedelta(milliseconds=rng.choice((1, 30, 250))),
        cancel=timedelta(milliseconds=rng.choice((1, 30, 400))),
        update=timedelta(milliseconds=rng.choice((0, 5, 120))),
    )
    seeds = {s: Decimal(rng.randint(1, 120)) for s, _ in chosen if rng.random() < 0.5}
    bought = sum((q * p for s, p in chosen for q in [seeds.get(s, Decimal(0))]), Decimal(0))
    venue = SimVenue.create(
        start=start, replay=replay, faults=faults, latency=latency, starting_cash=CASH + bought
    )
    spy = _Spy()
    spy.wrap(venue)
    journal = Journal.open(":memory:")
    try:
        journal.start_run(RUN_ID, "campaign", {"index": index}, "sim")
        _seed_positions(venue, journal, chosen, seeds, start)
        ladder = rng.random() < 0.7
        # Some brokers cannot list an order's executions: recovery then works from the
        # cumulative filled quantity alone.
        history = rng.random() < 0.8
        broker: Any = venue.broker if history else _NoFillHistory(venue.broker)
        common: dict[str, Any] = {
            "broker": broker,
            "feed": venue.feed,
            "clock": venue.clock,
            "journal": journal,
            "config": config,
            "run_id": RUN_ID,
        }
        if ladder:
            result.ladder_runs = 1
            specs = _ladder_specs(rng, [s for s, _ in chosen], seeds)

            async def first() -> None:
                await execute(specs, **common)

            async def again() -> None:
                left = [p for p in run_progress(journal, RUN_ID) if p.remaining_qty > 0]
                await execute(
                    [OrderSpec(p.symbol, p.side, p.remaining_qty) for p in left],
                    leg_numbers=[p.leg for p in left],
                    **common,
                )
        else:
            result.rebalance_runs = 1
            targets = _targets(rng, [s for s, _ in chosen])

            async def first() -> None:
                await rebalance(targets, **common)

            async def again() -> None:
                await rebalance(targets, resume=True, **common)

        crashes = await _run_with_crashes(
            rng, venue, broker, journal, first, again, result.recovery
        )
        result.crashes = crashes
        result.crashed_runs = 1 if crashes else 0
        found = await check(venue, broker, journal, spy, fill_history=history)
        result.violations = [f"run {index}: {v}" for v in found]
        result.orders = len(journal.orders())
        result.recovery["fills recovered from a cumulative quantity"] += sum(
            1 for f in journal.fills() if f.exec_id.startswith("recovered-")
        )
        result.fills = len(venue.exchange.fills)
        result.faults.update(faults.injected)
        if crashes:
            result.faults["crash"] += crashes
    finally:
        journal.close()
        await venue.close()
    return result


async def _run_with_crashes(
    rng: random.Random,
    venue: SimVenue,
    broker: Any,
    journal: Journal,
    first: Callable[[], Awaitable[None]],
    again: Callable[[], Awaitable[None]],
    recovery: Counter[str],
) -> int:
    """Run ``first``; maybe kill it at a random instant, then reconcile and ``again``.

    The restart itself (reconciliation included) may be killed too.
    """

    async def restart() -> None:
        found = await reconcile(journal, broker, clock=venue.clock)
        recovery.update(f"order {f.action.value}" for f in found.findings)
        recovery["fills recovered by reconciliation"] += found.fills_recovered
        await again()

    crashes = 0
    work = first
    while True:
        crash_after = None
        if crashes < MAX_CRASHES and rng.random() < 0.35:
            # Most ladders here finish within a second: aim most crashes early.
            crash_after = rng.uniform(0.0, rng.choice((0.05, 0.3, 1.0, 3.0, 10.0)))
        task = asyncio.ensure_future(work())
        done, _ = await asyncio.wait({task}, timeout=crash_after)
        if done:
            task.result()  # a run that raised is a finding too: let it surface
            return crashes
        # The process dies here: nothing after this instant is written by it.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        crashes += 1
        # A fresh start: reconcile with the venue, then resume from the journal.
        work = restart


def _seed_positions(
    venue: SimVenue,
    journal: Journal,
    chosen: list[tuple[str, Decimal]],
    seeds: dict[str, Decimal],
    when: datetime,
) -> None:
    """Positions held before the run (so there is something to sell), in both books."""
    for n, (symbol, price) in enumerate(chosen):
        if symbol in seeds:
            fill = Fill(f"seed-{n}", "seed", symbol, Side.BUY, seeds[symbol], price, when)
            venue.account.apply_fill(fill)
            journal.record_fill(fill)


def _ladder_specs(
    rng: random.Random, symbols: list[str], held: dict[str, Decimal]
) -> list[OrderSpec]:
    specs = []
    for symbol in symbols:
        if symbol in held and rng.random() < 0.6:
            qty = Decimal(rng.randint(1, int(held[symbol])))
            specs.append(OrderSpec(symbol, Side.SELL, qty))
        else:
            specs.append(OrderSpec(symbol, Side.BUY, Decimal(rng.randint(1, 150))))
    return specs


def _targets(rng: random.Random, symbols: list[str]) -> dict[str, Decimal]:
    weights = [rng.choice((0, 0.1, 0.2, 0.3)) for _ in symbols]
    return {s: Decimal(str(w)) for s, w in zip(symbols, weights, strict=True)}


# -- the invariants -----------------------------------------------------------------------


class _NoFillHistory:
    """The venue's broker without ``get_fills``, like a broker that cannot list executions."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        if name == "get_fills":
            raise AttributeError(name)
        return getattr(self._inner, name)


async def check(
    venue: SimVenue, broker: Any, journal: Journal, spy: _Spy, *, fill_history: bool = True
) -> list[str]:
    """Every invariant of the module docstring; returns what does not hold.

    Without ``fill_history`` a fill the journal missed can only be recovered as one
    ``recovered-`` execution per order: then every order's journalled fills must add up
    to what the venue filled, instead of matching the venue's executions one by one.
    """
    out: list[str] = []
    still_open = await venue.broker.list_open_orders()
    if still_open:
        out.append(f"open at the venue after the run: {[o.client_order_id for o in still_open]}")
    orders = journal.orders()
    journalled = {o.client_order_id: o for o in orders}
    for coid in spy.submitted:
        created = venue.exchange.order(coid) is not None
        if created and coid not in journalled:
            out.append(f"{coid} created at the venue but never journalled")
    if spy.duplicates:
        out.append(f"client order ids sent twice: {spy.duplicates}")
    for o in orders:
        at_venue = venue.exchange.order(o.client_order_id)
        if not o.is_terminal:
            out.append(f"{o.client_order_id} not ended in the journal ({o.status})")
        if at_venue is None:
            if o.filled_qty != 0:
                out.append(f"{o.client_order_id} unknown at the venue but {o.filled_qty} filled")
            continue
        if at_venue.filled_qty > at_venue.qty:
            out.append(f"{o.client_order_id} overfilled: {at_venue.filled_qty} > {at_venue.qty}")
        if o.filled_qty != at_venue.filled_qty:
            out.append(
                f"{o.client_order_id} filled {o.filled_qty} in the journal, "
                f"{at_venue.filled_qty} at the venue"
            )
    venue_fills = {f.exec_id: f for f in venue.exchange.fills}
    journal_fills = [f for f in journal.fills() if f.client_order_id != "seed"]
    ids = Counter(f.exec_id for f in journal_fills)
    twice = [i for i, n in ids.items() if n > 1]
    if twice:
        out.append(f"fills journalled twice: {twice}")
    missing = sorted(set(venue_fills) - set(ids))
    extra = sorted(i for i in set(ids) - set(venue_fills) if fill_history or "recovered-" not in i)
    if extra:
        out.append(f"journal fills the venue never made: {extra}")
    if fill_history and missing:
        out.append(f"venue fills missing from the journal: {missing}")
    by_order: Counter[str] = Counter()
    for f in journal_fills:
        by_order[f.client_order_id] += f.qty  # type: ignore[assignment]
    at_venue: Counter[str] = Counter()
    for f in venue.exchange.fills:
        at_venue[f.client_order_id] += f.qty  # type: ignore[assignment]
    if by_order != at_venue:
        out.append(f"filled per order: journal {dict(by_order)}, venue {dict(at_venue)}")
    for f in journal_fills:
        v = venue_fills.get(f.exec_id)
        if v is not None and (v.qty, v.price, v.client_order_id) != (
            f.qty,
            f.price,
            f.client_order_id,
        ):
            out.append(f"fill {f.exec_id}: journal {f.qty}@{f.price}, venue {v.qty}@{v.price}")
    for p in run_progress(journal, RUN_ID):
        intent = next(i for i in journal.intents(RUN_ID) if i.leg == p.leg)
        if p.done_qty > p.target_qty or p.target_qty > intent.qty:
            out.append(
                f"leg {p.leg} {p.symbol} overfilled: done {p.done_qty}, target {p.target_qty}, "
                f"intent {intent.qty}"
            )
    held = {p.symbol: p.qty for p in await venue.broker.get_positions() if p.qty != 0}
    if held != journal.positions_from_fills():
        out.append(f"positions {held} != journal {journal.positions_from_fills()}")
    again = await reconcile(journal, broker, clock=venue.clock)
    if not again.clean:
        out.append(f"a second reconciliation was not clean: {again.summary()} {again.problems}")
    return out


# -- driving many runs ---------------------------------------------------------------------


def run_campaign(runs: int, seed: int = 0, *, concurrency: int = 25) -> CampaignResult:
    """``runs`` scenarios, ``concurrency`` at a time on one virtual-time loop each batch."""
    total = CampaignResult()
    began = time.perf_counter()

    async def guarded(index: int) -> CampaignResult:
        try:
            return await one_run(index, seed)
        except Exception as exc:  # a run that raised is a finding: report it, go on
            return CampaignResult(runs=1, violations=[f"run {index} raised {exc!r}"])

    async def batch(lo: int, hi: int) -> list[CampaignResult]:
        return list(await asyncio.gather(*(guarded(i) for i in range(lo, hi))))

    for lo in range(0, runs, concurrency):
        for r in run_virtual(batch(lo, min(runs, lo + concurrency)), start=OPEN):
            total.merge(r)
    total.wall_seconds = time.perf_counter() - began
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run_campaign(args.runs, args.seed)
    print(f"runs                 {result.runs}")
    print(f"  ladder runs        {result.ladder_runs}")
    print(f"  rebalance runs     {result.rebalance_runs}")
    print(f"  crashed runs       {result.crashed_runs} ({result.crashes} crashes)")
    print(f"orders sent          {result.orders}")
    print(f"venue fills          {result.fills}")
    print("faults injected")
    for kind, n in sorted(result.faults.items()):
        print(f"  {kind:<26} {n}")
    print("recoveries")
    for kind, n in sorted(result.recovery.items()):
        print(f"  {kind:<44} {n}")
    print(f"invariant violations {len(result.violations)}")
    for v in result.violations[:50]:
        print(f"  {v}")
    print(f"wall time            {result.wall_seconds:.1f} s")
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
