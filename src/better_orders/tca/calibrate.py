"""Fitting the simulator to a journal of real runs: latency, resting fills, partial fills.

``better-orders sim calibrate`` reads what the runs journalled and writes a
``sim.profile.SimProfile``:

* **latency.submit**: the median, over child orders, of the time from when the order
  was sent (``ChildOrder.sent``: the broker's answer to the submit, its first event)
  to its first event from the venue (accepted, filled or rejected there). **latency.cancel**
  is taken equal to it: the journal does not hold when a cancel was sent.
* **latency.update**: the median time from a fill at the venue to the runner hearing
  of it (the fill's quote mark is taken when it arrives).
* **partial.probability**: the share of fills cut short. A fill could have taken
  ``min(what the order still wanted, the size shown at the far touch of the quote in
  force)``; where that was two shares or more, the fill is short when it took less.
  This is the simulator's own model (a fill cut to half with that probability).
* **resting.queue_share**: the share of the displayed size at a limit's price ahead of
  it, chosen among ``QUEUE_SHARES`` so that the replay of the journal's resting child
  orders on the journalled quotes (``fill_replay``) fills as many of them as really
  filled; a tie goes to the larger share (the more conservative model). Only orders
  whose replay fills under some shares and not others are evidence (a limit that
  joined the near touch and met a locked or traded book there); with none, the
  share stays 1 and the fit says so.

Tolerances (checked by the tests on a journal produced on the simulator with known
parameters): latencies within 1 ms, the partial-fill probability within 0.1 with
40 eligible fills or more, the queue share exactly (a grid point) where there is
evidence for it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import OrderStatus, OrderType, Side
from better_orders.store.journal import Journal
from better_orders.tca.fill_replay import FillReplay
from better_orders.tca.journal_legs import ChildOrder, LegRecord
from better_orders.venues.sim.exchange import Latency
from better_orders.venues.sim.profile import SimProfile

#: The queue shares tried for the resting-fill model.
QUEUE_SHARES = (Decimal(0), Decimal("0.25"), Decimal("0.5"), Decimal("0.75"), Decimal(1))
#: Statuses only the venue reports (not the broker's answer to a submit).
_AT_VENUE = frozenset(
    {OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.REJECTED}
)


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted profile and how much evidence each part had."""

    profile: SimProfile
    submits: int
    fills_heard: int
    eligible_fills: int
    short_fills: int
    resting_orders: int
    resting_filled: int
    #: Resting orders whose replay depends on the queue share (the evidence for it).
    queue_evidence: int


def calibrate(journal: Journal, legs: Sequence[LegRecord], source: str) -> Calibration:
    """Fit the profile (module docstring) from ``legs`` and ``journal``'s events."""
    if not legs:
        raise InvalidInputError(f"journal {source} has no orders with an arrival quote")
    if not any(leg.fills for leg in legs):
        raise InvalidInputError(f"journal {source} has no fills to calibrate from")
    submits = _submit_delays(journal, legs)
    heard = [
        (mf.received - mf.fill.ts) / timedelta(milliseconds=1)
        for leg in legs
        for mf in leg.fills
        if mf.received is not None and mf.received >= mf.fill.ts
    ]
    default = Latency()
    submit = _median(submits, default.submit)
    update = _median(heard, default.update)
    latency = Latency(submit=submit, cancel=submit, update=update)
    eligible, short = _partial_evidence(legs)
    partial = short / eligible if eligible else 0.0
    base = SimProfile(latency=latency, partial_fill=partial)
    share, resting, filled, evidence = _queue_share(legs, base)
    fit = {
        "source": source,
        "legs": len(legs),
        "submits": len(submits),
        "fills_heard": len(heard),
        "eligible_fills": eligible,
        "short_fills": short,
        "resting_orders": resting,
        "resting_filled": filled,
        "queue_evidence": evidence,
    }
    return Calibration(
        profile=replace(base, queue_share=share, fit=fit),
        submits=len(submits),
        fills_heard=len(heard),
        eligible_fills=eligible,
        short_fills=short,
        resting_orders=resting,
        resting_filled=filled,
        queue_evidence=evidence,
    )


def _median(values: Sequence[float], default: timedelta) -> timedelta:
    if not values:
        return default
    return timedelta(milliseconds=round(statistics.median(values), 3))


def _submit_delays(journal: Journal, legs: Sequence[LegRecord]) -> list[float]:
    """Per child order: sent (the answer to the submit) to the venue's first event."""
    delays: list[float] = []
    for leg in legs:
        for order in leg.orders:
            events = journal.events(order.request.client_order_id)
            if len(events) < 2:
                continue
            venue = next((e.update for e in events[1:] if e.update.status in _AT_VENUE), None)
            if venue is not None and venue.ts >= order.sent:
                delays.append((venue.ts - order.sent) / timedelta(milliseconds=1))
    return delays


def _partial_evidence(legs: Sequence[LegRecord]) -> tuple[int, int]:
    """(fills that could have taken two shares or more, those that took less)."""
    eligible = short = 0
    for leg in legs:
        wanted = {o.request.client_order_id: o.request.qty for o in leg.orders}
        for mf in sorted(leg.fills, key=lambda f: (f.fill.ts, f.fill.exec_id)):
            coid = mf.fill.client_order_id
            remaining = wanted.get(coid)
            if remaining is None:
                continue
            wanted[coid] = remaining - mf.fill.qty
            if mf.at is None:
                continue
            shown = mf.at.ask_size if leg.side is Side.BUY else mf.at.bid_size
            could = min(remaining, shown)
            if could >= 2:
                eligible += 1
                short += mf.fill.qty < could
    return eligible, short


def _queue_share(legs: Sequence[LegRecord], base: SimProfile) -> tuple[Decimal, int, int, int]:
    """(the grid share whose replay fills as many resting child orders as really filled,
    resting orders, those filled, those whose replay depends on the share)."""
    resting = [
        (leg, o)
        for leg in legs
        for o in leg.orders
        if o.request.order_type is OrderType.LIMIT and not o.rejected and _rests(leg, o)
    ]
    if not resting:
        return base.queue_share, 0, 0, 0
    filled = {mf.fill.client_order_id for leg in legs for mf in leg.fills}
    actual = sum(o.request.client_order_id in filled for _, o in resting)
    outcomes: dict[str, set[bool]] = {o.request.client_order_id: set() for _, o in resting}
    best: tuple[int, Decimal] | None = None
    legs_resting = list({id(leg): leg for leg, _ in resting}.values())
    for share in QUEUE_SHARES:
        replay = FillReplay(replace(base, queue_share=share, partial_fill=0.0), [])
        predicted = 0
        for leg in legs_resting:
            fills = replay(leg)
            for lg, o in resting:
                if lg is leg:
                    hit = bool(fills.get(o.request.client_order_id))
                    outcomes[o.request.client_order_id].add(hit)
                    predicted += hit
        miss = abs(predicted - actual)
        if best is None or miss <= best[0]:  # a tie goes to the larger share
            best = (miss, share)
    assert best is not None
    evidence = sum(len(seen) > 1 for seen in outcomes.values())
    share = best[1] if evidence else base.queue_share
    return share, len(resting), actual, evidence


def _rests(leg: LegRecord, order: ChildOrder) -> bool:
    """A limit that did not cross the book in force when it was sent (it had to queue)."""
    limit = order.request.limit_price
    if limit is None:
        return False
    before = [q for q in leg.book if q.ts <= order.started]
    quote = before[-1] if before else leg.arrival
    return limit < quote.ask if leg.side is Side.BUY else limit > quote.bid
