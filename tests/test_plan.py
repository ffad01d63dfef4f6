"""The portfolio planner: sizing, ordering, buying power, closes, skips and validation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Asset, Side, floor_qty
from better_orders.core.plan import (
    Plan,
    PlannedTrade,
    PlanSettings,
    build_plan,
    parse_targets,
    size_buys,
    size_buys_detailed,
)

D = Decimal
PRICES = {"TQQQ": D("50.00"), "SPY": D("600.00"), "SOXL": D("30.00")}


def whole(x: Decimal) -> Decimal:
    return x.to_integral_value(ROUND_DOWN)


def budget_of(available: Decimal, s: PlanSettings) -> Decimal:
    margin: Decimal = s.buying_power_margin
    return available * (1 - margin)


def applied(plan: Plan, positions: dict[str, Decimal]) -> dict[str, Decimal]:
    """Positions after every trade fills at its reference price."""
    after = dict(positions)
    for t in plan.trades:
        after[t.symbol] = after.get(t.symbol, D(0)) + t.side.sign * t.qty
    return after


def reason_of(plan: Plan, symbol: str) -> str:
    reasons: list[str] = [s.reason for s in plan.skipped if s.symbol == symbol]
    assert len(reasons) == 1, reasons
    return reasons[0]


def assert_ordered(trades: list[PlannedTrade]) -> None:
    sides = [t.side for t in trades]
    assert sides == sorted(sides, key=lambda side: side is Side.BUY), "sells must come first"
    for side in Side:
        group = [t.notional for t in trades if t.side is side]
        assert group == sorted(group, reverse=True)


# -- the two rebalances of a new account ---------------------------------------------------


def first_plan() -> tuple[Plan, dict[str, Decimal]]:
    targets = {"TQQQ": 0.6, "SPY": 0.4}
    plan = build_plan(targets, {}, cash=D(100_000), buying_power=D(100_000), prices=PRICES)
    return plan, {"TQQQ": D("0.6"), "SPY": D("0.4")}


def test_first_buy_from_cash_sizes_whole_shares_within_budget() -> None:
    plan, weights = first_plan()
    s = plan.settings
    cash = D(100_000)
    expected = {sym: whole(w * cash / PRICES[sym]) for sym, w in weights.items()}

    assert plan.portfolio_value == cash
    assert plan.investable_value == cash
    assert plan.sells == []
    assert {t.symbol: t.qty for t in plan.buys} == expected
    assert all(t.side is Side.BUY and not t.close and not t.requires_fractional for t in plan.buys)
    # TQQQ lands exactly on target; SPY keeps the fraction of a share as a leftover.
    spy_exact = floor_qty(weights["SPY"] * cash / PRICES["SPY"])
    assert plan.leftovers == {"SPY": spy_exact - expected["SPY"]}
    for t in plan.buys:
        assert t.notional == t.qty * PRICES[t.symbol]
        assert t.reference_price == PRICES[t.symbol]
        assert plan.target_values[t.symbol] - t.notional < PRICES[t.symbol]
    assert plan.buy_notional <= budget_of(cash, s)
    assert [t.symbol for t in plan.trades] == ["TQQQ", "SPY"]  # larger notional first
    assert plan.trades[0].reason == "buy 1200 to raise 0.0% → 60.0%"
    assert plan.notes == []


def test_second_rebalance_sells_the_old_holding_in_full_first() -> None:
    first, _ = first_plan()
    held = {t.symbol: t.qty for t in first.trades}
    cash = D(100_000) - first.buy_notional
    prices = {"TQQQ": D("52.00"), "SPY": D("610.00"), "SOXL": D("30.00")}

    plan = build_plan({"SOXL": 0.5, "SPY": 0.5}, held, cash=cash, buying_power=cash, prices=prices)

    equity = cash + sum(q * prices[sym] for sym, q in held.items())
    assert plan.portfolio_value == equity
    sell = plan.trades[0]
    assert (sell.symbol, sell.side, sell.qty, sell.close) == ("TQQQ", Side.SELL, held["TQQQ"], True)
    assert sell.reason == "close: not in targets"
    target = D("0.5") * equity
    expected_buys = {
        "SOXL": whole(target / prices["SOXL"]),
        "SPY": whole((target - held["SPY"] * prices["SPY"]) / prices["SPY"]),
    }
    assert {t.symbol: t.qty for t in plan.trades[1:]} == expected_buys
    assert all(t.side is Side.BUY for t in plan.trades[1:])
    assert plan.expected_buying_power == cash + held["TQQQ"] * prices["TQQQ"]
    assert plan.buy_notional <= budget_of(plan.expected_buying_power, plan.settings)
    assert_ordered(plan.trades)


def test_sells_come_before_buys_each_by_descending_notional() -> None:
    prices = {"AAA": D("10"), "BBB": D("20"), "CCC": D("40"), "DDD": D("5")}
    held = {"AAA": D(3000), "BBB": D(1000), "EEE": D(10)}
    prices["EEE"] = D("100")
    # equity 30000 + 20000 + 1000 + 49000 cash = 100000
    plan = build_plan(
        {"AAA": 0.1, "BBB": 0.1, "CCC": 0.5, "DDD": 0.3},
        held,
        cash=D(49_000),
        buying_power=D(98_000),
        prices=prices,
    )
    assert [(t.symbol, t.side) for t in plan.trades] == [
        ("AAA", Side.SELL),  # 30000 → 10000
        ("BBB", Side.SELL),  # 20000 → 10000
        ("EEE", Side.SELL),  # closed: 1000
        ("CCC", Side.BUY),  # 50000
        ("DDD", Side.BUY),  # 30000
    ]
    assert_ordered(plan.trades)
    assert plan.trades[0].reason == "sell 2000 to reduce 30.0% → 10.0%"


# -- buying power ----------------------------------------------------------------------------


def test_buys_scaled_down_when_buying_power_is_short() -> None:
    full, _ = first_plan()
    bp = D(50_000)
    plan = build_plan(
        {"TQQQ": 0.6, "SPY": 0.4}, {}, cash=D(100_000), buying_power=bp, prices=PRICES
    )
    s = plan.settings
    budget = budget_of(bp, s)
    need = full.buy_notional
    factor = (budget / need).quantize(D("1e-12"), ROUND_DOWN)

    assert plan.desired_buys == full.buys
    assert {t.symbol: t.qty for t in plan.buys} == {
        t.symbol: whole(t.qty * factor) for t in full.buys
    }
    assert plan.buy_notional <= budget
    short = (need - budget).quantize(D("0.01"))
    pct = (factor * 100).quantize(D("0.1"), ROUND_DOWN)
    assert any(n.startswith(f"cash short by ${short:,}: buys scaled to {pct}%") for n in plan.notes)
    assert all("scaled down from" in t.reason for t in plan.buys)


def test_fractional_buys_hold_back_the_safety_margin() -> None:
    s = PlanSettings(whole_shares_for_limit=False)
    plan = build_plan(
        {"TQQQ": 0.6, "SPY": 0.4},
        {},
        cash=D(100_000),
        buying_power=D(100_000),
        prices=PRICES,
        settings=s,
    )
    assert plan.buy_notional <= budget_of(D(100_000), s)
    assert plan.buy_notional > budget_of(D(100_000), s) - D("0.01")
    assert any(n.startswith("cash short by $100.00: buys scaled to 99.9%") for n in plan.notes)
    assert any(t.requires_fractional for t in plan.buys)


def test_size_buys_uses_the_buying_power_really_released() -> None:
    held = {"TQQQ": D(2000)}
    plan = build_plan({"SPY": 0.5, "SOXL": 0.5}, held, cash=D(0), buying_power=D(0), prices=PRICES)
    assert [t.symbol for t in plan.sells] == ["TQQQ"]
    assert plan.expected_buying_power == D(2000) * PRICES["TQQQ"]

    # The sell filled lower than the reference: less buying power than the plan hoped.
    released = D(2000) * D("49.00")
    sizing = size_buys_detailed(plan, released)
    assert sum(t.notional for t in sizing.trades) <= budget_of(released, plan.settings)
    desired = {t.symbol: t.qty for t in plan.desired_buys}
    for t in sizing.trades:
        assert 0 < t.qty <= desired[t.symbol]
        assert t.qty == whole(desired[t.symbol] * sizing.scale)
    assert sizing.scale < 1
    assert any(n.startswith("cash short by") for n in sizing.notes)
    assert size_buys(plan, released) == sizing.trades

    # More than enough: exactly the desired buys, never more.
    assert size_buys(plan, D(10**7)) == plan.desired_buys
    # Nothing released: nothing bought.
    nothing = size_buys_detailed(plan, D(0))
    assert nothing.trades == []
    assert {s.symbol for s in nothing.skipped} == {"SPY", "SOXL"}


def test_buys_are_sized_at_the_prices_of_when_the_sells_are_done() -> None:
    held = {"TQQQ": D(2000)}
    plan = build_plan({"SPY": 0.5, "SOXL": 0.5}, held, cash=D(0), buying_power=D(0), prices=PRICES)
    released = plan.expected_buying_power
    at_plan = size_buys_detailed(plan, released)
    # The sells took a while at the open and SOXL rose 1%: at the plan's prices the buys
    # would still fit, but not with a buy limit up to the budget above SOXL's price now.
    risen = {"SOXL": PRICES["SOXL"] * D("1.01"), "SPY": PRICES["SPY"]}
    now = size_buys_detailed(plan, released, prices=risen)
    assert sum(t.notional for t in now.trades) <= budget_of(released, plan.settings)
    by_symbol = {t.symbol: t for t in now.trades}
    assert by_symbol["SOXL"].reference_price == risen["SOXL"]
    assert by_symbol["SOXL"].notional == by_symbol["SOXL"].qty * risen["SOXL"]
    assert sum(t.qty for t in now.trades) < sum(t.qty for t in at_plan.trades)
    assert now.scale < at_plan.scale
    # Prices that did not move change nothing; a nonsense price is refused.
    assert size_buys_detailed(plan, released, prices=PRICES).trades == at_plan.trades
    with pytest.raises(InvalidInputError, match="SOXL: price 0 is not positive"):
        size_buys_detailed(plan, released, prices={"SOXL": D(0)})


def test_covering_a_short_is_paid_for_before_other_buys() -> None:
    held = {"SOXL": D(-100)}  # short $3,000
    prices = dict(PRICES)
    plan = build_plan({"SPY": 1}, held, cash=D(13_000), buying_power=D(5_000), prices=prices)
    cover = next(t for t in plan.trades if t.symbol == "SOXL")
    assert (cover.side, cover.qty, cover.close) == (Side.BUY, D(100), True)
    budget = budget_of(D(5_000), plan.settings)
    assert plan.buy_notional <= budget
    spy = next(t for t in plan.trades if t.symbol == "SPY")
    assert spy.qty == whole((budget - cover.notional) / PRICES["SPY"])


# -- closes, skips, leftovers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "why"),
    [({"SPY": 0.5}, "close: not in targets"), ({"SPY": 0.5, "ODD": 0}, "close: target weight 0")],
)
def test_fractional_position_is_closed_exactly(targets: dict[str, float], why: str) -> None:
    qty = D("7.2273576")
    prices = {"SPY": D("600"), "ODD": D("13.37")}
    plan = build_plan(targets, {"ODD": qty}, cash=D(10_000), buying_power=D(10_000), prices=prices)
    (close,) = [t for t in plan.trades if t.symbol == "ODD"]
    assert close.qty == qty  # not 7.227358, not 7
    assert str(close.qty) == "7.2273576"
    assert (close.side, close.close, close.requires_fractional) == (Side.SELL, True, True)
    assert close.notional == qty * prices["ODD"]
    assert close.reason == why
    assert applied(plan, {"ODD": qty})["ODD"] == 0


def test_tiny_stray_and_short_positions_are_closed_whatever_their_size() -> None:
    prices = {"SPY": D("600"), "DUST": D("0.0312"), "SQQQ": D("8.00")}
    held = {"DUST": D("0.000000001"), "SQQQ": D("-3.5")}
    plan = build_plan({"SPY": 0.5}, held, cash=D(10_000), buying_power=D(10_000), prices=prices)
    by_symbol = {t.symbol: t for t in plan.trades}
    assert (by_symbol["DUST"].side, by_symbol["DUST"].qty) == (Side.SELL, D("0.000000001"))
    assert (by_symbol["SQQQ"].side, by_symbol["SQQQ"].qty) == (Side.BUY, D("3.5"))
    assert by_symbol["SQQQ"].close and by_symbol["SQQQ"].requires_fractional
    assert any("DUST worth $0.00 is below the $1 minimum" in n for n in plan.notes)
    assert all(q == 0 for sym, q in applied(plan, held).items() if sym != "SPY")


def test_drift_below_threshold_is_skipped_with_reason() -> None:
    prices = {"TQQQ": D("50"), "SPY": D("500")}
    held = {"TQQQ": D(1208), "SPY": D(79)}  # 60,400 + 39,500 + 100 cash = 100,000
    plan = build_plan(
        {"TQQQ": 0.6, "SPY": 0.4}, held, cash=D(100), buying_power=D(100), prices=prices
    )
    assert plan.trades == []
    assert reason_of(plan, "TQQQ") == "drift 0.4% below threshold 1.0%"
    assert reason_of(plan, "SPY") == "drift 0.5% below threshold 1.0%"
    assert plan.drift == {"TQQQ": D("0.004"), "SPY": D("-0.005")}

    tighter = build_plan(
        {"TQQQ": 0.6, "SPY": 0.4},
        held,
        cash=D(100),
        buying_power=D(1000),
        prices=prices,
        settings=PlanSettings(drift_threshold=D("0.004")),
    )
    assert [(t.symbol, t.side, t.qty) for t in tighter.trades] == [
        ("TQQQ", Side.SELL, D(8)),
        ("SPY", Side.BUY, D(1)),
    ]


def test_order_below_minimum_value_is_skipped() -> None:
    s = PlanSettings(drift_threshold=D(0), whole_shares_for_limit=False)
    held = {"TQQQ": D("1199.9854")}  # $59,999.27: $0.73 short of 60%
    cash = D(100_000) - held["TQQQ"] * D(50)
    plan = build_plan({"TQQQ": 0.6}, held, cash=cash, buying_power=cash, prices=PRICES, settings=s)
    assert plan.trades == []
    assert reason_of(plan, "TQQQ") == "order value $0.73 below minimum $1"

    cheaper = build_plan(
        {"TQQQ": 0.6},
        held,
        cash=cash,
        buying_power=cash,
        prices=PRICES,
        settings=PlanSettings(
            drift_threshold=D(0),
            whole_shares_for_limit=False,
            min_order_value=D("0.50"),
            buying_power_margin=D(0),
        ),
    )
    assert [(t.symbol, t.qty) for t in cheaper.trades] == [("TQQQ", D("0.0146"))]


def test_fraction_below_one_share_is_a_leftover_for_limit_orders() -> None:
    held = {"TQQQ": D("1199.63")}
    cash = D(100_000) - held["TQQQ"] * D(50)
    plan = build_plan(
        {"TQQQ": 0.6},
        held,
        cash=cash,
        buying_power=cash,
        prices=PRICES,
        settings=PlanSettings(drift_threshold=D(0)),
    )
    assert plan.trades == []
    assert reason_of(plan, "TQQQ") == "leftover 0.37 shares below one whole share for a limit order"
    assert plan.leftovers == {"TQQQ": D("0.37")}


def test_non_fractionable_asset_trades_whole_shares_even_when_fractions_allowed() -> None:
    assets = {"TQQQ": Asset("TQQQ"), "BRK.A": Asset("BRK.A", fractionable=False)}
    prices = {"TQQQ": D("50"), "BRK.A": D("700000")}
    plan = build_plan(
        {"TQQQ": 0.5, "BRK.A": 0.5},
        {},
        cash=D(1_000_000),
        buying_power=D(2_000_000),
        prices=prices,
        assets=assets,
        settings=PlanSettings(whole_shares_for_limit=False),
    )
    assert [(t.symbol, t.qty) for t in plan.trades] == [("TQQQ", D(10_000))]
    assert reason_of(plan, "BRK.A") == (
        "leftover 0.714285714 shares below one whole share because BRK.A is not fractionable"
    )
    assert plan.leftovers == {"BRK.A": D("0.714285714")}
    assert plan.whole_shares == {"BRK.A": True, "TQQQ": False}


def test_target_zero_closes_and_zero_position_is_ignored() -> None:
    held = {"TQQQ": D(100), "SPY": D(0)}
    plan = build_plan({"TQQQ": 0, "SPY": 0}, held, cash=D(0), buying_power=D(0), prices=PRICES)
    assert [(t.symbol, t.side, t.qty, t.close, t.reason) for t in plan.trades] == [
        ("TQQQ", Side.SELL, D(100), True, "close: target weight 0")
    ]


def test_cash_buffer_reduces_the_investable_value() -> None:
    s = PlanSettings(cash_buffer=D("0.01"))
    plan = build_plan(
        {"TQQQ": 1}, {}, cash=D(100_000), buying_power=D(100_000), prices=PRICES, settings=s
    )
    assert plan.investable_value == D(99_000)
    assert plan.target_values == {"TQQQ": D(99_000)}
    assert [(t.symbol, t.qty) for t in plan.trades] == [("TQQQ", D(99_000) / D(50))]
    assert any(n.startswith("cash buffer 1.0%") for n in plan.notes)


def test_untradable_stray_position_is_left_with_a_reason() -> None:
    assets = {"SPY": Asset("SPY"), "DEAD": Asset("DEAD", tradable=False)}
    plan = build_plan(
        {"SPY": 0.5},
        {"DEAD": D(10)},
        cash=D(10_000),
        buying_power=D(10_000),
        prices={"SPY": D(600), "DEAD": D("0.10")},
        assets=assets,
    )
    assert [t.symbol for t in plan.trades] == ["SPY"]
    assert reason_of(plan, "DEAD") == "not tradable at the broker: position left as is"


def test_plan_is_deterministic_whatever_the_input_order() -> None:
    held = {"AAA": D("12.5"), "BBB": D(40), "CCC": D(-3)}
    prices = {"AAA": D("101.01"), "BBB": D("33.3"), "CCC": D("7.77"), "DDD": D("0.5123")}
    cash, bp = D("5000"), D("6000")
    one = build_plan({"DDD": 0.3, "BBB": 0.2}, held, cash=cash, buying_power=bp, prices=prices)
    two = build_plan(
        [("BBB", "0.2"), ("DDD", D("0.3"))],
        dict(reversed(list(held.items()))),
        cash=cash,
        buying_power=bp,
        prices=dict(reversed(list(prices.items()))),
    )
    assert one == two


# -- validation ------------------------------------------------------------------------------


def plan_with(targets: Any = None, **overrides: Any) -> Plan:
    kwargs: dict[str, Any] = {
        "positions": {},
        "cash": D(1000),
        "buying_power": D(1000),
        "prices": dict(PRICES),
    }
    kwargs.update(overrides)
    return build_plan({"SPY": 0.5} if targets is None else targets, **kwargs)


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ({}, "no targets given"),
        ([], "no targets given"),
        ({"SPY": -0.1, "TQQQ": 0.5}, "negative target weight: SPY -0.1"),
        ({"SPY": float("nan")}, "SPY target weight is not a finite number: nan"),
        ({"SPY": float("inf")}, "SPY target weight is not a finite number: inf"),
        ({"SPY": "NaN"}, "SPY target weight is not a finite number: 'NaN'"),
        ({"SPY": "sixty"}, "SPY target weight is not a number: 'sixty'"),
        ({"SPY": None}, "SPY target weight must be a number, not NoneType"),
        ({"SPY": True}, "SPY target weight must be a number, not True"),
        ({"SPY": 0.7, "TQQQ": 0.5}, "target weights sum to 1.20 (> 1)"),
        ({"SPY": "0.5", "TQQQ": "0.5002"}, "target weights sum to 1.0002 (> 1)"),
        ({"spy": 0.2, "SPY": 0.3}, "duplicate target symbol: SPY given as 'spy' and 'SPY'"),
        ([("SPY", 0.2), (" spy", 0.2)], "duplicate target symbol: SPY given as 'SPY' and ' spy'"),
        ([("SPY", 0.2, 1)], "a target must be a (symbol, weight) pair"),
        ({"S P Y": 0.2}, "invalid symbol 'S P Y'"),
    ],
)
def test_invalid_targets_are_refused(targets: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        plan_with(targets)


def test_weights_within_tolerance_of_one_are_accepted() -> None:
    weights = parse_targets([("spy", "0.50005"), ("TQQQ", 0.5)])
    assert weights == {"SPY": D("0.50005"), "TQQQ": D("0.5")}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"known_symbols": {"SPY", "QQQ"}, "targets": {"SPY": 0.2, "FOO": 0.1, "BAR": 0.1}},
            "unknown symbols: BAR, FOO",
        ),
        (
            {"assets": {"SPY": Asset("SPY")}, "positions": {"TQQQ": D(1)}},
            "unknown symbol: TQQQ (the broker has no such asset)",
        ),
        ({"assets": {"SPY": Asset("SPY", tradable=False)}}, "not tradable at the broker: SPY"),
        (
            {
                "prices": {"spy": D(600)},
                "targets": {"SPY": 0.2, "SOXL": 0.1},
                "positions": {"TQQQ": D(1)},
            },
            "no price for SOXL, TQQQ: a valid quote is needed",
        ),
        (
            {"prices": {"SPY": D(0), "TQQQ": D(-1)}, "targets": {"SPY": 0.2, "TQQQ": 0.2}},
            "price must be positive: SPY 0, TQQQ -1",
        ),
        ({"prices": {"SPY": float("nan")}}, "SPY price is not a finite number"),
        ({"prices": {"SPY": D(600), "spy": D(601)}}, "two different prices for SPY: 600 and 601"),
        ({"buying_power": D(-5)}, "buying power is negative: -5"),
        ({"cash": "lots"}, "cash is not a number: 'lots'"),
        (
            {"positions": {"SPY": D(1), "spy": D(2)}},
            "duplicate position symbol: SPY given as 'SPY' and 'spy'",
        ),
        ({"positions": {"SPY": "x"}}, "SPY position quantity is not a number: 'x'"),
        ({"cash": D(-2000), "positions": {"SPY": D(1)}}, "portfolio value is -$1,400.00"),
        ({"cash": D(0)}, "portfolio value is $0.00"),
    ],
)
def test_invalid_inputs_are_refused(overrides: dict[str, Any], message: str) -> None:
    overrides = dict(overrides)
    targets = overrides.pop("targets", None)
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        plan_with(targets, **overrides)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"drift_threshold": D("-0.01")}, "drift_threshold must be 0 or more and at most 1"),
        ({"drift_threshold": D("1.5")}, "drift_threshold must be 0 or more and at most 1, got 1.5"),
        ({"cash_buffer": D(1)}, "cash_buffer must be 0 or more and below 1, got 1"),
        ({"min_order_value": D(-1)}, "min_order_value must be 0 or more, got -1"),
        ({"buying_power_margin": "x"}, "buying_power_margin is not a number: 'x'"),
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        PlanSettings(**kwargs)


# -- properties --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    targets: dict[str, Decimal]
    positions: dict[str, Decimal]
    cash: Decimal
    buying_power: Decimal
    prices: dict[str, Decimal]
    settings: PlanSettings

    @property
    def equity(self) -> Decimal:
        return self.cash + sum((q * self.prices[s] for s, q in self.positions.items()), D(0))

    def plan(self) -> Plan:
        return build_plan(
            self.targets,
            self.positions,
            cash=self.cash,
            buying_power=self.buying_power,
            prices=self.prices,
            settings=self.settings,
        )


POOL = ("AAA", "BBB", "CCC", "DDD", "EEE")
prices_st = st.one_of(
    st.integers(100, 200_000).map(lambda c: D(c) / 100),  # $1.00-$2,000.00
    st.integers(1, 9_999).map(lambda c: D(c) / 10_000),  # sub-dollar, 4 decimals
)
qty_st = st.one_of(
    st.integers(-300, 3_000).map(D),
    st.integers(-(10**11), 10**12).map(lambda n: D(n).scaleb(-9)),
)
settings_st = st.builds(
    PlanSettings,
    drift_threshold=st.sampled_from([D(0), D("0.001"), D("0.01"), D("0.05")]),
    min_order_value=st.sampled_from([D(0), D(1), D(50)]),
    cash_buffer=st.sampled_from([D(0), D("0.01"), D("0.05")]),
    whole_shares_for_limit=st.booleans(),
)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    weights = draw(
        st.dictionaries(st.sampled_from(POOL), st.integers(0, 40), min_size=1, max_size=5)
    )
    return Scenario(
        targets={s: D(n) / 200 for s, n in weights.items()},  # at most 5 x 0.2 = 1
        positions=draw(st.dictionaries(st.sampled_from(POOL), qty_st, max_size=4)),
        cash=D(draw(st.integers(0, 50_000_000))) / 100,
        buying_power=D(draw(st.integers(0, 100_000_000))) / 100,
        prices={s: draw(prices_st) for s in POOL},
        settings=draw(settings_st),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plan_properties(sc: Scenario) -> None:
    assume(sc.equity > 0)
    plan = sc.plan()
    s = sc.settings
    positions = {k: v for k, v in sc.positions.items() if v}
    equity = plan.portfolio_value

    assert sc.plan() == plan
    assert_ordered(plan.trades)
    assert all(t.qty > 0 and t.notional == t.qty * t.reference_price for t in plan.trades)
    assert len({t.symbol for t in plan.trades}) == len(plan.trades)
    proceeds = plan.sell_notional
    assert plan.buy_notional <= budget_of(plan.buying_power + proceeds, s)
    assert plan.buy_notional <= plan.buying_power + proceeds
    assert size_buys(plan, plan.expected_buying_power) == plan.buys

    scaled = any(n.startswith("cash short by") for n in plan.notes)
    after = applied(plan, positions)
    traded = {t.symbol: t for t in plan.trades}
    skipped = {k.symbol: k.reason for k in plan.skipped}
    for sym in sorted(set(positions) | set(sc.targets)):
        price = sc.prices[sym]
        before = positions.get(sym, D(0))
        weight = sc.targets.get(sym, D(0))
        if sym in traded and traded[sym].side is Side.SELL:
            assert after[sym] >= 0, "a sell never goes through zero"
        if weight == 0:
            if not scaled or before > 0:
                assert after.get(sym, D(0)) == 0, f"{sym} must be closed exactly"
            continue
        target = weight * plan.investable_value
        gap = target - before * price
        share = price if plan.whole_shares[sym] else price * D("1e-9")
        if sym in traded:
            assert abs(gap) >= s.drift_threshold * equity
            remaining = target - after[sym] * price
            if scaled and traded[sym].side is Side.BUY:
                assert remaining >= 0
            else:
                assert abs(remaining) < share
                assert remaining * gap >= 0, "never overshoots the target"
        elif scaled and gap > 0 and "buying power" in skipped[sym]:
            continue
        else:
            reason = skipped[sym]
            if reason.startswith("drift"):
                assert abs(gap) < s.drift_threshold * equity
            elif reason.startswith("order value"):
                assert abs(gap) < s.min_order_value + share
            else:
                assert abs(gap) < share


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(0, 2_000_000))
def test_size_buys_never_exceeds_what_was_released(sc: Scenario, per_million: int) -> None:
    assume(sc.equity > 0)
    plan = sc.plan()
    released = (plan.expected_buying_power * per_million / 1_000_000).quantize(D("0.01"))
    sizing = size_buys_detailed(plan, released)
    assert sum((t.notional for t in sizing.trades), D(0)) <= budget_of(released, plan.settings)
    desired = {t.symbol: t for t in plan.desired_buys}
    for t in sizing.trades:
        assert t.side is Side.BUY and 0 < t.qty <= desired[t.symbol].qty
        assert t.notional >= plan.settings.min_order_value or t.close
    assert_ordered(sizing.trades)
