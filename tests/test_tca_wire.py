"""``tca.wire``: what a worker packs is what the coordinator unpacks, equal to pickle's copy."""

from __future__ import annotations

import gc
import pickle
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.model import Attempt, ExecutionReport, Fill, Side
from better_orders.data.example_data import example_quote_files
from better_orders.tca import wire
from better_orders.tca.decisions import DaySource, Sizing
from better_orders.tca.decomposition import CostDecomposition, FeeSchedule
from better_orders.tca.evaluate import DayInfo, DayResult, Window, evaluate_day
from better_orders.tca.metrics import DecisionRecord
from better_orders.tca.policies import BUILTIN_POLICIES, DEFAULT_POLICIES
from better_orders.venues.sim.exchange import Latency


def test_a_symbol_day_comes_back_equal_and_smaller() -> None:
    source = DaySource(example_quote_files()[0])
    window = Window(
        start=dt_time(9, 30),
        end=dt_time(9, 31),
        every=timedelta(seconds=10),
        sides=(Side.BUY, Side.SELL),
        sizing=Sizing(),
        latency=Latency(),
        within_seconds=60.0,
        fees=FeeSchedule(),
    )
    policies = [BUILTIN_POLICIES[n] for n in DEFAULT_POLICIES]
    day = evaluate_day(source.load(), policies, BetterOrdersConfig(), window)
    assert day.records and any(r.report.fills for r in day.records)
    data = wire.pack(day)
    back = wire.unpack(data)
    assert isinstance(back, DayResult)
    assert back == pickle.loads(pickle.dumps(day))
    assert [r.report for r in back.records] == [r.report for r in day.records]
    assert len(data) < len(pickle.dumps(day, protocol=pickle.HIGHEST_PROTOCOL))
    # Every dataclass of a result is saved as its fields, none the slow way.
    for cls in (DayResult, DayInfo, DecisionRecord, ExecutionReport, Attempt, Fill):
        assert wire._REDUCERS[cls] is not wire._usual
    assert wire._REDUCERS[CostDecomposition] is not wire._usual
    assert gc.isenabled()


@dataclass(slots=True)
class Plain:
    when: datetime
    price: Decimal
    side: Side
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Checked:
    qty: int
    double: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "double", self.qty * 2)


@dataclass(frozen=True)
class KeywordOnly:
    a: int
    b: int = field(kw_only=True, default=0)


@dataclass
class Derived:
    a: int
    b: int = field(init=False, default=7)


@dataclass
class OwnReduce:
    a: int

    def __reduce__(self) -> tuple[object, ...]:
        return (OwnReduce, (self.a + 0,))


def test_dataclasses_the_constructor_cannot_rebuild_are_pickled_as_usual() -> None:
    shared = Plain(datetime(2024, 1, 2, 14, 30, tzinfo=UTC), Decimal("10.05"), Side.BUY, ["x"])
    derived = Derived(1)
    derived.b = 9
    graph = {
        "shared twice": [shared, shared],
        "checked": Checked(3),
        "keyword only": KeywordOnly(1, b=2),
        "derived": derived,
        "own reduce": OwnReduce(4),
        "classes": (Side, Plain, Decimal),
    }
    back = wire.unpack(wire.pack(graph))
    assert back == graph
    assert back["shared twice"][0] is back["shared twice"][1]
    assert back["derived"].b == 9
    assert wire._REDUCERS[Plain] is not wire._usual
    for cls in (Checked, KeywordOnly, Derived, OwnReduce):
        assert wire._REDUCERS[cls] is wire._usual
