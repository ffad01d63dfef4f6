"""Settings become the core's plain parameters with every value carried over."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from better_orders.config.params import ladder_params, spread_rules, timing_rules
from better_orders.config.settings import BetterOrdersConfig, SymbolOverride
from better_orders.core.spread import SpreadRules
from better_orders.core.timing import TimingRules

D = Decimal

CHANGED = BetterOrdersConfig.model_validate(
    {
        "spread": {
            "tight_cents": "0.02",
            "wide_cents": "0.07",
            "rule": "cents",
            "tight_ratio": "1.2",
            "wide_ratio": "3",
            "tight_bps": "4",
            "wide_bps": "18",
            "wait_ratio": "0.4",
            "wait_cap_bps": "6",
            "typical_window_seconds": 600,
            "absurd_pct_of_mid": "8",
            "max_quote_age_seconds": 3,
        },
        "timing": {
            "opening_wait_max_seconds": 30,
            "early_wait_max_seconds": 20,
            "wait_again": False,
            "rest_fraction": "0.5",
            "hold_seconds": 0.5,
            "pre_open": "refuse",
            "recommend_wait_wide_seconds": 100,
            "recommend_wait_normal_seconds": 50,
            "recommend_wait_tight_seconds": 5,
        },
        "ladder": {"entry": "passive", "max_repegs": 4, "timeout_seconds": 1.5},
        "symbols": {"ABC": SymbolOverride(typical_spread_bps=D(7), aggressive_ticks=3)},
    }
)


def test_rules_carry_every_field_of_their_settings_section() -> None:
    for rules, section, kind in (
        (spread_rules(CHANGED.spread), CHANGED.spread, SpreadRules),
        (timing_rules(CHANGED.timing), CHANGED.timing, TimingRules),
    ):
        for field in dataclasses.fields(kind):
            assert getattr(rules, field.name) == getattr(section, field.name), field.name


def test_default_rules_are_the_settings_defaults() -> None:
    config = BetterOrdersConfig()
    assert spread_rules(config.spread).tight_cents == D("0.03")
    assert spread_rules(config.spread).rule == "relative"
    assert timing_rules(config.timing).opening_wait_max_seconds == 90.0
    assert timing_rules(config.timing).pre_open == "wait"


def test_ladder_params_resolve_the_symbol() -> None:
    params = ladder_params(CHANGED, "ABC")
    assert params.spread == spread_rules(CHANGED.spread)
    assert params.timing == timing_rules(CHANGED.timing)
    assert params.typical_spread_bps == 7.0  # the symbol's configured typical spread
    assert params.aggressive_ticks == 3
    assert params.entry == "passive" and params.max_repegs == 4
    assert params.timeout_normal == timedelta(seconds=1.5)
    assert params.max_quote_age_seconds == 3 and params.absurd_pct_of_mid == D(8)
    assert params.wait_again is False and params.rest_fraction == D("0.5")
    assert params.hold == timedelta(seconds=0.5)
    assert params.budget_bps == CHANGED.slippage_budget_bps("ABC")


def test_ladder_params_arguments_override_the_configured_values() -> None:
    params = ladder_params(CHANGED, "ABC", max_slippage_bps=D(3), typical_spread_bps=2.5)
    assert params.budget_bps == D(3)
    assert params.typical_spread_bps == 2.5
    assert ladder_params(BetterOrdersConfig(), "ABC").typical_spread_bps is None
